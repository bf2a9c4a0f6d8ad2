"""Residual blocks: y = x + scale·f(x) against a float64 NumPy re-implementation and finite
differences; nesting, fusion inside a block, parameter routing, shape checks."""

import numpy as np
import pytest
from test_normalization import bn_train_ref, numeric_grad, run

import fastnet as fn

RNG = np.random.default_rng(5)


def test_residual_forward_backward_vs_numpy_and_finite_differences():
    B, F, H = 6, 5, 7
    model = fn.Sequential(fn.Residual(fn.Dense(F, H), fn.Tanh(), fn.Dense(H, F), scale=0.5), seed=0)
    W1, b1, W2, b2 = model.parameters()
    assert [p.name for p in model.parameters()] == [
        "0.0.weight",
        "0.0.bias",
        "0.2.weight",
        "0.2.bias",
    ]
    assert W1.layer is model[0].layers[0]
    b1.data[...] = RNG.normal(size=H)
    b2.data[...] = RNG.normal(size=F)
    X = RNG.normal(size=(B, F)).astype(np.float32)
    R = RNG.normal(size=(B, F)).astype(np.float32)
    Y, dX, grads = run(model, X, R)
    x, w1, c1, w2, c2, r = (
        a.astype(np.float64) for a in (X, W1.data, b1.data, W2.data, b2.data, R)
    )

    def fwd():
        return x + 0.5 * (np.tanh(x @ w1 + c1) @ w2 + c2)

    np.testing.assert_allclose(Y, fwd(), rtol=1e-5, atol=1e-5)
    loss = lambda: float(np.sum(fwd() * r))  # noqa: E731
    np.testing.assert_allclose(dX, numeric_grad(loss, x), rtol=1e-4, atol=1e-4)
    for name, arr in (("0.0.weight", w1), ("0.0.bias", c1), ("0.2.weight", w2), ("0.2.bias", c2)):
        np.testing.assert_allclose(
            grads[name], numeric_grad(loss, arr), rtol=1e-4, atol=1e-4, err_msg=name
        )


def test_nested_residual_with_fused_batchnorm_relu():
    F = 6
    inner = fn.Residual(fn.Dense(F, F), fn.BatchNorm(F), fn.ReLU())
    model = fn.Sequential(
        fn.Dense(3, F), fn.Residual(fn.LayerNorm(F), inner, scale=0.3), fn.Dense(F, 2), seed=0
    )
    assert inner._core_index == [0, 1, None]
    names = [p.name for p in model.parameters()]
    assert names == [
        "0.weight",
        "0.bias",
        "1.0.weight",
        "1.0.bias",
        "1.1.0.weight",
        "1.1.0.bias",
        "1.1.1.weight",
        "1.1.1.bias",
        "2.weight",
        "2.bias",
    ]
    assert [p.name for p in model[1].buffers()] == ["1.1.1.running_mean", "1.1.1.running_var"]
    X = RNG.normal(size=(10, 3)).astype(np.float32)
    P = {n: p.data.astype(np.float64) for n, p in zip(names, model.parameters())}
    x = X.astype(np.float64)
    h = x @ P["0.weight"] + P["0.bias"]
    mu, var = h.mean(1, keepdims=True), h.var(1, keepdims=True)
    ln = (h - mu) / np.sqrt(var + 1e-5) * P["1.0.weight"] + P["1.0.bias"]
    d = ln @ P["1.1.0.weight"] + P["1.1.0.bias"]
    f = ln + bn_train_ref(d, P["1.1.1.weight"], P["1.1.1.bias"], 1e-5, relu=True)
    expected = (h + 0.3 * f) @ P["2.weight"] + P["2.bias"]
    np.testing.assert_allclose(model.forward(X, training=True), expected, rtol=1e-4, atol=1e-4)
    model.backward(np.ones((10, 2), np.float32))  # runs through both blocks


def test_residual_parameters_freeze_and_clone():
    block = fn.Residual(fn.Dense(4, 4), fn.ReLU(), fn.Dense(4, 4))
    model = fn.Sequential(block, fn.Dense(4, 2), seed=0)
    assert len(block.parameters()) == 4
    block.freeze()
    assert not any(p.trainable for p in block.parameters())
    block.unfreeze()
    twin = model[:1]
    for a, b in zip(twin.parameters(), model[:1].parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    X = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(twin.forward(X), fn.Sequential(block, seed=0).forward(X), rtol=1e-6)
    # the block kept by a new Sequential is a clone: weights equal, memory separate
    again = fn.Sequential(block, seed=1)
    assert again[0] is not block
    np.testing.assert_array_equal(again.parameters()[0].data, block.parameters()[0].data)


def test_residual_scale_one_with_zero_branch_is_identity():
    model = fn.Sequential(fn.Residual(fn.Dense(5, 5, init="zeros")), seed=0)
    X = RNG.normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_allclose(model.forward(X), X, rtol=1e-6)


def test_residual_shape_and_type_errors():
    with pytest.raises(ValueError, match="maps 4 features to 5"):
        fn.Residual(fn.Dense(4, 5))
    with pytest.raises(ValueError, match="expects 6 input features"):
        fn.Residual(fn.Dense(4, 5), fn.Dense(6, 4))
    with pytest.raises(ValueError, match="maps 3 features to 4"):
        fn.Sequential(fn.Dense(2, 3), fn.Residual(fn.ReLU(), fn.Dense(3, 4)))
    with pytest.raises(ValueError, match="expects 5 input features"):
        fn.Sequential(fn.Dense(2, 3), fn.Residual(fn.Dense(5, 5)))
    with pytest.raises(ValueError, match="at least one layer"):
        fn.Residual()
    with pytest.raises(TypeError, match="Residual layer 0"):
        fn.Residual("dense")
    with pytest.raises(TypeError, match="scale"):
        fn.Residual(fn.ReLU(), scale="1")
    with pytest.raises(ValueError, match="scale"):
        fn.Residual(fn.ReLU(), scale=float("inf"))
