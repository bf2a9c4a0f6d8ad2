"""Layers and models."""

from .dropout import AlphaDropout, Dropout
from .layers import ACTIVATION_CLASSES, ACTIVATION_LAYERS, Activation, Dense, Layer
from .normalization import BatchNorm, LayerNorm
from .parameter import Parameter
from .residual import Residual
from .sequential import Sequential

# The activation layer classes are generated from the C++ registry (fn.ReLU, fn.Mish, ...).
globals().update(ACTIVATION_CLASSES)

__all__ = [
    "ACTIVATION_CLASSES",
    "ACTIVATION_LAYERS",
    "Activation",
    "AlphaDropout",
    "BatchNorm",
    "Dense",
    "Dropout",
    "LayerNorm",
    "Residual",
    "Layer",
    "Parameter",
    "Sequential",
    *sorted(ACTIVATION_CLASSES),
]
