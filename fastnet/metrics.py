"""Metrics over NumPy arrays: classification (accuracy, confusion matrix: the Cython kernels of
fastnet/_metrics.pyx) and regression (mae, mse, rmse, r2: vectorised NumPy in float64, as
sklearn.metrics computes them; several outputs are averaged uniformly). ``fit`` and
``evaluate`` accept their names in ``metrics=``."""

from __future__ import annotations

from . import _metrics
from ._validate import check_finite


def _check_scores(values, name: str):
    """Float scores must be finite: the argmax of a NaN row is silently class 0."""
    import numpy as np

    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        check_finite(values, name)
    elif not isinstance(values, (np.ndarray, str, bytes)):
        try:
            arr = np.asarray(values)
        except Exception:  # ragged input: the Cython path raises the clear error
            return values
        if arr.dtype.kind == "f":
            check_finite(arr, name)
        return arr
    return values


def accuracy(y_true, y_pred) -> float:
    """Fraction of rows whose predicted class equals the true class (sklearn's argument order).

    ``y_pred``: (n, k) scores, probabilities or logits (argmax per row, ties to the first
    index), (n, 1) binary probabilities (class 1 when p > 0.5, as Keras' binary_accuracy), or
    1-D integer classes. ``y_true``: 1-D integer labels or one-hot rows.

    Parameters
    ----------
    y_true : array_like, shape (n,) or (n, k)
        Integer labels or one-hot rows.
    y_pred : array_like, shape (n, k), (n, 1) or (n,)
        Scores, binary probabilities or integer classes (see above).

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If the row counts differ, an input is empty or ragged, or scores are NaN or Inf.

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.metrics.accuracy([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    0.6666666666666666
    """
    return _metrics.accuracy(_check_scores(y_pred, "y_pred"), _check_scores(y_true, "y_true"))


def confusion_matrix(y_true, y_pred, n_classes=None):
    """Counts of (true class, predicted class) pairs, as sklearn.metrics.confusion_matrix.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        Integer labels (>= 0).
    y_pred : array_like, shape (n,) or (n, k)
        Integer classes, or scores whose row-wise argmax is taken.
    n_classes : int or None, default None
        The matrix size; None: one more than the largest label seen.

    Returns
    -------
    numpy.ndarray, shape (n_classes, n_classes)
        int64 counts, rows = true class, columns = predicted class.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If the lengths differ, a label is negative or not below ``n_classes``, or scores are
        NaN or Inf.

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.metrics.confusion_matrix([0, 1, 1], [0, 1, 0])
    array([[1, 0],
           [1, 1]])
    """
    import numpy as np

    pred = np.asarray(_check_scores(y_pred, "y_pred"))
    y_true = _check_scores(y_true, "y_true")
    if pred.ndim == 2:
        pred = _metrics.argmax_rows(np.ascontiguousarray(pred, dtype=np.float32))
    return _metrics.confusion_matrix(y_true, pred, n_classes)


def _regression_pair(y_true, y_pred):
    """float64 (n, k) arrays of equal shape (1-D is one output), finite, non-empty."""
    import numpy as np

    from ._validate import as_float_array

    t = as_float_array(y_true, "y_true").astype(np.float64)
    p = as_float_array(y_pred, "y_pred").astype(np.float64)
    t = t.reshape(t.shape[0], -1) if t.ndim else t.reshape(1, 1)
    p = p.reshape(p.shape[0], -1) if p.ndim else p.reshape(1, 1)
    if t.shape != p.shape:
        raise ValueError(f"y_true shape {t.shape} must equal y_pred shape {p.shape}")
    if t.size == 0:
        raise ValueError("y_true is empty")
    check_finite(t, "y_true")
    check_finite(p, "y_pred")
    return t, p


def mae(y_true, y_pred) -> float:
    """Mean absolute error, ``mean(abs(y_true - y_pred))`` (sklearn.metrics.mean_absolute_error).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, k)
        Targets and predictions, same shape.

    Returns
    -------
    float

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.metrics.mae([1.0, 2.0], [2.0, 2.0])
    0.5
    """
    t, p = _regression_pair(y_true, y_pred)
    return float(abs(t - p).mean())


def mse(y_true, y_pred) -> float:
    """Mean squared error, ``mean((y_true - y_pred)**2)`` (sklearn.metrics.mean_squared_error).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, k)
        Targets and predictions, same shape.

    Returns
    -------
    float

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.metrics.mse([1.0, 2.0], [3.0, 2.0])
    2.0
    """
    t, p = _regression_pair(y_true, y_pred)
    return float(((t - p) ** 2).mean())


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, ``sqrt(mse)`` over all outputs together.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, k)
        Targets and predictions, same shape.

    Returns
    -------
    float

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.metrics.rmse([1.0, 2.0], [3.0, 2.0])
    1.4142135623730951
    """
    import math

    return math.sqrt(mse(y_true, y_pred))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` per output, averaged uniformly
    over outputs (sklearn.metrics.r2_score; a constant target scores 1.0 when predicted
    exactly, else 0.0, as sklearn's ``force_finite``).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, k)
        Targets and predictions, same shape.

    Returns
    -------
    float
        1.0 for a perfect fit; 0.0 for predicting the mean; negative when worse.

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.metrics.r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    import numpy as np

    t, p = _regression_pair(y_true, y_pred)
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
    return float(scores.mean())
