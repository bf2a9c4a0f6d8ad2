"""fn.lr_find: the exponential ramp, smoothing, divergence stop and suggestion against NumPy,
and the full restore of model and optimizer."""

import math

import numpy as np
import pytest

import fastnet as fn
from fastnet.lr_finder import smooth_losses, suggest_lr


def _regression(n=64, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)).astype(np.float32)
    return X, y.reshape(-1, 1)


def test_lrs_follow_exponential_ramp_and_raw_losses_match_numpy_sgd():
    X, y = _regression()
    model = fn.Sequential(fn.Dense(5, 1), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    w, b = (p.data.astype(np.float64).copy() for p in model.parameters())
    res = fn.lr_find(
        model, X, y, "mse", opt, start_lr=1e-4, end_lr=10.0, steps=40, batch_size=64, seed=0
    )  # full batch: the order does not matter
    n = len(res.lrs)
    expect_lrs = 1e-4 * (10.0 / 1e-4) ** (np.arange(40) / 39)
    np.testing.assert_allclose(res.lrs, expect_lrs[:n], rtol=1e-12)
    # NumPy replica of full-batch SGD on mse = mean((Xw + b - y)^2).
    Xd, yd = X.astype(np.float64), y.astype(np.float64)
    raw = []
    for lr in res.lrs:
        r = Xd @ w + b - yd
        raw.append(np.mean(r**2))
        w = w - lr * 2.0 * Xd.T @ r / len(Xd)
        b = b - lr * 2.0 * r.sum(axis=0) / len(Xd)
    raw = np.array(raw)
    ok = raw < 5 * raw[0]  # compare until the blow-up amplifies float32 rounding
    np.testing.assert_allclose(res.raw_losses[ok], raw[ok], rtol=1e-3)
    np.testing.assert_allclose(res.losses, smooth_losses(res.raw_losses, 0.98), rtol=1e-12)


def test_stops_after_divergence_and_suggests_a_stable_rate():
    X, y = _regression()
    A = np.hstack([X, np.ones((len(X), 1), np.float32)]).astype(np.float64)
    # Full-batch gradient descent on mse diverges above lr = 2/λmax(H), H = 2·AᵀA/n.
    lr_crit = 2.0 / np.linalg.eigvalsh(2.0 * A.T @ A / len(A)).max()
    model = fn.Sequential(fn.Dense(5, 1), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    res = fn.lr_find(
        model, X, y, "mse", opt, start_lr=1e-4, end_lr=100.0, steps=100, batch_size=64, seed=0
    )
    assert res.stopped_early and len(res.lrs) < 100
    assert res.lrs[-1] > lr_crit
    best = np.minimum.accumulate(res.losses)
    assert res.losses[-1] > 4.0 * best[-2] or not np.isfinite(res.losses[-1])
    assert np.all(res.losses[:-1] <= 4.0 * best[:-1])
    assert res.suggestion is not None and 1e-3 < res.suggestion < lr_crit


def test_smoothing_matches_bias_corrected_ema():
    raw = np.array([3.0, 2.0, 4.0, 1.0])
    beta = 0.9
    avg, want = 0.0, []
    for i, v in enumerate(raw):
        avg = beta * avg + (1 - beta) * v
        want.append(avg / (1 - beta ** (i + 1)))
    np.testing.assert_allclose(smooth_losses(raw, beta), want)
    assert smooth_losses(raw, 0.9)[0] == 3.0  # bias correction: first value is exact


def test_suggestion_rule_on_a_known_curve():
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    losses = 2.0 - np.tanh(2.0 * (x + 3.0))  # steepest descent at lr = 1e-3
    losses[-5:] = np.linspace(3, 20, 5)  # blow-up at the end
    assert suggest_lr(lrs, losses, stopped_early=True) == pytest.approx(1e-3, rel=0.05)
    assert suggest_lr(lrs, np.linspace(1, 2, 61), stopped_early=False) is None  # never falls
    assert suggest_lr(lrs[:2], losses[:2], stopped_early=False) is None


def test_model_and_optimizer_are_restored():
    Xtr, ytr, _, _ = fn.datasets.load_digits()
    model = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    for k in range(3):  # non-trivial momentum state and step counts
        model.train_step(
            Xtr[k * 32 : (k + 1) * 32],
            ytr[k * 32 : (k + 1) * 32],
            "sparse_categorical_crossentropy",
            opt,
        )
    params = [p.data.copy() for p in model.parameters()]
    state = opt.state_dict()
    core_step = model._core.step
    res = fn.lr_find(model, Xtr, ytr, "sparse_categorical_crossentropy", opt, steps=60, seed=1)
    assert len(res.lrs) > 10
    for before, p in zip(params, model.parameters()):
        np.testing.assert_array_equal(p.data, before)
    after = opt.state_dict()
    for a, b in zip(state["state"], after["state"]):
        np.testing.assert_array_equal(a, b)
    assert (after["steps"], after["slot_steps"]) == (state["steps"], state["slot_steps"])
    assert opt.lr == 0.05 and model._core.step == core_step
    # Training continues exactly as if lr_find had never run.
    twin = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    twin_opt = fn.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    for k in range(4):
        twin.train_step(
            Xtr[k * 32 : (k + 1) * 32],
            ytr[k * 32 : (k + 1) * 32],
            "sparse_categorical_crossentropy",
            twin_opt,
        )
    model.train_step(Xtr[96:128], ytr[96:128], "sparse_categorical_crossentropy", opt)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_same_seed_same_result_and_minibatches_cycle():
    X, y = _regression(n=40)
    runs = []
    for _ in range(2):
        model = fn.Sequential(fn.Dense(5, 8, activation="tanh"), fn.Dense(8, 1), seed=3)
        opt = fn.optim.SGD(model.parameters(), lr=0.1)
        runs.append(
            fn.lr_find(model, X, y, "mse", opt, end_lr=1.0, steps=30, batch_size=16, seed=7)
        )
    np.testing.assert_array_equal(runs[0].raw_losses, runs[1].raw_losses)
    assert len(runs[0].lrs) == 30 and not runs[0].stopped_early  # 30 steps > 2 passes of 40 rows
    assert "LRFinderResult" in repr(runs[0])


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"start_lr": 0.0}, ValueError, "start_lr"),
        ({"start_lr": -1.0}, ValueError, "start_lr"),
        ({"start_lr": 1.0, "end_lr": 0.5}, ValueError, "end_lr"),
        ({"end_lr": math.inf}, ValueError, "end_lr"),
        ({"steps": 1}, ValueError, "steps"),
        ({"steps": 10.5}, TypeError, "steps"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"smooth": 1.0}, ValueError, "smooth"),
        ({"diverge_factor": 1.0}, ValueError, "diverge_factor"),
        ({"start_lr": "1e-7"}, TypeError, "start_lr"),
    ],
)
def test_bad_arguments(kwargs, exc, word):
    X, y = _regression(n=16)
    model = fn.Sequential(fn.Dense(5, 1), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(exc, match=word):
        fn.lr_find(model, X, y, "mse", opt, **kwargs)


def test_bad_inputs():
    X, y = _regression(n=16)
    model = fn.Sequential(fn.Dense(5, 1), seed=0)
    other = fn.Sequential(fn.Dense(5, 1), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="model"):
        fn.lr_find("model", X, y, "mse", opt)
    with pytest.raises(TypeError, match="optimizer"):
        fn.lr_find(model, X, y, "mse", "sgd")
    with pytest.raises(ValueError, match="another model"):
        fn.lr_find(other, X, y, "mse", opt)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        fn.lr_find(model, bad, y, "mse", opt)
    with pytest.raises(ValueError, match="y"):
        fn.lr_find(model, X, y[:3], "mse", opt)
