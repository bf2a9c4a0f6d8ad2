"""Fixtures shared by the test modules."""

from __future__ import annotations

import numpy as np
import pytest

import fastnet as fn


@pytest.fixture
def one_thread():
    """fastnet at one thread for the test (bit-identical results), restored afterwards."""
    before = fn.get_num_threads()
    fn.set_num_threads(1)
    yield
    fn.set_num_threads(before)


# ----- shared data and model factories (import them: ``from conftest import random_data``) -----


def random_data(n: int, features: int, classes: int = 3, seed: int = 0):
    """Standard-normal float32 features (n, features) and uniform int64 labels in [0, classes)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


def teacher_data(n: int, features: int, classes: int, seed: int = 0):
    """Learnable labels: the argmax of a random linear teacher over standard-normal features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(np.float32)
    W = rng.standard_normal((features, classes))
    return X, (X @ W).argmax(1).astype(np.int32)


def mlp(*widths: int, activation="relu", batchnorm: bool = False, seed: int = 0, **kwargs):
    """A Sequential of Dense layers over ``widths`` (in, hidden..., out): ``activation`` fused
    into every hidden Dense, or a BatchNorm and then the activation layer when ``batchnorm``;
    the last Dense is linear."""
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = i < len(widths) - 2
        if hidden and batchnorm:
            layers += [fn.Dense(a, b), fn.BatchNorm(b), fn.ReLU()]
        else:
            layers.append(fn.Dense(a, b, activation=activation if hidden else None))
    return fn.Sequential(*layers, seed=seed, **kwargs)
