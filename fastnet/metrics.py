"""Classification metrics over NumPy arrays; the loops are the Cython kernels of fastnet/_metrics.pyx."""

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
