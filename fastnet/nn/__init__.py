"""Layers and models."""
from .layers import (ACTIVATION_LAYERS, ELU, GELU, SELU, Activation, Dense, Layer, LeakyReLU, Mish,
                     PReLU, ReLU, RReLU, Sigmoid, SiLU, Softmax, Swish, Tanh)
from .parameter import Parameter
from .sequential import Sequential

__all__ = ["ACTIVATION_LAYERS", "Activation", "Dense", "ELU", "GELU", "Layer", "LeakyReLU", "Mish",
           "PReLU", "Parameter", "ReLU", "RReLU", "SELU", "Sequential", "SiLU", "Sigmoid",
           "Softmax", "Swish", "Tanh"]
