"""Optimizers: one fused C++ pass over the arena per step, torch.optim formulas and defaults."""
from .base import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
