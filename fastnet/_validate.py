"""Input checks shared by every public entry point: they run before C++ touches memory.

Rules (docs/architecture.md, "Errors"): TypeError for a wrong type (strings, objects, complex), ValueError
for a wrong shape, an empty batch, NaN/Inf, labels out of range or a hyper-parameter out of
range; float64 and non-contiguous inputs are converted. Messages name the argument.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _engine

_REAL_KINDS = "biuf"  # bool, signed, unsigned, float
_NATIVE_INT_LABELS = (np.dtype(np.int32), np.dtype(np.int64))
_FLOAT32 = np.dtype(np.float32)


def as_float_array(x, name: str) -> np.ndarray:
    """Any real array-like as a C-contiguous float32 array (no copy when already one)."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested sequences: a bad shape
        raise ValueError(f"{name} must be a rectangular numeric array: {exc}") from None
    except Exception as exc:  # objects numpy cannot convert
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_finite(arr: np.ndarray, name: str) -> None:
    # float32 C-contiguous (every batch after as_float_array): one vectorized C++ scan;
    # anything else: min/max propagate NaN and expose Inf without a boolean temporary.
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        ok = _engine.all_finite(arr)
    else:
        ok = not arr.size or (math.isfinite(float(arr.min())) and math.isfinite(float(arr.max())))
    if not ok:
        raise ValueError(f"{name} contains NaN or Inf")


def as_batch(x, name: str, features: int | None = None) -> np.ndarray:
    """A 2-D float32 batch (rows, features): 1-D input is one row only when features say so."""
    if (
        type(x) is np.ndarray
        and x.dtype == _FLOAT32
        and x.ndim == 2
        and x.shape[0]
        and x.flags.c_contiguous
        and (features is None or x.shape[1] == features)
    ):
        check_finite(x, name)  # the common case, already what C++ takes: only the scan left
        return x
    arr = as_float_array(x, name)
    if arr.ndim == 1 and features is not None and arr.shape[0] == features:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if features is not None and arr.shape[1] != features:
        raise ValueError(f"{name} has {arr.shape[1]} features, expected {features}")
    check_finite(arr, name)
    return arr


def as_labels(y, name: str, rows: int, n_classes: int) -> np.ndarray:
    """Integer class labels as a C-contiguous int32 vector of length rows, each in [0, n_classes)."""
    if (
        type(y) is np.ndarray
        and y.ndim == 1
        and y.shape[0] == rows
        and rows
        and y.dtype in _NATIVE_INT_LABELS
        and y.flags.c_contiguous
    ):
        narrowed, lo, hi = _engine.int_labels(y)  # the common case: one C++ pass
        if lo >= 0 and hi < n_classes:
            return narrowed
    if isinstance(y, (str, bytes)):
        raise TypeError(f"{name} must be an array of integer labels, got {type(y).__name__}")
    arr = np.asarray(y)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row), got shape {arr.shape}")
    if arr.shape[0] != rows:
        raise ValueError(f"{name} has {arr.shape[0]} labels for {rows} rows")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole-number class labels")
    narrowed = None
    if arr.dtype in _NATIVE_INT_LABELS and arr.flags.c_contiguous:
        narrowed, lo, hi = _engine.int_labels(arr)  # range and int32 copy in one C++ pass
    elif arr.size:
        lo, hi = int(arr.min()), int(arr.max())
    if arr.size and (lo < 0 or hi >= n_classes):
        raise ValueError(f"{name} must be in [0, {n_classes}), got values in [{lo}, {hi}]")
    if narrowed is not None:
        return narrowed
    return np.ascontiguousarray(arr, dtype=np.int32)


def as_targets(y, name: str, shape: tuple) -> np.ndarray:
    """Float targets of exactly the model output's shape ((n,) is accepted for (n, 1))."""
    arr = as_float_array(y, name)
    if arr.ndim == 1 and len(shape) == 2 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(shape)}")
    check_finite(arr, name)
    return arr


def check_bool(value, name: str) -> bool:
    """A real bool (or np.bool_): a string such as "no" or a number is truthy, so it is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


# Layer widths reach OpenBLAS (the 32-bit-int scipy-openblas32 build) as M/N/K and leading
# dimensions: a width must fit a C int.
MAX_FEATURES = 2**31 - 1


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A real number in a range; the message names the argument and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    bad = (low is not None and (value <= low if low_open else value < low)) or (
        high is not None and (value >= high if high_open else value > high)
    )
    if bad:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        rng = ("(" if low_open else "[") + f"{lo}, {hi}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return value


def as_sample_weight(w, name: str, rows: int):
    """None, or float32 (rows,) finite non-negative weights (ValueError / TypeError naming
    ``name`` otherwise). Python lists, float64 and integers are converted."""
    if w is None:
        return None
    arr = as_float_array(w, name)
    if arr.ndim != 1 or arr.shape[0] != rows:
        raise ValueError(f"{name} must be 1-D with one weight per row ({rows}), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(arr, name)
    if arr.size and float(arr.min()) < 0.0:
        raise ValueError(f"{name} must be non-negative")
    return arr
