"""fit / evaluate / predict (fastnet/training.py, csrc/model/fit.cpp)."""

import numpy as np
import pytest
from conftest import mlp, teacher_data

import fastnet as fn

LOSS = "sparse_categorical_crossentropy"


def _data(n=203, d=12, k=4, seed=0):
    return teacher_data(n, d, k, seed)


def _model(d=12, k=4, seed=0, **kw):
    return mlp(d, 32, k, seed=seed, **kw)


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


def test_fit_learns_and_records_history():
    X, y = _data()
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    h = m.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=15,
        batch_size=16,
        seed=0,
        verbose=0,
        validation_split=0.2,
    )
    assert set(h.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm"}
    assert len(h.history["loss"]) == 15 and h.epoch == list(range(15))
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert h.history["accuracy"][-1] > 0.9
    # the reported val_loss is the inference-mode loss on the last 20% of the rows
    cut = X.shape[0] - int(X.shape[0] * 0.2)
    ev = m.evaluate(X[cut:], y[cut:], LOSS)
    assert ev["loss"] == pytest.approx(h.history["val_loss"][-1], rel=1e-6)
    assert ev["accuracy"] == pytest.approx(h.history["val_accuracy"][-1])


def test_fit_matches_a_hand_written_loop_of_train_steps():
    """fit = shuffled minibatches (last partial batch kept) through train_step, bit for bit."""
    fn.set_num_threads(1)
    try:
        X, y = _data(n=70)
        a, b = _model(seed=3), _model(seed=3)
        oa = fn.optim.SGD(a.parameters(), lr=0.05, momentum=0.9)
        ob = fn.optim.SGD(b.parameters(), lr=0.05, momentum=0.9)
        h = a.fit(X, y, loss=LOSS, optimizer=oa, epochs=2, batch_size=32, seed=7, verbose=0)
        rng = np.random.default_rng(7)
        losses = []
        for _ in range(2):
            order = rng.permutation(70)
            tot = 0.0
            for s in range(0, 70, 32):  # batches of 32, 32 and 6
                idx = order[s : s + 32]
                tot += b.train_step(X[idx], y[idx], LOSS, ob) * len(idx)
            losses.append(tot / 70)
        for wa, wb in zip(_weights(a), _weights(b)):
            np.testing.assert_array_equal(wa, wb)
        np.testing.assert_allclose(h.history["loss"], losses, rtol=1e-12)
        assert oa.steps == ob.steps == 6
    finally:
        fn.set_num_threads(fn._config.available_cores())


def test_fit_is_reproducible_and_callback_interval_does_not_change_results():
    fn.set_num_threads(1)
    try:
        X, y = _data()
        runs = []
        for interval in (None, 3):
            m = _model(seed=1)
            opt = fn.optim.SGD(m.parameters(), lr=0.05)
            seen = []

            class Every(fn.callbacks.Callback):
                batch_interval = interval

                def on_batch_end(self, step, logs=None, seen=seen):
                    seen.append(step)

            m.fit(
                X,
                y,
                loss=LOSS,
                optimizer=opt,
                epochs=2,
                batch_size=16,
                seed=5,
                verbose=0,
                callbacks=[Every()],
            )
            runs.append((_weights(m), seen))
        for wa, wb in zip(runs[0][0], runs[1][0]):
            np.testing.assert_array_equal(wa, wb)
        assert runs[1][1][:3] == [2, 5, 8]  # every 3 steps
        assert runs[0][1] == []  # batch_interval None: never
    finally:
        fn.set_num_threads(fn._config.available_cores())


def test_fit_applies_a_per_step_schedule():
    X, y = _data(n=64)
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    sched = lambda t: 0.1 * 0.5**t  # noqa: E731
    h = m.fit(X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=16, schedule=sched, verbose=0)
    # 4 steps per epoch: the lr used last in epoch e is sched(4e + 3)
    assert h.history["lr"] == pytest.approx([sched(3), sched(7)])
    assert opt.lr == pytest.approx(sched(7))


def test_fit_schedule_matches_manual_lr_setting():
    fn.set_num_threads(1)
    try:
        X, y = _data(n=48)
        a, b = _model(seed=2), _model(seed=2)
        oa = fn.optim.SGD(a.parameters(), lr=0.2, momentum=0.5)
        ob = fn.optim.SGD(b.parameters(), lr=0.2, momentum=0.5)
        sched = lambda t: 0.2 / (1 + t)  # noqa: E731
        a.fit(
            X,
            y,
            loss=LOSS,
            optimizer=oa,
            epochs=1,
            batch_size=16,
            schedule=sched,
            shuffle=False,
            verbose=0,
        )
        for t, s in enumerate(range(0, 48, 16)):
            ob.lr = sched(t)
            b.train_step(X[s : s + 16], y[s : s + 16], LOSS, ob)
        for wa, wb in zip(_weights(a), _weights(b)):
            np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    finally:
        fn.set_num_threads(fn._config.available_cores())


def test_regression_fit_and_evaluate():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 5)).astype(np.float32)
    y = (X @ rng.standard_normal(5)).astype(np.float32)
    m = fn.Sequential(fn.Dense(5, 16, activation="tanh"), fn.Dense(16, 1), seed=0)
    opt = fn.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    h = m.fit(X, y, loss="mse", optimizer=opt, epochs=30, batch_size=32, verbose=0)
    assert "accuracy" not in h.history
    ev = m.evaluate(X, y, "mse")
    ref = float(np.mean((m.predict(X)[:, 0] - y) ** 2))
    assert ev["loss"] == pytest.approx(ref, rel=1e-5)
    assert ev["loss"] < 0.1 * float(np.var(y))


def test_predict_batched_equals_unbatched():
    X, _ = _data(n=101)
    m = _model()
    np.testing.assert_allclose(m.predict(X, batch_size=7), m.predict(X), rtol=1e-6, atol=1e-6)


def test_batchnorm_fit_absorbs_a_single_leftover_row():
    X, y = _data(n=33)
    m = fn.Sequential(fn.Dense(12, 16), fn.BatchNorm(16), fn.ReLU(), fn.Dense(16, 4), seed=0)
    opt = fn.optim.SGD(m.parameters(), lr=0.05)
    h = m.fit(X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=16, verbose=0)
    assert opt.steps == 4  # 16 + 17 rows per epoch, never a batch of one
    assert np.isfinite(h.history["loss"]).all()


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"epochs": -1}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"epochs": 1.5}, TypeError),
        ({"validation_split": 1.0}, ValueError),
        ({"verbose": 5}, ValueError),
        ({"metrics": ["f1"]}, ValueError),
        ({"schedule": 3}, TypeError),
        ({"validation_data": [1, 2, 3, 4]}, TypeError),  # (X, y[, w]) since issue 12
        ({"callbacks": [object()]}, TypeError),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, err):
    X, y = _data(n=32)
    m = _model()
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    args = dict(loss=LOSS, optimizer=opt, epochs=1, verbose=0)
    args.update(kwargs)
    with pytest.raises(err):
        m.fit(X, y, **args)


def test_fit_rejects_bad_data_and_foreign_optimizer():
    X, y = _data(n=32)
    m, other = _model(), _model()
    opt = fn.optim.SGD(other.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="another model"):
        m.fit(X, y, loss=LOSS, optimizer=opt, verbose=0)
    opt = fn.optim.SGD(m.parameters(), lr=0.1)
    bad = y.copy()
    bad[0] = 9
    with pytest.raises(ValueError, match="y"):
        m.fit(X, bad, loss=LOSS, optimizer=opt, verbose=0)
    Xn = X.copy()
    Xn[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(Xn, y, loss=LOSS, optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="features"):
        m.fit(X[:, :5], y, loss=LOSS, optimizer=opt, verbose=0)


def test_bad_validation_labels_are_named_y_val():
    X = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    y = np.arange(20) % 3
    model = fn.Sequential(fn.Dense(4, 3), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="y_val"):
        model.fit(
            X,
            y,
            loss="sparse_categorical_crossentropy",
            optimizer=opt,
            verbose=0,
            validation_data=(X[:5], np.array([0, 1, 2, 7, 0])),
        )
    with pytest.raises(ValueError, match="y_val"):
        model.fit(
            X,
            np.eye(3)[y],
            loss="mse",
            optimizer=opt,
            verbose=0,
            validation_data=(X[:5], np.ones((5, 4))),
        )
