"""The vectorized exp, expm1, sigmoid and tanh of csrc/core/fast_math.h, through the activations
that use them (stand-alone layers, Dense-fused, and the inference epilogue of ``predict``),
against float64 NumPy over a dense sweep of [-90, 90]: denormal results, the overflow and
underflow ends, and ±inf / NaN produced inside the Dense product."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastnet as fn
from fastnet import _engine

FLT_MIN = float(np.finfo(np.float32).tiny)  # smallest normal float32
DENORMAL_ULP = 2.0**-149
# 4 ulp-equivalent at float32: the error bound of exp, expm1, sigmoid and tanh.
REL_BOUND = 5e-7
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_K = math.sqrt(2.0 / math.pi)
COLS = 64


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_K * (x + 0.044715 * x**3)))


REFERENCE = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),  # alpha 1: expm1 itself
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "swish": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "gelu_tanh": _gelu_tanh,
}
LAYERS = {
    "sigmoid": fn.Sigmoid,
    "tanh": fn.Tanh,
    "elu": lambda: fn.ELU(1.0),
    "selu": fn.SELU,
    "swish": fn.Swish,
    "mish": fn.Mish,
    "gelu_tanh": lambda: fn.GELU(approximate="tanh"),
}
DENSE_KW = {"elu": {"alpha": 1.0}}


def sweep():
    """(rows, COLS) float32: 2^18 evenly spaced points of [-90, 90] and the ends of exp's range
    (denormal and zero results of e^x, 88.72 where e^x overflows)."""
    ends = [-104.0, -103.97, -103.9, -100.0, -95.0, -87.5, -87.33, 88.72, 89.0, 0.0, -0.0]
    ends += [1e-30, -1e-30, 1e-7, -1e-7, 0.3, -0.3, 0.5, -0.5, 0.625, -0.625]
    x = np.concatenate([np.linspace(-90.0, 90.0, 1 << 18), ends]).astype(np.float32)
    return np.concatenate([x, np.zeros((-x.size) % COLS, np.float32)]).reshape(-1, COLS)


def error_bound(name, x, ref, flush):
    """Per-element bound on |fastnet − float64|: REL_BOUND relative, one denormal ulp for
    denormal results; swish and mish multiply σ(x) by x, so a denormal σ (x < −87.3) keeps only
    |x| denormal ulps; GELU(tanh) rounds 1 + tanh(·) (half an ulp of 1, times |x|/2).
    ``flush``: the inference path runs with flush-to-zero (core/parallel.h FlushDenormals), so
    a denormal result or intermediate is 0 — off by up to FLT_MIN, not one denormal ulp."""
    tiny = FLT_MIN if flush else DENORMAL_ULP
    bound = REL_BOUND * np.abs(ref) + tiny
    if name in ("swish", "mish"):
        bound += np.where(x < -87.3, np.abs(x) * tiny, 0.0)
    if name == "gelu_tanh":
        bound += 0.5 * np.abs(x) * 2.0**-24
    return bound


def run(name, mode, X, training):
    if mode == "layer":
        model = fn.Sequential(LAYERS[name](), input_dim=X.shape[1])
    else:
        n = X.shape[1]
        model = fn.Sequential(fn.Dense(n, n, activation=name, **DENSE_KW.get(name, {})))
        params = dict(model[0].named_parameters())
        params["weight"].data[...] = np.eye(n, dtype=np.float32)
        params["bias"].data[...] = 0.0
    return model, (model.forward(X, training=True) if training else model.predict(X))


@pytest.mark.parametrize("mode", ["layer", "fused", "predict"])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_dense_sweep_within_four_ulp(name, mode, one_thread):
    X = sweep()
    x = X.astype(np.float64)
    _, Y = run(name, "layer" if mode == "layer" else "fused", X, training=mode != "predict")
    ref = REFERENCE[name](x)
    err = np.abs(Y.astype(np.float64) - ref)
    excess = err / error_bound(name, x, ref, flush=mode == "predict")
    worst = np.unravel_index(np.argmax(excess), X.shape)
    assert excess.max() <= 1.0, (
        f"{name}({x[worst]!r}) = {Y[worst]!r}, float64 {ref[worst]!r}: error {err[worst]:.3e}"
    )
    normal = np.abs(ref) >= FLT_MIN
    if name in ("sigmoid", "tanh", "elu", "selu"):  # the bound, stated as a relative error
        assert (err[normal] / np.abs(ref[normal])).max() <= REL_BOUND


def ulps(Y, ref):
    """|Y − ref| in units of the float32 spacing at ref."""
    spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(Y.astype(np.float64) - ref) / spacing


def test_exp_and_expm1_within_two_ulp(one_thread):
    """The functions alone, where an activation returns them unchanged: σ(x) is e^x in float32
    for −87 < x < −17 (1 + e^x rounds to 1), ELU(α=1) is expm1(x) for x < 0 (the polynomial
    below |x| = 0.5, e^x − 1 above). 2 ulp: each is about 1 ulp, a dropped term shows."""
    x = np.linspace(-87.0, -17.0, 1 << 16).astype(np.float32).reshape(-1, COLS)
    _, Y = run("sigmoid", "layer", x, training=True)
    assert ulps(Y, np.exp(x.astype(np.float64))).max() <= 2.0
    x = -np.geomspace(1e-30, 20.0, 1 << 16).astype(np.float32).reshape(-1, COLS)
    _, Y = run("elu", "layer", x, training=True)
    assert ulps(Y, np.expm1(x.astype(np.float64))).max() <= 2.0


def test_exp_ends_match_ieee(one_thread):
    """σ(x) = e^x/(1 + e^x) is e^x in float32 below −17: the underflow end of exp is seen
    directly — e^−103.9 is the smallest denormal, e^−104 and below are +0, never negative."""
    X = np.full((1, COLS), -200.0, np.float32)
    X[0, :4] = [-103.9, -104.0, -150.0, -87.0]
    _, Y = run("sigmoid", "layer", X, training=True)
    assert Y[0, 0] == np.float32(DENORMAL_ULP)
    assert np.all(Y[0, 1:3] == 0.0) and not np.signbit(Y[0, 1:3]).any()
    np.testing.assert_allclose(Y[0, 3], math.exp(-87.0), rtol=REL_BOUND)


def _set_dense(layer, weight):
    params = dict(layer.named_parameters())
    params["weight"].data[...] = weight
    params["bias"].data[...] = 0.0


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_inf_and_nan_propagate(name, one_thread):
    """±inf and NaN made inside the Dense products from finite X and W (the public API refuses
    non-finite inputs): 3e38·1 + 3e38·1 is +inf, 3e38·1 − 3e38·1 is 0; a first Dense giving
    (+inf, −inf) makes the second one's pre-activation inf − inf = NaN."""
    kw = DENSE_KW.get(name, {})
    X = np.full((1, 2), 3e38, np.float32)
    ends = fn.Sequential(fn.Dense(2, 3, activation=name, **kw))
    _set_dense(ends[0], np.array([[1.0, -1.0, 1.0], [1.0, -1.0, -1.0]]))
    nan = fn.Sequential(fn.Dense(2, 2), fn.Dense(2, 2, activation=name, **kw))
    _set_dense(nan[0], np.array([[1.0, -1.0], [1.0, -1.0]]))
    _set_dense(nan[1], np.ones((2, 2)))
    with np.errstate(invalid="ignore"):
        expected_ends = REFERENCE[name](np.array([[np.inf, -np.inf, 0.0]])).astype(np.float32)
    for model, expected in ((ends, expected_ends), (nan, np.full((1, 2), np.nan, np.float32))):
        for Y in (model.forward(X, training=True), model.predict(X)):
            np.testing.assert_array_equal(Y, expected)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_row_kernels_match_libm_twin(name):
    """The vectorized kernels against their libm reference twin (activation_forward/backward
    with reference=true) on the same float32 inputs: values within 4 ulp-equivalent (plus the
    rounding of 1 + tanh(·) in GELU, half an ulp of 1 times |x|/2), derivatives within 8 ulp of
    1 (they are O(1) and read y, whose last-bit differences y(1 − y) and 1 − y² pass on)."""
    X = sweep()
    dY = np.ones_like(X)
    kw = {"alpha": 1.0}
    Y, dZ = _engine.activation_kernel(name, X, dY, **kw)
    Yr, dZr = _engine.activation_kernel(name, X, dY, reference=True, **kw)
    x = np.abs(X.astype(np.float64))
    value_err = np.abs(Y.astype(np.float64) - Yr)
    assert np.all(value_err <= REL_BOUND * np.abs(Yr) + 2.0**-25 * np.maximum(x, 1.0))
    assert np.abs(dZ.astype(np.float64) - dZr).max() <= 8 * 2.0**-23


def test_activation_kernel_refuses_bad_input():
    Z = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="dY"):
        _engine.activation_kernel("tanh", Z, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="slope"):
        _engine.activation_kernel("prelu", Z, Z)
    with pytest.raises(ValueError, match="2-D"):
        _engine.activation_kernel("tanh", Z[0], Z[0])
