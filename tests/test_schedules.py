"""fastnet.schedules: every schedule against its closed form over 1000 steps, against
torch.optim.lr_scheduler (live when torch is installed, and through the golden values of
tests/golden/torch_schedules.npz in CI), and hyper-parameter errors."""

import math
import os

import numpy as np
import pytest

import fastnet as fn

S = fn.schedules
STEPS = 1000


def values(schedule, n=STEPS):
    return np.array([schedule(t) for t in range(n)])


# Every schedule that has a torch.optim.lr_scheduler twin: id -> (ours, torch factory(opt),
# base lr of the torch optimizer, steps compared). PowerDecay has no torch twin (its closed
# form is checked above). CosineAnnealingLR rises again past T_max; ours holds min_lr, so the
# comparison stops at T_max. tests/golden/make_golden.py records the torch side.
TORCH_SCHEDULES = {
    "exponential": (
        lambda: S.ExponentialDecay(0.1, 0.98),
        lambda L, o: L.ExponentialLR(o, gamma=0.98),
        0.1,
        300,
    ),
    "exponential_staircase": (
        lambda: S.ExponentialDecay(0.1, 0.9, every=7),
        lambda L, o: L.StepLR(o, step_size=7, gamma=0.9),
        0.1,
        300,
    ),
    "step": (
        lambda: S.StepDecay(0.2, step_size=30, gamma=0.5),
        lambda L, o: L.StepLR(o, step_size=30, gamma=0.5),
        0.2,
        STEPS,
    ),
    "cosine": (
        lambda: S.CosineDecay(0.1, total_steps=800, min_lr=1e-3),
        lambda L, o: L.CosineAnnealingLR(o, T_max=800, eta_min=1e-3),
        0.1,
        801,
    ),
    "onecycle": (
        lambda: S.OneCycle(0.1, STEPS),
        lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=STEPS, cycle_momentum=False),
        0.1,
        STEPS,
    ),
    "onecycle_custom": (
        lambda: S.OneCycle(0.1, STEPS, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
        lambda L, o: L.OneCycleLR(
            o,
            max_lr=0.1,
            total_steps=STEPS,
            pct_start=0.25,
            div_factor=10.0,
            final_div_factor=100.0,
            cycle_momentum=False,
        ),
        0.1,
        STEPS,
    ),
    "warmup": (
        lambda: S.Warmup(0.05, 100, start_factor=0.1),
        lambda L, o: L.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=100),
        0.05,
        300,
    ),
    "warmup_step": (
        lambda: S.Warmup(S.StepDecay(0.1, 40, gamma=0.5), 100, start_factor=0.2),
        lambda L, o: L.ChainedScheduler(
            [
                L.LinearLR(o, start_factor=0.2, end_factor=1.0, total_iters=100),
                L.StepLR(o, step_size=40, gamma=0.5),
            ]
        ),
        0.1,
        300,
    ),
}
GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "torch_schedules.npz")

# OneCycle against torch OneCycleLR over every option combination: lr and momentum (SGD's
# "momentum", Adam's betas[0]) before each step. key -> (OneCycle keywords, optimizer).
ONECYCLE_STEPS = 200
ONECYCLE_OPTIONS = {
    "cos": {},
    "linear": {"anneal_strategy": "linear"},
    "cos_three": {"three_phase": True},
    "linear_three": {"anneal_strategy": "linear", "three_phase": True},
    "custom": {
        "pct_start": 0.2,
        "div_factor": 10.0,
        "final_div_factor": 100.0,
        "base_momentum": 0.8,
        "max_momentum": 0.9,
    },
    "custom_linear_three": {
        "anneal_strategy": "linear",
        "three_phase": True,
        "pct_start": 0.4,
        "base_momentum": 0.7,
        "max_momentum": 0.99,
    },
}
TORCH_ONECYCLE = {
    f"onecycle|{name}|{'cycle' if cycle else 'fixed'}|{opt}": (
        {**kw, "cycle_momentum": cycle},
        opt,
    )
    for name, kw in ONECYCLE_OPTIONS.items()
    for cycle in (True, False)
    for opt in ("sgd", "adam")
}


def torch_onecycle_values(torch, key):
    """(lr, momentum or beta1) torch's OneCycleLR gives before each of ONECYCLE_STEPS steps."""
    kw, opt_name = TORCH_ONECYCLE[key]
    param = torch.nn.Parameter(torch.zeros(1))
    if opt_name == "sgd":
        opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam([param], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=ONECYCLE_STEPS, **kw)
    got = []
    for _ in range(ONECYCLE_STEPS):
        g = opt.param_groups[0]
        got.append((g["lr"], g["momentum"] if opt_name == "sgd" else g["betas"][0]))
        opt.step()
        sched.step()
    return np.array(got)


def onecycle_values(key, constructor_momentum):
    """Ours: (lr, momentum) per step; without cycling, the optimizer keeps its own."""
    kw, _ = TORCH_ONECYCLE[key]
    sched = S.OneCycle(0.1, ONECYCLE_STEPS, **kw)
    return np.array(
        [
            (sched(t), constructor_momentum if sched.momentum(t) is None else sched.momentum(t))
            for t in range(ONECYCLE_STEPS)
        ]
    )


def torch_schedule_values(torch, key):
    """The lr torch's scheduler gives before each of the first n optimizer steps."""
    _, make, lr, n = TORCH_SCHEDULES[key]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make(torch.optim.lr_scheduler, opt)
    got = []
    for _ in range(n):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(got)


@pytest.mark.parametrize("key", sorted(TORCH_SCHEDULES))
def test_schedule_matches_torch_golden(key):
    """CI's check (no torch): the values torch 2.13 gave, recorded by make_golden.py."""
    ours, _, _, n = TORCH_SCHEDULES[key]
    with np.load(GOLDEN) as golden:
        expected = golden[key]
    assert expected.shape == (n,)
    np.testing.assert_allclose(values(ours(), n), expected, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("key", sorted(TORCH_SCHEDULES))
def test_schedule_matches_torch_live(key):
    torch = pytest.importorskip("torch")
    ours, _, _, n = TORCH_SCHEDULES[key]
    np.testing.assert_allclose(
        values(ours(), n), torch_schedule_values(torch, key), rtol=1e-12, atol=1e-18
    )


@pytest.mark.parametrize("key", sorted(TORCH_ONECYCLE))
def test_onecycle_lr_and_momentum_match_torch_golden(key):
    """CI's check: torch 2.13 OneCycleLR's lr and momentum/beta1 sequences."""
    with np.load(GOLDEN) as golden:
        expected = golden[key]
    assert expected.shape == (ONECYCLE_STEPS, 2)
    np.testing.assert_allclose(onecycle_values(key, 0.9), expected, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("key", sorted(TORCH_ONECYCLE))
def test_onecycle_lr_and_momentum_match_torch_live(key):
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(
        onecycle_values(key, 0.9), torch_onecycle_values(torch, key), rtol=1e-12, atol=1e-18
    )


def _linear_problem(seed=0, n=16, d_in=4, d_out=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d_in)).astype(np.float32)
    Y = rng.standard_normal((n, d_out)).astype(np.float32)
    model = fn.Sequential(fn.Dense(d_in, d_out), seed=seed)
    return model, X, Y


def _numpy_onecycle_run(model, X, Y, sched, steps, rule, constructor):
    """float64 replica of full-batch steps on a linear model with the mean squared error:
    torch.optim.SGD (dampening 0) or torch.optim.Adam, momentum/beta1 and lr from ``sched``."""
    W, b = (p.data.astype(np.float64) for p in model.parameters())
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    state = [np.zeros_like(W), np.zeros_like(b)]
    sq = [np.zeros_like(W), np.zeros_like(b)]
    for t in range(steps):
        lr = sched(t)
        mu = sched.momentum(t) if sched.momentum(t) is not None else constructor
        dpred = 2.0 * (X64 @ W + b - Y64) / Y64.size
        grads = [X64.T @ dpred, dpred.sum(axis=0)]
        params = [W, b]
        for k, g in enumerate(grads):
            if rule == "sgd":
                state[k] = g.copy() if t == 0 else mu * state[k] + g
                params[k] -= lr * state[k]
            else:  # Adam with beta2 0.999, eps 1e-8; bias correction with the current beta1
                state[k] = mu * state[k] + (1 - mu) * g
                sq[k] = 0.999 * sq[k] + 0.001 * g * g
                bc1, bc2 = 1 - mu ** (t + 1), 1 - 0.999 ** (t + 1)
                params[k] -= lr / bc1 * state[k] / (np.sqrt(sq[k]) / np.sqrt(bc2) + 1e-8)
        W, b = params
    return W, b


@pytest.mark.parametrize("rule", ["sgd", "adam"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("path", ["fit", "train_step"])
def test_optimizer_steps_with_the_scheduled_momentum(rule, three_phase, path):
    """fit and train_step write the cycled momentum (SGD) / beta1 (Adam) into the optimizer
    before every step: the weights follow a float64 NumPy replica, not one with a constant
    momentum."""
    steps = 12
    model, X, Y = _linear_problem()
    sched = S.OneCycle(0.05, steps, pct_start=0.25, three_phase=three_phase)
    if rule == "sgd":
        opt, constructor = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), 0.9
    else:
        opt = fn.optim.Adam(model.parameters(), lr=0.05, betas=(0.9, 0.999))
        constructor = 0.9
    W_ref, b_ref = _numpy_onecycle_run(model, X, Y, sched, steps, rule, constructor)
    fixed = S.OneCycle(0.05, steps, pct_start=0.25, three_phase=three_phase, cycle_momentum=False)
    W_fixed, _ = _numpy_onecycle_run(model, X, Y, fixed, steps, rule, constructor)
    if path == "fit":
        model.fit(X, Y, loss="mse", optimizer=opt, epochs=steps, batch_size=len(X),
                  shuffle=False, schedule=sched, verbose=0)  # fmt: skip
    else:
        for _ in range(steps):
            model.train_step(X, Y, "mse", opt, schedule=sched)
    W, b = (p.data for p in model.parameters())
    np.testing.assert_allclose(W, W_ref, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(b, b_ref, rtol=2e-5, atol=1e-6)
    assert np.max(np.abs(W_ref - W_fixed)) > 100 * 2e-5 * np.max(np.abs(W_ref))
    name = "momentum" if rule == "sgd" else "beta1"
    assert opt.hparam(name) == pytest.approx(sched.momentum(steps - 1))
    # The cycled value is saved and restored with the state.
    twin = type(opt)(
        model.parameters(),
        lr=0.05,
        **({"momentum": 0.9} if rule == "sgd" else {"betas": (0.9, 0.999)}),
    )
    twin.load_state_dict(opt.state_dict())
    assert twin.hparam(name) == opt.hparam(name)


def test_scheduled_beta1_survives_checkpoint_and_pickle(tmp_path):
    import pickle

    model, X, Y = _linear_problem()
    opt = fn.optim.Adam(model.parameters(), lr=0.05)
    sched = S.OneCycle(0.05, 40)
    model.fit(X, Y, loss="mse", optimizer=opt, epochs=5, batch_size=4, schedule=sched, verbose=0)
    live = opt.hparam("beta1")
    assert live == pytest.approx(sched.momentum(opt.steps - 1)) and live != opt.betas[0]
    path = str(tmp_path / "run.ckpt")
    fn.save_checkpoint(path, model, opt, epoch=5)
    twin_model, _, _ = _linear_problem(seed=1)
    twin = fn.optim.Adam(twin_model.parameters(), lr=0.05)
    fn.load_checkpoint(path, twin_model, twin)
    assert twin.hparam("beta1") == live
    assert pickle.loads(pickle.dumps((model, opt)))[1].hparam("beta1") == live
    with pytest.raises(ValueError, match="cannot change"):
        twin.load_state_dict({**opt.state_dict(), "scheduled_hparams": {"eps": 1e-3}})


def test_onecycle_momentum_needs_a_momentum_optimizer():
    model, X, Y = _linear_problem()
    sched = S.OneCycle(0.05, 10)
    with pytest.raises(ValueError, match="momentum > 0"):
        model.fit(X, Y, loss="mse", optimizer=fn.optim.SGD(model.parameters(), lr=0.1),
                  epochs=1, schedule=sched, verbose=0)  # fmt: skip
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        model.train_step(X, Y, "mse", fn.optim.Adagrad(model.parameters()), schedule=sched)
    # Without cycling, plain SGD is fine and keeps momentum 0.
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    model.fit(X, Y, loss="mse", optimizer=opt, epochs=2, verbose=0,
              schedule=S.OneCycle(0.05, 10, cycle_momentum=False))  # fmt: skip
    assert opt.momentum == 0.0
    with pytest.raises(ValueError, match="beta1"):
        fn.optim.Adam(model.parameters()).set_hparam("beta1", 1.0)
    with pytest.raises(ValueError, match="no hyper-parameter"):
        fn.optim.Adam(model.parameters()).set_hparam("momentum", 0.9)


def test_warmup_passes_the_momentum_through():
    inner = S.OneCycle(0.1, 100)
    sched = S.Warmup(inner, 10)
    assert [sched.momentum(t) for t in range(100)] == [inner.momentum(t) for t in range(100)]
    assert S.Warmup(0.1, 10).momentum(3) is None and S.CosineDecay(0.1, 10).momentum(3) is None


def test_exponential_decay():
    sched = S.ExponentialDecay(0.1, 0.98, every=7)
    expected = [0.1 * 0.98 ** (t // 7) for t in range(STEPS)]
    np.testing.assert_allclose(values(sched), expected, rtol=1e-15)
    assert S.ExponentialDecay(0.1, 0.5)(3) == pytest.approx(0.0125)


def test_power_decay():
    sched = S.PowerDecay(0.05, decay_steps=100, power=0.5)
    expected = [0.05 / (1 + t / 100) ** 0.5 for t in range(STEPS)]
    np.testing.assert_allclose(values(sched), expected, rtol=1e-15)
    assert S.PowerDecay(1.0, 10)(10) == pytest.approx(0.5)  # power defaults to 1


def test_step_decay_matches_torch_steplr_closed_form():
    sched = S.StepDecay(0.2, step_size=30, gamma=0.5)
    expected = [0.2 * 0.5 ** (t // 30) for t in range(STEPS)]
    np.testing.assert_allclose(values(sched), expected, rtol=1e-15)
    assert S.StepDecay(1.0, 10)(10) == pytest.approx(0.1)  # gamma defaults to 0.1


def test_cosine_decay():
    sched = S.CosineDecay(0.1, total_steps=800, min_lr=1e-3)
    t = np.arange(STEPS)
    expected = 1e-3 + (0.1 - 1e-3) * (1 + np.cos(np.pi * np.minimum(t, 800) / 800)) / 2
    np.testing.assert_allclose(values(sched), expected, rtol=1e-12)
    assert sched(0) == pytest.approx(0.1) and sched(800) == pytest.approx(1e-3)
    assert sched(999) == pytest.approx(1e-3)


def test_onecycle_closed_form():
    max_lr, total, pct = 0.1, STEPS, 0.3
    sched = S.OneCycle(max_lr, total, pct_start=pct)
    initial, final = max_lr / 25, max_lr / 25 / 1e4
    up_end, end = pct * total - 1, total - 1

    def cos_anneal(a, b, x):
        return b + (a - b) / 2 * (math.cos(math.pi * x) + 1)

    expected = [
        cos_anneal(initial, max_lr, t / up_end)
        if t <= up_end
        else cos_anneal(max_lr, final, (t - up_end) / (end - up_end))
        for t in range(total)
    ]
    np.testing.assert_allclose(values(sched), expected, rtol=1e-12)
    assert sched(0) == pytest.approx(initial)
    assert max(values(sched)) == pytest.approx(max_lr)
    assert sched(total - 1) == pytest.approx(final)
    assert sched(total + 50) == pytest.approx(final)


def test_warmup_wraps_a_schedule():
    inner = S.CosineDecay(0.1, total_steps=STEPS)
    sched = S.Warmup(inner, warmup_steps=50)
    expected = [inner(t) * min(t, 50) / 50 for t in range(STEPS)]
    np.testing.assert_allclose(values(sched), expected, rtol=1e-15)
    assert sched(0) == 0.0 and sched(50) == inner(50)


def test_schedules_are_pure():
    sched = S.OneCycle(0.1, 100)
    assert sched(42) == sched(42) == S.OneCycle(0.1, 100)(42)
    assert sched(np.int64(42)) == sched(42)


BAD = [
    (lambda: S.ExponentialDecay(-0.1, 0.9), ValueError, "lr0"),
    (lambda: S.ExponentialDecay(float("nan"), 0.9), ValueError, "lr0"),
    (lambda: S.ExponentialDecay(0.1, 0.0), ValueError, "gamma"),
    (lambda: S.ExponentialDecay(0.1, 0.9, every=0), ValueError, "every"),
    (lambda: S.ExponentialDecay("0.1", 0.9), TypeError, "lr0"),
    (lambda: S.PowerDecay(0.1, 0), ValueError, "decay_steps"),
    (lambda: S.PowerDecay(0.1, 10, power=-1), ValueError, "power"),
    (lambda: S.StepDecay(0.1, 0), ValueError, "step_size"),
    (lambda: S.StepDecay(0.1, 2.5), TypeError, "step_size"),
    (lambda: S.CosineDecay(0.1, 0), ValueError, "total_steps"),
    (lambda: S.CosineDecay(0.1, 10, min_lr=0.2), ValueError, "min_lr"),
    (lambda: S.OneCycle(0.0, 100), ValueError, "max_lr"),
    (lambda: S.OneCycle(0.1, 100, pct_start=1.5), ValueError, "pct_start"),
    (lambda: S.OneCycle(0.1, 100, pct_start=0.0), ValueError, "pct_start"),
    (lambda: S.OneCycle(0.1, 100, div_factor=0), ValueError, "div_factor"),
    (lambda: S.OneCycle(0.1, 100, final_div_factor=-1), ValueError, "final_div_factor"),
    (lambda: S.OneCycle(0.1, 100, anneal_strategy="cosine"), ValueError, "anneal_strategy"),
    (lambda: S.OneCycle(0.1, 100, cycle_momentum=1), TypeError, "cycle_momentum"),
    (lambda: S.OneCycle(0.1, 100, base_momentum=0.96), ValueError, "max_momentum"),
    (lambda: S.OneCycle(0.1, 100, max_momentum=1.0), ValueError, "max_momentum"),
    (lambda: S.OneCycle(0.1, 100, pct_start=0.6, three_phase=True), ValueError, "three_phase"),
    (lambda: S.OneCycle(0.1, 100, three_phase="yes"), TypeError, "three_phase"),
    (lambda: S.OneCycle(0.1, 100).momentum(-1), ValueError, "step"),
    (lambda: S.Warmup("cosine", 10), TypeError, "schedule"),
    (lambda: S.Warmup(0.1, 0), ValueError, "warmup_steps"),
    (lambda: S.Warmup(0.1, 10, start_factor=2.0), ValueError, "start_factor"),
    (lambda: S.StepDecay(0.1, 10)(-1), ValueError, "step"),
    (lambda: S.StepDecay(0.1, 10)(1.5), TypeError, "step"),
]


@pytest.mark.parametrize("make,exc,match", BAD, ids=range(len(BAD)))
def test_bad_hyperparameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
