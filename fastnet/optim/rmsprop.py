"""RMSprop (Hinton, Neural Networks for ML, lecture 6e; centered form from Graves 2013) as
torch.optim.RMSprop: s ← α·s + (1−α)·g², optionally centered by the running mean of g, with
optional momentum on g/(√s + eps). Kernel: csrc/optim/rmsprop.cpp."""
from .._validate import check_bool, check_float
from .base import Optimizer


class RMSprop(Optimizer):
    kind = "rmsprop"

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, **clip):
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.momentum = check_float(momentum, "momentum", low=0.0)
        self.centered = check_bool(centered, "centered")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay}, **clip)

    def _hparams(self):
        return [self.alpha, self.eps, self.momentum, float(self.centered)]
