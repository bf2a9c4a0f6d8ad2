"""fastnet.init: every registered initializer against its variance formula,
orthogonality, reproducibility, lookup errors and the init="auto" table."""

import math

import numpy as np
import pytest

import fastnet as fn

init = fn.init

SHAPE = (400, 300)  # 120k samples
FAN_IN, FAN_OUT = SHAPE

# name -> (variance, uniform limit or None); None variance = not a variance-scaling init.
GLOROT = 2.0 / (FAN_IN + FAN_OUT)  # Glorot & Bengio 2010
HE = 2.0 / FAN_IN  # He et al. 2015
LECUN = 1.0 / FAN_IN  # LeCun et al. 1998
EXPECTED = {
    "uniform": (0.05**2 / 3, 0.05),  # Keras RandomUniform(-0.05, 0.05)
    "normal": (0.05**2, None),  # Keras RandomNormal(stddev=0.05)
    "glorot_uniform": (GLOROT, math.sqrt(3 * GLOROT)),
    "glorot_normal": (GLOROT, None),
    "he_uniform": (HE, math.sqrt(3 * HE)),
    "he_normal": (HE, None),
    "lecun_uniform": (LECUN, math.sqrt(3 * LECUN)),
    "lecun_normal": (LECUN, None),
}
SPECIAL = {"zeros", "ones", "orthogonal"}


def test_registry_is_complete():
    assert set(init.INITIALIZERS) == set(EXPECTED) | SPECIAL


@pytest.mark.parametrize("name", sorted(init.INITIALIZERS))
def test_dtype_shape_contiguous(name):
    w = init.get(name)((40, 30), 40, 30, np.random.default_rng(0))
    assert w.dtype == np.float32 and w.shape == (40, 30) and w.flags.c_contiguous
    assert np.all(np.isfinite(w))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_variance_matches_formula(name):
    var, limit = EXPECTED[name]
    w = init.get(name)(SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(1)).astype(np.float64)
    std = math.sqrt(var)
    # mean: standard error is std/sqrt(n) ~ 0.003 std; allow ~7 SE.
    assert abs(w.mean()) < 0.02 * std
    # variance: relative SE is sqrt(2/n) ~ 0.4% (normal), less for uniform; allow 5%.
    assert w.var() == pytest.approx(var, rel=0.05)
    if limit is not None:
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * limit  # actually fills the interval
    else:
        # untruncated normal: 120k draws almost surely pass 3.5 sigma (P(miss) ~ e^-56)
        assert np.abs(w).max() > 3.5 * std


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "lecun_normal"])
def test_fans_default_to_keras_convention(name):
    a = init.get(name)(SHAPE, rng=np.random.default_rng(3))
    b = init.get(name)(SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert init.compute_fans((7, 5)) == (7, 5)
    assert init.compute_fans(6) == (6, 6)
    assert init.compute_fans((3, 3, 4, 8)) == (36, 72)


def test_zeros_ones_exact():
    assert np.array_equal(init.zeros((3, 4), 3, 4, None), np.zeros((3, 4), np.float32))
    assert np.array_equal(init.ones(5, 5, 5, None), np.ones(5, np.float32))
    assert init.zeros((0, 4)).shape == (0, 4)


@pytest.mark.parametrize("shape", [(120, 50), (50, 120), (64, 64), (2, 3, 10)])
def test_orthogonal(shape):
    w = init.orthogonal(shape, rng=np.random.default_rng(4)).astype(np.float64)
    assert w.shape == shape
    m = w.reshape(-1, shape[-1])
    rows, cols = m.shape
    g = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(g, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_sign_correction_is_haar():
    # Without the sign fix diag(R) > 0 biases Q; with it, the diagonal of a
    # square orthogonal draw has mean ~0 over many draws.
    rng = np.random.default_rng(5)
    diag = np.concatenate([np.diag(init.orthogonal((8, 8), rng=rng)) for _ in range(500)])
    assert abs(diag.mean()) < 0.05


def test_orthogonal_needs_2d():
    with pytest.raises(ValueError, match="2 dims"):
        init.orthogonal((10,))


@pytest.mark.parametrize("name", sorted(set(init.INITIALIZERS) - {"zeros", "ones"}))
def test_reproducible_from_seed(name):
    f = init.get(name)
    a = f((40, 30), 40, 30, init.rng_from_seed(42))
    b = f((40, 30), 40, 30, init.rng_from_seed(42))
    c = f((40, 30), 40, 30, init.rng_from_seed(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_manual_seed_resets_global_generator():
    init.manual_seed(7)
    a = init.he_normal((20, 10))
    b = init.he_normal((20, 10))
    init.manual_seed(7)
    np.testing.assert_array_equal(init.he_normal((20, 10)), a)
    assert not np.array_equal(a, b)
    assert init.rng_from_seed(None) is init.default_rng()
    g = np.random.default_rng(0)
    assert init.rng_from_seed(g) is g
    assert isinstance(init.rng_from_seed(np.int64(3)).bit_generator, np.random.PCG64)


@pytest.mark.parametrize("bad", [1.5, "3", True, [1], object()])
def test_seed_type_errors(bad):
    with pytest.raises(TypeError, match="seed"):
        init.manual_seed(bad)
    with pytest.raises(TypeError, match="seed"):
        init.rng_from_seed(bad)


def test_negative_seed():
    with pytest.raises(ValueError, match="non-negative"):
        init.manual_seed(-1)


def test_get_names_aliases_and_callables():
    assert init.get("he_normal") is init.he_normal
    assert init.get("  Glorot_Uniform ") is init.glorot_uniform
    assert init.get("kaiming_uniform") is init.he_uniform
    assert init.get("xavier_normal") is init.glorot_normal

    def custom(shape, fan_in, fan_out, rng):
        return np.full(shape, 0.5)

    assert init.get(custom) is custom
    w = init.initialize(custom, (3, 2))
    assert w.dtype == np.float32 and w.flags.c_contiguous and np.all(w == 0.5)


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as e:
        init.get("he_normall")
    for name in init.INITIALIZERS:
        assert name in str(e.value)
    with pytest.raises(ValueError, match="auto_init_for"):
        init.get("auto")


@pytest.mark.parametrize("bad", [3, None, 1.0, b"he_normal", ["zeros"]])
def test_get_type_error(bad):
    with pytest.raises(TypeError):
        init.get(bad)


def test_initialize_checks_callable_output():
    with pytest.raises(ValueError, match="shape"):
        init.initialize(lambda s, i, o, r: np.zeros((1, 1)), (3, 2))
    with pytest.raises(ValueError, match="non-finite"):
        init.initialize(lambda s, i, o, r: np.full(s, np.nan), (3, 2))


def test_argument_validation():
    with pytest.raises(ValueError, match="fan_in"):
        init.he_normal((3, 2), 0, 2)
    with pytest.raises(TypeError, match="rng"):
        init.he_normal((3, 2), rng=42)
    with pytest.raises(ValueError, match="non-negative"):
        init.glorot_uniform((-1, 2))
    with pytest.raises(TypeError, match="shape"):
        init.glorot_uniform("34")


AUTO = [
    (None, "glorot_uniform"),
    ("linear", "glorot_uniform"),
    ("sigmoid", "glorot_uniform"),
    ("tanh", "glorot_uniform"),
    ("softmax", "glorot_uniform"),
    ("relu", "he_normal"),
    ("leaky_relu", "he_normal"),
    ("LeakyReLU", "he_normal"),
    ("prelu", "he_normal"),
    ("rrelu", "he_normal"),
    ("elu", "he_normal"),
    ("gelu", "he_normal"),
    ("gelu_tanh", "he_normal"),
    ("swish", "he_normal"),
    ("silu", "he_normal"),
    ("SiLU", "he_normal"),
    ("mish", "he_normal"),
    ("selu", "lecun_normal"),
    ("SELU", "lecun_normal"),
]


@pytest.mark.parametrize("act,expected", AUTO)
def test_auto_init_for(act, expected):
    assert init.auto_init_for(act) == expected
    assert expected in init.INITIALIZERS


def test_auto_init_for_errors():
    with pytest.raises(ValueError, match="unknown activation"):
        init.auto_init_for("relu6")
    with pytest.raises(TypeError):
        init.auto_init_for(3)


# --------------------------------------------------------------------------- variance_scaling
VS_FANS = {"fan_in": FAN_IN, "fan_out": FAN_OUT, "fan_avg": (FAN_IN + FAN_OUT) / 2}


@pytest.mark.parametrize("mode", sorted(VS_FANS))
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("scale", [1.0, 2.0, 0.3])
def test_variance_scaling_matches_keras_formulas(scale, mode, distribution):
    # Keras VarianceScaling: variance scale / n for every distribution.
    f = init.variance_scaling(scale, mode=mode, distribution=distribution)
    w = f(SHAPE, rng=np.random.default_rng(11)).astype(np.float64)
    assert w.dtype == np.float64 and w.shape == SHAPE
    var = scale / VS_FANS[mode]
    std = math.sqrt(var)
    assert abs(w.mean()) < 0.02 * std
    assert w.var() == pytest.approx(var, rel=0.03)
    peak = np.abs(w).max()
    if distribution == "uniform":
        limit = math.sqrt(3 * var)
        assert limit * 0.99 < peak <= limit * (1 + 1e-6)
    elif distribution == "truncated_normal":
        # Truncated at 2 s, s = sqrt(scale/n) / 0.87962566103423978 (float32 rounding only).
        bound = 2 * std / 0.87962566103423978
        assert 0.999 * bound < peak <= bound * (1 + 1e-6)
        # fraction beyond 1 s of the pre-truncation normal: P(1<|z|<2)/P(|z|<2) = 0.2866
        s = std / 0.87962566103423978
        assert np.mean(np.abs(w) > s) == pytest.approx(0.2866, abs=0.005)
    else:
        assert peak > 3.5 * std  # untruncated: tails pass 2 s freely


def test_variance_scaling_truncation_constant():
    # 0.8796... is the std of a unit normal truncated to [-2, 2] (Keras' constant).
    from math import erf, exp, pi, sqrt

    mass = erf(2 / sqrt(2))
    var = 1 - 2 * 2 * exp(-2) / sqrt(2 * pi) / mass
    assert math.sqrt(var) == pytest.approx(0.87962566103423978, rel=1e-12)


def test_variance_scaling_in_dense_and_reproducible():
    f = init.variance_scaling(2.0, "fan_out", "uniform")
    a = f((40, 30), rng=init.rng_from_seed(3))
    np.testing.assert_array_equal(a, f((40, 30), rng=init.rng_from_seed(3)))
    # torch kaiming_uniform_(mode="fan_out") is this rule; on a (in, out) kernel fan_out = out.
    assert np.abs(a).max() <= math.sqrt(6 / 30) * (1 + 1e-6)
    init.manual_seed(0)
    model = fn.Sequential(fn.Dense(50, 20, init=f), fn.Dense(20, 3))
    w = model.get_weights()[0]
    assert np.abs(w).max() <= math.sqrt(6 / 20) * (1 + 1e-6)
    assert "variance_scaling" in init.variance_scaling().__name__


def test_variance_scaling_argument_errors():
    with pytest.raises(ValueError, match="mode"):
        init.variance_scaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        init.variance_scaling(distribution="normal")
    with pytest.raises(ValueError, match="scale"):
        init.variance_scaling(0.0)
    with pytest.raises(ValueError, match="scale"):
        init.variance_scaling(float("inf"))
    with pytest.raises(TypeError, match="scale"):
        init.variance_scaling("2")
    with pytest.raises(TypeError, match="mode"):
        init.variance_scaling(mode=1)
