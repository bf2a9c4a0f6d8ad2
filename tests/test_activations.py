"""Every activation, as a layer after a Dense and fused into the Dense, against an independent
float64 NumPy reference: forward, backward (vs central finite differences), torch where it is
installed, stability for |x| up to 1e4, and the learned (PReLU) / random (RReLU) slopes.

Formulas: PyTorch torch.nn docs (ELU, SELU, GELU, SiLU, Mish, RReLU, PReLU); SELU constants from
Klambauer et al. 2017."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import central_difference

import fastnet as fn
from fastnet.nn.layers import ACTIVATION_NAMES

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_ALPHA = 0.2
ELU_ALPHA = 0.7
PRELU_INIT = 0.25
RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0


# ---------------------------------------------------------------- float64 references
def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _neg_slope(slope):
    return lambda x: np.where(x > 0, x, slope * x)


REFERENCE = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": _neg_slope(LEAKY_ALPHA),
    "prelu": _neg_slope(PRELU_INIT),
    "rrelu": _neg_slope((RRELU_LOWER + RRELU_UPPER) / 2),  # inference: the mean slope
    "elu": lambda x: np.where(x > 0, x, ELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: (
        0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    ),
    "swish": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
}

# name -> (stand-alone layer for `features`, Dense(activation=...) keywords)
LAYERS = {
    "sigmoid": (lambda n: fn.Sigmoid(), {}),
    "tanh": (lambda n: fn.Tanh(), {}),
    "softmax": (lambda n: fn.Softmax(), {}),
    "relu": (lambda n: fn.ReLU(), {}),
    "leaky_relu": (lambda n: fn.LeakyReLU(LEAKY_ALPHA), {"alpha": LEAKY_ALPHA}),
    "prelu": (lambda n: fn.PReLU(n, init=PRELU_INIT), {}),
    "rrelu": (lambda n: fn.RReLU(RRELU_LOWER, RRELU_UPPER), {}),
    "elu": (lambda n: fn.ELU(ELU_ALPHA), {"alpha": ELU_ALPHA}),
    "selu": (lambda n: fn.SELU(), {}),
    "gelu": (lambda n: fn.GELU(), {}),
    "gelu_tanh": (lambda n: fn.GELU(approximate="tanh"), {}),
    "swish": (lambda n: fn.Swish(), {}),
    "mish": (lambda n: fn.Mish(), {}),
}


def _torch_reference(name, t):
    F = pytest.importorskip("torch").nn.functional
    import torch

    return {
        "sigmoid": lambda: torch.sigmoid(t),
        "tanh": lambda: torch.tanh(t),
        "softmax": lambda: F.softmax(t, dim=1),
        "relu": lambda: F.relu(t),
        "leaky_relu": lambda: F.leaky_relu(t, LEAKY_ALPHA),
        "prelu": lambda: F.prelu(t, torch.full((t.shape[1],), PRELU_INIT, dtype=t.dtype)),
        "rrelu": lambda: F.rrelu(t, RRELU_LOWER, RRELU_UPPER, training=False),
        "elu": lambda: F.elu(t, ELU_ALPHA),
        "selu": lambda: F.selu(t),
        "gelu": lambda: F.gelu(t, approximate="none"),
        "gelu_tanh": lambda: F.gelu(t, approximate="tanh"),
        "swish": lambda: F.silu(t),
        "mish": lambda: F.mish(t),
    }[name]()


NAMES = sorted(REFERENCE)
MODES = ("layer", "fused")
# Deterministic activations: backward is checked against finite differences of the reference.
SMOOTH_OR_FIXED = [n for n in NAMES if n != "rrelu"]


def test_registry_covers_every_activation():
    assert set(REFERENCE) == set(LAYERS) == set(ACTIVATION_NAMES)
    assert set(fn.nn.ACTIVATION_LAYERS) == set(ACTIVATION_NAMES)


# ---------------------------------------------------------------- model helpers
def build(name, mode, n, W=None, b=None, seed=0):
    """Dense(n, n) followed by the activation (layer) or with it fused; W, b written in."""
    make_layer, fused_kw = LAYERS[name]
    if mode == "layer":
        model = fn.Sequential(fn.Dense(n, n), make_layer(n), seed=seed)
    else:
        model = fn.Sequential(fn.Dense(n, n, activation=name, **fused_kw), seed=seed)
    dense = dict(model[0].named_parameters())
    if W is not None:
        dense["weight"].data[...] = W
    if b is not None:
        dense["bias"].data[...] = b
    return model


def model_reference(name, X, W, b):
    return REFERENCE[name](X.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64))


def random_case(rng, batch=5, n=6):
    X = rng.standard_normal((batch, n)).astype(np.float32)
    W = (rng.standard_normal((n, n)) / math.sqrt(n)).astype(np.float32)
    b = (0.1 * rng.standard_normal(n)).astype(np.float32)
    return X, W, b


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_reference(name, mode):
    rng = np.random.default_rng(1)
    X, W, b = random_case(rng, batch=7, n=9)
    model = build(name, mode, 9, W, b)
    expected = model_reference(name, X, W, b)
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_torch(name, mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    X, W, b = random_case(rng, batch=6, n=8)
    model = build(name, mode, 8, W, b)
    Z = torch.from_numpy(X.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64))
    expected = _torch_reference(name, Z).numpy()
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- backward
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SMOOTH_OR_FIXED)
def test_backward_matches_finite_differences(name, mode):
    rng = np.random.default_rng(3)
    X, W, b = random_case(rng, batch=4, n=5)
    dY = rng.standard_normal((4, 5)).astype(np.float32)
    model = build(name, mode, 5, W, b)
    model.forward(X, training=True)
    dX = model.backward(dY)
    grads = {n: p.grad.copy() for n, p in model[0].named_parameters()}

    Xd, Wd, bd, dYd = (a.astype(np.float64) for a in (X, W, b, dY))
    f = REFERENCE[name]
    np.testing.assert_allclose(
        dX, central_difference(lambda x: np.sum(dYd * f(x @ Wd + bd)), Xd), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        grads["weight"],
        central_difference(lambda w: np.sum(dYd * f(Xd @ w + bd)), Wd),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        grads["bias"],
        central_difference(lambda c: np.sum(dYd * f(Xd @ Wd + c)), bd),
        rtol=1e-4,
        atol=1e-5,
    )


# ---------------------------------------------------------------- stability
EXTREMES = np.array(
    [-1e4, -1e3, -100.0, -30.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 30.0, 100.0, 1e3, 1e4],
    dtype=np.float32,
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_stable_for_large_inputs(name, mode):
    n = EXTREMES.size
    X = np.stack([EXTREMES, EXTREMES[::-1], np.roll(EXTREMES, 3)])
    model = build(name, mode, n, W=np.eye(n, dtype=np.float32), b=np.zeros(n, np.float32))
    Y = model.forward(X, training=True)
    dX = model.backward(np.ones_like(Y))
    assert np.all(np.isfinite(Y)), Y
    assert np.all(np.isfinite(dX)), dX
    for p in model.parameters():
        assert np.all(np.isfinite(p.grad)), p.name
    if name != "rrelu":  # training slopes are random; the inference check is below
        np.testing.assert_allclose(Y, REFERENCE[name](X.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        model.predict(X), REFERENCE[name](X.astype(np.float64)), rtol=1e-5, atol=1e-6
    )


# ---------------------------------------------------------------- PReLU: a learned slope
@pytest.mark.parametrize("mode", MODES)
def test_prelu_slope_is_a_parameter_in_the_arena(mode):
    model = build("prelu", mode, 4, W=np.eye(4, dtype=np.float32), b=np.zeros(4, np.float32))
    slopes = [p for p in model.parameters() if p.name.endswith("slope")]
    assert len(slopes) == 1
    slope = slopes[0]
    assert slope.shape == (4,) and slope.trainable
    np.testing.assert_array_equal(slope.data, np.full(4, PRELU_INIT, np.float32))
    assert slope.data.ctypes.data % 64 == 0
    X = np.array([[-1.0, -2.0, 3.0, -4.0]], np.float32)
    slope.data[...] = [0.1, 0.2, 0.3, 0.4]  # a write into the arena changes the output
    np.testing.assert_allclose(model.forward(X), [[-0.1, -0.4, 3.0, -1.6]], rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_prelu_slope_gradient_matches_finite_differences(mode):
    rng = np.random.default_rng(4)
    X, W, b = random_case(rng, batch=6, n=5)
    dY = rng.standard_normal((6, 5))
    model = build("prelu", mode, 5, W, b)
    slope0 = rng.uniform(0.05, 0.5, 5).astype(np.float32)
    slope = [p for p in model.parameters() if p.name.endswith("slope")][0]
    slope.data[...] = slope0
    model.forward(X, training=True)
    model.backward(dY)
    Z = X.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64)
    fd = central_difference(lambda a: np.sum(dY * np.where(Z > 0, Z, a * Z)), slope0)
    np.testing.assert_allclose(slope.grad, fd, rtol=1e-4, atol=1e-5)


def test_prelu_as_first_layer_slope_gradient_and_train_step():
    """PReLU first: its dX is not needed in a training step, but its slope gradient is."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, 3)).astype(np.float32)
    W = rng.standard_normal((3, 2)).astype(np.float32)
    dY = rng.standard_normal((8, 2))

    def make():
        m = fn.Sequential(fn.PReLU(3, init=0.3), fn.Dense(3, 2), seed=0)
        dict(m[1].named_parameters())["weight"].data[...] = W
        dict(m[1].named_parameters())["bias"].data[...] = 0.0
        return m

    model = make()
    slope = model[0].parameters()[0]
    model.forward(X, training=True)
    dX = model.backward(dY)
    Xd, Wd = X.astype(np.float64), W.astype(np.float64)
    f = lambda a: np.sum(dY * (np.where(Xd > 0, Xd, a * Xd) @ Wd))  # noqa: E731
    expected = central_difference(f, np.full(3, 0.3))
    np.testing.assert_allclose(slope.grad, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        dX,
        central_difference(lambda x: np.sum(dY * (np.where(x > 0, x, 0.3 * x) @ Wd)), Xd),
        rtol=1e-4,
        atol=1e-5,
    )

    # The same gradient drives a train_step (mse: dpred = 2 (pred - t) / size).
    model = make()
    slope = model[0].parameters()[0]
    target = np.zeros((8, 2), np.float32)
    pred = model.forward(X).astype(np.float64)
    dpred = 2.0 * pred / pred.size
    grad = central_difference(
        lambda a: np.sum(dpred * (np.where(Xd > 0, Xd, a * Xd) @ Wd)), np.full(3, 0.3)
    )
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    model.train_step(X, target, "mse", opt)
    np.testing.assert_allclose(slope.data, 0.3 - 0.1 * grad, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- RReLU: a random slope
@pytest.mark.parametrize("mode", MODES)
def test_rrelu_training_slopes_in_range_and_reproducible(mode):
    n = 16
    rng = np.random.default_rng(6)
    X = -np.abs(rng.standard_normal((32, n))).astype(np.float32) - 0.1
    X[:, :4] *= -1.0  # a few positive columns
    eye = np.eye(n, dtype=np.float32)
    zeros = np.zeros(n, np.float32)
    a = build("rrelu", mode, n, eye, zeros, seed=11)
    Y1 = a.forward(X, training=True)
    slope = Y1[:, 4:] / X[:, 4:]
    assert slope.min() >= RRELU_LOWER - 1e-6 and slope.max() <= RRELU_UPPER + 1e-6
    assert slope.std() > 0.02  # really random, not one slope
    np.testing.assert_array_equal(Y1[:, :4], X[:, :4])

    # backward uses the same slopes as its forward
    dX = a.backward(np.ones_like(Y1))
    np.testing.assert_allclose(dX[:, 4:], slope, rtol=1e-5)
    np.testing.assert_array_equal(dX[:, :4], 1.0)

    b = build("rrelu", mode, n, eye, zeros, seed=11)
    np.testing.assert_array_equal(b.forward(X, training=True), Y1)  # same seed, same slopes
    Y2 = a.forward(X, training=True)
    assert not np.array_equal(Y2, Y1)  # a fresh stream per step
    c = build("rrelu", mode, n, eye, zeros, seed=12)
    assert not np.array_equal(c.forward(X, training=True), Y1)

    # inference: the mean slope
    np.testing.assert_allclose(
        a.forward(X, training=False)[:, 4:], X[:, 4:] * (RRELU_LOWER + RRELU_UPPER) / 2, rtol=1e-6
    )


def test_rrelu_bounds_are_respected():
    n = 8
    X = -np.ones((64, n), np.float32)
    model = fn.Sequential(fn.Dense(n, n), fn.RReLU(0.3, 0.4), seed=0)
    dict(model[0].named_parameters())["weight"].data[...] = np.eye(n)
    dict(model[0].named_parameters())["bias"].data[...] = 0.0
    slope = -model.forward(X, training=True)
    assert slope.min() >= 0.3 - 1e-6 and slope.max() <= 0.4 + 1e-6
    np.testing.assert_allclose(model.forward(X, training=False), -0.35, rtol=1e-6)


# ---------------------------------------------------------------- threaded (large batch) path
def _reference_vjp(name, Z, dY, h=1e-6):
    """dZ = dY ⊙ f'(Z) (softmax: y ⊙ (dY − Σ dY·y)) in float64."""
    if name == "softmax":
        y = _softmax(Z)
        return y * (dY - np.sum(dY * y, axis=1, keepdims=True))
    f = REFERENCE[name]
    return dY * (f(Z + h) - f(Z - h)) / (2 * h)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SMOOTH_OR_FIXED)
def test_large_batch_threaded_backward(name, mode):
    """Big enough to take the OpenMP path with per-thread bias/slope partial sums."""
    if name in ("gelu",):  # math.erf per element in the reference is slow; fewer rows
        batch = 300
    else:
        batch = 700
    n = 64
    rng = np.random.default_rng(7)
    X, W, b = random_case(rng, batch=batch, n=n)
    dY = rng.standard_normal((batch, n)).astype(np.float32)
    old = fn.get_num_threads()
    fn.set_num_threads(2)
    try:
        model = build(name, mode, n, W, b)
        Y = model.forward(X, training=True)
        dX = model.backward(dY)
    finally:
        fn.set_num_threads(old)
    Z = X.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64)
    np.testing.assert_allclose(Y, REFERENCE[name](Z), rtol=1e-4, atol=1e-5)
    dZ = _reference_vjp(name, Z, dY.astype(np.float64))
    grads = dict(model[0].named_parameters())
    scale = np.abs(dZ).sum(axis=0).max()
    np.testing.assert_allclose(grads["bias"].grad, dZ.sum(axis=0), rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(
        grads["weight"].grad, X.astype(np.float64).T @ dZ, rtol=1e-3, atol=1e-5 * scale
    )
    np.testing.assert_allclose(dX, dZ @ W.astype(np.float64).T, rtol=1e-3, atol=1e-4)
    if name == "prelu":
        slope = [p for p in model.parameters() if p.name.endswith("slope")][0]
        np.testing.assert_allclose(
            slope.grad, np.sum(dY * np.minimum(Z, 0.0), axis=0), rtol=1e-4, atol=1e-5 * scale
        )


# ---------------------------------------------------------------- golden references
@pytest.fixture(scope="module")
def torch_activation_golden():
    import os

    path = os.path.join(os.path.dirname(__file__), "golden", "torch_activations.npz")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SMOOTH_OR_FIXED)
def test_value_and_gradient_match_torch_golden(torch_activation_golden, name, mode, threads):
    """torch.nn.functional's value and gradient (tests/golden/make_golden.py), checked in CI
    without torch: Dense(n, n) with W = I, b = 0 makes the model output act(Z) and its dX the
    activation's dZ; 40 x 128 inputs up to |z| = 30 take the threaded kernels at 2 threads."""
    g = torch_activation_golden
    Z, dY = g["Z"], g["dY"]
    n = Z.shape[1]
    old = fn.get_num_threads()
    fn.set_num_threads(min(threads, fn._config.available_cores()))
    try:
        model = build(name, mode, n, np.eye(n, dtype=np.float32), np.zeros(n, np.float32))
        Y = model.forward(Z, training=True)
        dZ = model.backward(dY)
    finally:
        fn.set_num_threads(old)
    np.testing.assert_allclose(Y, g[f"{name}_Y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dZ, g[f"{name}_dZ"], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- Swish with β (Ramachandran et al. 2017)
def _swish_beta(x, beta):
    return x * _sigmoid(beta * x)


def _swish_dbeta(x, beta):
    """d/dβ x·σ(βx) = x²·σ(βx)(1 − σ(βx)), float64."""
    s = _sigmoid(beta * x)
    return x * x * s * (1.0 - s)


def _set_dense(model, W, b):
    dense = dict(model[0].named_parameters())
    dense["weight"].data[...] = W
    dense["bias"].data[...] = b


@pytest.mark.parametrize("learnable", [False, True])
@pytest.mark.parametrize("beta", [0.5, 2.0, 3.5, -1.0])
def test_swish_beta_forward_and_fused_inference(beta, learnable):
    rng = np.random.default_rng(21)
    X, W, b = random_case(rng, batch=300, n=40)  # wide enough for the blocked predict kernels
    model = fn.Sequential(fn.Dense(40, 40), fn.Swish(beta=beta, learnable=learnable), seed=0)
    _set_dense(model, W, b)
    Z = X.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64)
    expected = _swish_beta(Z, beta)
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-5, atol=1e-6)
    # predict fuses Dense + Swish(β) into one product with the activation in its epilogue
    assert model.to_inference().plan() == ["0-1 dense+activation"]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.to_inference().predict(X), expected, rtol=1e-5, atol=1e-5)
    if learnable:  # a per-feature β written into the arena is what every path applies
        betas = rng.uniform(0.2, 3.0, 40)
        model[1].parameters()[0].data[...] = betas
        expected = _swish_beta(Z, betas.astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(model.forward(X), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)


def test_swish_beta_one_is_silu_and_fixed_beta_has_no_parameter():
    rng = np.random.default_rng(22)
    X, W, b = random_case(rng)
    a = fn.Sequential(fn.Dense(6, 6), fn.Swish(), seed=0)
    c = fn.Sequential(fn.Dense(6, 6, activation="swish"), seed=0)
    _set_dense(a, W, b)
    _set_dense(c, W, b)
    np.testing.assert_array_equal(a.forward(X), c.forward(X))
    assert [p.name for p in fn.Sequential(fn.Dense(6, 6), fn.Swish(beta=2.0)).parameters()] == [
        "0.weight",
        "0.bias",
    ]
    learned = fn.Sequential(fn.Dense(6, 6), fn.Swish(beta=2.0, learnable=True)).parameters()[-1]
    assert learned.name == "1.beta" and learned.shape == (6,) and learned.trainable
    np.testing.assert_array_equal(learned.data, np.full(6, 2.0, np.float32))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [4, 700])  # 700 x 64: the threaded per-thread partial sums
def test_swish_beta_gradients_match_finite_differences(batch, threads):
    n = 64 if batch > 4 else 5
    rng = np.random.default_rng(23)
    X, W, b = random_case(rng, batch=batch, n=n)
    dY = rng.standard_normal((batch, n))
    beta0 = rng.uniform(0.3, 2.5, n)
    old = fn.get_num_threads()
    fn.set_num_threads(min(threads, fn._config.available_cores()))
    try:
        model = fn.Sequential(fn.Dense(n, n), fn.Swish(beta=1.0, learnable=True), seed=0)
        _set_dense(model, W, b)
        beta = model[1].parameters()[0]
        beta.data[...] = beta0
        model.forward(X, training=True)
        dX = model.backward(dY)
    finally:
        fn.set_num_threads(old)
    Xd, Wd, bd = (a.astype(np.float64) for a in (X, W, b))
    bt = beta0.astype(np.float32).astype(np.float64)
    Z = Xd @ Wd + bd
    if batch <= 4:  # full finite differences of the float64 reference
        f = lambda x, w, c, a: np.sum(dY * _swish_beta(x @ w + c, a))  # noqa: E731
        fd = [
            central_difference(lambda x: f(x, Wd, bd, bt), Xd),
            central_difference(lambda w: f(Xd, w, bd, bt), Wd),
            central_difference(lambda a: f(Xd, Wd, bd, a), bt),
        ]
        np.testing.assert_allclose(dX, fd[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(model[0].parameters()[0].grad, fd[1], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(beta.grad, fd[2], rtol=1e-4, atol=1e-5)
    else:  # the closed forms (checked against finite differences above)
        s = _sigmoid(bt * Z)
        dZ = dY * (s + bt * Z * s * (1 - s))
        dbeta = np.sum(dY * _swish_dbeta(Z, bt), axis=0)
        scale = np.abs(dbeta).max()
        np.testing.assert_allclose(beta.grad, dbeta, rtol=1e-4, atol=1e-5 * scale)
        np.testing.assert_allclose(dX, dZ @ Wd.T, rtol=1e-3, atol=1e-4)


def test_swish_fixed_beta_backward_matches_finite_differences():
    rng = np.random.default_rng(24)
    X, W, b = random_case(rng, batch=4, n=5)
    dY = rng.standard_normal((4, 5))
    model = fn.Sequential(fn.Dense(5, 5), fn.Swish(beta=2.5), seed=0)
    _set_dense(model, W, b)
    model.forward(X, training=True)
    dX = model.backward(dY)
    Xd, Wd, bd = (a.astype(np.float64) for a in (X, W, b))
    fd = central_difference(lambda x: np.sum(dY * _swish_beta(x @ Wd + bd, 2.5)), Xd)
    np.testing.assert_allclose(dX, fd, rtol=1e-4, atol=1e-5)


def test_swish_learned_beta_train_step_and_stability():
    """SGD moves β by −lr·dL/dβ; extremes stay finite (β·x up to 3e4)."""
    rng = np.random.default_rng(25)
    X = rng.standard_normal((8, 3)).astype(np.float32)
    model = fn.Sequential(fn.Swish(beta=1.5, learnable=True), fn.Dense(3, 2), seed=0)
    W = np.asarray(model[1].parameters()[0].data, np.float64)
    c = np.asarray(model[1].parameters()[1].data, np.float64)
    Xd = X.astype(np.float64)
    pred = _swish_beta(Xd, 1.5) @ W + c
    dpred = 2.0 * pred / pred.size  # mse, target 0
    grad = central_difference(lambda a: np.sum(dpred * (_swish_beta(Xd, a) @ W)), np.full(3, 1.5))
    model.train_step(X, np.zeros((8, 2), np.float32), "mse", fn.optim.SGD(model.parameters(), 0.1))
    np.testing.assert_allclose(model[0].parameters()[0].data, 1.5 - 0.1 * grad, rtol=1e-5)

    n = EXTREMES.size
    ext = fn.Sequential(fn.Swish(beta=3.0, learnable=True), input_dim=n, seed=0)
    Xe = np.stack([EXTREMES, EXTREMES[::-1]])
    Y = ext.forward(Xe, training=True)
    dX = ext.backward(np.ones_like(Y))
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(dX))
    assert np.all(np.isfinite(ext.parameters()[0].grad)) and ext.parameters()[0].shape == (n,)
    np.testing.assert_allclose(Y, _swish_beta(Xe.astype(np.float64), 3.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_swish_beta_matches_torch_golden(torch_activation_golden, threads):
    """torch autograd of x·sigmoid(β·x) with a per-feature β (make_golden.py): value, dZ, dβ."""
    g = torch_activation_golden
    Z, dY, beta = g["Z"], g["dY"], g["swish_beta"]
    n = Z.shape[1]
    old = fn.get_num_threads()
    fn.set_num_threads(min(threads, fn._config.available_cores()))
    try:
        model = fn.Sequential(fn.Dense(n, n), fn.Swish(learnable=True), seed=0)
        _set_dense(model, np.eye(n, dtype=np.float32), np.zeros(n, np.float32))
        model[1].parameters()[0].data[...] = beta
        Y = model.forward(Z, training=True)
        dZ = model.backward(dY)
    finally:
        fn.set_num_threads(old)
    np.testing.assert_allclose(Y, g["swish_beta_Y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dZ, g["swish_beta_dZ"], rtol=1e-4, atol=1e-5)
    dbeta = model[1].parameters()[0].grad
    scale = np.abs(g["swish_beta_dbeta"]).max()
    np.testing.assert_allclose(dbeta, g["swish_beta_dbeta"], rtol=1e-4, atol=1e-5 * scale)


def test_swish_beta_argument_errors():
    with pytest.raises(TypeError, match="beta"):
        fn.Swish(beta="2")
    with pytest.raises(ValueError, match="beta"):
        fn.Swish(beta=float("nan"))
    with pytest.raises(TypeError, match="learnable"):
        fn.Swish(learnable=1)


@pytest.mark.parametrize("learnable", [False, True])
def test_swish_beta_in_the_fused_epilogue_on_every_kernel_path(learnable):
    """Dense → BatchNorm → Swish(β) is one fused inference step (infer_plan.cpp); its epilogue
    applies β (fixed, or the learned per-column vector offset to each column block) on the
    generic and the AVX-512 paths, at 1 and 2 threads, for 1 row, a few rows and packed tiles."""
    from fastnet import _engine

    isa = _engine.cpu_isa()
    paths = ["generic"] + (["avx512"] if isa in ("avx512", "avx512_bf16") else [])
    n_in, n_hidden = 50, 70  # 70 columns: a full 64-column block and a tail
    model = fn.Sequential(
        fn.Dense(n_in, n_hidden),
        fn.BatchNorm(n_hidden),
        fn.Swish(beta=2.5, learnable=learnable),
        fn.Dense(n_hidden, 3),
        seed=0,
    )
    rng = np.random.default_rng(26)
    opt = fn.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):  # running statistics and (when learned) β move off their start
        Xt = rng.standard_normal((64, n_in)).astype(np.float32)
        model.train_step(Xt, rng.standard_normal((64, 3)).astype(np.float32), "mse", opt)
    assert _engine.inference_plan(model)[0] == "0-2 dense+batchnorm+activation"
    p = {k: v.astype(np.float64) for k, v in model.state_arrays().items()}
    beta = p["2.beta"] if learnable else 2.5
    if learnable:
        assert np.ptp(p["2.beta"]) > 0  # trained per feature

    def reference(X):
        z = X.astype(np.float64) @ p["0.weight"] + p["0.bias"]
        z = (z - p["1.running_mean"]) / np.sqrt(p["1.running_var"] + 1e-5) * p["1.weight"]
        z = z + p["1.bias"]
        return _swish_beta(z, beta) @ p["3.weight"] + p["3.bias"]

    old = fn.get_num_threads()
    try:
        for path in paths:
            _engine.set_isa_limit(path)
            for threads in (1, 2):
                fn.set_num_threads(min(threads, fn._config.available_cores()))
                for batch in (1, 5, 37, 300):
                    X = rng.standard_normal((batch, n_in)).astype(np.float32)
                    expected = reference(X)
                    scale = max(1.0, float(np.abs(expected).max()))
                    np.testing.assert_allclose(model.predict(X), expected, atol=1e-5 * scale)
        # the bf16 copy shares the epilogue: within bf16's rounding of the products
        X = rng.standard_normal((37, n_in)).astype(np.float32)
        got = model.to_inference("bf16").predict(X)
        np.testing.assert_allclose(got, reference(X), atol=0.05 * np.abs(reference(X)).max())
    finally:
        _engine.set_isa_limit("avx512_bf16")
        fn.set_num_threads(old)
