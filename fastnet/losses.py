"""Losses: every function returns ``(value, grad)`` = (mean loss, d(mean loss)/d(pred)).

Argument order is PyTorch's ``(pred, target)`` (Keras uses ``(y_true, y_pred)``); formulas
and epsilons follow Keras 3 (``keras.losses``, ``keras.backend.epsilon() = 1e-7``):

==================================  ========================================================
mse                                 mean((p - t)^2)
mae                                 mean(|p - t|); subgradient sign(0) = 0 (PyTorch L1Loss)
huber(delta=1.0)                    0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta)
log_cosh                            mean(log(cosh(p - t))), computed stably
mape                                100 * mean(|t - p| / max(|t|, 1e-7))
msle                                mean((log1p(max(p, 1e-7)) - log1p(max(t, 1e-7)))^2)
hinge                               mean(max(1 - t p, 0)), targets -1/+1 (0 is read as -1)
squared_hinge                       mean(max(1 - t p, 0)^2), targets as for hinge
categorical_hinge                   per sample max(max_j (1 - t_j) p_j - sum_j t_j p_j + 1, 0)
binary_crossentropy(from_logits)    probabilities clipped to [1e-7, 1 - 1e-7]; logits stable
categorical_crossentropy(...)       per sample -sum t log q; probabilities are normalized per
                                    row and clipped to [1e-7, 1 - 1e-7]; logits: log-softmax
sparse_categorical_crossentropy     as above with integer labels; from_logits=True default
kl_divergence                       per sample sum t log(t / p), t and p clipped to [1e-7, 1]
poisson                             mean(p - t log(p + 1e-7))
cosine_similarity                   per sample -cos(p, t), l2 norms floored at sqrt(1e-12)
==================================  ========================================================

Element-wise losses average over all elements; per-sample losses (categorical_hinge, the
categorical cross-entropies, kl_divergence, cosine_similarity) sum over features and
average over the batch. Clipped or clamped entries get a zero gradient (as autodiff through
Keras' ``clip``/``maximum`` gives).

Inputs may be any real numeric array-like; they are converted to float32, C-contiguous.
A 1-D ``pred`` is read as (n, 1) and its gradient comes back 1-D.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _engine

__all__ = [
    "mse", "mae", "huber", "log_cosh", "mape", "msle", "hinge", "squared_hinge",
    "categorical_hinge", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "kl_divergence", "poisson", "cosine_similarity",
    "LOSSES", "get",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------- validation

def _as_numeric_array(x, argname, allow_bool):
    """np.asarray with a TypeError (naming the argument) for non-real-numeric input."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{argname} must be a numeric array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise ValueError(f"{argname} must be a rectangular numeric array: {exc}") from None
    kinds = "fiub" if allow_bool else "fiu"
    if arr.dtype.kind not in kinds:
        raise TypeError(
            f"{argname} must be a real numeric array, got dtype {arr.dtype}"
            + (" (bool is not accepted)" if arr.dtype.kind == "b" else "")
        )
    return arr


def _as_float32_matrix(x, argname, allow_bool=False):
    """Validated float32 C-contiguous 2-D array (1-D is read as (n, 1)) and the input shape."""
    arr = _as_numeric_array(x, argname, allow_bool)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{argname} must be 1-D or 2-D (batch, features), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{argname} is empty (shape {arr.shape}): need at least one sample")
    shape = arr.shape
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    lo, hi = arr.min(), arr.max()  # NaN propagates through both; +/-Inf show at the ends
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{argname} must be finite: it contains NaN or Inf "
                         "(or values beyond the float32 range)")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return arr, shape, float(lo)


def _as_labels(labels, rows, cols, argname="labels"):
    """Class indices as int32 (rows,), integer-valued and in [0, cols)."""
    arr = _as_numeric_array(labels, argname, allow_bool=False)
    if arr.ndim == 2 and arr.shape[1] == 1:  # a (n, 1) column of labels, as Keras accepts
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{argname} must be 1-D class indices of length {rows}, "
                         f"got shape {arr.shape}")
    if arr.shape[0] != rows:
        raise ValueError(f"{argname} has {arr.shape[0]} entries but pred has {rows} rows")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{argname} must be finite class indices")
        if not (arr == np.floor(arr)).all():
            raise ValueError(f"{argname} must be integer class indices, got non-integer values")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= cols:
        raise ValueError(f"{argname} must lie in [0, {cols}) (pred has {cols} columns), "
                         f"got values in [{lo}, {hi}]")
    return np.ascontiguousarray(arr, dtype=np.int32)


def _check_bool(value, argname):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argname} must be a bool, got {type(value).__name__}")
    return bool(value)


def _check_delta(delta):
    if isinstance(delta, (bool, np.bool_)) or not isinstance(delta, numbers.Real):
        raise TypeError(f"delta must be a real number, got {type(delta).__name__}")
    delta = float(delta)
    if not (0.0 < delta <= _FLOAT32_MAX):
        raise ValueError(f"delta must be a positive finite number, got {delta}")
    return delta


def _check_probability_rows(pred, min_value, name):
    """Probabilities must be non-negative with a positive sum per row (they get normalized)."""
    if min_value < 0.0:
        raise ValueError(f"{name}: pred must be non-negative probabilities when "
                         "from_logits=False (pass from_logits=True for logits)")
    if not (pred.sum(axis=1, dtype=np.float64) > 0.0).all():
        raise ValueError(f"{name}: every row of pred must have a positive sum when "
                         "from_logits=False")


def _dense(name, pred, target, *, delta=1.0, from_logits=False, check_pred=None):
    """Validate a (pred, target) pair of equal shapes and run the C++ loss."""
    p, shape, p_min = _as_float32_matrix(pred, "pred")
    t, t_shape, _ = _as_float32_matrix(target, "target", allow_bool=True)
    if t_shape != shape:
        raise ValueError(f"{name}: target shape {t_shape} must equal pred shape {shape}")
    if check_pred is not None:
        check_pred(p, p_min)
    value, grad = _engine.loss_forward_backward(name, p, t, None, delta, from_logits, True)
    return float(value), grad.reshape(shape)


# --------------------------------------------------------------------------- element-wise

def mse(pred, target):
    """Mean squared error, mean((pred - target)^2)."""
    return _dense("mse", pred, target)


def mae(pred, target):
    """Mean absolute error, mean(|pred - target|); gradient sign(0) = 0 (PyTorch)."""
    return _dense("mae", pred, target)


def huber(pred, target, delta=1.0):
    """Huber loss (Keras huber, torch huber_loss): 0.5 e^2 if |e| <= delta, else
    delta * (|e| - 0.5 delta), averaged over all elements."""
    return _dense("huber", pred, target, delta=_check_delta(delta))


def log_cosh(pred, target):
    """mean(log(cosh(pred - target))) (Keras log_cosh), computed without overflow."""
    return _dense("log_cosh", pred, target)


def mape(pred, target):
    """Mean absolute percentage error, 100 * mean(|t - p| / max(|t|, 1e-7)) (Keras)."""
    return _dense("mape", pred, target)


def msle(pred, target):
    """Mean squared logarithmic error (Keras): values below 1e-7 are clamped to 1e-7,
    mean((log1p(max(p, 1e-7)) - log1p(max(t, 1e-7)))^2)."""
    return _dense("msle", pred, target)


def hinge(pred, target):
    """Hinge loss mean(max(1 - t p, 0)) for targets in {-1, +1}; a target of 0 is read as -1."""
    return _dense("hinge", pred, target)


def squared_hinge(pred, target):
    """Squared hinge loss mean(max(1 - t p, 0)^2); targets as for :func:`hinge`."""
    return _dense("squared_hinge", pred, target)


def poisson(pred, target):
    """Poisson loss mean(p - t log(p + 1e-7)) (Keras); pred are non-negative rates."""

    def non_negative(p, p_min):
        if p_min < 0.0:
            raise ValueError("poisson: pred must be non-negative (predicted rates)")

    return _dense("poisson", pred, target, check_pred=non_negative)


def binary_crossentropy(pred, target, from_logits=False):
    """Binary cross-entropy averaged over all elements (Keras). Probabilities are clipped
    to [1e-7, 1 - 1e-7]; with from_logits=True, max(x, 0) - x t + log1p(exp(-|x|))."""
    return _dense("binary_crossentropy", pred, target,
                  from_logits=_check_bool(from_logits, "from_logits"))


# --------------------------------------------------------------------------- per-sample

def categorical_hinge(pred, target):
    """Categorical hinge (Keras): per sample max(neg - pos + 1, 0) with pos = sum(t p) and
    neg = max((1 - t) p); averaged over the batch."""
    return _dense("categorical_hinge", pred, target)


def categorical_crossentropy(pred, target, from_logits=False):
    """Categorical cross-entropy -sum(t log q) per sample, averaged over the batch.
    from_logits=False (Keras): q = pred / row sum, clipped to [1e-7, 1 - 1e-7];
    from_logits=True: q = softmax(pred) via log-sum-exp (torch cross_entropy)."""
    from_logits = _check_bool(from_logits, "from_logits")
    check = None if from_logits else (
        lambda p, p_min: _check_probability_rows(p, p_min, "categorical_crossentropy"))
    return _dense("categorical_crossentropy", pred, target, from_logits=from_logits,
                  check_pred=check)


def sparse_categorical_crossentropy(pred, labels, from_logits=True):
    """Cross-entropy with integer class labels (shape (batch,), values in [0, classes)),
    averaged over the batch. from_logits=True (default): pred are logits
    (torch cross_entropy); False: probabilities, normalized and clipped as Keras does."""
    from_logits = _check_bool(from_logits, "from_logits")
    p, shape, p_min = _as_float32_matrix(pred, "pred")
    rows, cols = p.shape
    y = _as_labels(labels, rows, cols, "labels")
    if not from_logits:
        _check_probability_rows(p, p_min, "sparse_categorical_crossentropy")
    value, grad = _engine.loss_forward_backward(
        "sparse_categorical_crossentropy", p, None, y, 1.0, from_logits, True)
    return float(value), grad.reshape(shape)


def kl_divergence(pred, target):
    """Kullback-Leibler divergence sum(t log(t / p)) per sample, t and p clipped to
    [1e-7, 1] (Keras); averaged over the batch (torch kl_div(log p, t, 'batchmean'))."""
    return _dense("kl_divergence", pred, target)


def cosine_similarity(pred, target):
    """Negative cosine similarity -cos(p, t) per sample (Keras), averaged over the batch;
    norms are floored at sqrt(1e-12), so a zero vector gives 0."""
    return _dense("cosine_similarity", pred, target)


# --------------------------------------------------------------------------- registry

LOSSES = {
    fn.__name__: fn
    for fn in (
        mse, mae, huber, log_cosh, mape, msle, hinge, squared_hinge, categorical_hinge,
        binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy,
        kl_divergence, poisson, cosine_similarity,
    )
}

# Keras' long names and legacy aliases resolve to the canonical (C++) names above.
_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "mean_absolute_percentage_error": "mape",
    "mean_squared_logarithmic_error": "msle",
    "logcosh": "log_cosh",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
}


def get(name_or_callable):
    """Loss function by name (canonical or Keras alias, case-insensitive), or the callable
    itself. The canonical name of a returned built-in is its ``__name__``."""
    if isinstance(name_or_callable, str):
        key = name_or_callable.strip().lower()
        key = _ALIASES.get(key, key)
        try:
            return LOSSES[key]
        except KeyError:
            raise ValueError(f"unknown loss {name_or_callable!r}; expected one of "
                             f"{', '.join(LOSSES)} or a callable") from None
    if callable(name_or_callable):
        return name_or_callable
    raise TypeError(f"loss must be a name or a callable, got {type(name_or_callable).__name__}")
