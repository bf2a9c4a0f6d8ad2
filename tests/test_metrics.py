"""fn.metrics (fastnet/metrics.py) and its Cython kernels (fastnet/_metrics.pyx) against NumPy
and scikit-learn references."""

import numpy as np
import pytest

import fastnet as fn
from fastnet import _metrics


def test_accuracy_from_scores_and_labels():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((500, 7)).astype(np.float32)
    y = rng.integers(0, 7, 500)
    assert fn.metrics.accuracy(y, scores) == pytest.approx(np.mean(scores.argmax(1) == y))
    assert fn.metrics.accuracy(y, scores.argmax(1)) == pytest.approx(np.mean(scores.argmax(1) == y))


def test_confusion_matrix_matches_bincount_and_sklearn():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 5, 300)
    scores = rng.standard_normal((300, 5)).astype(np.float32)
    p = scores.argmax(1)
    ref = np.bincount(t * 5 + p, minlength=25).reshape(5, 5)
    np.testing.assert_array_equal(fn.metrics.confusion_matrix(t, scores, 5), ref)
    np.testing.assert_array_equal(fn.metrics.confusion_matrix(t, p, 5), ref)
    skm = pytest.importorskip("sklearn.metrics")
    np.testing.assert_array_equal(
        fn.metrics.confusion_matrix(t, p, 5), skm.confusion_matrix(t, p, labels=range(5))
    )


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError):
        fn.metrics.accuracy(np.array([0, 1, 9]), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError):
        fn.metrics.accuracy(np.array([0, 1]), np.zeros((3, 2), np.float32))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- argmax / accuracy


def test_argmax_rows_matches_numpy(rng):
    P = rng.standard_normal((64, 10)).astype(np.float32)
    P[0] = 1.0  # all ties -> index 0
    P[1, [2, 7]] = 50.0  # tie -> first
    P[2, 4] = np.nan  # NaN wins (numpy semantics)
    P[3, 0] = np.nan
    r = _metrics.argmax_rows(P)
    assert r.dtype == np.int32
    np.testing.assert_array_equal(r, np.argmax(P, axis=1))
    assert _metrics.argmax_rows(np.zeros((0, 3), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="0 columns"):
        _metrics.argmax_rows(np.zeros((2, 0), np.float32))


def test_accuracy_scores_vs_numpy(rng):
    P = rng.standard_normal((200, 5)).astype(np.float32)
    y = rng.integers(0, 5, 200).astype(np.int32)
    ref = float(np.mean(np.argmax(P, 1) == y))
    assert _metrics.accuracy(P, y) == pytest.approx(ref, abs=1e-12)
    # float64 / non-contiguous scores and int64 labels are converted
    assert _metrics.accuracy(
        np.asfortranarray(P.astype(np.float64)), y.astype(np.int64)
    ) == pytest.approx(ref)
    # one-hot targets reduce the same way
    assert _metrics.accuracy(P, np.eye(5, dtype=np.float32)[y]) == pytest.approx(ref)
    # 1-D integer predictions
    assert _metrics.accuracy(np.argmax(P, 1), y) == pytest.approx(ref)
    assert _metrics.accuracy(y, y) == 1.0


def test_accuracy_binary_threshold():
    p = np.array([[0.2], [0.5], [0.51], [0.9]], np.float32)  # class 1 iff p > 0.5
    y = np.array([0, 0, 1, 0], np.int32)
    assert _metrics.accuracy(p, y) == 0.75


def test_accuracy_errors(rng):
    P = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="samples"):
        _metrics.accuracy(P, np.zeros(5, np.int32))
    with pytest.raises(ValueError, match="empty"):
        _metrics.accuracy(np.zeros((0, 3), np.float32), np.zeros(0, np.int32))
    with pytest.raises(TypeError, match="ambiguous"):
        _metrics.accuracy(np.zeros(4, np.float32), np.zeros(4, np.int32))
    with pytest.raises(TypeError, match="integer"):
        _metrics.accuracy(P, np.array(["a"] * 4))
    with pytest.raises(ValueError, match="range"):
        _metrics.accuracy(P, np.array([0, 1, 3, 0], np.int32))
    with pytest.raises(ValueError, match="range"):
        _metrics.accuracy(np.full((2, 1), 0.7, np.float32), np.array([1, 2], np.int32))


# --------------------------------------------------------------------------- confusion matrix


def _cm_reference(t, p, k):
    return np.bincount(t.astype(np.int64) * k + p, minlength=k * k).reshape(k, k)


def test_confusion_matrix_vs_bincount(rng):
    t = rng.integers(0, 7, 500).astype(np.int32)
    p = rng.integers(0, 7, 500).astype(np.int32)
    C = _metrics.confusion_matrix(t, p, 7)
    assert C.dtype == np.int64 and C.shape == (7, 7)
    np.testing.assert_array_equal(C, _cm_reference(t, p, 7))
    assert C.sum() == 500 and np.trace(C) == np.sum(t == p)
    # n_classes larger than seen, and inferred
    np.testing.assert_array_equal(_metrics.confusion_matrix(t, p, 9), _cm_reference(t, p, 9))
    np.testing.assert_array_equal(_metrics.confusion_matrix(t, p), C)
    assert _metrics.confusion_matrix(np.zeros(0, np.int32), np.zeros(0, np.int32), 3).sum() == 0


def test_confusion_matrix_vs_sklearn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    t = rng.integers(0, 4, 300)
    p = rng.integers(0, 4, 300)
    np.testing.assert_array_equal(
        _metrics.confusion_matrix(t, p, 4), metrics.confusion_matrix(t, p, labels=range(4))
    )


def test_confusion_matrix_errors():
    t = np.array([0, 1, 2], np.int32)
    with pytest.raises(ValueError, match="y_true"):
        _metrics.confusion_matrix(t, np.array([0, 1, 1], np.int32), 2)
    with pytest.raises(ValueError, match="y_pred"):
        _metrics.confusion_matrix(t, np.array([0, -1, 1], np.int32), 3)
    with pytest.raises(ValueError, match="samples"):
        _metrics.confusion_matrix(t, t[:2], 3)
    with pytest.raises(ValueError, match="positive"):
        _metrics.confusion_matrix(t, t, 0)
    with pytest.raises(TypeError):
        _metrics.confusion_matrix(t, t, 3.0)
    with pytest.raises(TypeError, match="integer"):
        _metrics.confusion_matrix(t.astype(np.float32), t, 3)
