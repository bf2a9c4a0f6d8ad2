"""fastnet: a CPU training engine for deep dense networks (C++ core, Python API).

    import fastnet as fn
    model = fn.Sequential(fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10))
"""
__version__ = "0.1.0"

from . import _openblas  # noqa: F401  (must precede _core)
from . import _core
from ._config import get_num_threads, manual_seed, set_num_threads, show_config
from . import datasets, init, losses, optim
from .nn import (ELU, GELU, SELU, Dense, LeakyReLU, Mish, Parameter, PReLU, ReLU, RReLU,
                 Sequential, Sigmoid, SiLU, Softmax, Swish, Tanh)

from . import diagnostics  # noqa: E402
from .ensemble import Ensemble  # noqa: E402
from .lr_finder import lr_find  # noqa: E402
from . import _config  # noqa: E402

set_num_threads(_config._default_threads())

__all__ = ["Dense", "ELU", "Ensemble", "diagnostics", "lr_find", "GELU", "LeakyReLU", "Mish", "PReLU", "Parameter", "RReLU", "ReLU",
           "SELU", "Sequential", "SiLU", "Sigmoid", "Softmax", "Swish", "Tanh", "datasets",
           "get_num_threads", "init", "losses", "manual_seed", "optim", "set_num_threads",
           "show_config"]
