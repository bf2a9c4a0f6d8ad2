"""Registry-driven tests for fastnet.losses.

Every loss has an independent float64 NumPy reference (value and analytic gradient) written
here from the Keras / PyTorch formulas. Each case checks the value against the reference,
the gradient against the reference's analytic gradient and against central finite
differences of the reference value, and (where PyTorch has the loss) against torch.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import fastnet as fn
import fastnet.losses  # noqa: F401  (makes fn.losses available however __init__ is written)

EPS = 1e-7  # keras.backend.epsilon()


# ------------------------------------------------------------------ float64 references
# Each returns (mean loss, d(mean loss)/d(pred)) for float64 inputs.


def ref_mse(p, t):
    e = p - t
    return np.mean(e**2), 2 * e / e.size


def ref_mae(p, t):
    e = p - t
    return np.mean(np.abs(e)), np.sign(e) / e.size


def ref_huber(p, t, delta=1.0):
    e = p - t
    quadratic = np.abs(e) <= delta
    v = np.where(quadratic, 0.5 * e**2, delta * np.abs(e) - 0.5 * delta**2)
    g = np.where(quadratic, e, delta * np.sign(e))
    return np.mean(v), g / e.size


def ref_log_cosh(p, t):
    x = p - t
    v = np.logaddexp(x, -x) - np.log(2.0)  # log((e^x + e^-x) / 2)
    return np.mean(v), np.tanh(x) / x.size


def ref_mape(p, t):
    denom = np.maximum(np.abs(t), EPS)
    e = p - t
    return 100 * np.mean(np.abs(e) / denom), 100 * np.sign(e) / denom / e.size


def ref_msle(p, t):
    a = np.log(np.maximum(p, EPS) + 1.0)
    b = np.log(np.maximum(t, EPS) + 1.0)
    g = np.where(p >= EPS, 2 * (a - b) / (p + 1.0), 0.0)
    return np.mean((a - b) ** 2), g / p.size


def _hinge_targets(t):
    return np.where(t == 0, -1.0, t)


def ref_hinge(p, t):
    y = _hinge_targets(t)
    margin = 1 - y * p
    return np.mean(np.maximum(margin, 0)), np.where(margin > 0, -y, 0.0) / p.size


def ref_squared_hinge(p, t):
    y = _hinge_targets(t)
    m = np.maximum(1 - y * p, 0)
    return np.mean(m**2), -2 * y * m / p.size


def ref_categorical_hinge(p, t):
    rows = np.arange(p.shape[0])
    pos = np.sum(t * p, axis=1)
    neg_terms = (1 - t) * p
    arg = np.argmax(neg_terms, axis=1)
    margin = neg_terms[rows, arg] - pos + 1
    g = -t.copy()
    g[rows, arg] += 1 - t[rows, arg]
    g *= (margin > 0)[:, None]
    return np.mean(np.maximum(margin, 0)), g / p.shape[0]


def ref_bce(p, t, from_logits=False):
    if from_logits:
        v = np.logaddexp(0.0, p) - p * t  # softplus(x) - x t
        sig = 0.5 * (1 + np.tanh(0.5 * p))
        return np.mean(v), (sig - t) / p.size
    q = np.clip(p, EPS, 1 - EPS)
    v = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    inside = (p >= EPS) & (p <= 1 - EPS)
    return np.mean(v), np.where(inside, (q - t) / (q * (1 - q)), 0.0) / p.size


def _log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def ref_cce(p, t, from_logits=False):
    rows = p.shape[0]
    if from_logits:
        logq = _log_softmax(p)
        g = np.exp(logq) * t.sum(axis=1, keepdims=True) - t
        return np.mean(-np.sum(t * logq, axis=1)), g / rows
    s = p.sum(axis=1, keepdims=True)
    q = p / s
    inside = (q >= EPS) & (q <= 1 - EPS)
    v = -np.sum(t * np.log(np.clip(q, EPS, 1 - EPS)), axis=1)
    dq = np.where(inside, -t / q, 0.0)  # dL/dq, then chain rule through q = p / s
    g = (dq - np.sum(dq * q, axis=1, keepdims=True)) / s
    return np.mean(v), g / rows


def ref_sparse(p, labels, from_logits=True):
    onehot = np.eye(p.shape[1])[labels]
    return ref_cce(p, onehot, from_logits=from_logits)


def ref_kl(p, t):
    tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    v = np.sum(tc * np.log(tc / pc), axis=1)
    g = np.where((p >= EPS) & (p <= 1), -tc / pc, 0.0)
    return np.mean(v), g / p.shape[0]


def ref_poisson(p, t):
    return np.mean(p - t * np.log(p + EPS)), (1 - t / (p + EPS)) / p.size


def ref_cosine(p, t):
    sp = np.sum(p * p, axis=1, keepdims=True)
    norm_p = np.sqrt(np.maximum(sp, 1e-12))
    norm_t = np.sqrt(np.maximum(np.sum(t * t, axis=1, keepdims=True), 1e-12))
    cos = np.sum(p * t, axis=1, keepdims=True) / (norm_p * norm_t)
    g = -t / (norm_p * norm_t) + np.where(sp > 1e-12, cos * p / norm_p**2, 0.0)
    return -np.mean(cos), g / p.shape[0]


# ------------------------------------------------------------------ input generators
# Each returns float32 (pred, target); sparse cases return int labels as the target.


def _softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def gen_regression(rng, shape, scale=1.0):
    return rng.normal(size=shape) * scale, rng.normal(size=shape) * scale


def gen_mape(rng, shape):
    t = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1, 1], size=shape)
    return rng.normal(size=shape), t


def gen_msle(rng, shape):  # some negative predictions exercise the clamp at 1e-7
    return rng.uniform(-0.5, 3.0, size=shape), rng.uniform(0.0, 3.0, size=shape)


def gen_hinge_pm1(rng, shape):
    return rng.normal(size=shape) * 1.5, rng.choice([-1.0, 1.0], size=shape)


def gen_hinge_01(rng, shape):
    return rng.normal(size=shape) * 1.5, rng.choice([0.0, 1.0], size=shape)


def gen_onehot(rng, shape):
    return rng.normal(size=shape), np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]


def gen_signed_onehot(rng, shape):  # -1/+1 and soft targets move the argmax of (1 - t) p
    p, onehot = gen_onehot(rng, shape)
    return p, 2 * onehot - 1


def gen_soft(rng, shape):
    return rng.normal(size=shape), rng.dirichlet(np.ones(shape[1]), size=shape[0])


def gen_bce_probs(rng, shape):
    return rng.uniform(0.05, 0.95, size=shape), rng.uniform(0.0, 1.0, size=shape)


def gen_bce_logits(rng, shape):
    return rng.normal(size=shape) * 3, rng.choice([0.0, 1.0], size=shape)


def gen_cce_probs(rng, shape):  # unnormalized rows exercise the Keras normalization
    p = _softmax_rows(rng.normal(size=shape)) * rng.uniform(0.5, 2.0, size=(shape[0], 1))
    return p, rng.dirichlet(np.ones(shape[1]), size=shape[0])


def gen_cce_logits(rng, shape):
    return rng.normal(size=shape) * 2, rng.dirichlet(np.ones(shape[1]), size=shape[0])


def gen_sparse_logits(rng, shape):
    return rng.normal(size=shape) * 2, rng.integers(0, shape[1], shape[0])


def gen_sparse_probs(rng, shape):
    return _softmax_rows(rng.normal(size=shape)), rng.integers(0, shape[1], shape[0])


def gen_kl(rng, shape):
    return (_softmax_rows(rng.normal(size=shape)), rng.dirichlet(np.ones(shape[1]), size=shape[0]))


def gen_poisson(rng, shape):
    return rng.uniform(0.1, 3.0, size=shape), rng.poisson(1.5, size=shape).astype(float)


# ------------------------------------------------------------------ torch equivalents
# torch_fn(p, t, torch, F) -> scalar tensor; p requires grad (float64).


def torch_sparse_probs(p, t, torch, F):
    return F.nll_loss(torch.log(p / p.sum(dim=1, keepdim=True)), t)


TORCH = {
    "mse": lambda p, t, torch, F: F.mse_loss(p, t),
    "mae": lambda p, t, torch, F: F.l1_loss(p, t),
    "huber": lambda p, t, torch, F: F.huber_loss(p, t, delta=1.0),
    "huber_delta_0.5": lambda p, t, torch, F: F.huber_loss(p, t, delta=0.5),
    "binary_crossentropy": lambda p, t, torch, F: F.binary_cross_entropy(p, t),
    "binary_crossentropy_logits": lambda p, t, torch, F: F.binary_cross_entropy_with_logits(p, t),
    # cross_entropy(log p, t) = -sum t log(p / sum p): Keras' normalization of probabilities
    "categorical_crossentropy": lambda p, t, torch, F: F.cross_entropy(torch.log(p), t),
    "categorical_crossentropy_logits": lambda p, t, torch, F: F.cross_entropy(p, t),
    "sparse_categorical_crossentropy": lambda p, t, torch, F: F.cross_entropy(p, t),
    "sparse_categorical_crossentropy_probs": torch_sparse_probs,
    "kl_divergence": lambda p, t, torch, F: F.kl_div(torch.log(p), t, reduction="batchmean"),
    "poisson": lambda p, t, torch, F: F.poisson_nll_loss(p, t, log_input=False, eps=EPS),
    "cosine_similarity": lambda p, t, torch, F: -F.cosine_similarity(p, t, dim=1).mean(),
}


# ------------------------------------------------------------------ the registry


@dataclass
class Case:
    id: str
    name: str  # fastnet.losses function / C++ loss name
    ref: Callable  # float64 reference: (p, t, **kwargs) -> (value, grad)
    gen: Callable  # (rng, shape) -> (pred, target)
    kwargs: dict = field(default_factory=dict)
    sparse: bool = False  # target is integer labels
    nonneg_pred: bool = False  # pred must be >= 0 (rates, probabilities)
    torch_fn: Callable | None = None


def _case(id, name, ref, gen, **kw):
    return Case(id, name, ref, gen, torch_fn=TORCH.get(id), **kw)


CASES = [
    _case("mse", "mse", ref_mse, gen_regression),
    _case("mae", "mae", ref_mae, gen_regression),
    _case("huber", "huber", ref_huber, lambda r, s: gen_regression(r, s, 1.5)),
    _case(
        "huber_delta_0.5",
        "huber",
        ref_huber,
        lambda r, s: gen_regression(r, s, 1.5),
        kwargs={"delta": 0.5},
    ),
    _case("log_cosh", "log_cosh", ref_log_cosh, lambda r, s: gen_regression(r, s, 2.0)),
    _case("mape", "mape", ref_mape, gen_mape),
    _case("msle", "msle", ref_msle, gen_msle),
    _case("hinge", "hinge", ref_hinge, gen_hinge_pm1),
    _case("hinge_01", "hinge", ref_hinge, gen_hinge_01),
    _case("squared_hinge", "squared_hinge", ref_squared_hinge, gen_hinge_pm1),
    _case("squared_hinge_01", "squared_hinge", ref_squared_hinge, gen_hinge_01),
    _case("categorical_hinge", "categorical_hinge", ref_categorical_hinge, gen_onehot),
    _case("categorical_hinge_pm1", "categorical_hinge", ref_categorical_hinge, gen_signed_onehot),
    _case("categorical_hinge_soft", "categorical_hinge", ref_categorical_hinge, gen_soft),
    _case("binary_crossentropy", "binary_crossentropy", ref_bce, gen_bce_probs, nonneg_pred=True),
    _case(
        "binary_crossentropy_logits",
        "binary_crossentropy",
        ref_bce,
        gen_bce_logits,
        kwargs={"from_logits": True},
    ),
    _case(
        "categorical_crossentropy",
        "categorical_crossentropy",
        ref_cce,
        gen_cce_probs,
        nonneg_pred=True,
    ),
    _case(
        "categorical_crossentropy_logits",
        "categorical_crossentropy",
        ref_cce,
        gen_cce_logits,
        kwargs={"from_logits": True},
    ),
    _case(
        "sparse_categorical_crossentropy",
        "sparse_categorical_crossentropy",
        ref_sparse,
        gen_sparse_logits,
        sparse=True,
    ),
    _case(
        "sparse_categorical_crossentropy_probs",
        "sparse_categorical_crossentropy",
        ref_sparse,
        gen_sparse_probs,
        kwargs={"from_logits": False},
        sparse=True,
        nonneg_pred=True,
    ),
    _case("kl_divergence", "kl_divergence", ref_kl, gen_kl, nonneg_pred=True),
    _case("poisson", "poisson", ref_poisson, gen_poisson, nonneg_pred=True),
    _case("cosine_similarity", "cosine_similarity", ref_cosine, gen_regression),
]
CASE_IDS = [c.id for c in CASES]
TORCH_CASES = [c for c in CASES if c.torch_fn is not None]

SHAPE = (6, 5)


def make_inputs(case, shape=SHAPE, seed=0):
    """float32 inputs, plus their exact float64 copies for the references."""
    rng = np.random.default_rng(seed)
    pred, target = case.gen(rng, shape)
    pred = np.asarray(pred, dtype=np.float32)
    target = np.asarray(target, dtype=np.int64 if case.sparse else np.float32)
    ref_target = target if case.sparse else target.astype(np.float64)
    return pred, target, pred.astype(np.float64), ref_target


def call(case, pred, target):
    return getattr(fn.losses, case.name)(pred, target, **case.kwargs)


def central_differences(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += step
        xm[i] -= step
        g[i] = (f(xp) - f(xm)) / (2 * step)
    return g


def test_registry_covers_every_loss():
    names = {
        "mse",
        "mae",
        "huber",
        "log_cosh",
        "mape",
        "msle",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "kl_divergence",
        "poisson",
        "cosine_similarity",
    }
    assert set(fn.losses.LOSSES) == names
    assert {c.name for c in CASES} == names
    for name, loss in fn.losses.LOSSES.items():
        assert loss is getattr(fn.losses, name) and loss.__name__ == name
        assert fn.losses.get(name) is loss


# ------------------------------------------------------------------ value and gradient


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value_and_grad_match_reference(case):
    pred, target, p64, t_ref = make_inputs(case)
    value, grad = call(case, pred, target)
    ref_value, ref_grad = case.ref(p64, t_ref, **case.kwargs)
    assert isinstance(value, float)
    assert grad.dtype == np.float32 and grad.shape == pred.shape
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-7)
    scale = np.abs(ref_grad).max()
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_grad_matches_finite_differences(case):
    pred, target, p64, t_ref = make_inputs(case, seed=1)
    _, grad = call(case, pred, target)
    fd = central_differences(lambda x: case.ref(x, t_ref, **case.kwargs)[0], p64)
    _, ref_grad = case.ref(p64, t_ref, **case.kwargs)
    scale = np.abs(fd).max()
    np.testing.assert_allclose(ref_grad, fd, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.id for c in TORCH_CASES])
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pred, target, p64, t_ref = make_inputs(case, seed=2)
    value, grad = call(case, pred, target)
    p = torch.tensor(p64, requires_grad=True)
    t = torch.tensor(t_ref)  # int64 labels stay int64 for cross_entropy / nll_loss
    loss = case.torch_fn(p, t, torch, F)
    loss.backward()
    np.testing.assert_allclose(value, loss.item(), rtol=1e-5, atol=1e-7)
    torch_grad = p.grad.numpy()
    np.testing.assert_allclose(grad, torch_grad, rtol=1e-5, atol=1e-6 * np.abs(torch_grad).max())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_parallel_path_matches_reference(case):
    # 400 x 96 = 38400 elements >= 32768: the OpenMP branch of the kernel.
    pred, target, p64, t_ref = make_inputs(case, shape=(400, 96), seed=3)
    value, grad = call(case, pred, target)
    ref_value, ref_grad = case.ref(p64, t_ref, **case.kwargs)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6 * np.abs(ref_grad).max())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_extreme_predictions_stay_finite(case):
    pred, target, _, _ = make_inputs(case, seed=4)
    rng = np.random.default_rng(5)
    pred = np.where(rng.random(pred.shape) < 0.5, -1e4, 1e4).astype(np.float32)
    if case.nonneg_pred:
        pred = np.abs(pred)
        pred[:, 0] = 0.0  # exact zeros hit the clips / epsilons too
    value, grad = call(case, pred, target)
    assert np.isfinite(value)
    assert np.isfinite(grad).all()


@pytest.mark.parametrize("spread", [1.0, 30.0, 800.0])
def test_softmax_cross_entropy_values_to_double_precision(spread):
    """The loss value, summed in double, matches a float64 NumPy log-sum-exp to 1e-12 for
    logit gaps up to 800 and for a row of ties."""
    rng = np.random.default_rng(int(spread))
    x = (rng.standard_normal((64, 13)) * spread).astype(np.float32)
    x[3] = x[3, 0]  # a row of ties
    labels = rng.integers(0, 13, 64)
    x64 = x.astype(np.float64)
    m = x64.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x64 - m).sum(axis=1)) + m[:, 0]
    ref = np.mean(lse - x64[np.arange(64), labels])
    value, grad = fn.losses.sparse_categorical_crossentropy(x, labels)
    assert value == pytest.approx(ref, rel=1e-12, abs=1e-12)
    soft = np.exp(x64 - lse[:, None])
    soft[np.arange(64), labels] -= 1.0
    # float32 gradient: the label entry softmax − 1 cancels to 0 when softmax rounds to 1
    np.testing.assert_allclose(grad, soft / 64, rtol=1e-6, atol=1e-9)
    onehot = np.eye(13)[labels]
    value, _ = fn.losses.categorical_crossentropy(x, onehot, from_logits=True)
    assert value == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_softmax_cross_entropy_propagates_nan_logits():
    """NaN logits (here 0·inf inside the model, which input checks cannot see) give a NaN
    loss, not a finite one, though the row maximum skips them."""
    model = fn.Sequential(fn.Dense(4, 4), seed=0)
    W, b = model.parameters()
    W.data[...] = np.eye(4, dtype=np.float32)
    W.data[2, 2] = np.inf
    b.data[...] = 0.0
    X = np.ones((2, 4), np.float32)
    X[:, 2] = 0.0  # 0·inf = NaN in logit 2 of every row
    assert np.isnan(model.predict(X)[:, 2]).all()
    assert np.isnan(model.evaluate_loss(X, [0, 1], "sparse_categorical_crossentropy"))


def test_logits_of_1e4_give_exact_values():
    x = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    # softmax is (1, 0, 0): loss = lse - x_label = 1e4 - (-1e4); grad = softmax - onehot
    value, grad = fn.losses.sparse_categorical_crossentropy(x, [1])
    assert value == pytest.approx(2e4)
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0]], atol=1e-12)
    value, grad = fn.losses.categorical_crossentropy(x, [[0.0, 1.0, 0.0]], from_logits=True)
    assert value == pytest.approx(2e4)
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0]], atol=1e-12)
    # BCE with logits: max(x,0) - x t + log1p(exp(-|x|)); grad = (sigmoid(x) - t) / n
    value, grad = fn.losses.binary_crossentropy(
        [[1e4, -1e4, 1e4, -1e4]], [[0.0, 1.0, 1.0, 0.0]], from_logits=True
    )
    assert value == pytest.approx(5e3)
    np.testing.assert_allclose(grad, [[0.25, -0.25, 0.0, 0.0]], atol=1e-12)
    value, grad = fn.losses.log_cosh([[1e4]], [[0.0]])  # |x| - log 2 for large |x|
    assert value == pytest.approx(1e4 - np.log(2.0))
    np.testing.assert_allclose(grad, [[1.0]])


def test_probability_clipping_follows_keras():
    # p = 0 and 1 are clipped to 1e-7 / 1 - 1e-7: -log(1e-7) per wrong element, no gradient
    value, grad = fn.losses.binary_crossentropy([[0.0, 1.0]], [[1.0, 0.0]])
    assert value == pytest.approx(-np.log(EPS), rel=1e-5)
    np.testing.assert_array_equal(grad, 0.0)
    value, grad = fn.losses.categorical_crossentropy([[0.0, 1.0]], [[1.0, 0.0]])
    assert value == pytest.approx(-np.log(EPS), rel=1e-5)
    assert np.isfinite(grad).all()
    value, grad = fn.losses.kl_divergence([[0.0, 1.0]], [[1.0, 0.0]])
    assert value == pytest.approx(ref_kl(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))[0])
    value, grad = fn.losses.cosine_similarity([[0.0, 0.0]], [[1.0, 2.0]])  # zero vector
    assert value == 0.0 and np.isfinite(grad).all()


# ------------------------------------------------------------------ conventions


def test_mae_subgradient_at_zero_is_zero():
    _, grad = fn.losses.mae([[1.0, 2.0]], [[1.0, 3.0]])
    np.testing.assert_array_equal(grad, [[0.0, -0.5]])


def test_hinge_maps_zero_targets_to_minus_one():
    pred = np.array([[0.3, -0.2, 2.0]], dtype=np.float32)
    assert fn.losses.hinge(pred, [[0.0, 1.0, 0.0]])[0] == pytest.approx(
        fn.losses.hinge(pred, [[-1.0, 1.0, -1.0]])[0]
    )


def test_sparse_defaults_to_logits_and_accepts_label_forms():
    x = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    expected = fn.losses.sparse_categorical_crossentropy(x, labels, from_logits=True)
    for form in (
        labels,
        labels.astype(np.float64),
        labels.reshape(-1, 1),
        list(labels),
        labels.astype(np.uint8),
    ):
        value, grad = fn.losses.sparse_categorical_crossentropy(x, form)
        assert value == expected[0]
        np.testing.assert_array_equal(grad, expected[1])


def test_input_conversion_and_shapes():
    rng = np.random.default_rng(7)
    p64, t64 = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    v32, g32 = fn.losses.mse(p64.astype(np.float32), t64.astype(np.float32))
    v64, g64 = fn.losses.mse(p64, t64)  # float64 is converted
    assert v64 == v32 and g64.dtype == np.float32
    np.testing.assert_array_equal(g64, g32)
    # non-contiguous views give the same result as contiguous copies
    v_view, g_view = fn.losses.huber(p64[:, ::2], t64[:, ::2])
    v_copy, g_copy = fn.losses.huber(
        np.ascontiguousarray(p64[:, ::2]), np.ascontiguousarray(t64[:, ::2])
    )
    assert v_view == v_copy
    np.testing.assert_array_equal(g_view, g_copy)
    # integer and list inputs; 1-D pred is (n, 1) and its gradient comes back 1-D
    value, grad = fn.losses.mae([1, 2, 3], np.array([1, 1, 1]))
    assert value == pytest.approx(1.0) and grad.shape == (3,)
    # inputs are not modified
    p_before, t_before = p64.copy(), t64.copy()
    for loss in (fn.losses.mse, fn.losses.cosine_similarity, fn.losses.categorical_hinge):
        loss(p64, t64)
    np.testing.assert_array_equal(p64, p_before)
    np.testing.assert_array_equal(t64, t_before)


def test_get_resolves_names_aliases_and_callables():
    assert fn.losses.get("MSE") is fn.losses.mse
    assert fn.losses.get("mean_squared_error") is fn.losses.mse
    assert fn.losses.get("kld") is fn.losses.kl_divergence

    def custom(p, t):
        return 0.0, np.zeros_like(p)

    assert fn.losses.get(custom) is custom
    with pytest.raises(ValueError, match="unknown loss"):
        fn.losses.get("nope")
    with pytest.raises(TypeError):
        fn.losses.get(3)


# ------------------------------------------------------------------ bad inputs

GOOD = np.ones((3, 2), dtype=np.float32) * 0.5


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), TypeError, "pred"),
        ("abc", TypeError, "pred"),
        (GOOD.astype(np.complex64), TypeError, "pred"),
        (np.array([[object()] * 2] * 3), TypeError, "pred"),
        (GOOD > 0, TypeError, "pred"),
        (np.full((3, 2), np.nan), ValueError, "pred"),
        (np.full((3, 2), np.inf), ValueError, "pred"),
        (np.full((3, 2), 1e300), ValueError, "pred"),  # overflows float32
        (np.zeros((0, 2)), ValueError, "empty"),
        ([], ValueError, "empty"),
        (np.zeros((3, 2, 1)), ValueError, "pred"),
        (np.float32(1.0), ValueError, "pred"),
        ([[1.0, 2.0], [3.0]], ValueError, "pred"),  # ragged
    ],
)
def test_bad_pred(bad, exc, match):
    with pytest.raises(exc, match=match):
        fn.losses.mse(bad, GOOD)


@pytest.mark.parametrize(
    "bad, exc",
    [
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), TypeError),
        (GOOD.astype(np.complex128), TypeError),
        (np.ones((3, 3)), ValueError),  # shape mismatch
        (np.ones((6,)), ValueError),
        (np.ones((3, 2)) * np.nan, ValueError),
        (np.ones((3, 2)) * -np.inf, ValueError),
    ],
)
def test_bad_target(bad, exc):
    with pytest.raises(exc, match="target"):
        fn.losses.binary_crossentropy(GOOD, bad)


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2],  # 2 is out of range for 2 classes
        [0, -1, 1],
        [0, 1.5, 1],  # non-integer
        [0, np.nan, 1],
        [0, 1],  # wrong length
        [[0, 1, 1]],  # wrong shape
    ],
)
def test_bad_labels(labels):
    with pytest.raises(ValueError, match="labels"):
        fn.losses.sparse_categorical_crossentropy(GOOD, labels)


def test_bad_labels_types():
    with pytest.raises(TypeError, match="labels"):
        fn.losses.sparse_categorical_crossentropy(GOOD, ["a", "b", "c"])


def test_bad_hyperparameters():
    for delta in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="delta"):
            fn.losses.huber(GOOD, GOOD, delta=delta)
    with pytest.raises(TypeError, match="delta"):
        fn.losses.huber(GOOD, GOOD, delta="1")
    with pytest.raises(TypeError, match="from_logits"):
        fn.losses.binary_crossentropy(GOOD, GOOD, from_logits="yes")


def test_out_of_domain_predictions():
    with pytest.raises(ValueError, match="non-negative"):
        fn.losses.poisson(-GOOD, GOOD)
    with pytest.raises(ValueError, match="non-negative"):
        fn.losses.categorical_crossentropy(-GOOD, GOOD)
    with pytest.raises(ValueError, match="positive sum"):
        fn.losses.categorical_crossentropy(np.zeros((3, 2)), GOOD)
    with pytest.raises(ValueError, match="non-negative"):
        fn.losses.sparse_categorical_crossentropy(-GOOD, [0, 1, 0], from_logits=False)
    # logits may be negative
    fn.losses.categorical_crossentropy(-GOOD, GOOD, from_logits=True)


def test_core_binding_checks_shapes_and_labels():
    core = fn._core
    p = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="unknown loss"):
        core.loss_forward_backward("nope", p, p, None, 1.0, False, True)
    with pytest.raises(ValueError, match="target"):
        core.loss_forward_backward("mse", p, np.zeros((2, 3), np.float32), None, 1.0, False, True)
    with pytest.raises(ValueError):
        core.loss_forward_backward("mse", p, None, None, 1.0, False, True)
    with pytest.raises(ValueError, match="2-D"):
        core.loss_forward_backward("mse", p.ravel(), p.ravel(), None, 1.0, False, True)
    with pytest.raises(ValueError, match="empty"):
        core.loss_forward_backward("mse", p[:0], p[:0], None, 1.0, False, True)
    with pytest.raises(ValueError, match="delta"):
        core.loss_forward_backward("huber", p, p, None, 0.0, False, True)
    with pytest.raises(ValueError, match="labels"):
        core.loss_forward_backward(
            "sparse_categorical_crossentropy", p, None, np.zeros(2, np.int32), 1.0, True, True
        )
    with pytest.raises(IndexError):  # std::out_of_range, checked before any read
        core.loss_forward_backward(
            "sparse_categorical_crossentropy",
            p,
            None,
            np.array([0, 2, 1], np.int32),
            1.0,
            True,
            True,
        )
    value, grad = core.loss_forward_backward("mse", p, p + 1, None, 1.0, False, False)
    assert value == 1.0 and grad is None


# ------------------------------------------------------------------ golden references
LOSS_SAMPLE_STRIDE = 37  # as tests/golden/make_golden.py


@pytest.fixture(scope="module")
def torch_loss_golden():
    import os

    with np.load(os.path.join(os.path.dirname(__file__), "golden", "torch_losses.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.id for c in TORCH_CASES])
def test_matches_torch_golden(torch_loss_golden, case):
    """torch.nn.functional's value and gradient (tests/golden/make_golden.py), checked in CI
    without torch: 6 x 5 inputs stored whole; 400 x 96 (the threaded kernels) regenerated
    from their seed, checked by their checksum, then the gradient's row and column sums and a
    strided sample of its elements."""
    g = torch_loss_golden
    key = f"{case.id}|small"
    value, grad = call(case, g[f"{key}|pred"], g[f"{key}|target"])
    np.testing.assert_allclose(value, g[f"{key}|value"], rtol=1e-5, atol=1e-7)
    ref = g[f"{key}|grad"]
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())

    key = f"{case.id}|large"
    pred, target, p64, t_ref = make_inputs(case, shape=(400, 96), seed=3)
    checksum = [p64.sum(), np.asarray(t_ref, np.float64).sum()]
    np.testing.assert_allclose(
        checksum,
        g[f"{key}|checksum"],
        rtol=1e-12,
        err_msg="the regenerated inputs differ from the golden run's "
        "(NumPy random streams changed?): rerun make_golden.py",
    )
    value, grad = call(case, pred, target)
    np.testing.assert_allclose(value, g[f"{key}|value"], rtol=1e-5, atol=1e-7)
    scale = np.abs(g[f"{key}|grad_sample"]).max()
    np.testing.assert_allclose(
        grad.ravel()[::LOSS_SAMPLE_STRIDE], g[f"{key}|grad_sample"], rtol=1e-5, atol=1e-6 * scale
    )
    np.testing.assert_allclose(
        grad.sum(axis=1), g[f"{key}|grad_rows"], rtol=1e-4, atol=1e-5 * scale
    )
    np.testing.assert_allclose(
        grad.sum(axis=0), g[f"{key}|grad_cols"], rtol=1e-4, atol=1e-5 * scale
    )
