"""Adam and AdamW, as torch.optim.Adam / torch.optim.AdamW (Kingma & Ba 2015; Loshchilov &
Hutter 2019). Adam adds the L2 term wd·p to the gradient; AdamW decays the weights directly,
p ← p·(1 − lr·wd), before the Adam step. Kernel: csrc/optim/adam.cpp."""
from .._validate import check_bool, check_float
from .base import Optimizer, check_betas


class Adam(Optimizer):
    kind = "adam"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, **clip):
        self.betas = check_betas(betas)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.amsgrad = check_bool(amsgrad, "amsgrad")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay}, **clip)

    def _hparams(self):
        return [self.betas[0], self.betas[1], self.eps, float(self.amsgrad)]


class AdamW(Adam):
    kind = "adamw"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, **clip):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, **clip)
