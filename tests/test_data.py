"""fastnet._data (Cython data path) against NumPy / scikit-learn references."""

import numpy as np
import pytest

from fastnet import _data


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- gather

def test_gather_rows_matches_fancy_indexing(rng):
    X = rng.standard_normal((100, 7)).astype(np.float32)
    idx = rng.permutation(100)[:32].astype(np.int64)
    out = np.full((32, 7), np.nan, np.float32)
    res = _data.gather_rows(X, idx, out)
    np.testing.assert_array_equal(out, X[idx])
    np.testing.assert_array_equal(res, X[idx])
    # allocated output, repeated indices, read-only input
    X.setflags(write=False)
    idx2 = np.array([3, 3, 0, 99], np.int64)
    np.testing.assert_array_equal(_data.gather_rows(X, idx2), X[idx2])
    assert _data.gather_rows(X, np.empty(0, np.int64)).shape == (0, 7)


@pytest.mark.parametrize("bad", [100, -1, 2**40])
def test_gather_rows_bad_index_raises_and_writes_nothing(rng, bad):
    X = rng.standard_normal((100, 4)).astype(np.float32)
    idx = np.array([0, 5, bad, 7], np.int64)
    out = np.zeros((4, 4), np.float32)
    with pytest.raises(IndexError, match=r"idx\[2\]"):
        _data.gather_rows(X, idx, out)
    assert not out.any()          # checked up front: nothing copied


def test_gather_rows_shape_and_type_errors(rng):
    X = rng.standard_normal((10, 4)).astype(np.float32)
    idx = np.arange(3, dtype=np.int64)
    with pytest.raises(ValueError, match="out has shape"):
        _data.gather_rows(X, idx, np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="out has shape"):
        _data.gather_rows(X, idx, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="overlap"):
        _data.gather_rows(X, idx, X[:3])
    with pytest.raises(ValueError):           # buffer dtype mismatch (float64)
        _data.gather_rows(X.astype(np.float64), idx)
    with pytest.raises(ValueError):           # not C-contiguous
        _data.gather_rows(np.asfortranarray(X), idx)
    with pytest.raises(TypeError):
        _data.gather_rows(None, idx)


def test_gather_labels_int32(rng):
    y = rng.integers(0, 10, 50).astype(np.int32)
    idx = rng.integers(0, 50, 20).astype(np.int64)
    np.testing.assert_array_equal(_data.gather_labels_int32(y, idx), y[idx])
    out = np.zeros(20, np.int32)
    _data.gather_labels_int32(y, idx, out)
    np.testing.assert_array_equal(out, y[idx])
    with pytest.raises(IndexError, match="out of range"):
        _data.gather_labels_int32(y, np.array([50], np.int64))
    with pytest.raises(ValueError, match="length"):
        _data.gather_labels_int32(y, idx, np.zeros(3, np.int32))


# --------------------------------------------------------------------------- argmax / accuracy

def test_argmax_rows_matches_numpy(rng):
    P = rng.standard_normal((64, 10)).astype(np.float32)
    P[0] = 1.0                               # all ties -> index 0
    P[1, [2, 7]] = 50.0                      # tie -> first
    P[2, 4] = np.nan                         # NaN wins (numpy semantics)
    P[3, 0] = np.nan
    r = _data.argmax_rows(P)
    assert r.dtype == np.int32
    np.testing.assert_array_equal(r, np.argmax(P, axis=1))
    assert _data.argmax_rows(np.zeros((0, 3), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="0 columns"):
        _data.argmax_rows(np.zeros((2, 0), np.float32))


def test_accuracy_scores_vs_numpy(rng):
    P = rng.standard_normal((200, 5)).astype(np.float32)
    y = rng.integers(0, 5, 200).astype(np.int32)
    ref = float(np.mean(np.argmax(P, 1) == y))
    assert _data.accuracy(P, y) == pytest.approx(ref, abs=1e-12)
    # float64 / non-contiguous scores and int64 labels are converted
    assert _data.accuracy(np.asfortranarray(P.astype(np.float64)), y.astype(np.int64)) == pytest.approx(ref)
    # one-hot targets reduce the same way
    assert _data.accuracy(P, np.eye(5, dtype=np.float32)[y]) == pytest.approx(ref)
    # 1-D integer predictions
    assert _data.accuracy(np.argmax(P, 1), y) == pytest.approx(ref)
    assert _data.accuracy(y, y) == 1.0


def test_accuracy_binary_threshold():
    p = np.array([[0.2], [0.5], [0.51], [0.9]], np.float32)   # class 1 iff p > 0.5
    y = np.array([0, 0, 1, 0], np.int32)
    assert _data.accuracy(p, y) == 0.75


def test_accuracy_errors(rng):
    P = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="samples"):
        _data.accuracy(P, np.zeros(5, np.int32))
    with pytest.raises(ValueError, match="empty"):
        _data.accuracy(np.zeros((0, 3), np.float32), np.zeros(0, np.int32))
    with pytest.raises(TypeError, match="ambiguous"):
        _data.accuracy(np.zeros(4, np.float32), np.zeros(4, np.int32))
    with pytest.raises(TypeError, match="integer"):
        _data.accuracy(P, np.array(["a"] * 4))
    with pytest.raises(ValueError, match="range"):
        _data.accuracy(P, np.array([0, 1, 3, 0], np.int32))
    with pytest.raises(ValueError, match="range"):
        _data.accuracy(np.full((2, 1), 0.7, np.float32), np.array([1, 2], np.int32))


# --------------------------------------------------------------------------- confusion matrix

def _cm_reference(t, p, k):
    return np.bincount(t.astype(np.int64) * k + p, minlength=k * k).reshape(k, k)


def test_confusion_matrix_vs_bincount(rng):
    t = rng.integers(0, 7, 500).astype(np.int32)
    p = rng.integers(0, 7, 500).astype(np.int32)
    C = _data.confusion_matrix(t, p, 7)
    assert C.dtype == np.int64 and C.shape == (7, 7)
    np.testing.assert_array_equal(C, _cm_reference(t, p, 7))
    assert C.sum() == 500 and np.trace(C) == np.sum(t == p)
    # n_classes larger than seen, and inferred
    np.testing.assert_array_equal(_data.confusion_matrix(t, p, 9), _cm_reference(t, p, 9))
    np.testing.assert_array_equal(_data.confusion_matrix(t, p), C)
    assert _data.confusion_matrix(np.zeros(0, np.int32), np.zeros(0, np.int32), 3).sum() == 0


def test_confusion_matrix_vs_sklearn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    t = rng.integers(0, 4, 300)
    p = rng.integers(0, 4, 300)
    np.testing.assert_array_equal(_data.confusion_matrix(t, p, 4),
                                  metrics.confusion_matrix(t, p, labels=range(4)))


def test_confusion_matrix_errors():
    t = np.array([0, 1, 2], np.int32)
    with pytest.raises(ValueError, match="y_true"):
        _data.confusion_matrix(t, np.array([0, 1, 1], np.int32), 2)
    with pytest.raises(ValueError, match="y_pred"):
        _data.confusion_matrix(t, np.array([0, -1, 1], np.int32), 3)
    with pytest.raises(ValueError, match="samples"):
        _data.confusion_matrix(t, t[:2], 3)
    with pytest.raises(ValueError, match="positive"):
        _data.confusion_matrix(t, t, 0)
    with pytest.raises(TypeError):
        _data.confusion_matrix(t, t, 3.0)
    with pytest.raises(TypeError, match="integer"):
        _data.confusion_matrix(t.astype(np.float32), t, 3)


# --------------------------------------------------------------------------- encode_labels

@pytest.mark.parametrize("y", [
    np.array([5, 3, 5, -2, 3, 100], np.int64),               # lookup-table path
    np.array([7, 7, 7], np.uint8),
    np.array([10**12, -5, 10**12, 3], np.int64),             # wide range: np.unique path
    np.array([0.5, -1.0, 0.5, 2.0], np.float32),
    np.array(["cat", "dog", "ant", "dog"]),
    np.array([True, False, True]),
])
def test_encode_labels_vs_unique(y):
    codes, classes = _data.encode_labels(y)
    ref_classes, ref_codes = np.unique(y, return_inverse=True)
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(classes, ref_classes)
    assert classes.dtype == y.dtype
    np.testing.assert_array_equal(codes, ref_codes.ravel())
    np.testing.assert_array_equal(classes[codes], y)


def test_encode_labels_random_ints(rng):
    y = rng.integers(-50, 50, 10_000)
    codes, classes = _data.encode_labels(y)
    ref_classes, ref_codes = np.unique(y, return_inverse=True)
    np.testing.assert_array_equal(classes, ref_classes)
    np.testing.assert_array_equal(codes, ref_codes)


def test_encode_labels_column_and_errors():
    codes, classes = _data.encode_labels(np.array([[2], [1], [2]]))
    np.testing.assert_array_equal(codes, [1, 0, 1])
    codes, classes = _data.encode_labels(np.array([], np.int64))
    assert codes.shape == (0,) and classes.shape == (0,)
    with pytest.raises(ValueError, match="1-D"):
        _data.encode_labels(np.zeros((2, 2)))
    with pytest.raises(TypeError):
        _data.encode_labels(np.array([1 + 2j]))
