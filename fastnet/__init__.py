"""fastnet: a CPU training engine for deep dense networks (C++ core, Python API).

    import fastnet as fn
    model = fn.Sequential(fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10))
"""
__version__ = "0.1.0"

from . import _openblas  # noqa: F401  (must precede _core)
from . import _core
from ._config import get_num_threads, manual_seed, set_num_threads, show_config
from . import callbacks, datasets, init, losses, optim
from .io import load, load_checkpoint, save, save_checkpoint
from .nn import (ELU, GELU, SELU, Dense, LeakyReLU, Mish, Parameter, PReLU, ReLU, RReLU,
                 Sequential, Sigmoid, SiLU, Softmax, Swish, Tanh)

from . import _config  # noqa: E402

set_num_threads(_config._default_threads())

__all__ = ["Dense", "ELU", "GELU", "LeakyReLU", "Mish", "PReLU", "Parameter", "RReLU", "ReLU",
           "SELU", "Sequential", "SiLU", "Sigmoid", "Softmax", "Swish", "Tanh", "callbacks", "datasets",
           "get_num_threads", "init", "load", "load_checkpoint", "losses", "manual_seed", "optim",
           "save", "save_checkpoint", "set_num_threads", "show_config"]
