"""fn.Dense: forward X·W + b and backward dW, db, dX against NumPy and against central finite
differences of a float64 reference; bias=False; parameters as zero-copy, 64-byte-aligned views."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import central_difference

import fastnet as fn


def params(layer):
    return dict(layer.named_parameters())


def test_forward_matches_numpy():
    rng = np.random.default_rng(0)
    model = fn.Sequential(fn.Dense(13, 7), seed=0)
    W, b = params(model[0])["weight"], params(model[0])["bias"]
    assert W.shape == (13, 7) and b.shape == (7,)
    b.data[...] = rng.standard_normal(7)
    X = rng.standard_normal((21, 13)).astype(np.float32)
    expected = X.astype(np.float64) @ W.data.astype(np.float64) + b.data
    out = model.forward(X)
    assert out.dtype == np.float32 and out.shape == (21, 7)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_backward_single_layer_matches_numpy():
    rng = np.random.default_rng(1)
    model = fn.Sequential(fn.Dense(9, 4), seed=1)
    W = params(model[0])["weight"]
    b = params(model[0])["bias"]
    X = rng.standard_normal((11, 9)).astype(np.float32)
    dY = rng.standard_normal((11, 4)).astype(np.float32)
    model.forward(X, training=True)
    dX = model.backward(dY)
    Xd, dYd, Wd = X.astype(np.float64), dY.astype(np.float64), W.data.astype(np.float64)
    np.testing.assert_allclose(W.grad, Xd.T @ dYd, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad, dYd.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dX, dYd @ Wd.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depth", [2, 3])
def test_backward_sequential_matches_finite_differences(depth):
    """A 2-3 layer tanh net: every weight and bias gradient and dX against central
    differences of the float64 reference L = Σ dY ⊙ net(X)."""
    rng = np.random.default_rng(depth)
    widths = [5, 4, 6, 3][: depth + 1]
    layers = []
    for i in range(depth):
        last = i == depth - 1
        layers.append(fn.Dense(widths[i], widths[i + 1], activation=None if last else "tanh"))
    model = fn.Sequential(*layers, seed=depth)
    for layer in model:
        params(layer)["bias"].data[...] = rng.standard_normal(layer.out_features) * 0.3
    X = rng.standard_normal((4, widths[0])).astype(np.float32)
    dY = rng.standard_normal((4, widths[-1]))
    model.forward(X, training=True)
    dX = model.backward(dY)

    weights = [
        (params(l)["weight"].data.astype(np.float64), params(l)["bias"].data.astype(np.float64))
        for l in model
    ]

    def net(x, ws):
        for i, (w, c) in enumerate(ws):
            x = x @ w + c
            if i < len(ws) - 1:
                x = np.tanh(x)
        return x

    def loss_with(i, which):
        def f(value):
            ws = [list(p) for p in weights]
            ws[i][which] = value
            return np.sum(dY * net(X.astype(np.float64), ws))

        return f

    for i, layer in enumerate(model):
        p = params(layer)
        np.testing.assert_allclose(
            p["weight"].grad,
            central_difference(loss_with(i, 0), weights[i][0]),
            rtol=1e-4,
            atol=1e-5,
        )
        np.testing.assert_allclose(
            p["bias"].grad, central_difference(loss_with(i, 1), weights[i][1]), rtol=1e-4, atol=1e-5
        )
    np.testing.assert_allclose(
        dX, central_difference(lambda x: np.sum(dY * net(x, weights)), X), rtol=1e-4, atol=1e-5
    )


def test_without_bias():
    rng = np.random.default_rng(2)
    model = fn.Sequential(
        fn.Dense(6, 3, bias=False), fn.Dense(3, 2, bias=False, activation="relu"), seed=0
    )
    assert [n for n, _ in model[0].named_parameters()] == ["weight"]
    assert model.count_params() == 6 * 3 + 3 * 2
    W1, W2 = params(model[0])["weight"].data, params(model[1])["weight"].data
    X = rng.standard_normal((5, 6)).astype(np.float32)
    H = X.astype(np.float64) @ W1
    Z = H @ W2
    np.testing.assert_allclose(model.forward(X), np.maximum(Z, 0), rtol=1e-5, atol=1e-6)
    dY = rng.standard_normal((5, 2))
    model.forward(X, training=True)
    dX = model.backward(dY)
    dZ = dY * (Z > 0)
    np.testing.assert_allclose(params(model[1])["weight"].grad, H.T @ dZ, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        params(model[0])["weight"].grad, X.T @ (dZ @ W2.T), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(dX, dZ @ W2.T @ W1.T, rtol=1e-4, atol=1e-5)


def test_data_writes_change_the_output():
    model = fn.Sequential(fn.Dense(3, 2), seed=0)
    W, b = params(model[0])["weight"], params(model[0])["bias"]
    W.data[...] = [[1, 2], [3, 4], [5, 6]]
    b.data[...] = [0.5, -0.5]
    X = np.array([[1.0, 0.0, -1.0]], np.float32)
    np.testing.assert_allclose(model.forward(X), [[-3.5, -4.5]])
    W.data[0, 0] = 10.0
    np.testing.assert_allclose(model.forward(X), [[5.5, -4.5]])
    # every parameter is a view into one arena, not a copy
    assert not W.data.flags.owndata and W.data.flags.writeable and W.data.flags.c_contiguous
    assert W.data.base is not None


def test_grad_views_are_filled_by_backward():
    rng = np.random.default_rng(3)
    model = fn.Sequential(fn.Dense(4, 3), fn.ReLU(), fn.Dense(3, 2), seed=0)
    grads = [p.grad for p in model.parameters()]
    for g in grads:
        g[...] = np.nan
    X = rng.standard_normal((5, 4)).astype(np.float32)
    model.forward(X, training=True)
    model.backward(np.ones((5, 2), np.float32))
    for p, g in zip(model.parameters(), grads):
        assert g is p.grad
        assert np.all(np.isfinite(g)), p.name  # overwritten, not accumulated
    # backward overwrites: a second call gives the same gradients
    first = [g.copy() for g in grads]
    model.forward(X, training=True)
    model.backward(np.ones((5, 2), np.float32))
    for a, g in zip(first, grads):
        np.testing.assert_array_equal(a, g)


def test_parameters_are_64_byte_aligned():
    model = fn.Sequential(
        fn.Dense(7, 5),
        fn.PReLU(5),
        fn.Dense(5, 3, bias=False),
        fn.Dense(3, 1, activation="prelu"),
        seed=0,
    )
    for p in model.parameters():
        assert p.data.ctypes.data % 64 == 0, p.name
        assert p.grad.ctypes.data % 64 == 0, p.name
        assert p.data.dtype == np.float32


def run_at_threads(model, X, dY, threads):
    """forward(training) + backward + predict with fastnet at `threads` threads."""
    old = fn.get_num_threads()
    fn.set_num_threads(threads)
    try:
        out = model.forward(X, training=True)
        dX = model.backward(dY)
        pred = model.predict(X)
    finally:
        fn.set_num_threads(old)
    return out, dX, pred


def relu_mlp_reference(model, X, dY):
    """float64 output and gradients of Dense → ReLU → Dense (the ReLU fused in the first)."""
    (W1, b1), (W2, b2) = [(params(l)["weight"], params(l)["bias"]) for l in model]
    Z = X.astype(np.float64) @ W1.data + b1.data
    H = np.maximum(Z, 0)
    dZ = (dY.astype(np.float64) @ W2.data.T) * (Z > 0)
    return {
        "out": H @ W2.data + b2.data,
        "dW2": H.T @ dY,
        "db2": dY.sum(0),
        "dW1": X.T @ dZ,
        "db1": dZ.sum(0),
        "dX": dZ @ W1.data.T,
    }


def assert_matches_reference(model, out, dX, ref):
    (W1, b1), (W2, b2) = [(params(l)["weight"], params(l)["bias"]) for l in model]
    np.testing.assert_allclose(out, ref["out"], rtol=1e-4, atol=1e-4)
    for got, key in (
        (W2.grad, "dW2"),
        (b2.grad, "db2"),
        (W1.grad, "dW1"),
        (b1.grad, "db1"),
        (dX, "dX"),
    ):
        np.testing.assert_allclose(got, ref[key], rtol=1e-4, atol=1e-3)


def test_large_batch_threaded_matches_numpy():
    rng = np.random.default_rng(4)
    model = fn.Sequential(fn.Dense(64, 96, activation="relu"), fn.Dense(96, 10), seed=0)
    X = rng.standard_normal((700, 64)).astype(np.float32)
    dY = rng.standard_normal((700, 10)).astype(np.float32)
    out, dX, _ = run_at_threads(model, X, dY, 2)
    assert_matches_reference(model, out, dX, relu_mlp_reference(model, X, dY))


@pytest.mark.parametrize("batch", [1, 3, 8, 9, 16])
@pytest.mark.parametrize("threads", [1, 2])
def test_products_split_across_threads(batch, threads):
    """At 2 threads, csrc/blas.h splits by columns the products OpenBLAS would run on one
    thread: ≤ 8 rows through ≥ 128k weights (forward X·W and backward dZ·Wᵀ), and from 1M
    multiply-adds (batch 16: every product of this model, dW = Xᵀ·dZ included); 9 rows and
    1 thread do not split."""
    rng = np.random.default_rng(batch)
    model = fn.Sequential(fn.Dense(520, 300, activation="relu"), fn.Dense(300, 470), seed=1)
    X = rng.standard_normal((batch, 520)).astype(np.float32)
    dY = rng.standard_normal((batch, 470)).astype(np.float32)
    out, dX, pred = run_at_threads(model, X, dY, threads)
    ref = relu_mlp_reference(model, X, dY)
    assert_matches_reference(model, out, dX, ref)
    np.testing.assert_allclose(pred, ref["out"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "batch,n_in,n_out",
    [(16, 128, 128), (32, 512, 10), (40, 3000, 7), (15, 128, 128), (32, 256, 256)],
)
def test_input_gradient_with_and_without_transposed_weights(batch, n_in, n_out):
    """dX = dZ·Wᵀ: from batch 16 small or narrow weights are transposed first and multiplied
    NN (csrc/dense.h, dense_dx_transposes); other shapes use the NT product. Same answer."""
    rng = np.random.default_rng(n_in + n_out)
    model = fn.Sequential(fn.Dense(n_in, n_out, activation="tanh"), seed=3)
    W, b = params(model[0])["weight"], params(model[0])["bias"]
    X = rng.standard_normal((batch, n_in)).astype(np.float32)
    dY = rng.standard_normal((batch, n_out)).astype(np.float32)
    model.forward(X, training=True)
    dX = model.backward(dY)
    Z = X.astype(np.float64) @ W.data + b.data
    dZ = dY * (1.0 - np.tanh(Z) ** 2)
    np.testing.assert_allclose(dX, dZ @ W.data.T.astype(np.float64), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(W.grad, X.T.astype(np.float64) @ dZ, rtol=1e-5, atol=1e-4)
