"""SGD, with momentum, dampening and Nesterov momentum, as torch.optim.SGD."""
from .._validate import check_bool, check_float
from .base import Optimizer


class SGD(Optimizer):
    kind = "sgd"

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, **clip):
        self.momentum = check_float(momentum, "momentum", low=0.0)
        self.dampening = check_float(dampening, "dampening", low=0.0, high=1.0)
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay}, **clip)

    def _hparams(self):
        return [self.momentum, self.dampening, float(self.nesterov)]
