"""fastnet.datasets: bundled digits, and the MNIST t10k IDX reader."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import fastnet as fn

ds = fn.datasets

# The shared data folder next to the repository: <repo>/../shared/data/mnist10k.
SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist10k"
MNIST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_labels():
    X_tr, y_tr, X_te, y_te = ds.load_digits()
    assert X_tr.shape == (1347, 64) and X_te.shape == (450, 64)
    assert X_tr.dtype == X_te.dtype == np.float32
    assert y_tr.dtype == y_te.dtype == np.int32
    assert X_tr.flags.c_contiguous and X_te.flags.c_contiguous
    assert set(np.unique(y_tr)) == set(np.unique(y_te)) == set(range(10))
    assert np.all(np.isfinite(X_tr)) and np.all(np.isfinite(X_te))


def test_digits_standardized_on_training_part():
    X_tr, _, X_te, _ = ds.load_digits()
    mean = X_tr.astype(np.float64).mean(0)
    std = X_tr.astype(np.float64).std(0)
    np.testing.assert_allclose(mean, 0, atol=1e-5)
    varying = std > 1e-3  # always-zero pixels stay exactly 0
    np.testing.assert_allclose(std[varying], 1, atol=1e-4)
    assert np.all(X_tr[:, ~varying] == 0)
    # the test part uses the training statistics, so it is only roughly standardized
    assert np.abs(X_te.mean(0)).max() > 1e-4


def test_digits_unstandardized_is_pixels_over_16():
    X_tr, y_tr, X_te, y_te = ds.load_digits(standardize=False)
    assert X_tr.min() == 0 and X_tr.max() == 1 and X_te.max() <= 1
    assert np.all((X_tr * 16) == np.round(X_tr * 16))
    # same split as the standardized call
    _, y_tr2, _, y_te2 = ds.load_digits(standardize=True)
    np.testing.assert_array_equal(y_tr, y_tr2)
    np.testing.assert_array_equal(y_te, y_te2)


def test_digits_split_is_stratified_reproducible_and_disjoint():
    a = ds.load_digits(seed=0, standardize=False)
    b = ds.load_digits(seed=0, standardize=False)
    c = ds.load_digits(seed=1, standardize=False)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    X_tr, y_tr, X_te, y_te = a
    counts = np.bincount(y_te, minlength=10)
    full = np.bincount(np.concatenate([y_tr, y_te]))
    assert np.all(np.abs(counts - full * 450 / 1797) <= 1)  # stratified
    assert not np.all(np.diff(y_tr) >= 0)  # shuffled, not class-sorted
    # train + test is a partition of the whole set: same multiset of (image, label) rows
    with np.load(Path(ds.__file__).parent / "digits.npz") as f:
        full_rows = np.column_stack([f["images"] / 16.0, f["labels"]])
    rows = np.column_stack([np.concatenate([X_tr, X_te]), np.concatenate([y_tr, y_te])])

    def lexsorted(m):
        return m[np.lexsort(m.T[::-1])]

    np.testing.assert_array_equal(lexsorted(rows.astype(np.float64)), lexsorted(full_rows))
    X_tr2, _, X_te2, _ = ds.load_digits(split=0.5, seed=3, standardize=False)
    assert X_te2.shape[0] == 899 and X_tr2.shape[0] == 898


@pytest.mark.parametrize("split", [0.0, 1.0, -0.1])
def test_digits_bad_split(split):
    with pytest.raises(ValueError, match="split"):
        ds.load_digits(split=split)


def test_digits_bad_types():
    with pytest.raises(TypeError):
        ds.load_digits(split="0.25")
    with pytest.raises(TypeError):
        ds.load_digits(seed=1.5)


# --------------------------------------------------------------------------- MNIST t10k


def _mnist_dir_or_skip():
    if (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        return SHARED_MNIST
    env = os.environ.get("FASTNET_DATA")
    if env:
        for d in (Path(env) / "mnist10k", Path(env)):
            if (d / "t10k-images-idx3-ubyte.gz").is_file():
                return d
    pytest.skip(f"MNIST t10k files not available ({SHARED_MNIST} absent, FASTNET_DATA unset)")


def test_mnist10k_real_files():
    d = _mnist_dir_or_skip()
    X, y = ds.load_mnist10k(d)
    assert X.shape == (10000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (10000,) and y.dtype == np.int32
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == MNIST_COUNTS
    X_tr, y_tr, X_te, y_te = ds.mnist10k_split(d)
    assert X_tr.shape == (8000, 784) and X_te.shape == (2000, 784)
    np.testing.assert_array_equal(X_te, X[8000:])
    np.testing.assert_array_equal(y_tr, y[:8000])


def test_mnist10k_default_location(monkeypatch):
    d = _mnist_dir_or_skip()
    monkeypatch.setenv("FASTNET_DATA", str(d))
    X, y = ds.load_mnist10k()
    assert X.shape == (10000, 784) and np.bincount(y).tolist() == MNIST_COUNTS


# Synthetic IDX files: exercise the reader without the real data.


def _idx_bytes(magic, shape, data):
    head = np.array([magic, *shape], dtype=">i4").tobytes()
    return head + np.asarray(data, np.uint8).tobytes()


def _write_mnist(folder, n=10000, magic_img=2051, magic_lbl=2049, images=None, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    if images is None:
        images = _idx_bytes(magic_img, (n, 28, 28), np.arange(n * 784) % 256)
    if labels is None:
        labels = _idx_bytes(magic_lbl, (n,), np.arange(n) % 10)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images, compresslevel=1))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels, compresslevel=1))
    return folder


def test_mnist10k_synthetic_roundtrip(tmp_path):
    _write_mnist(tmp_path / "mnist10k")
    X, y = ds.load_mnist10k(tmp_path)  # a data root with a mnist10k/ subfolder
    assert X.shape == (10000, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X[0, :5], np.arange(5) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y[:12], np.arange(12) % 10)


def test_mnist10k_truncated_gzip(tmp_path):
    d = _write_mnist(tmp_path)
    f = d / "t10k-images-idx3-ubyte.gz"
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="gzip"):
        ds.load_mnist10k(d)


def test_mnist10k_truncated_payload(tmp_path):
    d = _write_mnist(tmp_path, labels=_idx_bytes(2049, (10000,), np.zeros(9000)))
    with pytest.raises(ValueError, match="truncated"):
        ds.load_mnist10k(d)


def test_mnist10k_foreign_files(tmp_path):
    d = _write_mnist(tmp_path / "swapped", magic_img=2049)
    with pytest.raises(ValueError, match="magic"):
        ds.load_mnist10k(d)
    d = _write_mnist(tmp_path / "train", n=600)  # right format, wrong set
    with pytest.raises(ValueError, match="10000"):
        ds.load_mnist10k(d)
    d = tmp_path / "plain"
    d.mkdir()
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="gzip"):
        ds.load_mnist10k(d)


def test_mnist10k_missing(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="t10k"):
        ds.load_mnist10k(tmp_path)
    monkeypatch.setenv("FASTNET_DATA", str(tmp_path))
    monkeypatch.setattr(ds, "_HERE", tmp_path / "a" / "b" / "c")  # no repo-relative copy
    with pytest.raises(FileNotFoundError, match="FASTNET_DATA"):
        ds.load_mnist10k()
