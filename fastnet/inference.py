"""Inference copies of a model: frozen weights in the precision a service serves them in.

``model.predict`` always reads the model's live weights (fused Dense + BatchNorm +
activation kernels, BatchNorm folded per call: nothing to go stale). An inference copy is the
other trade, the one ONNX Runtime's session makes: the weights are converted once, ahead, and
the copy never changes afterwards. ``precision="bf16"`` stores every Dense weight as
bfloat16 (round to nearest even), half the bytes of float32: at batch 1 the product is bound
by streaming the weights from cache, so half the bytes is the speed-up. The inputs of each
Dense are rounded to bf16 the same way and the products accumulate in float32, with
AVX512_BF16's ``vdpbf16ps`` where the CPU has it (``fn.show_config()["kernels"]``) and an
exact fallback (the same products and sums in float32) elsewhere.
"""

from __future__ import annotations

import copy

import numpy as np

from . import _engine
from ._validate import as_batch, check_int

PRECISIONS = ("fp32", "bf16")


class InferenceModel:
    """A frozen copy of a :class:`~fastnet.Sequential` for serving.

    Made by :meth:`fastnet.Sequential.to_inference`; later training of the original does not
    change it (make a new copy to serve new weights). Safe to call from many threads at once.

    Attributes
    ----------
    precision : str
        ``"fp32"`` or ``"bf16"``.

    Examples
    --------
    >>> import numpy as np, fastnet as fn
    >>> model = fn.Sequential(fn.Dense(8, 16, activation="relu"), fn.Dense(16, 3), seed=0)
    >>> fast = model.to_inference(precision="bf16")
    >>> X = np.ones((2, 8), dtype=np.float32)
    >>> bool(np.allclose(fast.predict(X), model.predict(X), atol=0.05))
    True
    """

    def __init__(self, model, precision: str = "fp32"):
        if not isinstance(precision, str):
            raise TypeError(f"precision must be a str, got {type(precision).__name__}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self._model = copy.deepcopy(model)  # a copy of a model shares nothing with it
        if precision == "bf16":
            _engine.freeze_bf16(self._model)

    @property
    def in_features(self) -> int:
        """Width of the input."""
        return self._model.in_features

    @property
    def out_features(self) -> int:
        """Width of the output."""
        return self._model.out_features

    def predict(self, X, batch_size=None) -> np.ndarray:
        """Inference on rows of X, as :meth:`fastnet.Sequential.predict`.

        Parameters
        ----------
        X : array_like, shape (n, in_features)
            Real numbers; float32 C-contiguous input is read in place.
        batch_size : int or None
            Rows per chunk (None: all at once, chunks capped at 32 MiB of workspace).

        Returns
        -------
        numpy.ndarray, shape (n, out_features), float32
        """
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        X = as_batch(X, "X", self.in_features)
        rows = X.shape[0] if batch_size is None else min(batch_size, X.shape[0])
        return _engine.predict(self._model, X, rows)

    __call__ = predict

    @property
    def nbytes(self) -> int:
        """Bytes of the weights the fused Dense steps read (bf16: the packed copies)."""
        if self.precision == "bf16":
            return _engine.bf16_bytes(self._model)
        return 4 * sum(p.data.size for p in self._model.parameters())

    def plan(self) -> list:
        """The inference steps, one line each (which layers run fused, which in bf16)."""
        return _engine.inference_plan(self._model)

    def __repr__(self) -> str:
        return (
            f"InferenceModel({self.in_features} -> {self.out_features}, "
            f"precision={self.precision!r}, {len(self._model.layers)} layers)"
        )
