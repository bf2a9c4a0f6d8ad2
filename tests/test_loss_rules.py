"""Issue 12 part 3: losses that cannot be misused (from_logits follows the model), accuracy
for binary and multi-label outputs, regression and custom metrics, sample and class weights in
the C++ loss (against NumPy and finite differences), and custom losses."""

import numpy as np
import pytest

import fastnet as fn
from fastnet import _engine
from fastnet.training import resolve_loss


def _digits():
    X, y, Xt, yt = fn.datasets.load_digits(seed=0)
    return X, y, Xt, yt


def test_softmax_output_with_sparse_ce_trains_instead_of_stalling():
    # The issue: softmax applied twice stalled at 1.51. The loss now reads probabilities.
    X, y, Xt, yt = _digits()
    model = fn.Sequential(fn.Dense(64, 64, activation="relu"), fn.Dense(64, 10), fn.Softmax(),
                          seed=0)  # fmt: skip
    assert resolve_loss("sparse_categorical_crossentropy", model).from_logits is False
    opt = fn.optim.Adam(model.parameters(), lr=1e-3)
    h = model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=opt, epochs=10,
                  verbose=0, seed=0)  # fmt: skip
    assert h.history["loss"][-1] < 0.3
    res = model.evaluate(Xt, yt, "sparse_categorical_crossentropy")
    p = model.predict(Xt).astype(np.float64)
    ref = -np.mean(np.log(np.clip(p[np.arange(len(yt)), yt], 1e-7, 1 - 1e-7)))
    assert res["loss"] == pytest.approx(ref, rel=1e-4) and res["accuracy"] > 0.9


def test_linear_output_with_binary_ce_uses_the_logits_form():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.float32).reshape(-1, 1)
    model = fn.Sequential(fn.Dense(8, 16, activation="relu"), fn.Dense(16, 1), seed=0)
    assert resolve_loss("binary_crossentropy", model).from_logits is True
    opt = fn.optim.Adam(model.parameters(), lr=1e-2)
    h = model.fit(X, y, loss="binary_crossentropy", optimizer=opt, epochs=20, verbose=0, seed=0)
    assert "accuracy" in h.history  # one-output binary: threshold, no longer refused
    z = model.predict(X).astype(np.float64)
    res = model.evaluate(X, y, "binary_crossentropy")
    ref = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    assert res["loss"] == pytest.approx(ref, rel=1e-4)
    assert res["accuracy"] == pytest.approx(np.mean((z > 0) == (y > 0.5)))
    assert res["accuracy"] > 0.95


def test_sigmoid_output_binary_and_multilabel_accuracy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    Y = (rng.random((50, 3)) > 0.5).astype(np.float32)
    model = fn.Sequential(fn.Dense(4, 3), fn.Sigmoid(), seed=0)
    assert resolve_loss("binary_crossentropy", model).from_logits is False
    res = model.evaluate(X, Y, "binary_crossentropy")
    p = model.predict(X)
    assert res["accuracy"] == pytest.approx(np.mean((p > 0.5) == (Y > 0.5)))  # per label


def test_contradictions_are_clear_errors():
    from functools import partial

    soft = fn.Sequential(fn.Dense(4, 3), fn.Softmax())
    with pytest.raises(ValueError, match="from_logits=True, but the model's last layer"):
        resolve_loss(partial(fn.losses.categorical_crossentropy, from_logits=True), soft)
    sig = fn.Sequential(fn.Dense(4, 3, activation="sigmoid"))
    with pytest.raises(ValueError, match="sigmoid, whose outputs do not sum to 1"):
        resolve_loss("sparse_categorical_crossentropy", sig)
    lin = fn.Sequential(fn.Dense(4, 1))
    with pytest.raises(ValueError, match="from_logits=False, but the model's last layer"):
        resolve_loss(partial(fn.losses.binary_crossentropy, from_logits=False), lin)
    with pytest.raises(ValueError, match="accuracy metric needs a classification output"):
        lin.evaluate(np.zeros((2, 4)), np.zeros((2, 1)), "mse", metrics=["accuracy"])


# --------------------------------------------------------------------------- weights


def _row_losses(name, p, t, labels):
    """float64 per-row losses (NumPy reference; element-wise losses: the row mean)."""
    p = p.astype(np.float64)
    if name == "mse":
        return ((p - t) ** 2).mean(1)
    if name == "huber":
        e = np.abs(p - t)
        return np.where(e <= 1, 0.5 * e**2, e - 0.5).mean(1)
    if name == "binary_crossentropy":  # logits
        return (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(1)
    z = p - p.max(1, keepdims=True)
    logsm = z - np.log(np.exp(z).sum(1, keepdims=True))
    if name == "categorical_crossentropy":  # logits
        return -(t * logsm).sum(1)
    return -logsm[np.arange(len(labels)), labels]


@pytest.mark.parametrize(
    "name",
    ["mse", "huber", "binary_crossentropy", "categorical_crossentropy",
     "sparse_categorical_crossentropy"],
)  # fmt: skip
def test_weighted_loss_value_and_gradient(name):
    rng = np.random.default_rng(2)
    rows, cols = 7, 4
    p = rng.normal(size=(rows, cols)).astype(np.float32)
    labels = rng.integers(0, cols, rows).astype(np.int32)
    t = np.eye(cols, dtype=np.float32)[labels] if "categorical" in name else None
    if t is None:
        t = rng.random((rows, cols)).astype(np.float32)
    if name == "sparse_categorical_crossentropy":
        t = None
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25, 1.5], dtype=np.float32)
    logits = name != "mse" and name != "huber"

    def value(pred):
        v, _ = _engine.loss_forward_backward(
            name, pred.astype(np.float32), t, labels if t is None else None, 1.0, logits,
            False, w)  # fmt: skip
        return v

    v, g = _engine.loss_forward_backward(
        name, p, t, labels if t is None else None, 1.0, logits, True, w
    )
    ref = np.sum(w * _row_losses(name, p, t, labels)) / np.sum(w)
    assert v == pytest.approx(ref, rel=1e-5)
    # Central finite differences of the C++ value (float32 inputs: a coarse step).
    eps = 1e-2
    fd = np.zeros_like(p, dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            hi, lo = p.astype(np.float64).copy(), p.astype(np.float64).copy()
            hi[i, j] += eps
            lo[i, j] -= eps
            fd[i, j] = (value(hi) - value(lo)) / (2 * eps)
    np.testing.assert_allclose(g, fd, atol=2e-4, rtol=1e-2)
    assert np.all(g[2] == 0)  # a zero weight drops the row
    # Equal weights are the unweighted mean.
    v1, _ = _engine.loss_forward_backward(
        name, p, t, labels if t is None else None, 1.0, logits, False, np.full(rows, 3.0, np.float32)
    )  # fmt: skip
    v0, _ = _engine.loss_forward_backward(
        name, p, t, labels if t is None else None, 1.0, logits, False
    )
    assert v1 == pytest.approx(v0, rel=1e-6)


def test_evaluate_and_fit_with_sample_and_class_weights():
    X, y, Xt, yt = _digits()
    model = fn.Sequential(fn.Dense(64, 10), seed=0)
    w = np.random.default_rng(3).random(len(yt)).astype(np.float32)
    res = model.evaluate(Xt, yt, "sparse_categorical_crossentropy", sample_weight=w)
    z = model.predict(Xt)
    ref = np.sum(w * _row_losses("sparse", z, None, yt)) / np.sum(w)
    assert res["loss"] == pytest.approx(ref, rel=1e-5)
    cw = {k: float(k + 1) for k in range(10)}
    by_class = model.evaluate(Xt, yt, "sparse_categorical_crossentropy", class_weight=cw)
    same = model.evaluate(Xt, yt, "sparse_categorical_crossentropy",
                          sample_weight=(yt + 1).astype(np.float32))  # fmt: skip
    assert by_class["loss"] == pytest.approx(same["loss"], rel=1e-6)
    counts = np.bincount(yt, minlength=10)
    balanced = model.evaluate(Xt, yt, "sparse_categorical_crossentropy", class_weight="balanced")
    bw = (len(yt) / (10 * counts))[yt]
    ref = np.sum(bw * _row_losses("sparse", z, None, yt)) / np.sum(bw)
    assert balanced["loss"] == pytest.approx(ref, rel=1e-5)
    # fit: weights reach the C++ step (zero weight on a class: its rows never pull the model)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    h = model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=opt, epochs=2,
                  class_weight={3: 0.0}, validation_data=(Xt, yt, w), verbose=0, seed=0)  # fmt: skip
    assert np.isfinite(h.history["val_loss"]).all()
    pred = model.predict(Xt).argmax(1)
    assert np.sum(pred == 3) < 5
    for bad, err in [(-np.ones(len(y)), ValueError), (np.ones(3), ValueError), ("x", TypeError)]:
        with pytest.raises(err, match="sample_weight"):
            model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=opt,
                      sample_weight=bad, verbose=0)  # fmt: skip
    with pytest.raises(ValueError, match="class_weight: class 12"):
        model.evaluate(Xt, yt, "sparse_categorical_crossentropy", class_weight={12: 1.0})


# --------------------------------------------------------------------------- metrics, custom


def test_regression_and_custom_metrics():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    Y = (X @ rng.normal(size=(3, 2))).astype(np.float32)
    model = fn.Sequential(fn.Dense(3, 2), seed=0)

    def max_error(y_true, y_pred):
        return float(np.max(np.abs(y_true - y_pred)))

    res = model.evaluate(X, Y, "mse", metrics=["mae", "mse", "rmse", "r2", max_error])
    P = model.predict(X).astype(np.float64)
    assert res["mae"] == pytest.approx(sk.mean_absolute_error(Y, P), rel=1e-6)
    assert res["mse"] == pytest.approx(sk.mean_squared_error(Y, P), rel=1e-6)
    assert res["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(Y, P)), rel=1e-6)
    assert res["r2"] == pytest.approx(sk.r2_score(Y, P), rel=1e-6)
    assert res["max_error"] == pytest.approx(np.max(np.abs(Y - P)), rel=1e-6)
    assert res["mse"] == pytest.approx(res["loss"], rel=1e-5)
    opt = fn.optim.Adam(model.parameters(), lr=1e-2)
    h = model.fit(X, Y, loss="mse", optimizer=opt, epochs=3, metrics=["r2"],
                  validation_split=0.25, verbose=0, seed=0)  # fmt: skip
    assert len(h.history["r2"]) == 3 and len(h.history["val_r2"]) == 3
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        model.evaluate(X, Y, "mse", metrics=["f1"])


def test_custom_loss_matches_the_builtin():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    Y = rng.normal(size=(64, 2)).astype(np.float32)

    def my_mse(y_true, y_pred):
        e = y_pred.astype(np.float64) - y_true
        return float(np.mean(e**2)), (2 * e / e.size).astype(np.float32)

    runs = []
    for loss in ("mse", my_mse):
        model = fn.Sequential(fn.Dense(5, 8, activation="tanh"), fn.Dense(8, 2), seed=0)
        opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        h = model.fit(X, Y, loss=loss, optimizer=opt, epochs=3, batch_size=16, verbose=0, seed=1)
        runs.append((h.history["loss"], model.predict(X), model.evaluate(X, Y, loss)["loss"]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-5, atol=1e-6)
    assert runs[0][2] == pytest.approx(runs[1][2], rel=1e-5)

    def bad(y_true, y_pred):
        return 1.0, np.zeros((1, 1))

    model = fn.Sequential(fn.Dense(5, 2), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="gradient"):
        model.fit(X, Y, loss=bad, optimizer=opt, verbose=0)
