"""Adadelta (Zeiler 2012) as torch.optim.Adadelta: Δ = √(E[Δ²] + eps)/√(E[g²] + eps)·g,
p ← p − lr·Δ, both running averages with decay rho. Kernel: csrc/optim/adadelta.cpp."""
from .._validate import check_float
from .base import Optimizer


class Adadelta(Optimizer):
    kind = "adadelta"

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, **clip):
        self.rho = check_float(rho, "rho", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay}, **clip)

    def _hparams(self):
        return [self.rho, self.eps]
