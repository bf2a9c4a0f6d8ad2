"""Adagrad (Duchi, Hazan & Singer 2011) as torch.optim.Adagrad:
s ← s + g², p ← p − lr/(1 + (t−1)·lr_decay) · g/(√s + eps). Kernel: csrc/optim/adagrad.cpp."""
from .._validate import check_float
from .base import Optimizer


class Adagrad(Optimizer):
    kind = "adagrad"

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, **clip):
        self.lr_decay = check_float(lr_decay, "lr_decay", low=0.0)
        self.initial_accumulator_value = check_float(
            initial_accumulator_value, "initial_accumulator_value", low=0.0)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay}, **clip)

    def _hparams(self):
        return [self.lr_decay, self.initial_accumulator_value, self.eps]
