# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Classification-metric kernels (fn.metrics): argmax over score rows, accuracy and the
confusion matrix, as typed nogil loops.

This is what the Cython module is for: the metrics run on arrays the user hands in, outside
the model, so they live beside the Python API rather than in the C++ core. Minibatch
gathering and label handling of training live in C++ (csrc/), next to the step that uses them.

Typed memoryviews and ``nogil`` loops only, so no NumPy C headers are needed to
build this module. Every function validates shapes and index ranges *before* a
kernel touches memory: a bad argument raises ``IndexError`` / ``ValueError`` /
``TypeError`` and never writes out of bounds.

Conventions follow scikit-learn (``confusion_matrix``, ``LabelEncoder``) and
Keras (``binary_accuracy`` threshold 0.5); ``argmax`` ties and NaNs follow
``numpy.argmax`` (first maximum; a NaN counts as the maximum).
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t


# --------------------------------------------------------------------------- helpers

cdef inline int32_t _argmax_row(const float* row, Py_ssize_t k) noexcept nogil:
    """numpy.argmax on one row: first maximum wins; the first NaN wins outright."""
    cdef Py_ssize_t j
    cdef int32_t best = 0
    cdef float bv = row[0]
    if bv != bv:
        return 0
    for j in range(1, k):
        if row[j] != row[j]:
            return <int32_t>j
        if row[j] > bv:
            bv = row[j]
            best = <int32_t>j
    return best


def _as_int_labels(y, str name):
    """1-D integer array -> C-contiguous int32 (bool accepted; values must fit int32)."""
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of integer labels, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.int32)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer labels, got dtype {a.dtype}")
    if a.dtype != np.int32:
        if a.size and (a.min() < -2**31 or a.max() > 2**31 - 1):
            raise ValueError(f"{name}: label values do not fit in int32")
        a = a.astype(np.int32)
    return np.ascontiguousarray(a)


def _as_float_scores(p, str name):
    """2-D real array -> C-contiguous float32 (float64 / non-contiguous are converted)."""
    a = np.asarray(p)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a real-valued array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, k) array, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


# --------------------------------------------------------------------------- argmax / accuracy

def argmax_rows(const float[:, ::1] P not None):
    """Row-wise argmax of a float32 (n, k) array as int32, exactly like
    ``np.argmax(P, axis=1)``: ties go to the first index, a NaN wins."""
    cdef Py_ssize_t n = P.shape[0], k = P.shape[1], i
    if k == 0 and n > 0:
        raise ValueError("argmax_rows: P has 0 columns")
    res = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] r = res
    with nogil:
        for i in range(n):
            r[i] = _argmax_row(&P[i, 0], k)
    return res


cdef void _predicted_classes(const float[:, ::1] P, int32_t[::1] out) noexcept nogil:
    """argmax per row; a single column is a binary probability: class 1 iff p > 0.5
    (Keras ``binary_accuracy`` threshold; p == 0.5 counts as class 0)."""
    cdef Py_ssize_t n = P.shape[0], k = P.shape[1], i
    if k == 1:
        for i in range(n):
            out[i] = 1 if P[i, 0] > 0.5 else 0
    else:
        for i in range(n):
            out[i] = _argmax_row(&P[i, 0], k)


cdef int64_t _count_equal(const int32_t[::1] a, const int32_t[::1] b) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t c = 0
    for i in range(a.shape[0]):
        c += a[i] == b[i]
    return c


def _to_classes(x, str name):
    """Scores/one-hot (2-D) or integer labels (1-D) -> int32 class labels."""
    a = np.asarray(x)
    if a.ndim == 2:
        s = _as_float_scores(a, name)
        if s.shape[1] == 0:
            raise ValueError(f"{name}: has 0 columns")
        c = np.empty(s.shape[0], dtype=np.int32)
        _predicted_classes(s, c)
        return c
    if a.ndim == 1:
        if a.dtype.kind == "f":
            raise TypeError(
                f"{name}: a 1-D float array is ambiguous; pass integer class labels, "
                f"or reshape binary probabilities to (n, 1)")
        return _as_int_labels(a, name)
    raise ValueError(f"{name}: expected 1-D labels or a 2-D (n, k) array, got shape {a.shape}")


def accuracy(pred, labels):
    """Fraction of samples whose predicted class equals the true class.

    ``pred``: (n, k) scores/probabilities/logits -> argmax per row (ties -> first
    index); (n, 1) -> binary probabilities, class 1 iff p > 0.5 (Keras
    ``binary_accuracy``); or 1-D integer class labels.
    ``labels``: 1-D integer labels, or a 2-D one-hot/probability array of the same
    shape as ``pred`` (reduced the same way).
    """
    p = _to_classes(pred, "pred")
    t = _to_classes(labels, "labels")
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"accuracy: pred has {p.shape[0]} samples, labels has {t.shape[0]}")
    if p.shape[0] == 0:
        raise ValueError("accuracy: empty batch")
    cdef int32_t lo, hi
    cdef Py_ssize_t k
    if np.ndim(pred) == 2 and np.ndim(labels) == 1:
        k = max(np.shape(pred)[1], 2)           # one column = binary: classes 0 and 1
        _minmax(t, &lo, &hi)
        if lo < 0 or hi >= k:
            raise ValueError(f"accuracy: labels must lie in [0, {k}) for pred with "
                             f"{np.shape(pred)[1]} columns, got range [{lo}, {hi}]")
    cdef const int32_t[::1] pv = p
    cdef const int32_t[::1] tv = t
    cdef int64_t c
    with nogil:
        c = _count_equal(pv, tv)
    return c / <double>p.shape[0]


# --------------------------------------------------------------------------- confusion matrix

cdef void _minmax(const int32_t[::1] a, int32_t* lo, int32_t* hi) noexcept nogil:
    cdef Py_ssize_t i
    lo[0] = a[0]
    hi[0] = a[0]
    for i in range(1, a.shape[0]):
        if a[i] < lo[0]:
            lo[0] = a[i]
        elif a[i] > hi[0]:
            hi[0] = a[i]


def confusion_matrix(y_true, y_pred, n_classes=None):
    """(n_classes, n_classes) int64 counts; C[i, j] = #samples of true class i
    predicted as class j (rows = true, columns = predicted, as in
    ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(n_classes))``).

    Labels must be integers in [0, n_classes); ``n_classes`` defaults to
    max(y_true, y_pred) + 1.
    """
    t = _as_int_labels(y_true, "y_true")
    p = _as_int_labels(y_pred, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"confusion_matrix: y_true has {t.shape[0]} samples, y_pred has {p.shape[0]}")
    cdef const int32_t[::1] tv = t
    cdef const int32_t[::1] pv = p
    cdef Py_ssize_t n = t.shape[0], i
    cdef int32_t tlo = 0, thi = -1, plo = 0, phi = -1
    if n > 0:
        with nogil:
            _minmax(tv, &tlo, &thi)
            _minmax(pv, &plo, &phi)
    if n_classes is None:
        k = max(thi, phi) + 1
    else:
        if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(f"confusion_matrix: n_classes must be an int, got {type(n_classes).__name__}")
        k = int(n_classes)
        if k <= 0:
            raise ValueError(f"confusion_matrix: n_classes must be positive, got {k}")
    if n > 0:
        if tlo < 0 or thi >= k:
            raise ValueError(f"confusion_matrix: y_true values must lie in [0, {k}), got range [{tlo}, {thi}]")
        if plo < 0 or phi >= k:
            raise ValueError(f"confusion_matrix: y_pred values must lie in [0, {k}), got range [{plo}, {phi}]")
    C = np.zeros((k, k), dtype=np.int64)
    cdef int64_t[:, ::1] cv = C
    with nogil:
        for i in range(n):
            cv[tv[i], pv[i]] += 1
    return C
