"""fastnet.optim's closure-driven methods: LBFGS, ConjugateGradient, NewtonCG.

- LBFGS follows torch.optim.LBFGS step for step: the same MLP, data and initial weights,
  several ``step(closure)`` calls with the history carried over, both line_search_fn options;
  live where torch is installed, and against tests/golden/torch_lbfgs.npz
  (tests/golden/make_golden.py) everywhere.
- On convex problems (least squares, L2-regularised binary and multinomial logistic
  regression) all three reach the optimum a float64 SciPy solver finds.
- The building blocks against independent references: the PR+ direction rule against
  Nocedal & Wright's formulas, the truncated CG against numpy.linalg.solve, the
  finite-difference Hessian-vector product against the analytic Hessian of least squares,
  the flat-arena vector against the tensors it covers.
- Errors: hyper-parameters, closures, state dicts.
"""

from __future__ import annotations

import copy
import os
import pickle

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

import fastnet as fn
from fastnet.optim._flat import FlatParams
from fastnet.optim.conjugate_gradient import polak_ribiere_direction
from fastnet.optim.newton_cg import truncated_cg

# ---------------------------------------------------------------- LBFGS vs torch.optim.LBFGS

# A tanh MLP regressing a smooth function with noise: small enough that float32 rounding
# stays at ~1e-6 over these runs (measured: perturbing torch's own loss by 1e-7 moves its
# trajectory by up to 1.5e-5), yet every branch of the line search and the history is used.
LBFGS_STEPS = 3
LBFGS_CASES = {
    "strong_wolfe": {"lr": 1.0, "max_iter": 5, "history_size": 4, "line_search_fn": "strong_wolfe"},
    "fixed": {"lr": 0.5, "max_iter": 5, "history_size": 4, "line_search_fn": None},
}
LBFGS_WIDTHS = (4, 4, 1)


def lbfgs_problem() -> dict:
    """Data and initial weights (fastnet layout: Dense weight (in, out)) of the comparison."""
    rng = np.random.default_rng(20261124)
    n, (d_in, hidden, d_out) = 200, LBFGS_WIDTHS
    X = rng.standard_normal((n, d_in)).astype(np.float32)
    y = np.sin(1.5 * X[:, :1]) + 0.5 * X[:, 1:2] * X[:, 2:3] + 0.3 * rng.standard_normal((n, 1))
    init = [
        (rng.standard_normal((d_in, hidden)) * 0.5).astype(np.float32),
        (rng.standard_normal(hidden) * 0.1).astype(np.float32),
        (rng.standard_normal((hidden, d_out)) * 0.5).astype(np.float32),
        (rng.standard_normal(d_out) * 0.1).astype(np.float32),
    ]
    return {"X": X, "y": y.astype(np.float32), "init": init}


def torch_lbfgs_run(torch, problem: dict, kwargs: dict) -> dict:
    """torch.optim.LBFGS on the problem: the loss each step returns, the final loss and
    weights (fastnet layout) and torch's evaluation and iteration counts."""
    torch.set_num_threads(1)
    d_in, hidden, d_out = LBFGS_WIDTHS
    model = torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, d_out)
    )
    W0, b0, W1, b1 = problem["init"]
    with torch.no_grad():
        for t, w in zip(model.parameters(), (W0.T, b0, W1.T, b1)):
            t.copy_(torch.tensor(np.ascontiguousarray(w)))
    opt = torch.optim.LBFGS(model.parameters(), **kwargs)
    X, y = torch.tensor(problem["X"]), torch.tensor(problem["y"])

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(LBFGS_STEPS)]
    with torch.no_grad():
        losses.append(float(torch.nn.functional.mse_loss(model(X), y)))
    W0, b0, W1, b1 = (t.detach().numpy() for t in model.parameters())
    state = opt.state[next(iter(model.parameters()))]
    return {
        "losses": np.array(losses),
        "final": [W0.T.copy(), b0.copy(), W1.T.copy(), b1.copy()],
        "counts": np.array([state["func_evals"], state["n_iter"]]),
    }


def fastnet_lbfgs_run(problem: dict, kwargs: dict) -> dict:
    d_in, hidden, d_out = LBFGS_WIDTHS
    model = fn.Sequential(
        fn.Dense(d_in, hidden, activation="tanh"), fn.Dense(hidden, d_out), seed=0
    )
    model.set_weights(problem["init"])
    opt = fn.optim.LBFGS(model.parameters(), **kwargs)
    closure = fn.optim.loss_closure(model, problem["X"], problem["y"], "mse")
    losses = [opt.step(closure) for _ in range(LBFGS_STEPS)] + [closure()]
    return {
        "losses": np.array(losses),
        "final": model.get_weights(),
        "counts": np.array([opt.state["func_evals"], opt.state["n_iter"]]),
    }


def assert_same_run(ours: dict, ref: dict, what: str) -> None:
    np.testing.assert_array_equal(ours["counts"], ref["counts"], err_msg=f"{what}: evaluations")
    np.testing.assert_allclose(ours["losses"], ref["losses"], rtol=1e-4, err_msg=f"{what}: loss")
    scale = max(float(np.abs(w).max()) for w in ref["final"])
    for i, (a, b) in enumerate(zip(ours["final"], ref["final"])):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * scale, err_msg=f"{what}: tensor {i}")


@pytest.mark.parametrize("case", sorted(LBFGS_CASES))
def test_lbfgs_matches_torch(case):
    torch = pytest.importorskip("torch")
    problem = lbfgs_problem()
    ref = torch_lbfgs_run(torch, problem, LBFGS_CASES[case])
    ours = fastnet_lbfgs_run(problem, LBFGS_CASES[case])
    assert ref["losses"][-1] < 0.5 * ref["losses"][0]  # the run goes somewhere
    assert_same_run(ours, ref, case)


def test_lbfgs_frozen_layer_matches_torch_requires_grad_false():
    """A frozen layer (trainable=False) is what torch calls requires_grad=False: its gradient
    reads as zero, it never moves, and the rest follows torch."""
    torch = pytest.importorskip("torch")
    problem = lbfgs_problem()
    kwargs = LBFGS_CASES["strong_wolfe"]
    d_in, hidden, d_out = LBFGS_WIDTHS
    model = fn.Sequential(
        fn.Dense(d_in, hidden, activation="tanh"), fn.Dense(hidden, d_out), seed=0
    )
    model.set_weights(problem["init"])
    model[0].freeze()
    opt = fn.optim.LBFGS(model.parameters(), **kwargs)
    closure = fn.optim.loss_closure(model, problem["X"], problem["y"], "mse")
    ours = [opt.step(closure) for _ in range(LBFGS_STEPS)]

    tmodel = torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, d_out)
    )
    W0, b0, W1, b1 = problem["init"]
    with torch.no_grad():
        for t, w in zip(tmodel.parameters(), (W0.T, b0, W1.T, b1)):
            t.copy_(torch.tensor(np.ascontiguousarray(w)))
    for t in tmodel[0].parameters():
        t.requires_grad_(False)
    topt = torch.optim.LBFGS(tmodel.parameters(), **kwargs)
    X, y = torch.tensor(problem["X"]), torch.tensor(problem["y"])

    def tclosure():
        topt.zero_grad()
        loss = torch.nn.functional.mse_loss(tmodel(X), y)
        loss.backward()
        return loss

    ref = [float(topt.step(tclosure).detach()) for _ in range(LBFGS_STEPS)]
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    final = [t.detach().numpy() for t in tmodel.parameters()]
    got = model.get_weights()
    np.testing.assert_array_equal(got[0], W0)
    np.testing.assert_array_equal(got[1], b0)
    np.testing.assert_allclose(got[2], final[2].T, rtol=0, atol=1e-4)
    np.testing.assert_allclose(got[3], final[3], rtol=0, atol=1e-4)


def test_lbfgs_keeps_only_pairs_of_positive_curvature():
    """f(w) = Σ cos(w) near w = 0.1 is concave: every pair has yᵀs < 0 and is refused
    (torch's ``ys > 1e-10``), so the history stays empty and H_diag stays 1; a hand-written
    closure (any callable that writes the gradients and returns the loss) drives it."""
    model = fn.Sequential(fn.Dense(1, 1), seed=0)
    params = model.parameters()
    for p in params:
        p.data[...] = 0.1

    def closure():
        for p in params:
            p.grad[...] = -np.sin(p.data)
        return float(sum(np.cos(p.data.astype(np.float64)).sum() for p in params))

    opt = fn.optim.LBFGS(params, lr=0.1, max_iter=3, max_eval=10)
    opt.step(closure)
    assert opt.state["n_iter"] == 3
    assert opt.state["old_dirs"] == [] and opt.state["H_diag"] == 1
    # Steepest descent throughout: each step moves by t·sin(w).
    w = np.float32(0.1)
    w = w + min(1.0, np.float32(1) / (2 * np.sin(w))) * np.float32(0.1) * np.sin(w)
    w = w + np.float32(0.1) * np.sin(w)
    w = w + np.float32(0.1) * np.sin(w)
    np.testing.assert_allclose([p.data.item() for p in params], [w, w], rtol=1e-6)


@pytest.fixture(scope="module")
def torch_lbfgs_golden():
    path = os.path.join(os.path.dirname(__file__), "golden", "torch_lbfgs.npz")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("case", sorted(LBFGS_CASES))
def test_lbfgs_matches_torch_golden(torch_lbfgs_golden, case):
    """The run torch.optim.LBFGS made once (tests/golden/make_golden.py), checked in CI
    where torch is not installed; the stored inputs are the test's own."""
    g = torch_lbfgs_golden
    problem = {"X": g["X"], "y": g["y"], "init": [g[f"init{i}"] for i in range(4)]}
    fresh = lbfgs_problem()
    np.testing.assert_array_equal(problem["X"], fresh["X"])
    ref = {
        "losses": g[f"{case}|losses"],
        "final": [g[f"{case}|final{i}"] for i in range(4)],
        "counts": g[f"{case}|counts"],
    }
    assert_same_run(fastnet_lbfgs_run(problem, LBFGS_CASES[case]), ref, case)


# ---------------------------------------------------------------- convex problems vs SciPy

METHODS = {
    "lbfgs": lambda ps: fn.optim.LBFGS(
        ps, max_iter=100, max_eval=200, line_search_fn="strong_wolfe", tolerance_grad=1e-9
    ),
    "lbfgs_fixed": lambda ps: fn.optim.LBFGS(ps, max_iter=100, tolerance_grad=1e-9),
    "cg": lambda ps: fn.optim.ConjugateGradient(
        ps, max_iter=200, max_eval=600, tolerance_grad=1e-9
    ),
    "newton_cg": lambda ps: fn.optim.NewtonCG(ps, max_iter=30, tolerance_grad=1e-9),
    "newton_cg_fixed": lambda ps: fn.optim.NewtonCG(
        ps, max_iter=30, tolerance_grad=1e-9, line_search_fn=None
    ),
}


def _design(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    # Correlated, shifted columns: the problem is not trivially conditioned.
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.3 * rng.standard_normal((d, d))) + 0.5
    return X.astype(np.float32), rng


def _solve(method, model, closure, steps=5):
    opt = METHODS[method](model.parameters())
    for _ in range(steps):
        opt.step(closure)
    return opt


def _flat_weights(model):
    W, b = (p.data for p in model.parameters())
    return np.vstack([W, b[None, :]])  # (d + 1, out): the bias as the last row


@pytest.mark.parametrize("method", sorted(METHODS))
def test_least_squares_reaches_scipy_optimum(method):
    X, rng = _design()
    w_true = rng.standard_normal((X.shape[1], 1))
    y = (X @ w_true + 0.7 + 0.1 * rng.standard_normal((X.shape[0], 1))).astype(np.float32)
    A = np.hstack([X.astype(np.float64), np.ones((X.shape[0], 1))])
    ref, *_ = scipy.linalg.lstsq(A, y.astype(np.float64))
    ref_loss = float(np.mean((A @ ref - y) ** 2))

    model = fn.Sequential(fn.Dense(X.shape[1], 1), seed=1)
    closure = fn.optim.loss_closure(model, X, y, "mse")
    _solve(method, model, closure)
    np.testing.assert_allclose(_flat_weights(model), ref, rtol=0, atol=2e-4)
    assert closure() == pytest.approx(ref_loss, rel=1e-5)


def _logistic_reference(X, y, classes, weight_decay):
    """The float64 optimum of mean cross-entropy + weight_decay/2 ‖[W; b]‖² (L-BFGS-B to a
    gradient of 1e-12)."""
    X64 = np.hstack([X.astype(np.float64), np.ones((X.shape[0], 1))])
    n, k = X64.shape[0], (1 if classes == 2 else classes)

    def f(theta):
        W = theta.reshape(X64.shape[1], k)
        Z = X64 @ W
        if classes == 2:
            z = Z[:, 0]
            loss = np.mean(np.logaddexp(0, z) - y * z)
            dz = (1 / (1 + np.exp(-z)) - y)[:, None] / n
        else:
            Z = Z - Z.max(1, keepdims=True)
            logp = Z - np.log(np.exp(Z).sum(1, keepdims=True))
            loss = -np.mean(logp[np.arange(n), y])
            dz = np.exp(logp)
            dz[np.arange(n), y] -= 1
            dz /= n
        grad = X64.T @ dz + weight_decay * W
        return loss + 0.5 * weight_decay * float(theta @ theta), grad.ravel()

    res = scipy.optimize.minimize(
        f,
        np.zeros(X64.shape[1] * k),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 0, "maxiter": 10000},
    )
    assert np.abs(res.jac).max() < 1e-9
    # The smallest Hessian eigenvalue at the optimum (central differences of the gradient).
    h, m = 1e-5, res.x.size
    H = np.stack([(f(res.x + h * e)[1] - f(res.x - h * e)[1]) / (2 * h) for e in np.eye(m)])
    lam_min = float(np.linalg.eigvalsh(0.5 * (H + H.T))[0])
    return res.x.reshape(X64.shape[1], k), res.fun, lam_min


# Undamped Newton (no line search) is not globally convergent: from this start on the three
# classes its loss goes 2.2, 1.54, 17.3, 142, ... (a line search is what makes it converge).
# It is checked on least squares, where one Newton step solves the problem.
GLOBALLY_CONVERGENT = sorted(set(METHODS) - {"newton_cg_fixed"})


@pytest.mark.parametrize("method", GLOBALLY_CONVERGENT)
@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_regression_reaches_scipy_optimum(method, classes):
    X, rng = _design(seed=classes)
    teacher = rng.standard_normal((X.shape[1], classes))
    scores = X @ teacher + 0.8 * rng.standard_normal((X.shape[0], classes))
    y = scores.argmax(1) if classes > 2 else (scores[:, 0] > scores[:, 1]).astype(np.int64)
    weight_decay = 1e-2
    ref, ref_loss, lam_min = _logistic_reference(X, y, classes, weight_decay)

    if classes == 2:
        model = fn.Sequential(fn.Dense(X.shape[1], 1), seed=1)  # logits: BCE from_logits
        target, loss = y.astype(np.float32)[:, None], "binary_crossentropy"
    else:
        model = fn.Sequential(fn.Dense(X.shape[1], classes), seed=1)
        target, loss = y, "sparse_categorical_crossentropy"
    closure = fn.optim.loss_closure(model, X, target, loss, weight_decay=weight_decay)
    _solve(method, model, closure)
    # What float32 can resolve: the loss comes from float32 logits (relative rounding
    # ~1e-8), and a loss known to δf pins the weights only to √(2 δf / λ_min) along the
    # flattest direction. LBFGS and Newton-CG take unit quasi-Newton steps that land within
    # that; conjugate gradients finds each step's length from loss values alone, so it is held
    # to the bound itself (measured: 2.8e-4 binary, bound 4.2e-4; 4.7e-4 three classes, bound
    # 9.3e-4; LBFGS 5e-5, Newton-CG 4e-6).
    resolution = np.sqrt(2 * 1e-8 * ref_loss / lam_min)
    atol = resolution if method == "cg" else 2e-4
    np.testing.assert_allclose(_flat_weights(model), ref, rtol=0, atol=atol)
    assert closure() == pytest.approx(ref_loss, rel=1e-7)


# ---------------------------------------------------------------- building blocks


def test_polak_ribiere_direction_follows_the_formulas():
    rng = np.random.default_rng(0)
    g_prev, d_prev = rng.standard_normal(6), rng.standard_normal(6)
    g = g_prev * 0.5 + 0.2 * rng.standard_normal(6)
    beta = g @ (g - g_prev) / (g_prev @ g_prev)  # N&W eq. 5.44
    if beta <= 0:
        g = -g  # make β positive for the plain case
        beta = g @ (g - g_prev) / (g_prev @ g_prev)
    d, restarted = polak_ribiere_direction(g, g_prev, -g_prev, restart=False)
    np.testing.assert_allclose(d, -g + beta * -g_prev)
    assert not restarted and g @ d < 0

    # β < 0: PR+ takes max(0, β), the steepest-descent restart (eq. 5.45).
    g_small = 0.1 * g_prev
    assert g_small @ (g_small - g_prev) < 0
    d, restarted = polak_ribiere_direction(g_small, g_prev, d_prev, restart=False)
    np.testing.assert_array_equal(d, -g_small)
    assert restarted

    # β > 0 but -g + β d_prev points uphill: restart.
    g2 = np.array([1.0, 0.0])
    g2_prev = np.array([0.1, 0.0])
    uphill = np.array([100.0, 0.0])
    d, restarted = polak_ribiere_direction(g2, g2_prev, uphill, restart=False)
    np.testing.assert_array_equal(d, -g2)
    assert restarted

    # The periodic restart.
    d, restarted = polak_ribiere_direction(g, g_prev, -g_prev, restart=True)
    np.testing.assert_array_equal(d, -g)
    assert restarted


def test_cg_restarts_every_restart_iterations():
    """restart=1 makes every direction the steepest descent: the stored direction is -g at
    the start of the last iteration, step after step."""
    X, rng = _design(n=50, d=3)
    y = rng.standard_normal((50, 1)).astype(np.float32)
    model = fn.Sequential(fn.Dense(3, 1), seed=0)
    closure = fn.optim.loss_closure(model, X, y, "mse")
    opt = fn.optim.ConjugateGradient(model.parameters(), max_iter=1, restart=1)
    for _ in range(4):
        opt.step(closure)
        np.testing.assert_array_equal(opt.state["d"], -opt.state["prev_flat_grad"])
        assert opt.state["since_restart"] == 0


def test_truncated_cg_solves_spd_and_stops_on_negative_curvature():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((8, 8))
    H = A @ A.T + 8 * np.eye(8)
    g = rng.standard_normal(8)
    p, products, negative = truncated_cg(lambda v: H @ v, g, 1e-12, 50)
    np.testing.assert_allclose(p, np.linalg.solve(H, -g), rtol=1e-9, atol=1e-12)
    assert not negative and products <= 9

    # Negative curvature along the first direction (-g): steepest descent.
    p, products, negative = truncated_cg(lambda v: -H @ v, g, 1e-12, 50)
    np.testing.assert_array_equal(p, -g)
    assert negative and products == 1

    # Later negative curvature: the iterate built so far, a descent direction.
    D = np.diag([1.0, 2.0, 3.0, -1.0])
    g4 = np.array([1.0, 1.0, 1.0, 0.001])
    p, products, negative = truncated_cg(lambda v: D @ v, g4, 1e-12, 50)
    assert negative and products > 1 and g4 @ p < 0


def test_newton_cg_hessian_vector_matches_the_analytic_hessian():
    """(∇f(w + h v) − ∇f(w)) / h against 2/n·AᵀA, the Hessian of the mean squared error."""
    X, rng = _design(n=100, d=4)
    y = rng.standard_normal((100, 1)).astype(np.float32)
    model = fn.Sequential(fn.Dense(4, 1), seed=0)
    closure = fn.optim.loss_closure(model, X, y, "mse")
    opt = fn.optim.NewtonCG(model.parameters())
    x = opt._flat.get()
    _, g = opt._evaluate(closure)
    hvp = opt._hessian_vector(closure, x, g, 3.5e-4)
    A = np.hstack([X.astype(np.float64), np.ones((100, 1))])
    H = 2.0 / 100 * A.T @ A
    # Flat layout: weight (4, 1) at 0..3, padding, bias at the next aligned offset.
    sl = opt._flat._slices
    for _ in range(3):
        v = np.zeros(opt._flat.size)
        v5 = rng.standard_normal(5)
        v[sl[0]], v[sl[1]] = v5[:4], v5[4]
        Hv = hvp(v)
        ref = H @ v5
        np.testing.assert_allclose(
            np.r_[Hv[sl[0]], Hv[sl[1]]], ref, rtol=0, atol=2e-3 * np.abs(ref).max()
        )
    np.testing.assert_array_equal(opt._flat.get(), x)  # the parameters are back
    assert opt.state["hvp_evals"] == 3


def test_flat_params_cover_the_tensors_and_leave_buffers_alone():
    model = fn.Sequential(fn.Dense(3, 5), fn.BatchNorm(5), fn.ReLU(), fn.Dense(5, 2), seed=0)
    params = model.parameters()
    flat = FlatParams(model, params)
    assert not flat.contiguous  # the running statistics split the arena
    np.testing.assert_array_equal(
        flat.get()[np.concatenate([np.arange(s.start, s.stop) for s in flat._slices])],
        np.concatenate([p.data.ravel() for p in params]),
    )
    buffers = [b.data.copy() for layer in model.layers for b in layer.buffers()]
    assert buffers
    x = flat.get()
    d = np.ones_like(x)
    flat.set_step(x, 0.5, d)
    for p, sl in zip(params, flat._slices):
        np.testing.assert_allclose(p.data.ravel(), x[sl] + 0.5)
    now = [b.data for layer in model.layers for b in layer.buffers()]
    for a, b in zip(buffers, now):
        np.testing.assert_array_equal(a, b)

    # Frozen tensors and padding read as a zero gradient.
    for p in params:
        p.grad[...] = 1.0
    model[0].freeze()
    g = flat.grad()
    assert g.sum() == sum(p.size for p in params if p.trainable)

    # Every parameter of a model without buffers: one stretch, the arena itself.
    plain = fn.Sequential(fn.Dense(3, 5), fn.Dense(5, 2), seed=0)
    one = FlatParams(plain, plain.parameters())
    assert one.contiguous and np.shares_memory(one.view(), plain.parameters()[0].data)


def test_frozen_layer_stays_and_the_rest_trains():
    X, rng = _design(n=80, d=3)
    y = rng.standard_normal((80, 2)).astype(np.float32)
    model = fn.Sequential(fn.Dense(3, 4, activation="tanh"), fn.Dense(4, 2), seed=0)
    model[0].freeze()
    before = [p.data.copy() for p in model.parameters()]
    closure = fn.optim.loss_closure(model, X, y, "mse")
    first = closure()
    opt = fn.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    opt.step(closure)
    for p, b in zip(model.parameters()[:2], before[:2]):
        np.testing.assert_array_equal(p.data, b)
    assert not np.array_equal(model.parameters()[2].data, before[2])
    assert closure() < first


@pytest.mark.parametrize("cls", [fn.optim.LBFGS, fn.optim.ConjugateGradient, fn.optim.NewtonCG])
def test_state_dict_resumes_the_same_run(cls):
    X, rng = _design(n=60, d=3)
    y = rng.standard_normal((60, 1)).astype(np.float32)

    def make():
        model = fn.Sequential(fn.Dense(3, 3, activation="tanh"), fn.Dense(3, 1), seed=0)
        return model, cls(model.parameters(), max_iter=3)

    a_model, a = make()
    a_closure = fn.optim.loss_closure(a_model, X, y, "mse")
    a.step(a_closure)
    saved, weights = a.state_dict(), a_model.get_weights()
    a.step(a_closure)

    b_model, b = make()
    b_model.set_weights(weights)
    b.load_state_dict(saved)
    b.step(fn.optim.loss_closure(b_model, X, y, "mse"))
    for u, v in zip(a_model.get_weights(), b_model.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert b.state["n_iter"] == a.state["n_iter"]

    with pytest.raises(ValueError, match="not from"):
        b.load_state_dict({**saved, "kind": "Adam"})
    bad = {**saved, "state": {**saved["state"], "n_iter": -1}}
    with pytest.raises(ValueError, match="n_iter"):
        b.load_state_dict(bad)
    if "d" in saved["state"]:
        bad = {**saved, "state": {**saved["state"], "d": np.zeros(3)}}
        with pytest.raises(ValueError, match="shape"):
            b.load_state_dict(bad)


@pytest.mark.parametrize("cls", [fn.optim.LBFGS, fn.optim.ConjugateGradient, fn.optim.NewtonCG])
def test_pickle_and_deepcopy_keep_model_and_optimizer_together(cls):
    X, rng = _design(n=60, d=3)
    y = rng.standard_normal((60, 1)).astype(np.float32)
    model = fn.Sequential(fn.Dense(3, 3, activation="tanh"), fn.Dense(3, 1), seed=0)
    opt = cls(model.parameters(), max_iter=3)
    opt.step(fn.optim.loss_closure(model, X, y, "mse"))
    twins = [pickle.loads(pickle.dumps((model, opt))), copy.deepcopy((model, opt))]
    opt.step(fn.optim.loss_closure(model, X, y, "mse"))
    for m2, o2 in twins:
        assert o2._model is m2 and m2 is not model
        o2.step(fn.optim.loss_closure(m2, X, y, "mse"))
        for u, v in zip(model.get_weights(), m2.get_weights()):
            np.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------- errors

ALL = [fn.optim.LBFGS, fn.optim.ConjugateGradient, fn.optim.NewtonCG]


def _small():
    model = fn.Sequential(fn.Dense(2, 1), seed=0)
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], np.float32)
    y = np.array([[1.0], [2.0], [3.5]], np.float32)
    return model, fn.optim.loss_closure(model, X, y, "mse")


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"lr": "1"}, TypeError, "lr"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"max_iter": 2.0}, TypeError, "max_iter"),
        ({"max_eval": 0}, ValueError, "max_eval"),
        ({"tolerance_grad": -1.0}, ValueError, "tolerance_grad"),
        ({"tolerance_change": "x"}, TypeError, "tolerance_change"),
        ({"line_search_fn": "wolfe"}, ValueError, "line_search_fn"),
        ({"line_search_fn": 1}, TypeError, "line_search_fn"),
    ],
)
def test_hyper_parameter_errors_name_the_argument(cls, kwargs, error, name):
    model, _ = _small()
    with pytest.raises(error, match=name):
        cls(model.parameters(), **kwargs)


@pytest.mark.parametrize(
    "cls, kwargs, error, name",
    [
        (fn.optim.LBFGS, {"history_size": 0}, ValueError, "history_size"),
        (fn.optim.LBFGS, {"history_size": True}, TypeError, "history_size"),
        (fn.optim.ConjugateGradient, {"restart": 0}, ValueError, "restart"),
        (fn.optim.NewtonCG, {"max_cg_iter": 0}, ValueError, "max_cg_iter"),
        (fn.optim.NewtonCG, {"fd_eps": 1.0}, ValueError, "fd_eps"),
        (fn.optim.NewtonCG, {"fd_eps": "small"}, TypeError, "fd_eps"),
    ],
)
def test_method_specific_errors(cls, kwargs, error, name):
    model, _ = _small()
    with pytest.raises(error, match=name):
        cls(model.parameters(), **kwargs)


def test_edited_group_is_checked_at_the_next_step():
    model, closure = _small()
    opt = fn.optim.LBFGS(model.parameters())
    opt.param_groups[0]["history_size"] = -3
    with pytest.raises(ValueError, match="history_size"):
        opt.step(closure)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0


@pytest.mark.parametrize("cls", ALL)
def test_parameter_errors(cls):
    model, _ = _small()
    other = fn.Sequential(fn.Dense(2, 1), seed=1)
    with pytest.raises(ValueError, match="one model"):
        cls(model.parameters() + other.parameters())
    with pytest.raises(ValueError, match="parameter groups"):
        cls([{"params": model.parameters()[:1]}, {"params": model.parameters()[1:]}])
    with pytest.raises(ValueError, match="empty"):
        cls([])
    with pytest.raises(TypeError, match="Parameters"):
        cls([np.zeros(3)])
    with pytest.raises(TypeError, match="iterable"):
        cls(3)


@pytest.mark.parametrize("cls", ALL)
def test_closure_errors(cls):
    model, closure = _small()
    opt = cls(model.parameters(), line_search_fn="strong_wolfe")
    with pytest.raises(TypeError, match="closure"):
        opt.step()  # noqa  (missing argument)
    with pytest.raises(TypeError, match="closure"):
        opt.step(3.0)
    with pytest.raises(TypeError, match="real number"):
        opt.step(lambda: None)

    # A loss that turns non-finite away from the start point: a clear error, and the
    # parameters are back at the last finite point.
    start = model.get_weights()
    calls = []

    def blows_up():
        calls.append(1)
        value = closure()
        return value if len(calls) == 1 else float("nan")

    with pytest.raises(FloatingPointError, match="non-finite loss"):
        opt.step(blows_up)
    for a, b in zip(model.get_weights(), start):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        opt.step(lambda: float("inf"))


def test_loss_closure_errors():
    model, _ = _small()
    X = np.zeros((3, 2), np.float32)
    y = np.zeros((3, 1), np.float32)
    with pytest.raises(TypeError, match="Sequential"):
        fn.optim.loss_closure("model", X, y, "mse")
    with pytest.raises(ValueError, match="features"):
        fn.optim.loss_closure(model, np.zeros((3, 5)), y, "mse")
    with pytest.raises(ValueError, match="unknown loss"):
        fn.optim.loss_closure(model, X, y, "nope")
    with pytest.raises(ValueError, match="not a fastnet loss"):
        fn.optim.loss_closure(model, X, y, lambda t, p: (0.0, p))
    with pytest.raises(ValueError, match="weight_decay"):
        fn.optim.loss_closure(model, X, y, "mse", weight_decay=-1.0)


def test_loss_closure_weight_decay_adds_the_l2_term_and_its_gradient():
    model, _ = _small()
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], np.float32)
    y = np.array([[1.0], [2.0], [3.5]], np.float32)
    plain = fn.optim.loss_closure(model, X, y, "mse")
    decayed = fn.optim.loss_closure(model, X, y, "mse", weight_decay=0.3)
    base = plain()
    grads = [p.grad.copy() for p in model.parameters()]
    value = decayed()
    w = np.concatenate([p.data.ravel() for p in model.parameters()]).astype(np.float64)
    assert value == pytest.approx(base + 0.15 * float(w @ w), rel=1e-12)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, g + 0.3 * p.data, rtol=1e-6)
