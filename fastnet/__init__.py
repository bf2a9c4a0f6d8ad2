"""fastnet: a CPU training engine for deep dense networks (C++ core, Python API).

    import fastnet as fn
    model = fn.Sequential(fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10))
"""
__version__ = "0.1.0"

from . import _openblas  # noqa: F401  (must precede _core)
from . import _core
from ._config import get_num_threads, manual_seed, set_num_threads, show_config
from . import callbacks, datasets, init, losses, metrics, optim, schedules
from .io import load, load_checkpoint, save, save_checkpoint
from .optim.clip import clip_grad_norm, clip_grad_value
from .nn import AlphaDropout, BatchNorm, Dropout, LayerNorm, Residual
from .nn import (ELU, GELU, SELU, Dense, LeakyReLU, Mish, Parameter, PReLU, ReLU, RReLU,
                 Sequential, Sigmoid, SiLU, Softmax, Swish, Tanh)

from . import diagnostics  # noqa: E402
from .ensemble import Ensemble  # noqa: E402
from .lr_finder import lr_find  # noqa: E402
from . import _config  # noqa: E402

_config._init_thread_pool()

__all__ = ["AlphaDropout", "BatchNorm", "Dense", "Dropout", "ELU", "Ensemble", "GELU",
           "LayerNorm", "LeakyReLU", "Mish", "PReLU", "Parameter", "RReLU", "ReLU", "Residual",
           "SELU", "Sequential", "SiLU", "Sigmoid", "Softmax", "Swish", "Tanh", "callbacks",
           "clip_grad_norm", "clip_grad_value", "datasets", "diagnostics", "get_num_threads",
           "init", "load", "load_checkpoint", "losses", "lr_find", "manual_seed", "metrics", "optim",
           "save", "save_checkpoint", "schedules", "set_num_threads", "show_config"]
