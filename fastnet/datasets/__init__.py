"""Small offline data sets for examples, tests and benchmarks.

- :func:`load_digits`: the UCI optical-recognition digits (1797 8x8 images, 10
  classes; the copy shipped with scikit-learn), bundled as ``digits.npz``.
- :func:`load_mnist10k` / :func:`mnist10k_split`: the 10,000-image MNIST test set
  (LeCun, Cortes & Burges) read from its original gzip'd IDX files, which are
  *not* bundled: they are looked up in ``path``, then ``$FASTNET_DATA``, then
  ``<repo>/../shared/data/mnist10k`` next to a source checkout.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..init import rng_from_seed

__all__ = ["load_digits", "load_mnist10k", "mnist10k_split"]

_HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- digits


def _stratified_test_mask(y: np.ndarray, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask picking ``n_test`` samples with each class represented in
    proportion to its frequency (largest-remainder rounding, ties to the smaller
    class label), the samples within each class chosen uniformly at random."""
    classes, counts = np.unique(y, return_counts=True)
    ideal = counts * (n_test / y.shape[0])
    take = np.floor(ideal).astype(np.int64)
    short = n_test - int(take.sum())
    if short > 0:
        order = np.argsort(-(ideal - take), kind="stable")
        take[order[:short]] += 1
    mask = np.zeros(y.shape[0], dtype=bool)
    for c, k in zip(classes, take):
        members = np.flatnonzero(y == c)
        mask[rng.permutation(members)[:k]] = True
    return mask


def load_digits(split: float = 0.25, seed=0, standardize: bool = True):
    """The 8x8 UCI digits as ``(X_train, y_train, X_test, y_test)``.

    X is float32 (n, 64): pixels (0..16) divided by 16, then -- when
    ``standardize`` -- shifted and scaled per feature by the mean and standard
    deviation of the *training part only* (no test leakage). Features whose
    training std is below 1e-6 (pixels that are always 0 there) are only
    centred, i.e. divided by 1 as in scikit-learn's ``StandardScaler``: a tiny
    floor would blow a rare test pixel up to ~1e5. y is int32 in 0..9.

    The split is **stratified** (each class keeps its proportion in both parts)
    and shuffled, reproducible from ``seed`` (an int; ``None`` draws from the
    global generator, see ``fastnet.init.manual_seed``). The test part has
    ceil(split * 1797) samples (450 for the default), as in sklearn's
    ``train_test_split``, though the exact samples differ from sklearn's.
    """
    if isinstance(split, (bool, np.bool_)) or not isinstance(
        split, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"split must be a float in (0, 1), got {type(split).__name__}")
    split = float(split)
    if not 0.0 < split < 1.0:
        raise ValueError(f"split must be in (0, 1), got {split}")
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize must be a bool, got {type(standardize).__name__}")
    rng = rng_from_seed(seed)

    with np.load(_HERE / "digits.npz") as d:
        images, labels = d["images"], d["labels"]
    n = labels.shape[0]
    n_test = min(max(math.ceil(split * n), 1), n - 1)
    test = _stratified_test_mask(labels, n_test, rng)
    tr = rng.permutation(np.flatnonzero(~test))
    te = rng.permutation(np.flatnonzero(test))

    X = images.astype(np.float32) / np.float32(16.0)
    y = labels.astype(np.int32)
    X_train, X_test = X[tr], X[te]
    if standardize:
        mean = X_train.mean(axis=0, dtype=np.float64)
        std = X_train.std(axis=0, dtype=np.float64)
        std[std < 1e-6] = 1.0
        X_train = ((X_train - mean) / std).astype(np.float32)
        X_test = ((X_test - mean) / std).astype(np.float32)
    return (np.ascontiguousarray(X_train), y[tr].copy(), np.ascontiguousarray(X_test), y[te].copy())


# --------------------------------------------------------------------------- MNIST IDX files

_MNIST_IMAGES = "t10k-images-idx3-ubyte.gz"
_MNIST_LABELS = "t10k-labels-idx1-ubyte.gz"
_MNIST_N = 10000


def _mnist_dir(path) -> Path:
    """The folder holding the two t10k files (see load_mnist10k for the order)."""
    if path is not None:
        candidates = [Path(path), Path(path) / "mnist10k"]
        where = f"path={str(path)!r}"
    else:
        candidates = []
        env = os.environ.get("FASTNET_DATA")
        if env:
            candidates += [Path(env) / "mnist10k", Path(env)]
        # <repo>/fastnet/datasets -> <repo>/../shared/data/mnist10k
        candidates.append(_HERE.parents[2] / "shared" / "data" / "mnist10k")
        where = "$FASTNET_DATA" + ("" if env else " (unset)") + f" and {candidates[-1]}"
    for c in candidates:
        if (c / _MNIST_IMAGES).is_file() and (c / _MNIST_LABELS).is_file():
            return c
    raise FileNotFoundError(
        f"MNIST t10k files ({_MNIST_IMAGES}, {_MNIST_LABELS}) not found; looked in {where}. "
        f"Pass path=<folder> or set FASTNET_DATA to a folder containing them (or a mnist10k/ subfolder)."
    )


def _read_gzip(file: Path) -> bytes:
    try:
        with gzip.open(file, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{file}: not a complete gzip file ({e})") from None


def _read_idx(file: Path, magic: int, dims: int) -> np.ndarray:
    """Parse an IDX file (big-endian int32 magic 0x0000080<dims>, then ``dims``
    big-endian int32 sizes, then uint8 data) and check its size exactly."""
    raw = _read_gzip(file)
    header = 4 * (1 + dims)
    if len(raw) < header:
        raise ValueError(f"{file}: truncated IDX header ({len(raw)} bytes)")
    head = np.frombuffer(raw, dtype=">i4", count=1 + dims)
    if int(head[0]) != magic:
        raise ValueError(
            f"{file}: IDX magic number {int(head[0])}, expected {magic} -- not the expected MNIST file"
        )
    shape = tuple(int(s) for s in head[1:])
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise ValueError(
            f"{file}: {len(raw)} bytes, expected {expected} for shape {shape} (truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist10k(path=None):
    """The MNIST test set as ``(X, y)``: X float32 (10000, 784) in [0, 1] (pixels / 255),
    y int32 (10000,) in 0..9.

    The gzip'd IDX files ``t10k-images-idx3-ubyte.gz`` (magic 2051) and
    ``t10k-labels-idx1-ubyte.gz`` (magic 2049) are read from ``path`` (a folder, or
    its ``mnist10k/`` subfolder); by default from ``$FASTNET_DATA`` (same rule),
    then ``<repo>/../shared/data/mnist10k``. FileNotFoundError when absent;
    ValueError for a truncated, corrupt or foreign file.
    """
    d = _mnist_dir(path)
    images = _read_idx(d / _MNIST_IMAGES, 2051, 3)
    labels = _read_idx(d / _MNIST_LABELS, 2049, 1)
    if images.shape != (_MNIST_N, 28, 28):
        raise ValueError(
            f"{d / _MNIST_IMAGES}: shape {images.shape}, expected ({_MNIST_N}, 28, 28)"
        )
    if labels.shape != (_MNIST_N,):
        raise ValueError(f"{d / _MNIST_LABELS}: shape {labels.shape}, expected ({_MNIST_N},)")
    if labels.max() > 9:
        raise ValueError(f"{d / _MNIST_LABELS}: label {int(labels.max())} outside 0..9")
    X = images.reshape(_MNIST_N, 784).astype(np.float32)
    X /= np.float32(255.0)
    return X, labels.astype(np.int32)


def mnist10k_split(path=None):
    """``(X_train, y_train, X_test, y_test)``: the first 8,000 images of
    :func:`load_mnist10k` for training and the last 2,000 for testing (the
    benchmark protocol; no shuffling). The four arrays are contiguous views."""
    X, y = load_mnist10k(path)
    return X[:8000], y[:8000], X[8000:], y[8000:]
