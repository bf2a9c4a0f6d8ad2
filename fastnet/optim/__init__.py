"""Optimizers: one fused C++ pass over the arena per step, torch.optim formulas and defaults."""
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .clip import clip_grad_norm, clip_grad_value
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Nadam", "Optimizer", "RMSprop", "SGD",
           "clip_grad_norm", "clip_grad_value"]
