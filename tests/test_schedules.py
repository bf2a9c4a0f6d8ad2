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
