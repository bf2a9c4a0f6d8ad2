"""fastnet/_engine.py is the one seam to the C++ extension; state C++ reads lives in C++; fit
keeps its state in a TrainingContext; one error policy for call order and shapes."""

import inspect
import pathlib
import re

import numpy as np
import pytest

import fastnet as fn
from fastnet.callbacks import Callback

PACKAGE = pathlib.Path(fn.__file__).parent
# _engine.py is the seam; __init__.py's comment names _core (OpenBLAS must load first).
ALLOWED = {"_engine.py", "__init__.py"}
CORE = re.compile(r"\b_core\b")


def test_only_the_engine_touches_core():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")) + sorted(PACKAGE.rglob("*.pyx")):
        if path.relative_to(PACKAGE).as_posix() in ALLOWED:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if CORE.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert not offenders, "modules other than _engine.py reach _core:\n" + "\n".join(offenders)


def test_the_check_finds_a_touch(tmp_path):
    # The pattern the test above relies on matches the ways code reaches the extension.
    for line in ("from . import _core", "model._core.step", 'getattr(m, "_core")'):
        assert CORE.search(line)
    assert not CORE.search("self._core_index = []")


def _model(seed=0):
    return fn.Sequential(fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3), seed=seed)


def _data(n=32):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


# ----------------------------------------------------------------------------- state in C++


def test_param_group_settings_live_in_the_cpp_optimizer():
    m = _model()
    opt = fn.optim.SGD(
        [
            {"params": m[0].parameters(), "lr": 0.1},
            {"params": m[1].parameters(), "lr": 0.01, "weight_decay": 0.5},
        ]
    )
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [dict(g)["weight_decay"] for g in opt.param_groups] == [0.0, 0.5]
    opt.param_groups[1]["lr"] = 0.25
    assert fn._engine.slot_lr(opt, 2) == 0.25 and fn._engine.slot_lr(opt, 0) == 0.1
    opt.lr = 0.2  # the group ratio (0.25 / 0.1) is kept from the construction-time rates
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[1]["lr"] == pytest.approx(0.02)
    for bad, error in ((-1.0, ValueError), (float("inf"), ValueError), (None, TypeError)):
        with pytest.raises(error, match=r"param_groups\[1\]\['lr'\]"):
            opt.param_groups[1]["lr"] = bad
    with pytest.raises(TypeError, match="params"):
        opt.param_groups[0]["params"] = []


def test_trainable_flag_lives_in_the_cpp_model():
    X, y = _data()
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    before = [p.data.copy() for p in m.parameters()]
    m[0].freeze()  # the optimizer reads the model's flag at its next step: no sync
    assert [fn._engine.param_trainable(m, p._index) for p in m.parameters()] == [
        False,
        False,
        True,
        True,
    ]
    m.train_step(X, y, "sparse_categorical_crossentropy", opt)
    after = [p.data for p in m.parameters()]
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])
    with pytest.raises(TypeError, match="trainable must be True or False"):
        m.parameters()[0].trainable = "yes"
    for gone in ("_sync", "_dirty", "_synced_version", "_synced_hparams", "_lr_factor"):
        assert not hasattr(opt, gone)
    assert not hasattr(m, "_trainable_version")


def test_fit_leaves_the_scheduled_rate_in_cpp():
    X, y = _data(64)
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    sched = lambda t: 0.1 / (1 + t)  # noqa: E731
    m.fit(
        X,
        y,
        loss="sparse_categorical_crossentropy",
        optimizer=opt,
        epochs=1,
        batch_size=16,
        schedule=sched,
        verbose=0,
    )
    # The last of the 4 steps ran at sched(3): C++ wrote it (float32 arithmetic).
    assert opt.lr == pytest.approx(sched(3), rel=1e-6)


# ----------------------------------------------------------------------------- training context


def test_fit_keeps_its_state_in_a_training_context():
    X, y = _data()
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    seen = {}

    class Stopper(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["context"] = self.context
            if epoch == 1:
                self.model.stop_training = True  # the Keras idiom

    assert m.history is None and m.optimizer is None and m.stop_training is False
    with pytest.raises(RuntimeError, match="stop_training"):
        m.stop_training = True
    hist = m.fit(
        X,
        y,
        loss="sparse_categorical_crossentropy",
        optimizer=opt,
        epochs=5,
        callbacks=[Stopper()],
        verbose=0,
        seed=0,
    )
    ctx = seen["context"]
    assert isinstance(ctx, fn.training.TrainingContext)
    assert ctx.optimizer is opt and ctx.history is hist and ctx.stop_training
    assert hist.epoch == [0, 1]
    assert m.history is hist and m.optimizer is opt
    for attr in ("optimizer", "history", "stop_training", "_fit_rng"):
        assert attr not in vars(m)


# ----------------------------------------------------------------------------- error policy


def test_call_order_errors_are_runtime_errors():
    m = _model()
    with pytest.raises(RuntimeError, match="forward"):
        m.backward(np.ones((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        fn._engine.backward(m, np.ones((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        fn._engine.activation(m, 0)


def test_fit_has_an_explicit_documented_signature():
    for name in ("fit", "evaluate", "predict", "train_step"):
        sig = inspect.signature(getattr(fn.Sequential, name))
        assert all(p.kind is not p.VAR_KEYWORD for p in sig.parameters.values()), name
    doc = fn.Sequential.fit.__doc__
    for name in inspect.signature(fn.Sequential.fit).parameters:
        if name != "self":
            assert f"{name} :" in doc, name
    assert "Returns" in doc and "Raises" in doc


def test_probes_step_through_the_engine_and_leave_no_trace():
    X, y = _data(64)
    m = _model()
    opt = fn.optim.Adam(m.parameters(), lr=0.01)
    m.train_step(X, y, "sparse_categorical_crossentropy", opt)
    norm, weights, state = opt.last_grad_norm, m.get_weights(), opt.state_dict()
    fn.diagnostics.inspect(m, X, y, "sparse_categorical_crossentropy", opt)
    fn.lr_find(m, X, y, "sparse_categorical_crossentropy", opt, steps=5, batch_size=16, seed=0)
    assert opt.last_grad_norm == norm and opt.lr == 0.01
    for a, b in zip(weights, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    after = opt.state_dict()
    assert after["steps"] == state["steps"] and after["slot_steps"] == state["slot_steps"]
