"""The C++ input scans behind fastnet/_validate.py, against NumPy's own answers."""

import numpy as np
import pytest

import fastnet as fn
from fastnet import _core
from fastnet._validate import as_batch, as_labels

SIZES = [0, 1, 15, 16, 17, 31, 33, 1000, 70_001]  # tails around the 16-lane vector width


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_all_finite_matches_numpy(n, bad):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 1e30).astype(np.float32)
    if n:
        x[0] = np.finfo(np.float32).max
        x[-1] = -np.finfo(np.float32).tiny / 4  # a subnormal is finite
    for pos in [0, n // 2, n - 1] if n and bad is not None else [None]:
        y = x.copy()
        if pos is not None:
            y[pos] = bad
        assert _core.all_finite(y) == bool(np.isfinite(y).all())


def test_all_finite_refuses_other_dtypes():
    with pytest.raises(TypeError):
        _core.all_finite(np.ones(4))  # float64 is never silently converted here


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n", [1, 7, 16, 17, 1000])
def test_int_labels_range_and_narrowing(dtype, n):
    rng = np.random.default_rng(n)
    y = rng.integers(-50, 50, size=n).astype(dtype)
    out, lo, hi = _core.int_labels(y)
    assert (lo, hi) == (int(y.min()), int(y.max()))
    assert out.dtype == np.int32 and np.array_equal(out, y)


def test_int_labels_outside_int32_are_not_narrowed():
    out, lo, hi = _core.int_labels(np.array([0, 2**40], dtype=np.int64))
    assert out is None and hi == 2**40


@pytest.mark.parametrize(
    "labels", [np.array([0, 3, 2**40]), np.array([0, -(2**40)]), np.array([1, 10], dtype=np.int32)]
)
def test_as_labels_reports_the_range(labels):
    with pytest.raises(ValueError, match=r"y must be in \[0, 10\)"):
        as_labels(labels, "y", labels.shape[0], 10)


def test_as_labels_other_int_kinds_and_strides():
    y = np.arange(20, dtype=np.int64)[::2] % 10  # non-contiguous int64
    for v in (y, y.astype(np.uint8), y.astype(np.int16), y.astype(np.float64)):
        out = as_labels(v, "y", 10, 10)
        assert out.dtype == np.int32 and out.flags.c_contiguous
        assert np.array_equal(out, y)


def test_as_batch_scans_non_contiguous_and_float64_input():
    X = np.ones((8, 6), dtype=np.float64)
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        as_batch(X[:, ::2], "X", 3)  # converted and made contiguous first
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        as_batch(X, "X", 6)


def test_train_step_rejects_inf_deep_in_a_batch():
    model = fn.Sequential(fn.Dense(5, 3), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    X = np.zeros((40, 5), np.float32)
    X[39, 4] = np.inf
    before = model.parameters()[0].data.copy()
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        model.train_step(X, np.zeros(40, np.int64), "sparse_categorical_crossentropy", opt)
    assert np.array_equal(model.parameters()[0].data, before)
