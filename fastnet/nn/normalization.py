"""Normalization layers: BatchNorm and LayerNorm (kernels in csrc/layers/batchnorm.cpp and
csrc/layers/layernorm.cpp)."""

from __future__ import annotations

import numpy as np

from .. import _registry
from .._validate import MAX_FEATURES, check_float, check_int
from .layers import Layer


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy 2015) with torch.nn.BatchNorm1d conventions.

    Training normalizes each feature with the batch mean and the biased batch variance and
    updates ``running = (1 - momentum)·running + momentum·batch_stat`` with the unbiased
    variance m/(m-1)·σ²; inference uses the running statistics. Parameters ``weight`` (γ, 1)
    and ``bias`` (β, 0) when ``affine``; buffers ``running_mean`` (0) and ``running_var`` (1)
    live in the parameter arena (saved with the model, skipped by optimizers; see
    ``buffers()``). A ReLU layer right after it is fused into its kernel (nn/_fusion.py).

    ``momentum=None`` is torch's cumulative moving average: the n-th training batch weighs
    1/n (``running += (batch_stat - running) / n``), so the running statistics are the mean
    over all training batches of the batch means and of the unbiased batch variances, the
    population statistics of Ioffe & Szegedy 2015 (Algorithm 2). The count n is the buffer
    ``num_batches_tracked`` (a float32: exact up to 2**24 batches), saved with the model.

    Parameters
    ----------
    features : int
        Width of the input and the output.
    momentum : float or None, default 0.1
        Weight of the batch statistic in the running update, in [0, 1]; None for the
        cumulative average.
    eps : float, default 1e-5
        Added to the variance.
    affine : bool, default True
        Learned ``weight`` and ``bias``.
    """

    kind = "batchnorm"
    # Capabilities of the C++ layer's registry entry (csrc/layers/batchnorm.cpp).
    _buffer_names = tuple(_registry.layer_entry(kind)["buffers"])
    _batch_statistics = _registry.layer_entry(kind)["batch_statistics"]

    def __init__(
        self, features: int, momentum: float | None = 0.1, eps: float = 1e-5, affine: bool = True
    ):
        super().__init__()
        self.features = check_int(features, "features", 1, MAX_FEATURES)
        self.momentum = (
            None if momentum is None else check_float(momentum, "momentum", low=0.0, high=1.0)
        )
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.affine = _check_bool(affine, "affine")

    def input_features(self):
        return self.features

    def _config(self, in_features: int) -> dict:
        return {
            "kind": "batchnorm",
            "features": self.features,
            **({"cumulative": 1} if self.momentum is None else {"momentum": self.momentum}),
            "eps": self.eps,
            "affine": int(self.affine),
        }

    def _initialize(self, rng, next_activation) -> None:
        if self.affine:
            self._params["weight"].data[...] = 1.0
            self._params["bias"].data[...] = 0.0
        self._params["running_mean"].data[...] = 0.0
        self._params["running_var"].data[...] = 1.0
        if "num_batches_tracked" in self._params:
            self._params["num_batches_tracked"].data[...] = 0.0

    @property
    def running_mean(self):
        """The running mean (features,) used at inference: a live view once built, else None."""
        return self._params["running_mean"].data if self._params else None

    @property
    def running_var(self):
        """The running (unbiased) variance (features,) used at inference: a live view once
        built, else None."""
        return self._params["running_var"].data if self._params else None

    @property
    def num_batches_tracked(self):
        """Training batches averaged so far (``momentum=None``), as an int; None otherwise or
        before the model is built."""
        p = self._params.get("num_batches_tracked") if self._params else None
        return None if p is None else int(p.data[0])

    def __repr__(self) -> str:
        extra = "" if self.affine else ", affine=False"
        return f"BatchNorm({self.features}, momentum={self.momentum}, eps={self.eps}{extra})"


class LayerNorm(Layer):
    """Layer normalization (Ba et al. 2016) over the features of each sample, as
    torch.nn.LayerNorm: y = (x - mean)/sqrt(var + eps)·weight + bias (biased variance),
    with learned ``weight`` (1) and ``bias`` (0) when ``elementwise_affine``."""

    kind = "layernorm"

    def __init__(self, features: int, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        self.features = check_int(features, "features", 1, MAX_FEATURES)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.elementwise_affine = _check_bool(elementwise_affine, "elementwise_affine")

    def input_features(self):
        return self.features

    def _config(self, in_features: int) -> dict:
        return {
            "kind": "layernorm",
            "features": self.features,
            "eps": self.eps,
            "affine": int(self.elementwise_affine),
        }

    def _initialize(self, rng, next_activation) -> None:
        if self.elementwise_affine:
            self._params["weight"].data[...] = 1.0
            self._params["bias"].data[...] = 0.0

    def __repr__(self) -> str:
        extra = "" if self.elementwise_affine else ", elementwise_affine=False"
        return f"LayerNorm({self.features}, eps={self.eps}{extra})"
