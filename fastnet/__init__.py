"""fastnet: a CPU training engine for deep dense networks (C++ core, Python API).

import fastnet as fn
model = fn.Sequential(fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10))
"""

__version__ = "0.1.0"

import importlib

# isort: off
from . import _openblas  # noqa: F401  (loads OpenBLAS with RTLD_GLOBAL: must precede _core)
from . import _engine  # noqa: F401  (the extension, behind its one Python seam)

# isort: on
from . import _config, init, losses, optim
from ._config import get_num_threads, manual_seed, set_num_threads, show_config
from .nn import (
    ACTIVATION_CLASSES,
    AlphaDropout,
    BatchNorm,
    Dense,
    Dropout,
    LayerNorm,
    Parameter,
    Residual,
    Sequential,
)

_config._init_thread_pool()
# Activation layer classes (fn.ReLU, fn.Mish, ...), generated from the C++ registry.
globals().update(ACTIVATION_CLASSES)

# The rest loads on first use (PEP 562), which keeps `import fastnet` short.
_LAZY_MODULES = (
    "bundle",
    "callbacks",
    "datasets",
    "diagnostics",
    "metrics",
    "schedules",
    "io",
    "tabular",
    "onnx",
    "inference",
    "recipes",
    "distributed",
)
_LAZY_NAMES = {
    "save": ("io", "save"),
    "load": ("io", "load"),
    "save_checkpoint": ("io", "save_checkpoint"),
    "load_checkpoint": ("io", "load_checkpoint"),
    "load_bundle": ("bundle", "load_bundle"),
    "save_bundle": ("bundle", "save_bundle"),
    "clip_grad_norm": ("optim.clip", "clip_grad_norm"),
    "clip_grad_value": ("optim.clip", "clip_grad_value"),
    "Ensemble": ("ensemble", "Ensemble"),
    "lr_find": ("lr_finder", "lr_find"),
    "fit_auto": ("recipes", "fit_auto"),
    "export_onnx": ("onnx", "export_onnx"),
    "InferenceModel": ("inference", "InferenceModel"),
}


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        module, attr = _LAZY_NAMES[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_MODULES) | set(_LAZY_NAMES))


__all__ = [
    "AlphaDropout",
    "BatchNorm",
    "Dense",
    "Dropout",
    "Ensemble",
    "InferenceModel",
    "LayerNorm",
    "Parameter",
    "Residual",
    "Sequential",
    *sorted(ACTIVATION_CLASSES),
    "bundle",
    "callbacks",
    "clip_grad_norm",
    "clip_grad_value",
    "datasets",
    "diagnostics",
    "export_onnx",
    "fit_auto",
    "get_num_threads",
    "inference",
    "init",
    "load",
    "load_bundle",
    "load_checkpoint",
    "losses",
    "lr_find",
    "manual_seed",
    "metrics",
    "optim",
    "recipes",
    "save",
    "save_bundle",
    "save_checkpoint",
    "schedules",
    "set_num_threads",
    "show_config",
    "tabular",
]
