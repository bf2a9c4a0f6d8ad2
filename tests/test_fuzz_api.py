"""Adversarial inputs at the public API: every entry point must raise a clear TypeError /
ValueError (or work correctly), never crash or silently give a wrong answer.

Risky batches (raw memory: odd arrays, huge sizes, corrupted files) run in a subprocess so a
segfault fails the test instead of killing pytest. Seeds are fixed; the file runs in a few s.
"""

import functools
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import random_data

import fastnet as fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCE = "sparse_categorical_crossentropy"


def _data(n=20, d=4, k=3, seed=0):
    return random_data(n, d, k, seed)


def _model(bn=False, seed=0):
    layers = [fn.Dense(4, 8, activation="relu")]
    if bn:
        layers.append(fn.BatchNorm(8))
    layers.append(fn.Dense(8, 3))
    return fn.Sequential(*layers, seed=seed)


def _run_isolated(body: str) -> str:
    """Run body in a fresh interpreter; each case prints one line 'ok'/'TypeError'/... ."""
    body = body.replace("SCE", repr(SCE))
    prelude = textwrap.dedent("""
        import os, sys, struct, tempfile, warnings
        import numpy as np
        import fastnet as fn
        warnings.simplefilter("ignore")
        def case(name, f, allowed=(TypeError, ValueError)):
            try:
                f()
                print(name, "ok", flush=True)
            except allowed as e:
                print(name, type(e).__name__, flush=True)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((20, 4)).astype(np.float32)
        y = rng.integers(0, 3, 20)
        def mk():
            return fn.Sequential(fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3), seed=0)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(body)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert proc.returncode == 0, (
        f"subprocess died with {proc.returncode}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def _outcomes(out: str) -> dict:
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


# ----------------------------------------------------------------- crashes: odd arrays
def test_odd_arrays_never_crash_forward_predict_train_step():
    out = _outcomes(
        _run_isolated("""
        fd, mp = tempfile.mkstemp(); os.close(fd)
        mm = np.memmap(mp, dtype=np.float32, mode="w+", shape=(20, 4)); mm[:] = X
        ro = X.copy(); ro.setflags(write=False)
        bad = {
            "object": np.array([[1, 2, 3, 4]], dtype=object), "str": np.array([["a"] * 4]),
            "complex": X.astype(complex), "zero_rows": np.zeros((0, 4), np.float32),
            "zero_cols": np.zeros((3, 0), np.float32), "inf": np.full((2, 4), np.inf),
            "nan": np.full((2, 4), np.nan), "f64_overflow": np.full((2, 4), 1e300),
            "3d": X.reshape(20, 2, 2), "0d": np.float32(1), "ragged": [[1, 2], [3]],
            "none": None, "datetime": np.zeros((2, 4), dtype="datetime64[s]"),
            "structured": np.zeros((2, 4), dtype=[("a", "f4")]), "1d_wrong": np.ones(5),
            "colstride": X[:, ::2],
            # accepted inputs: must run (and are compared with forward below)
            "bool": X > 0, "f16": X.astype(np.float16), "i64": np.full((2, 4), 7, np.int64),
            "negstride": X[::-1], "readonly": ro, "fortran": np.asfortranarray(X),
            "list": X.tolist(), "memmap": mm, "zero_stride":
                np.lib.stride_tricks.as_strided(X, (2, 4), (0, 4)),
        }
        for k, v in bad.items():
            m = mk(); opt = fn.optim.SGD(m.parameters(), lr=0.01)
            case("forward." + k, lambda: m.forward(v))
            case("predict." + k, lambda: m.predict(v, batch_size=3))
            rows = len(v) if isinstance(v, (list, np.ndarray)) and np.ndim(v[:1]) >= 1 else 1
            case("train_step." + k, lambda: m.train_step(v, y[:rows] % 3, SCE, opt))
        os.unlink(mp)
    """)
    )
    must_raise = [
        "object",
        "str",
        "complex",
        "zero_rows",
        "zero_cols",
        "inf",
        "nan",
        "f64_overflow",
        "3d",
        "0d",
        "ragged",
        "none",
        "datetime",
        "structured",
        "1d_wrong",
        "colstride",
    ]
    for k in must_raise:
        for entry in ("forward", "predict", "train_step"):
            assert out[f"{entry}.{k}"] in ("TypeError", "ValueError"), (
                entry,
                k,
                out[f"{entry}.{k}"],
            )
    for k in (
        "bool",
        "f16",
        "i64",
        "negstride",
        "readonly",
        "fortran",
        "list",
        "memmap",
        "zero_stride",
    ):
        for entry in ("forward", "predict", "train_step"):
            assert out[f"{entry}.{k}"] == "ok", (entry, k)


def test_huge_sizes_and_batch_sizes_never_crash():
    out = _outcomes(
        _run_isolated("""
        m = mk(); opt = fn.optim.SGD(m.parameters(), lr=0.01)
        for bs in (2**31, 2**40, 2**63, 2**70):
            case(f"fit.{bs}", lambda: m.fit(X, y, loss=SCE, optimizer=opt, batch_size=bs,
                                               verbose=0))
            case(f"predict.{bs}", lambda: m.predict(X, batch_size=bs))
            case(f"evaluate.{bs}", lambda: m.evaluate(X, y, SCE, batch_size=bs))
            case(f"ensemble.{bs}", lambda: fn.Ensemble([mk(), mk()]).predict(X, batch_size=bs))
        for bs in (0, -1, "8", 8.0, True, float("nan")):
            case(f"predict_bad.{bs!r}", lambda: m.predict(X, batch_size=bs))
            case(f"fit_bad.{bs!r}", lambda: m.fit(X, y, loss=SCE, optimizer=opt,
                                                     batch_size=bs, verbose=0))
        case("seed_huge", lambda: fn.Sequential(fn.Dense(2, 2), seed=2**70))
        case("dense_huge", lambda: fn.Sequential(fn.Dense(2**31, 2**31)))
        # 2**62 floats: the byte count 2**64 wrapped to 0 and 64 bytes were allocated for the
        # arena; the C++ build must now refuse (MemoryError / ValueError), not hand out views.
        case("arena_wrap", lambda: fn.Sequential(fn.Dense(2**31 - 1, 2**31 - 1)),
             (ValueError, MemoryError))
        case("bn_huge", lambda: fn.BatchNorm(2**40))
        # The C++ last line, behind the Python checks: arena sizes that overflow size_t.
        for i, (fi, fo) in enumerate([(2**31, 2**31), (2**32, 2**30), (2**62, 4)]):
            core = fn._core.Model()
            core.add({"kind": "dense", "in_features": fi, "out_features": fo, "bias": 1,
                      "activation": "none", "alpha": 0.01})
            case(f"core_build_{i}", core.build)
        case("labels_huge", lambda: m.train_step(X, np.full(20, 2**40), SCE, opt))
        case("labels_u64", lambda: m.train_step(X, np.full(20, 2**63, np.uint64), SCE, opt))
        case("labels_neg", lambda: m.train_step(X, np.full(20, -1), SCE, opt))
    """)
    )
    for bs in (2**31, 2**40, 2**63, 2**70):
        for entry in ("fit", "predict", "evaluate", "ensemble"):
            # a batch larger than the data is one batch of all rows (Keras), not bad_alloc
            assert out[f"{entry}.{bs}"] == "ok", (entry, bs, out[f"{entry}.{bs}"])
    for k, v in out.items():
        if k.startswith(("predict_bad", "fit_bad", "labels_")) or k in (
            "seed_huge",
            "dense_huge",
            "bn_huge",
        ):
            assert v in ("TypeError", "ValueError"), (k, v)
    assert out["arena_wrap"] in ("ValueError", "MemoryError")
    for i in range(3):
        assert out[f"core_build_{i}"] == "ValueError"


def test_corrupted_and_tampered_files_raise_value_error(tmp_path):
    out = _outcomes(
        _run_isolated(f"""
        import json
        td = {str(tmp_path)!r}
        good = os.path.join(td, "good.safetensors"); m = mk(); fn.save(m, good)
        data = open(good, "rb").read()
        n = struct.unpack("<Q", data[:8])[0]; hdr = json.loads(data[8:8 + n]); body = data[8 + n:]
        key = [k for k in hdr if k != "__metadata__"][0]
        def tamper(f):
            h = json.loads(json.dumps(hdr)); f(h); hb = json.dumps(h).encode()
            return struct.pack("<Q", len(hb)) + hb + body
        files = {{
            "empty": b"", "short": data[:5], "half": data[:len(data) // 2],
            "hdr_huge": struct.pack("<Q", 2**62) + data[8:], "hdr_neg": struct.pack("<q", -5) + data[8:],
            "garbage": bytes(np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8)),
            "hdr_zero": struct.pack("<Q", 0) + data[8:], "flip": data[:100] + bytes([data[100] ^ 255]) + data[101:],
            "trunc_tail": data[:-4], "extra_tail": data + b"xxxx",
            "shape_big": tamper(lambda h: h[key].__setitem__("shape", [10**6, 10**6])),
            "shape_neg": tamper(lambda h: h[key].__setitem__("shape", [-1, 4])),
            "offsets_oob": tamper(lambda h: h[key].__setitem__("data_offsets", [0, 10**9])),
            "offsets_rev": tamper(lambda h: h[key].__setitem__("data_offsets", [100, 0])),
            "dtype_f64": tamper(lambda h: h[key].__setitem__("dtype", "F64")),
            "drop_tensor": tamper(lambda h: h.pop(key)),
            "no_meta": tamper(lambda h: h.pop("__metadata__")),
        }}
        for k, v in files.items():
            p = os.path.join(td, k); open(p, "wb").write(v)
            case("load." + k, lambda: fn.load(p))
            case("ckpt." + k, lambda: fn.load_checkpoint(p, mk()))
    """)
    )
    assert len(out) == 34
    for k, v in out.items():
        assert v == "ValueError", (k, v)


# ----------------------------------------------------------------- Python-level errors
@pytest.mark.parametrize(
    "cls, flag",
    [
        (fn.optim.Adam, "amsgrad"),
        (fn.optim.AdamW, "amsgrad"),
        (fn.optim.RMSprop, "centered"),
        (fn.optim.SGD, "nesterov"),
    ],
)
@pytest.mark.parametrize("value", ["no", "False", 1, 0.0, None, float("nan"), (1,)])
def test_optimizer_flags_must_be_bools(cls, flag, value):
    # bool("no") is True: a string silently switched AMSGrad / centering / Nesterov on.
    kwargs = {"momentum": 0.9} if cls is fn.optim.SGD else {}
    with pytest.raises(TypeError, match=flag):
        cls(_model().parameters(), **kwargs, **{flag: value})


def test_fit_shuffle_and_from_logits_must_be_bools():
    X, y = _data()
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="shuffle"):
        m.fit(X, y, loss=SCE, optimizer=opt, shuffle="no", verbose=0)
    loss = functools.partial(fn.losses.sparse_categorical_crossentropy, from_logits="no")
    with pytest.raises(TypeError, match="from_logits"):
        m.evaluate(X, y, loss)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("ExponentialDecay", {"lr0": 0.1, "gamma": 1.5}),
        ("StepDecay", {"lr0": 0.1, "step_size": 1, "gamma": 1e30}),
        ("PowerDecay", {"lr0": 0.1, "decay_steps": 1.0, "power": 1e30}),
        ("CosineDecay", {"lr0": 1e308, "total_steps": 10}),
    ],
)
def test_schedule_overflow_is_a_value_error(name, kwargs):
    sched = getattr(fn.schedules, name)(**kwargs)
    if name != "CosineDecay":
        assert sched(0) == 0.1
    with pytest.raises(ValueError, match="non-finite learning rate"):
        for step in (1, 10**3, 10**12):
            sched(step)


def test_parameter_data_assignment_writes_the_arena_or_raises():
    X, _ = _data()
    m = _model()
    p = m.parameters()[0]
    new = np.random.default_rng(1).standard_normal(p.shape)
    p.data = new  # must land in the model's arena, not rebind a detached attribute
    np.testing.assert_allclose(m.state_arrays()["0.weight"], new.astype(np.float32))
    np.testing.assert_allclose(
        m.forward(X),
        np.maximum(X @ new.astype(np.float32) + m.parameters()[1].data, 0) @ m.parameters()[2].data
        + m.parameters()[3].data,
        rtol=1e-5,
        atol=1e-5,
    )
    assert np.shares_memory(p.data, m.state_arrays()["0.weight"])
    with pytest.raises(ValueError, match="shape"):
        p.data = np.zeros((2, 2))
    with pytest.raises(ValueError, match="NaN"):
        p.data = np.full(p.shape, np.nan)
    with pytest.raises(ValueError, match="NaN"):
        p.data = np.full(p.shape, 1e300)  # finite in float64, inf in float32
    with pytest.raises(TypeError):
        p.data = None
    with pytest.raises(TypeError):
        p.data = np.zeros(p.shape, complex)
    with pytest.raises(ValueError):
        p.data[...] = np.zeros((2, 2))
    p.grad = np.ones(p.shape)
    assert np.shares_memory(p.grad, m.parameters()[0].grad) and p.grad.sum() == p.size
    with pytest.raises(ValueError, match="shape"):
        p.grad = np.zeros(3)


def test_set_weights_rejects_non_finite():
    m = _model()
    before = m.get_weights()
    for bad in (np.nan, np.inf, 1e300):
        with pytest.raises(ValueError, match="NaN or Inf"):
            m.set_weights([np.full(w.shape, bad) for w in before])
    for a, b in zip(before, m.get_weights()):  # nothing written
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        m.set_weights([w.T for w in before])
    with pytest.raises(TypeError):
        m.set_weights([w.astype(complex) for w in before])


def test_parameter_views_keep_the_model_alive():
    m = _model()
    p = m.parameters()[0]
    grad = m.parameters()[0].grad
    state = m.state_arrays()
    del m
    gc.collect()
    _ = [np.ones(10_000) for _ in range(50)]  # reuse freed memory if the arena were gone
    p.data[...] = 1.0
    grad[...] = 2.0
    assert p.data.sum() == p.size and grad.sum() == 2 * grad.size
    for v in state.values():
        v[...] = 3.0
    assert p.data.sum() == 3 * p.size


def test_batchnorm_batch_of_one_is_refused_in_training_only():
    X, y = _data()
    m = _model(bn=True)
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="2 rows"):
        m.forward(X[:1], training=True)
    with pytest.raises(ValueError, match="2 rows"):
        m.train_step(X[:1], y[:1], SCE, opt)
    with pytest.raises(ValueError):
        m.fit(X[:1], y[:1], loss=SCE, optimizer=opt, verbose=0)
    with pytest.raises(ValueError):
        m.fit(X[:5], y[:5], loss=SCE, optimizer=opt, batch_size=1, verbose=0)
    assert m.forward(X[:1]).shape == (1, 3)
    h = m.fit(X[:9], y[:9], loss=SCE, optimizer=opt, batch_size=4, shuffle=False, verbose=0)
    assert np.isfinite(h.history["loss"]).all() and np.isfinite(m.forward(X)).all()


def test_fit_edge_cases():
    X, y = _data()
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    w0 = m.get_weights()
    assert m.fit(X, y, loss=SCE, optimizer=opt, epochs=0, verbose=0).history == {}
    assert m.fit(X, y, loss=SCE, optimizer=opt, epochs=1, initial_epoch=3, verbose=0).history == {}
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="empty"):
        m.fit(X, y, loss=SCE, optimizer=opt, validation_data=(X[:0], y[:0]), verbose=0)
    with pytest.raises(ValueError):
        m.fit(X, y, loss=SCE, optimizer=opt, validation_split=0.01, verbose=0)
    with pytest.raises(ValueError, match="non-finite"):
        m.fit(X, y, loss=SCE, optimizer=opt, schedule=lambda s: float("nan"), verbose=0)
    other = _model(seed=1)
    with pytest.raises(ValueError, match="another model"):
        other.fit(X, y, loss=SCE, optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="another model"):
        m[:1].train_step(X, np.zeros((20, 8)), "mse", opt)
    with pytest.raises(ValueError, match="one model"):
        fn.optim.SGD(m.parameters() + other.parameters(), lr=0.1)


# ----------------------------------------------------------------- silent wrong answers
@pytest.mark.parametrize("kind", ["float64", "int", "fortran", "strided", "negstride", "list"])
def test_predict_equals_forward_for_any_layout(kind):
    X, _ = _data()
    m = _model()
    Xv = {
        "float64": X.astype(np.float64),
        "int": (X * 3).astype(np.int64),
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=0)[::2],
        "negstride": X[::-1].copy()[::-1],
        "list": X.tolist(),
    }[kind]
    ref = m.forward(np.ascontiguousarray(np.asarray(Xv, dtype=np.float32)))
    for bs in (None, 1, 3, 7, 20, 2**40):
        np.testing.assert_array_equal(m.predict(Xv, batch_size=bs), ref)
    np.testing.assert_array_equal(m.forward(Xv), ref)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "RMSprop"])
def test_full_batch_fit_without_shuffle_equals_one_train_step(opt_name):
    X, y = _data()
    a, b = _model(bn=True), _model(bn=True)
    oa = getattr(fn.optim, opt_name)(a.parameters(), lr=0.05)
    ob = getattr(fn.optim, opt_name)(b.parameters(), lr=0.05)
    h = a.fit(X, y, loss=SCE, optimizer=oa, batch_size=len(X), shuffle=False, verbose=0)
    loss = b.train_step(X, y, SCE, ob)
    np.testing.assert_allclose(h.history["loss"][0], loss, rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    # a batch_size past the data is the same single batch
    c = _model(bn=True)
    oc = getattr(fn.optim, opt_name)(c.parameters(), lr=0.05)
    c.fit(X, y, loss=SCE, optimizer=oc, batch_size=2**40, shuffle=False, verbose=0)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_allclose(wa, wc, rtol=1e-6, atol=1e-7)


def test_evaluate_equals_numpy_loss_of_predict():
    X, y = _data(n=37)
    m = _model(bn=True)
    opt = fn.optim.Adam(m.parameters(), lr=0.01)
    m.fit(X, y, loss=SCE, optimizer=opt, batch_size=8, verbose=0)
    logits = m.predict(X).astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(len(y)), y].mean()
    acc = (logits.argmax(axis=1) == y).mean()
    for bs in (1, 5, 37, 256):
        res = m.evaluate(X, y, SCE, batch_size=bs)
        np.testing.assert_allclose(res["loss"], ce, rtol=1e-5)
        assert res["accuracy"] == acc
    mse = ((logits - np.eye(3)[y]) ** 2).mean()
    np.testing.assert_allclose(m.evaluate(X, np.eye(3)[y], "mse")["loss"], mse, rtol=1e-5)
    np.testing.assert_allclose(m.evaluate_loss(X, y, SCE), ce, rtol=1e-5)


def test_one_layer_model_tools():
    X, y = _data()
    m = fn.Sequential(fn.Dense(4, 3), seed=0)
    w0 = m.get_weights()
    rep = fn.diagnostics.inspect(m, X, y, SCE, fn.optim.Adam(m.parameters(), lr=0.1))
    assert str(rep)
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        fn.lr_find(m, X, y, SCE, opt, steps=1)
    m.forward(X, training=True)
    m.backward(np.ones((20, 3)))
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_norm"):
            fn.clip_grad_norm(m, bad)
    with pytest.raises(ValueError):
        fn.Ensemble([m, fn.Sequential(fn.Dense(4, 2))])
    with pytest.raises(ValueError, match="samples"):
        fn.metrics.accuracy(y, y[:5])


def test_param_groups_edit_takes_effect_and_is_validated():
    # torch.optim idiom: ``for g in opt.param_groups: g["lr"] = x``; it used to be ignored.
    X, y = _data()
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    m.train_step(X, y, SCE, opt)
    opt.param_groups[0]["lr"] = 0.0
    w = m.get_weights()
    m.train_step(X, y, SCE, opt)
    for a, b in zip(w, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    opt.param_groups[0]["lr"] = 0.5
    ref = _model()
    ref.set_weights(w)
    g_ref = fn.optim.SGD(ref.parameters(), lr=0.5)
    m.train_step(X, y, SCE, opt)
    ref.train_step(X, y, SCE, g_ref)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # The group's lr lives in the C++ optimizer: a bad value is refused when it is set.
    for bad, error in ((float("nan"), ValueError), (-1.0, ValueError), ("0.1", TypeError)):
        with pytest.raises(error, match=r"param_groups\[0\]\['lr'\]"):
            opt.param_groups[0]["lr"] = bad
    assert opt.param_groups[0]["lr"] == 0.5
    opt.param_groups[0]["lr"] = 0.1
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['weight_decay'\]"):
        opt.param_groups[0]["weight_decay"] = float("inf")
    assert opt.param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize(
    "key, value",
    [
        ("param_groups", np.zeros(3)),
        ("param_groups", [{"lr": float("nan"), "weight_decay": 0.0, "sizes": None}]),
        ("base_lrs", [float("nan")]),
        ("base_lrs", "x"),
        ("steps", -1),
        ("steps", 2**70),
        ("skipped_steps", None),
        ("slot_steps", [-1, 0, 0, 0]),
        ("state", [np.zeros(3)]),
    ],
)
def test_load_state_dict_rejects_tampered_values(key, value):
    X, y = _data()
    m = _model()
    opt = fn.optim.Adam(m.parameters(), lr=0.01)
    m.train_step(X, y, SCE, opt)
    state = opt.state_dict()
    if key == "param_groups" and isinstance(value, list):
        value[0]["sizes"] = state["param_groups"][0]["sizes"]
    state[key] = value
    fresh = fn.optim.Adam(_model().parameters(), lr=0.01)
    before = fresh.state_dict()
    with pytest.raises((TypeError, ValueError)):
        fresh.load_state_dict(state)
    after = fresh.state_dict()  # nothing was written
    assert after["steps"] == before["steps"] and after["param_groups"] == before["param_groups"]


def test_trainable_and_init_outputs_are_checked():
    m = _model()
    with pytest.raises(TypeError, match="trainable"):
        m.parameters()[0].trainable = "no"
    assert m.parameters()[0].trainable is True
    with pytest.raises(ValueError, match="NaN"):
        fn.Sequential(fn.Dense(4, 3, init=lambda shape, *a: np.full(shape, np.nan)))
    with pytest.raises(TypeError, match="init output"):
        fn.Sequential(fn.Dense(4, 3, init=lambda shape, *a: "abc"))
    with pytest.raises(ValueError, match="shape"):
        fn.Sequential(fn.Dense(4, 3, init=lambda shape, *a: np.zeros((2, 2))))
    w = np.arange(12, dtype=np.float64).reshape(4, 3)
    m = fn.Sequential(fn.Dense(4, 3, init=lambda shape, *a: w))
    np.testing.assert_array_equal(m.parameters()[0].data, w.astype(np.float32))


@pytest.mark.parametrize(
    "args", [["--hidden", "99999999999"], ["--threads", "-1"], ["--threads", "99999"]]
)
def test_cli_bad_sizes_give_one_line_error(args, capsys):
    from fastnet.__main__ import main

    assert main(["train", "--epochs", "1", *args]) == 2  # was a traceback (exit 1)
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


@pytest.mark.parametrize(
    "make",
    [
        lambda v, tmp: fn.callbacks.EarlyStopping(restore_best_weights=v),
        lambda v, tmp: fn.callbacks.ModelCheckpoint(str(tmp / "ck"), save_best_only=v),
        lambda v, tmp: fn.callbacks.CSVLogger(str(tmp / "log.csv"), append=v),
    ],
)
@pytest.mark.parametrize("value", ["no", 0, None, float("nan")])
def test_callback_flags_must_be_bools(make, value, tmp_path):
    with pytest.raises(TypeError, match="True or False"):
        make(value, tmp_path)
    make(False, tmp_path)


def test_initializers_work_in_a_fresh_process_before_any_model():
    # The global generator is created lazily; fn.init.* used to read it while still None
    # (AttributeError: 'NoneType' object has no attribute 'normal').
    out = _outcomes(
        _run_isolated("""
        for name in ("normal", "uniform", "glorot_normal", "glorot_uniform", "he_normal",
                     "he_uniform", "lecun_normal", "lecun_uniform", "orthogonal"):
            f = getattr(fn.init, name)
            case(name, lambda: np.isfinite(f((5, 3))).all() or 1 / 0, ())
            case(name + "_bad", lambda: f((-1, 3)))
    """)
    )
    for k, v in out.items():
        assert v == ("ValueError" if k.endswith("_bad") else "ok"), (k, v)


def test_metrics_refuse_non_finite_scores():
    # argmax of a NaN row is 0: accuracy(y, nan scores) used to return a plausible number.
    y = np.arange(10) % 3
    scores = np.eye(3)[y] * 0.9 + 0.03
    assert fn.metrics.accuracy(y, scores) == 1.0
    assert fn.metrics.accuracy(y, scores.tolist()) == 1.0
    for bad in (scores * np.nan, np.where(scores > 0.5, np.inf, 0.0)):
        with pytest.raises(ValueError, match="NaN or Inf"):
            fn.metrics.accuracy(y, bad)
        with pytest.raises(ValueError, match="NaN or Inf"):
            fn.metrics.confusion_matrix(y, bad)
        with pytest.raises(ValueError, match="NaN or Inf"):
            fn.metrics.accuracy(bad, scores)
    np.testing.assert_array_equal(fn.metrics.confusion_matrix(y, scores), np.diag([4, 3, 3]))
