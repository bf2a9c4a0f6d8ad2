"""Dropout layers (kernels in csrc/layers/dropout.cpp): masks from a counter-based RNG keyed by the
model seed, the layer's index and the training step, identical for any thread count."""

from __future__ import annotations

from .._validate import check_float
from .layers import Layer


class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014): in training each element is zeroed with
    probability ``rate`` and the kept ones are scaled by 1/(1 - rate); identity at inference."""

    kind = "dropout"

    def __init__(self, rate: float = 0.5):
        super().__init__()
        self.rate = check_float(rate, "rate", low=0.0, high=1.0, high_open=True)

    def _config(self, in_features: int) -> dict:
        return {"kind": self.kind, "features": in_features, "rate": self.rate}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.rate})"


class AlphaDropout(Dropout):
    """Alpha dropout for SELU networks (Klambauer et al. 2017), as torch.nn.AlphaDropout:
    dropped units take SELU's saturation value α' = -λα, then an affine map a·x + b with
    a = ((1 - p)(1 + p·α'²))^(-1/2), b = -a·α'·p keeps mean 0 and variance 1."""

    kind = "alphadropout"
