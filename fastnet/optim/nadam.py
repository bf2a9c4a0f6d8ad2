"""Nadam (Dozat 2016) as torch.optim.NAdam: Adam with Nesterov momentum and torch's
momentum-decay schedule μ_t = β1·(1 − ½·0.96^(t·momentum_decay)). The running product of the
μ_t is kept per parameter tensor in C++ (and in state_dict). Kernel: csrc/optim/nadam.cpp."""
from .._validate import check_float
from .base import Optimizer, check_betas


class Nadam(Optimizer):
    kind = "nadam"

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, **clip):
        self.betas = check_betas(betas)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.momentum_decay = check_float(momentum_decay, "momentum_decay", low=0.0)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay}, **clip)

    def _hparams(self):
        return [self.betas[0], self.betas[1], self.eps, self.momentum_decay]
