"""fn.metrics (fastnet/metrics.py over the Cython data path)."""
import numpy as np
import pytest

import fastnet as fn


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
    np.testing.assert_array_equal(fn.metrics.confusion_matrix(t, p, 5),
                                  skm.confusion_matrix(t, p, labels=range(5)))


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError):
        fn.metrics.accuracy(np.array([0, 1, 9]), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError):
        fn.metrics.accuracy(np.array([0, 1]), np.zeros((3, 2), np.float32))
