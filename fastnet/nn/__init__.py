"""Layers and models."""

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

__all__ = [
    "ACTIVATION_LAYERS",
    "Activation",
    "AlphaDropout",
    "BatchNorm",
    "Dense",
    "Dropout",
    "LayerNorm",
    "Residual",
    "ELU",
    "GELU",
    "Layer",
    "LeakyReLU",
    "Mish",
    "PReLU",
    "Parameter",
    "ReLU",
    "RReLU",
    "SELU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Swish",
    "Tanh",
]
