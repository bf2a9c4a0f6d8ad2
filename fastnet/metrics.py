"""Classification metrics over NumPy arrays; the loops are the Cython data path (_data.pyx)."""
from __future__ import annotations

from . import _data


def accuracy(y_true, y_pred) -> float:
    """Fraction of rows whose predicted class equals the true class (sklearn's argument order).

    ``y_pred``: (n, k) scores, probabilities or logits (argmax per row, ties to the first
    index), (n, 1) binary probabilities (class 1 when p > 0.5, as Keras' binary_accuracy), or
    1-D integer classes. ``y_true``: 1-D integer labels or one-hot rows.
    """
    return _data.accuracy(y_pred, y_true)


def confusion_matrix(y_true, y_pred, n_classes=None):
    """(n_classes, n_classes) int64 counts, rows = true class, columns = predicted class (as
    sklearn.metrics.confusion_matrix). ``y_pred`` may be scores: the argmax is taken."""
    import numpy as np

    pred = np.asarray(y_pred)
    if pred.ndim == 2:
        pred = _data.argmax_rows(np.ascontiguousarray(pred, dtype=np.float32))
    return _data.confusion_matrix(y_true, pred, n_classes)
