"""fastnet.optim: one registry drives every optimizer through 50 steps on random gradients,
fused kernel vs scalar reference, and vs torch.optim with the same settings (when installed);
clipping (optimizer keywords and fn.clip_grad_norm / clip_grad_value) vs torch and NumPy;
non-finite gradients; bit-identical resume from state_dict; bad hyper-parameters."""

import warnings

import numpy as np
import pytest

import fastnet as fn

STEPS = 50

# (fastnet class name, kwargs shared verbatim with torch.optim). torch's class name differs
# only for Nadam (torch.optim.NAdam).
CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("Adagrad", {"lr": 0.05}),
    (
        "Adagrad",
        {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 1e-2, "initial_accumulator_value": 0.1},
    ),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "alpha": 0.9}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 1e-2}),
    ("Adam", {"betas": (0.9, 0.999)}),  # torch's default beta2 (fastnet's is 0.99)
    ("Adam", {"lr": 0.01, "betas": (0.9, 0.999), "weight_decay": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9)}),  # lerp weight > 0.5: torch's other branch
    ("AdamW", {"lr": 0.01, "betas": (0.9, 0.999)}),
    ("AdamW", {"lr": 0.01, "betas": (0.9, 0.999), "weight_decay": 0.1, "amsgrad": True}),
    ("Nadam", {}),
    ("Nadam", {"lr": 0.01, "weight_decay": 1e-2, "momentum_decay": 1e-2}),
]
# Options layered on every case: clipping modes, parameter groups, frozen parameters.
EXTRAS = ["plain", "clip_norm", "clip_layer_norm", "clip_value", "groups", "frozen"]
CLIP = {"clip_norm": 1.0, "clip_layer_norm": 0.7, "clip_value": 0.5}
GROUP_LR, GROUP_WD = 0.003, 0.05
THAW_STEP = 20  # "frozen": parameter 0 is frozen until this step, parameter 1 throughout


def case_id(case):
    name, kw = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


def make_model(seed=0, width=6):
    return fn.Sequential(fn.Dense(width, 5), fn.Tanh(), fn.Dense(5, 3), seed=seed)


def make_optimizer(name, kw, model, extra):
    params = model.parameters()
    kw = dict(kw)
    if extra in CLIP:
        kw[extra] = CLIP[extra]
    if extra == "groups":
        params = [
            {"params": params[:2], "lr": GROUP_LR, "weight_decay": GROUP_WD},
            {"params": params[2:]},
        ]
    return getattr(fn.optim, name)(params, **kw)


def frozen_at(extra, step):
    """Indices of the parameters frozen at this step."""
    if extra != "frozen":
        return set()
    return {0, 1} if step < THAW_STEP else {1}


def random_grads(rng, model, scale):
    return [(rng.standard_normal(p.shape) * scale).astype(np.float32) for p in model.parameters()]


def assert_models_close(model, reference, rtol=1e-6):
    """‖θ − θ_ref‖ ≤ rtol·‖θ_ref‖ over all parameters: 1e-6 relative, measured on the model
    (zero-initialized biases make per-element or per-bias ratios test float32 rounding of
    1e-3-sized updates, not the formula)."""
    theta = np.concatenate([p.data.ravel() for p in model.parameters()]).astype(np.float64)
    ref = np.concatenate([p.data.ravel() for p in reference.parameters()]).astype(np.float64)
    assert np.linalg.norm(theta - ref) <= rtol * np.linalg.norm(ref)


def set_frozen(model, frozen):
    for i, p in enumerate(model.parameters()):
        p.trainable = i not in frozen


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fused_matches_reference(case, extra):
    name, kw = case
    fused_model, ref_model = make_model(), make_model()
    fused = make_optimizer(name, kw, fused_model, extra)
    ref = make_optimizer(name, kw, ref_model, extra)
    rng = np.random.default_rng(1)
    for step in range(STEPS):
        grads = random_grads(rng, fused_model, 2.0)
        for model in (fused_model, ref_model):
            set_frozen(model, frozen_at(extra, step))
            for p, g in zip(model.parameters(), grads):
                p.grad[...] = g
        n_fused, n_ref = fused.step(), ref.step_reference()
        assert n_fused == pytest.approx(n_ref, rel=1e-12)
        assert_models_close(fused_model, ref_model)
    assert fused.steps == ref.steps == STEPS


@pytest.mark.parametrize(
    "case",
    [c for i, c in enumerate(CASES) if i == 0 or CASES[i - 1][0] != c[0] or c[1].get("momentum")],
    ids=case_id,
)
def test_fused_matches_reference_threaded(case):
    """Segments above kParallelThreshold take the OpenMP path."""
    name, kw = case
    fused_model, ref_model = make_model(width=8000), make_model(width=8000)
    fused = make_optimizer(name, kw, fused_model, "clip_norm")
    ref = make_optimizer(name, kw, ref_model, "clip_norm")
    rng = np.random.default_rng(2)
    for _ in range(5):
        grads = random_grads(rng, fused_model, 0.1)
        for model in (fused_model, ref_model):
            for p, g in zip(model.parameters(), grads):
                p.grad[...] = g
        assert fused.step() == pytest.approx(ref.step_reference(), rel=1e-9)
    assert_models_close(fused_model, ref_model)


@pytest.mark.parametrize("extra", ["clip_norm", "groups", "frozen"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_update_is_bit_identical_at_one_and_two_threads(case, extra):
    """Segments from kParallelThreshold floats are split between two threads (common.h
    parallel_for); with odd sizes and segments smaller than one 16-float chunk beside them,
    the update must come out bit-identical to the one-thread update."""
    name, kw = case

    def run(threads):
        old = fn.get_num_threads()
        fn.set_num_threads(threads)
        try:
            model = fn.Sequential(fn.Dense(263, 131), fn.Tanh(), fn.Dense(131, 3), seed=0)
            opt = make_optimizer(name, kw, model, extra)
            rng = np.random.default_rng(5)
            for step in range(THAW_STEP + 3):
                set_frozen(model, frozen_at(extra, step))
                for p, g in zip(model.parameters(), random_grads(rng, model, 0.5)):
                    p.grad[...] = g
                opt.step()
            return [p.data.copy() for p in model.parameters()], opt
        finally:
            fn.set_num_threads(old)

    one, opt1 = run(1)
    two, opt2 = run(2)
    assert max(p.size for p in one) >= 1 << 15
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    assert opt1.steps == opt2.steps == THAW_STEP + 3


def torch_clip(torch, extra, tparams):
    live = [t for t in tparams if t.grad is not None]
    if extra == "clip_norm":
        return float(torch.nn.utils.clip_grad_norm_(live, CLIP[extra]))
    if extra == "clip_layer_norm":
        for t in live:
            torch.nn.utils.clip_grad_norm_([t], CLIP[extra])
    elif extra == "clip_value":
        torch.nn.utils.clip_grad_value_(live, CLIP[extra])
    return None


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch(case, extra):
    torch = pytest.importorskip("torch")
    name, kw = case
    model = make_model()
    opt = make_optimizer(name, kw, model, extra)
    tparams = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in model.parameters()]
    tgroups = tparams
    if extra == "groups":
        tgroups = [
            {"params": tparams[:2], "lr": GROUP_LR, "weight_decay": GROUP_WD},
            {"params": tparams[2:]},
        ]
    topt = getattr(torch.optim, "NAdam" if name == "Nadam" else name)(tgroups, **kw)
    rng = np.random.default_rng(3)
    for step in range(STEPS):
        grads = random_grads(rng, model, 2.0)
        frozen = frozen_at(extra, step)
        set_frozen(model, frozen)
        for i, (p, t, g) in enumerate(zip(model.parameters(), tparams, grads)):
            p.grad[...] = g
            t.grad = None if i in frozen else torch.tensor(g)
        tnorm = torch_clip(torch, extra, tparams)
        gnorm = opt.step()
        if tnorm is not None:
            assert gnorm == pytest.approx(tnorm, rel=1e-5)
        topt.step()
        for p, t in zip(model.parameters(), tparams):
            np.testing.assert_allclose(
                p.data,
                t.detach().numpy(),
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"step {step}, parameter {p.name}",
            )


def test_step_returns_global_norm_before_clipping():
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.1, clip_norm=0.1)
    grads = random_grads(np.random.default_rng(4), model, 3.0)
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    expected = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    assert opt.step() == pytest.approx(expected, rel=1e-12)
    assert opt.last_grad_norm == pytest.approx(expected, rel=1e-12)


def test_clip_layer_norm_matches_numpy():
    model = make_model()
    before = [p.data.copy() for p in model.parameters()]
    lr, clip = 0.5, 0.7
    opt = fn.optim.SGD(model.parameters(), lr=lr, clip_layer_norm=clip)
    grads = random_grads(np.random.default_rng(5), model, 2.0)
    grads[3] *= 1e-3  # one tensor below the threshold: left unscaled
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    opt.step()
    for p, w, g in zip(model.parameters(), before, grads):
        norm = np.sqrt(np.sum(g.astype(np.float64) ** 2))
        expected = w - lr * g * min(1.0, clip / (norm + 1e-6))
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-7)


def test_clip_value_matches_numpy():
    model = make_model()
    before = [p.data.copy() for p in model.parameters()]
    opt = fn.optim.SGD(model.parameters(), lr=0.5, clip_value=0.3)
    grads = random_grads(np.random.default_rng(6), model, 1.0)
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    opt.step()
    for p, w, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p.data, w - 0.5 * np.clip(g, -0.3, 0.3), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_function_matches_torch(max_norm):
    torch = pytest.importorskip("torch")
    model = make_model(width=9000)  # 45k gradient elements: the threaded reduction and pass
    grads = random_grads(np.random.default_rng(7), model, 1.0)
    tparams = []
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
        t = torch.nn.Parameter(torch.tensor(p.data.copy()))
        t.grad = torch.tensor(g)
        tparams.append(t)
    norm = fn.clip_grad_norm(model, max_norm)
    tnorm = float(torch.nn.utils.clip_grad_norm_(tparams, max_norm))
    assert norm == pytest.approx(tnorm, rel=1e-6)
    for p, t in zip(model.parameters(), tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_clip_grad_value_function_matches_torch():
    torch = pytest.importorskip("torch")
    model = make_model()
    grads = random_grads(np.random.default_rng(8), model, 1.0)
    tgrads = [torch.tensor(g) for g in grads]
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    fn.clip_grad_value(model, 0.4)
    tparams = []
    for tg in tgrads:
        t = torch.nn.Parameter(torch.zeros(tg.shape))
        t.grad = tg
        tparams.append(t)
    torch.nn.utils.clip_grad_value_(tparams, 0.4)
    for p, t in zip(model.parameters(), tparams):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_clip_functions_skip_frozen_and_validate():
    model = make_model()
    ps = model.parameters()
    for p in ps:
        p.grad[...] = 10.0
    ps[0].trainable = False
    norm = fn.clip_grad_norm(model, 1.0)
    assert norm == pytest.approx(np.sqrt(sum(p.size for p in ps[1:]) * 100.0))
    np.testing.assert_array_equal(ps[0].grad, 10.0)
    for p in ps:
        p.grad[...] = -10.0
    fn.clip_grad_value(ps[1:], 0.5)
    np.testing.assert_array_equal(ps[1].grad, -0.5)
    np.testing.assert_array_equal(ps[0].grad, -10.0)
    with pytest.raises(ValueError, match="max_norm"):
        fn.clip_grad_norm(model, -1.0)
    with pytest.raises(ValueError, match="clip_value"):
        fn.clip_grad_value(model, float("nan"))
    with pytest.raises(TypeError, match="model"):
        fn.clip_grad_norm("model", 1.0)
    with pytest.raises(ValueError, match="one model"):
        fn.clip_grad_norm(ps + make_model().parameters(), 1.0)
    ps[2].grad[0, 0] = np.inf
    before = ps[3].grad.copy()
    assert not np.isfinite(fn.clip_grad_norm(model, 1.0))
    np.testing.assert_array_equal(ps[3].grad, before)
    with pytest.raises(FloatingPointError):
        fn.clip_grad_norm(model, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_nonfinite_gradient_skips_the_step(name):
    model = make_model()
    opt = getattr(fn.optim, name)(model.parameters(), clip_norm=1.0)
    before = [p.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad[...] = 0.1
    model.parameters()[2].grad[1, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="non-finite"):
        gnorm = opt.step()
    assert not np.isfinite(gnorm)
    assert opt.skipped_steps == 1 and opt.steps == 0
    for p, w in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, w)
    strict = getattr(fn.optim, name)(model.parameters(), on_nonfinite="raise")
    model.parameters()[0].grad[0, 0] = np.inf
    with pytest.raises(FloatingPointError):
        strict.step()
    assert strict.skipped_steps == 1
    for p, w in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, w)


@pytest.mark.parametrize(
    "case",
    [c for i, c in enumerate(CASES) if i == 0 or CASES[i - 1][0] != c[0] or len(c[1]) > 2],
    ids=case_id,
)
def test_resume_from_state_dict_is_bit_identical(case):
    name, kw = case
    threads = fn.get_num_threads()
    fn.set_num_threads(1)
    try:
        rng = np.random.default_rng(9)
        X = rng.standard_normal((16, 6)).astype(np.float32)
        y = rng.integers(0, 3, 16)
        loss = "sparse_categorical_crossentropy"
        model = make_model()
        opt = getattr(fn.optim, name)(model.parameters(), clip_norm=1.0, **kw)
        for _ in range(7):
            model.train_step(X, y, loss, opt)
        saved_weights = [p.data.copy() for p in model.parameters()]
        saved_state = opt.state_dict()
        for _ in range(5):
            model.train_step(X, y, loss, opt)

        fresh = make_model(seed=123)
        for p, w in zip(fresh.parameters(), saved_weights):
            p.data[...] = w
        fresh_opt = getattr(fn.optim, name)(fresh.parameters(), clip_norm=1.0, **kw)
        fresh_opt.load_state_dict(saved_state)
        assert fresh_opt.steps == 7
        for _ in range(5):
            fresh.train_step(X, y, loss, fresh_opt)
        for p, q in zip(model.parameters(), fresh.parameters()):
            np.testing.assert_array_equal(p.data, q.data)
        assert opt.state_dict()["slot_state"] == fresh_opt.state_dict()["slot_state"]
    finally:
        fn.set_num_threads(threads)


def test_state_dict_is_a_copy_and_checked():
    model = make_model()
    opt = fn.optim.Adam(model.parameters())
    for p in model.parameters():
        p.grad[...] = 1.0
    opt.step()
    state = opt.state_dict()
    m0 = state["state"][0].copy()
    opt.step()
    np.testing.assert_array_equal(state["state"][0], m0)
    with pytest.raises(ValueError, match="not from a SGD"):
        fn.optim.SGD(model.parameters()).load_state_dict(state)
    other = fn.optim.Adam(make_model().parameters()[:2])
    with pytest.raises(ValueError, match="parameters"):
        other.load_state_dict(state)


def test_lr_setter_keeps_group_ratios():
    model = make_model()
    ps = model.parameters()
    opt = fn.optim.Adam([{"params": ps[:2], "lr": 0.02}, {"params": ps[2:]}], lr=0.01)
    opt.lr = 0.04
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.04, 0.02])
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0


def test_train_step_applies_schedule():
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=1.0)
    sched = fn.schedules.ExponentialDecay(0.1, 0.5)
    X = np.ones((4, 6), np.float32)
    y = np.zeros(4, np.int64)
    lrs = []
    for _ in range(3):
        model.train_step(X, y, "sparse_categorical_crossentropy", opt, schedule=sched)
        lrs.append(opt.lr)
    assert lrs == pytest.approx([0.1, 0.05, 0.025])
    with pytest.raises(TypeError, match="schedule"):
        model.train_step(X, y, "sparse_categorical_crossentropy", opt, schedule=0.1)


# The one departure from torch's defaults: Adam/AdamW's beta2 0.99 (fastai's), which trains the
# 20-layer ReLU net of issue 14 at lr 1e-2 where 0.999 fails (tests/test_recipes.py).
DEFAULTS_NOT_TORCH = {("Adam", "betas"): (0.9, 0.99), ("AdamW", "betas"): (0.9, 0.99)}


def test_defaults_follow_torch():
    torch = pytest.importorskip("torch")
    params = make_model().parameters()
    t = [torch.nn.Parameter(torch.zeros(2))]
    for name, tname in [
        ("SGD", "SGD"),
        ("Adagrad", "Adagrad"),
        ("RMSprop", "RMSprop"),
        ("Adadelta", "Adadelta"),
        ("Adam", "Adam"),
        ("AdamW", "AdamW"),
        ("Nadam", "NAdam"),
    ]:
        ours = getattr(fn.optim, name)(params)
        theirs = getattr(torch.optim, tname)(t).defaults
        assert ours.lr == theirs["lr"], name
        assert ours.param_groups[0]["weight_decay"] == theirs["weight_decay"], name
        for key in (
            "momentum",
            "dampening",
            "nesterov",
            "lr_decay",
            "initial_accumulator_value",
            "eps",
            "alpha",
            "centered",
            "rho",
            "betas",
            "amsgrad",
            "momentum_decay",
        ):
            if (name, key) in DEFAULTS_NOT_TORCH:
                assert theirs[key] == (0.9, 0.999)
                assert getattr(ours, key) == DEFAULTS_NOT_TORCH[name, key], (name, key)
            elif hasattr(ours, key):
                assert getattr(ours, key) == theirs[key], (name, key)


BAD = [
    ("SGD", {"lr": -0.1}, ValueError, "lr"),
    ("SGD", {"lr": float("nan")}, ValueError, "lr"),
    ("SGD", {"lr": "fast"}, TypeError, "lr"),
    ("SGD", {"momentum": -0.5}, ValueError, "momentum"),
    ("SGD", {"nesterov": True}, ValueError, "Nesterov"),
    ("Adam", {"lr": -1e-3}, ValueError, "lr"),
    ("Adam", {"betas": (1.0, 0.999)}, ValueError, r"betas\[0\]"),
    ("Adam", {"betas": (0.9, -0.1)}, ValueError, r"betas\[1\]"),
    ("Adam", {"betas": 0.9}, TypeError, "betas"),
    ("Adam", {"eps": 0.0}, ValueError, "eps"),
    ("Adam", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("AdamW", {"betas": (0.9, 1.5)}, ValueError, "betas"),
    ("Nadam", {"eps": -1e-8}, ValueError, "eps"),
    ("Nadam", {"momentum_decay": -1.0}, ValueError, "momentum_decay"),
    ("Adagrad", {"eps": 0.0}, ValueError, "eps"),
    ("Adagrad", {"lr_decay": -1.0}, ValueError, "lr_decay"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, ValueError, "initial_accumulator_value"),
    ("RMSprop", {"alpha": 1.5}, ValueError, "alpha"),
    ("RMSprop", {"alpha": -0.1}, ValueError, "alpha"),
    ("RMSprop", {"eps": 0.0}, ValueError, "eps"),
    ("RMSprop", {"momentum": -0.9}, ValueError, "momentum"),
    ("Adadelta", {"rho": 1.1}, ValueError, "rho"),
    ("Adadelta", {"rho": float("nan")}, ValueError, "rho"),
    ("Adadelta", {"eps": 0.0}, ValueError, "eps"),
    ("Adam", {"clip_norm": 1.0, "clip_value": 0.5}, ValueError, "at most one"),
    ("Adam", {"clip_norm": -1.0}, ValueError, "clip_norm"),
    ("Adam", {"clip_layer_norm": 0.0}, ValueError, "clip_layer_norm"),
    ("Adam", {"on_nonfinite": "ignore"}, ValueError, "on_nonfinite"),
]


@pytest.mark.parametrize("name,kw,exc,match", BAD, ids=lambda v: str(v))
def test_bad_hyperparameters(name, kw, exc, match):
    with pytest.raises(exc, match=match):
        getattr(fn.optim, name)(make_model().parameters(), **kw)


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_bad_parameter_lists(name):
    cls = getattr(fn.optim, name)
    with pytest.raises(ValueError, match="empty"):
        cls([])
    with pytest.raises(ValueError, match="one model"):
        cls(make_model().parameters() + make_model().parameters())
    with pytest.raises(TypeError):
        cls([np.zeros(3)])
    with pytest.raises(TypeError):
        cls(5)


def test_frozen_parameters_untouched_by_every_optimizer():
    for name in sorted({c[0] for c in CASES}):
        model = make_model()
        model[0].freeze()
        before = [p.data.copy() for p in model.parameters()]
        opt = getattr(fn.optim, name)(model.parameters(), weight_decay=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(3):
                for p in model.parameters():
                    p.grad[...] = 1.0
                opt.step()
        after = model.parameters()
        np.testing.assert_array_equal(after[0].data, before[0].data)
        np.testing.assert_array_equal(after[1].data, before[1].data)
        assert not np.array_equal(after[2].data, before[2].data), name


def test_load_state_dict_refuses_other_hyper_parameters():
    import fastnet as fn

    model = fn.Sequential(fn.Dense(3, 4), fn.Dense(4, 2), seed=0)
    a = fn.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))  # the default
    b = fn.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    with pytest.raises(ValueError, match="hyper-parameters"):
        b.load_state_dict(a.state_dict())
    fn.optim.Adam(model.parameters(), lr=1e-3).load_state_dict(a.state_dict())


# ---- golden references from PyTorch (tests/golden/make_golden.py), checked without torch ----
GOLDEN_EXTRAS = ["plain", "clip_norm", "clip_layer_norm", "clip_value"]


@pytest.fixture(scope="module")
def torch_optim_golden():
    import os

    with np.load(os.path.join(os.path.dirname(__file__), "golden", "torch_optim.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("extra", GOLDEN_EXTRAS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch_golden(torch_optim_golden, case, extra):
    """20 steps of torch.optim (and torch's clip_grad_norm_ / clip_grad_value_) stored once:
    every optimizer formula, bias correction and clipping rule is checked in CI, where torch
    is not installed."""
    name, kw = case
    g = torch_optim_golden
    key = f"{case_id(case)}|{extra}"
    model = fn.Sequential(fn.Dense(6, 5), fn.Tanh(), fn.Dense(5, 3), seed=0)
    model.set_weights([g[f"{key}|init{i}"] for i in range(4)])
    opt = make_optimizer(name, kw, model, extra)
    for step in range(g[f"{key}|grads0"].shape[0]):
        for i, p in enumerate(model.parameters()):
            p.grad[...] = g[f"{key}|grads{i}"][step]
        gnorm = opt.step()
        if extra == "clip_norm":
            assert gnorm == pytest.approx(g[f"{key}|norms"][step], rel=1e-5)
    for i, p in enumerate(model.parameters()):
        np.testing.assert_allclose(
            p.data, g[f"{key}|final{i}"], rtol=1e-5, atol=1e-6, err_msg=f"{key}, parameter {p.name}"
        )


def test_clip_grad_norm_function_matches_torch_golden(torch_optim_golden):
    """fn.clip_grad_norm on the stored gradients gives torch's norm, and scales by
    max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does."""
    g = torch_optim_golden
    key = f"{case_id(CASES[0])}|clip_norm"
    model = fn.Sequential(fn.Dense(6, 5), fn.Tanh(), fn.Dense(5, 3), seed=0)
    grads = [g[f"{key}|grads{i}"][0] for i in range(4)]
    for p, gr in zip(model.parameters(), grads):
        p.grad[...] = gr
    norm = fn.clip_grad_norm(model, CLIP["clip_norm"])
    assert norm == pytest.approx(g[f"{key}|norms"][0], rel=1e-5)
    scale = CLIP["clip_norm"] / (g[f"{key}|norms"][0] + 1e-6)
    for p, gr in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, gr * scale, rtol=1e-5, atol=1e-7)
