"""Sequential.train_step's Python fast path (cached loss names) keeps its numbers and checks."""

import numpy as np
import pytest
from conftest import mlp, random_data

import fastnet as fn
from fastnet.nn import sequential as seq_mod

LOSS = "sparse_categorical_crossentropy"


def _model_and_data(seed=0):
    X, y = random_data(5, 6, 3, seed)
    return mlp(6, 8, 3, seed=seed), X, y


def _numpy_sgd_step(params, X, y, lr):
    """Reference: ReLU MLP, mean softmax cross-entropy, plain SGD (no clip reached)."""
    W1, b1, W2, b2 = params
    z1 = X @ W1 + b1
    h = np.maximum(z1, 0)
    logits = h @ W2 + b2
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y]).mean()
    d = p.copy()
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    gW2, gb2 = h.T @ d, d.sum(0)
    dz1 = (d @ W2.T) * (z1 > 0)
    gW1, gb1 = X.T @ dz1, dz1.sum(0)
    new = [W - lr * g for W, g in zip(params, (gW1, gb1, gW2, gb2))]
    return loss, new


def test_repeated_name_matches_numpy_reference():
    model, X, y = _model_and_data()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    params = [p.data.astype(np.float64) for p in model.parameters()]
    for _ in range(3):  # the second and third calls take the cached loss spec
        loss = model.train_step(X, y, LOSS, opt)
        ref_loss, params = _numpy_sgd_step(params, X.astype(np.float64), y, 0.1)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
    for p, ref in zip(model.parameters(), params):
        np.testing.assert_allclose(p.data, ref, rtol=1e-4, atol=1e-6)


def test_name_and_function_forms_agree():
    a, X, y = _model_and_data()
    b, _, _ = _model_and_data()
    oa = fn.optim.SGD(a.parameters(), lr=0.05, momentum=0.9, clip_norm=1.0)
    ob = fn.optim.SGD(b.parameters(), lr=0.05, momentum=0.9, clip_norm=1.0)
    for _ in range(3):
        la = a.train_step(X, y, LOSS, oa)
        lb = b.train_step(X, y, fn.losses.sparse_categorical_crossentropy, ob)
        assert la == lb
    assert a.evaluate_loss(X, y, LOSS) == b.evaluate_loss(
        X, y, fn.losses.sparse_categorical_crossentropy
    )


def test_unknown_names_raise_every_time_and_are_not_cached():
    model, X, y = _model_and_data()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        with pytest.raises(ValueError, match="unknown loss"):
            model.train_step(X, y, "not_a_loss", opt)
    assert "not_a_loss" not in seq_mod._LOSS_BY_NAME
    with pytest.raises(TypeError, match="loss must be"):
        model.train_step(X, y, 3, opt)


def test_checks_still_run_on_the_fast_path():
    model, X, y = _model_and_data()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    model.train_step(X, y, LOSS, opt)
    with pytest.raises(TypeError, match="optimizer"):
        model.train_step(X, y, LOSS, object())
    other, _, _ = _model_and_data(seed=1)
    with pytest.raises(ValueError, match="another model"):
        model.train_step(X, y, LOSS, fn.optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"y must be in \[0, 3\)"):
        model.train_step(X, np.array([0, 1, 2, 0, 3]), LOSS, opt)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.train_step(bad, y, LOSS, opt)
