"""Callbacks: hook order, Keras semantics of EarlyStopping / ReduceLROnPlateau /
ModelCheckpoint / TerminateOnNaN / CSVLogger, and Sequential.get_weights/set_weights."""

import csv
import math
import warnings

import numpy as np
import pytest
from conftest import mlp

import fastnet as fn
from fastnet.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

LOSS = "sparse_categorical_crossentropy"


def make_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X, y


def make_model(seed=0):
    return mlp(6, 16, 3, seed=seed)


class Recorder(Callback):
    """Logs every hook; optionally injects a crafted 'score' into the epoch logs (callbacks
    after it see it) and snapshots the weights at each epoch end."""

    def __init__(self, scores=None, batch_interval=None):
        super().__init__()
        self.batch_interval = batch_interval
        self.events, self.scores, self.snapshots = [], scores, []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        if self.scores is not None:
            logs["score"] = self.scores[epoch]
        self.snapshots.append(self.model.get_weights())
        self.events.append(("epoch_end", epoch))

    def on_batch_end(self, step, logs=None):
        self.events.append(("batch_end", step))


class FakeModel:
    """Enough of a model to drive a callback by hand."""

    def __init__(self, optimizer=None):
        self.stop_training = False
        self.optimizer = optimizer


def drive(cb, values, key="val_loss", model=None):
    """Feed a crafted sequence to cb; returns the epoch at which it asked to stop (or None)."""
    model = model or FakeModel()
    cb.set_model(model)
    cb.on_train_begin({})
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {key: v})
        if model.stop_training:
            return epoch
    return None


# --------------------------------------------------------------------------- dispatch


def test_hooks_fire_in_order():
    X, y = make_data(64)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder(batch_interval=2)
    model.fit(
        X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=16, callbacks=[rec], verbose=0, seed=0
    )
    # 4 steps per epoch, on_batch_end every 2 steps with the global step index.
    expected = [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_end", 1),
        ("batch_end", 3),
        ("epoch_end", 0),
        ("epoch_begin", 1),
        ("batch_end", 5),
        ("batch_end", 7),
        ("epoch_end", 1),
        ("train_end",),
    ]
    assert rec.events == expected
    assert model.optimizer is opt


# --------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience_on_crafted_sequence():
    seq = [1.0, 0.9, 0.95, 0.91, 0.92, 0.5]
    assert drive(EarlyStopping(patience=2), seq) == 3
    assert drive(EarlyStopping(patience=3), seq) == 4
    assert drive(EarlyStopping(patience=5), seq) is None
    # patience=0 stops at the first non-improving epoch, but never at epoch 0.
    assert drive(EarlyStopping(patience=0), [1.0, 1.0]) == 1
    assert drive(EarlyStopping(patience=0), [1.0]) is None


def test_early_stopping_min_delta_mode_and_baseline():
    # 0.85 is not below 1.0 - 0.2, so epoch 1 is no improvement.
    cb = EarlyStopping(patience=1, min_delta=0.2)
    assert drive(cb, [1.0, 0.85, 0.7]) == 1
    assert cb.best == 1.0 and cb.stopped_epoch == 1
    # "accuracy" in the name: auto mode maximizes.
    assert (
        drive(
            EarlyStopping(monitor="val_accuracy", patience=1),
            [0.5, 0.6, 0.55, 0.7],
            key="val_accuracy",
        )
        == 2
    )
    assert drive(EarlyStopping(monitor="val_loss", mode="max", patience=1), [0.5, 0.4]) == 1
    # Improvements that do not beat the baseline do not reset the patience counter.
    seq = [0.9, 0.8, 0.85]
    assert drive(EarlyStopping(patience=2), seq) is None
    assert drive(EarlyStopping(patience=2, baseline=0.5), seq) == 2


def test_early_stopping_restores_best_weights_in_fit():
    X, y = make_data()
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(scores=[3.0, 1.0, 2.0, 2.5, 0.1, 0.1])
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    hist = model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=6,
        batch_size=16,
        callbacks=[rec, stop],
        verbose=0,
        seed=0,
    )
    assert hist.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3 and stop.best_epoch == 1
    for now, best in zip(model.get_weights(), rec.snapshots[1]):
        np.testing.assert_array_equal(now, best)
    assert not np.array_equal(rec.snapshots[3][0], rec.snapshots[1][0])


def test_early_stopping_restores_when_training_finishes_and_matches_val_loss():
    X, y = make_data(160)
    Xv, yv = make_data(64, seed=1)
    model = make_model(3)
    opt = fn.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    stop = EarlyStopping(patience=100, restore_best_weights=True)
    hist = model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=8,
        batch_size=16,
        validation_data=(Xv, yv),
        callbacks=[stop],
        verbose=0,
        seed=0,
    )
    assert len(hist.epoch) == 8 and stop.stopped_epoch == 0
    best = int(np.argmin(hist.history["val_loss"]))
    assert stop.best_epoch == best
    val = model.evaluate(Xv, yv, LOSS)["loss"]
    assert val == pytest.approx(min(hist.history["val_loss"]), rel=1e-5)


def test_missing_monitor_warns_with_available_keys():
    X, y = make_data(32)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.01)
    with pytest.warns(RuntimeWarning, match="val_loss.*available keys: .*loss"):
        hist = model.fit(
            X,
            y,
            loss=LOSS,
            optimizer=opt,
            epochs=3,
            batch_size=16,
            callbacks=[EarlyStopping(patience=0)],
            verbose=0,
        )
    assert len(hist.epoch) == 3


def test_bad_callback_arguments():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(TypeError, match="monitor"):
        EarlyStopping(monitor=3)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau(min_lr=-1)
    with pytest.raises(TypeError, match="path"):
        ModelCheckpoint(3)
    with pytest.raises(ValueError, match="batch_interval"):
        TerminateOnNaN(batch_interval=0)


# --------------------------------------------------------------------------- ReduceLROnPlateau


def test_reduce_lr_patience_cooldown_min_lr():
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=1.0)
    cb = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.1)
    fake = FakeModel(opt)
    cb.set_model(fake)
    cb.on_train_begin({})
    lrs = []
    for epoch in range(11):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
        lrs.append(opt.lr)
    # Keras semantics worked by hand: reduce after 2 flat epochs, 1 cooldown epoch (which
    # resets the counter), floor at min_lr.
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1, 0.1, 0.1]
    assert not fake.stop_training


def test_reduce_lr_improvement_resets_and_groups_keep_ratio():
    model = make_model()
    params = model.parameters()
    opt = fn.optim.SGD([{"params": params[:2], "lr": 0.01}, {"params": params[2:]}], lr=0.1)
    cb = ReduceLROnPlateau(factor=0.1, patience=1, min_delta=0.05)
    cb.set_model(FakeModel(opt))
    cb.on_train_begin({})
    # 0.97 is not an improvement on 1.0 with min_delta=0.05 -> reduce at epoch 1.
    for epoch, v in enumerate([1.0, 0.97, 0.5, 0.4]):
        cb.on_epoch_end(epoch, {"val_loss": v})
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)
    assert opt.param_groups[1]["lr"] == pytest.approx(0.01)


def test_reduce_lr_in_fit_changes_the_logged_lr():
    X, y = make_data(64)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.2)
    rec = Recorder(scores=[1.0] * 5)
    hist = model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=5,
        batch_size=16,
        verbose=0,
        callbacks=[rec, ReduceLROnPlateau(monitor="score", patience=1, factor=0.5)],
    )
    # The lr column is logged before the callbacks of that epoch run.
    assert hist.history["lr"] == pytest.approx([0.2, 0.2, 0.1, 0.05, 0.025])
    assert opt.lr == pytest.approx(0.0125)


# --------------------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_save_best_only(tmp_path):
    X, y = make_data(64)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(scores=[3.0, 1.0, 2.0, 0.5])
    ckpt = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", monitor="score", save_best_only=True)
    model.fit(
        X, y, loss=LOSS, optimizer=opt, epochs=4, batch_size=16, verbose=0, callbacks=[rec, ckpt]
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m-1.safetensors", "m-2.safetensors", "m-4.safetensors"]
    assert ckpt.saved == [str(tmp_path / f"m-{e}.safetensors") for e in (1, 2, 4)]
    np.testing.assert_array_equal(
        fn.load(tmp_path / "m-4.safetensors").predict(X), model.predict(X)
    )
    for loaded, snap in zip(fn.load(tmp_path / "m-2.safetensors").get_weights(), rec.snapshots[1]):
        np.testing.assert_array_equal(loaded, snap)


def test_model_checkpoint_every_epoch_with_log_fields(tmp_path):
    X, y = make_data(64)
    Xv, yv = make_data(32, seed=2)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    ckpt = ModelCheckpoint(str(tmp_path / "e{epoch:02d}-{val_loss:.4f}.safetensors"))
    hist = model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=2,
        batch_size=16,
        verbose=0,
        validation_data=(Xv, yv),
        callbacks=[ckpt],
    )
    expected = sorted(
        f"e{e + 1:02d}-{v:.4f}.safetensors" for e, v in enumerate(hist.history["val_loss"])
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    bad = ModelCheckpoint(str(tmp_path / "{nope}.safetensors"))
    with pytest.raises(ValueError, match="nope"):
        model.fit(X, y, loss=LOSS, optimizer=opt, epochs=1, verbose=0, callbacks=[bad])


# --------------------------------------------------------------------------- TerminateOnNaN


def test_terminate_on_nan_stops_a_diverging_run():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 4)).astype(np.float32)
    y = (X @ np.array([[3.0], [-2.0], [1.0], [5.0]]) * 100).astype(np.float32)
    model = fn.Sequential(fn.Dense(4, 32, activation="relu"), fn.Dense(32, 1), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=1e4)
    term = TerminateOnNaN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the skipped non-finite steps
        hist = model.fit(
            X, y, loss="mse", optimizer=opt, epochs=20, batch_size=8, verbose=0, callbacks=[term]
        )
    assert term.terminated_at is not None
    assert len(hist.epoch) == 1  # stopped inside the first epoch
    assert term.terminated_at < 256 // 8 - 1
    assert not math.isfinite(hist.history["loss"][-1])


def test_terminate_on_nan_leaves_a_healthy_run_alone():
    X, y = make_data(64)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.05)
    term = TerminateOnNaN(batch_interval=3)
    hist = model.fit(
        X, y, loss=LOSS, optimizer=opt, epochs=3, batch_size=16, verbose=0, callbacks=[term]
    )
    assert len(hist.epoch) == 3 and term.terminated_at is None


# --------------------------------------------------------------------------- CSVLogger


def test_csv_logger_header_and_rows(tmp_path):
    X, y = make_data(64)
    Xv, yv = make_data(32, seed=3)
    model = make_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "log.csv"
    hist = model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=3,
        batch_size=16,
        verbose=0,
        validation_data=(Xv, yv),
        callbacks=[CSVLogger(path)],
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keys = sorted(hist.history)
    assert rows[0] == ["epoch", *keys]
    assert len(rows) == 4
    for epoch, row in enumerate(rows[1:]):
        assert int(row[0]) == epoch
        for k, cell in zip(keys, row[1:]):
            assert float(cell) == hist.history[k][epoch]  # repr round-trips exactly

    # append=True continues the file without a second header; append=False starts over.
    model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=2,
        batch_size=16,
        verbose=0,
        validation_data=(Xv, yv),
        callbacks=[CSVLogger(path, append=True)],
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and rows.count(["epoch", *keys]) == 1
    model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=1,
        batch_size=16,
        verbose=0,
        callbacks=[CSVLogger(path, separator=";")],
    )
    with open(path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch;")


# --------------------------------------------------------------------------- weights


def test_get_set_weights_copies_and_checks():
    model = fn.Sequential(fn.Dense(3, 4), fn.PReLU(4), fn.Dense(4, 2, bias=False), seed=0)
    weights = model.get_weights()
    assert list(model.state_arrays()) == ["0.weight", "0.bias", "1.slope", "2.weight"]
    assert [w.shape for w in weights] == [(3, 4), (4,), (4,), (4, 2)]
    for w, p in zip(weights, model.parameters()):
        np.testing.assert_array_equal(w, p.data)
    weights[0][...] = 7.0  # a copy: the model is unchanged
    assert not np.any(model.get_weights()[0] == 7.0)
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    before = model.predict(X)
    other = fn.Sequential(fn.Dense(3, 4), fn.PReLU(4), fn.Dense(4, 2, bias=False), seed=9)
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(other.predict(X), before)

    good = model.get_weights()
    with pytest.raises(ValueError, match="arrays"):
        model.set_weights(good[:-1])
    bad = [w.copy() for w in good]
    bad[0][...] = 1.0
    bad[-1] = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="expected shape"):
        model.set_weights(bad)
    np.testing.assert_array_equal(model.predict(X), before)  # nothing written on error
    with pytest.raises(TypeError):
        model.set_weights(3)


def test_on_batch_end_only_for_callbacks_that_ask_and_on_their_own_multiples():
    X = np.random.default_rng(0).standard_normal((64 * 8, 4)).astype(np.float32)
    y = np.arange(len(X)) % 3

    class Record(fn.callbacks.Callback):
        def __init__(self, interval):
            super().__init__()
            self.batch_interval = interval
            self.calls = []

        def on_batch_end(self, step, logs=None):
            self.calls.append(logs["batch"])

    never, four, six = Record(None), Record(4), Record(6)
    model = fn.Sequential(fn.Dense(4, 3), seed=0)
    model.fit(
        X,
        y,
        loss="sparse_categorical_crossentropy",
        optimizer=fn.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        batch_size=64,
        verbose=0,
        callbacks=[never, four, six],
    )  # 8 steps; chunks of gcd(4, 6) = 2
    assert never.calls == []
    assert four.calls == [4, 8]
    assert six.calls == [6, 8]  # 8: the epoch's last chunk
