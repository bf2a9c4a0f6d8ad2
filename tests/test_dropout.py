"""Dropout and AlphaDropout: keep rate, scaling, inference identity, NumPy re-implementation of
the mask, and thread-count independence of the counter-based masks."""

import numpy as np
import pytest

import fastnet as fn

ALPHA_PRIME = -1.7580993408473766  # −λα of SELU


def make(rate, features=256, seed=7, cls=fn.Dropout):
    """An identity Dense followed by the dropout layer (a model cannot start with Dropout)."""
    model = fn.Sequential(fn.Dense(features, features, bias=False), cls(rate), seed=seed)
    model[0].parameters()[0].data[...] = np.eye(features)
    return model


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_keep_rate_and_mean_preserved(rate):
    X = np.ones((200, 256), np.float32)
    Y = make(rate).forward(X, training=True)
    kept = Y != 0
    n = kept.size
    # binomial tolerance: 5 standard deviations
    assert abs(kept.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(Y[kept], 1.0 / (1.0 - rate), rtol=1e-6)
    assert abs(Y.mean() - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)


def test_identity_at_inference_and_rate_zero():
    X = np.random.default_rng(0).normal(size=(32, 256)).astype(np.float32)
    np.testing.assert_allclose(make(0.5).forward(X), X, atol=1e-6)
    np.testing.assert_allclose(make(0.0).forward(X, training=True), X, atol=1e-6)
    np.testing.assert_allclose(make(0.3, cls=fn.AlphaDropout).forward(X), X, atol=1e-6)


def test_backward_uses_the_forward_mask():
    X = np.random.default_rng(1).normal(size=(64, 256)).astype(np.float32)
    model = make(0.4)
    Y = model.forward(X, training=True)
    dX = model.backward(np.ones_like(Y))
    np.testing.assert_array_equal(dX != 0, Y != 0)
    np.testing.assert_allclose(dX[dX != 0], 1 / 0.6, rtol=1e-6)


def test_masks_differ_between_steps_and_repeat_for_a_seed():
    X = np.ones((16, 256), np.float32)
    a, b = make(0.5, seed=3), make(0.5, seed=3)
    m1, m2 = a.forward(X, training=True), a.forward(X, training=True)
    assert not np.array_equal(m1, m2)
    np.testing.assert_array_equal(b.forward(X, training=True), m1)
    np.testing.assert_array_equal(b.forward(X, training=True), m2)
    assert not np.array_equal(make(0.5, seed=4).forward(X, training=True), m1)


def test_same_mask_for_one_and_two_threads():
    X = np.ones((512, 256), np.float32)  # above the parallel threshold
    old = fn.get_num_threads()
    try:
        fn.set_num_threads(1)
        one = make(0.3, seed=11).forward(X, training=True)
        fn.set_num_threads(2)
        two = make(0.3, seed=11).forward(X, training=True)
    finally:
        fn.set_num_threads(old)
    np.testing.assert_array_equal(one, two)


def test_alpha_dropout_matches_torch_formula_and_keeps_selu_statistics():
    rate = 0.2
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 256)).astype(np.float32)
    Y = make(rate, cls=fn.AlphaDropout).forward(X, training=True)
    a = ((1 - rate) * (1 + rate * ALPHA_PRIME**2)) ** -0.5
    b = -a * ALPHA_PRIME * rate
    dropped = np.isclose(Y, a * ALPHA_PRIME + b, atol=1e-6)
    expected = np.where(dropped, a * ALPHA_PRIME + b, a * X + b)
    np.testing.assert_allclose(Y, expected, rtol=1e-5, atol=1e-5)
    assert abs(dropped.mean() - rate) < 0.01
    # zero-mean unit-variance inputs keep mean 0 and variance 1
    assert abs(Y.mean()) < 0.02 and abs(Y.std() - 1) < 0.02


def test_bad_rates():
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rate"):
            fn.Dropout(bad)
        with pytest.raises(ValueError, match="rate"):
            fn.AlphaDropout(bad)
    with pytest.raises(TypeError, match="rate"):
        fn.Dropout("0.5")
    with pytest.raises(ValueError, match="rate"):
        fn.Dropout(float("nan"))
    with pytest.raises(ValueError, match="expects 5 input features"):
        fn.Sequential(fn.Dense(3, 4), fn.Dropout(0.2), fn.Dense(5, 2))
