"""Layers and models."""
from .layers import ACTIVATION_CLASSES, ACTIVATION_LAYERS, Activation, Dense, Layer
from .dropout import AlphaDropout, Dropout
from .layers import (
    ACTIVATION_LAYERS,
    ELU,
    GELU,
    SELU,
    Activation,
    Dense,
    Layer,
    LeakyReLU,
    Mish,
    PReLU,
    ReLU,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Swish,
    Tanh,
)
from .normalization import BatchNorm, LayerNorm
from .parameter import Parameter
from .residual import Residual
from .sequential import Sequential

# The activation layer classes are generated from the C++ registry (fn.ReLU, fn.Mish, ...).
globals().update(ACTIVATION_CLASSES)

__all__ = ["ACTIVATION_CLASSES", "ACTIVATION_LAYERS", "Activation", "AlphaDropout", "BatchNorm",
           "Dense", "Dropout", "LayerNorm", "Residual", "Layer", "Parameter", "Sequential",
           *sorted(ACTIVATION_CLASSES)]
