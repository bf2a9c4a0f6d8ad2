"""fn.diagnostics: inspect() statistics against a NumPy forward/backward, the verdict rule on
vanishing / healthy / exploding stacks, no side effects, and GradientMonitor against a NumPy
training replica."""

import math

import numpy as np
import pytest
from conftest import random_data

import fastnet as fn
from fastnet.diagnostics import GradientMonitor, inspect

CE = "sparse_categorical_crossentropy"
N01 = lambda shape, fan_in, fan_out, rng: rng.standard_normal(shape).astype("float32")  # noqa: E731
N10 = lambda shape, fan_in, fan_out, rng: (10 * rng.standard_normal(shape)).astype("float32")  # noqa: E731


def _deep(act, init, depth=20, width=256, d_in=32, seed=0, batchnorm=False):
    layers, w = [], d_in
    for _ in range(depth - 1):
        layers.append(fn.Dense(w, width, init=init))
        if batchnorm:
            layers.append(fn.BatchNorm(width))
        if act is not None:
            layers.append(act())
        w = width
    layers.append(fn.Dense(w, 10, init=init))
    return fn.Sequential(*layers, seed=seed)


def _data(n=128, d=32, seed=0):
    return random_data(n, d, 10, seed)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_statistics_match_numpy_forward_backward():
    rng = np.random.default_rng(1)
    X = (3.0 * rng.standard_normal((50, 6))).astype(np.float32)  # large inputs: some saturation
    y = rng.integers(0, 3, 50)
    model = fn.Sequential(
        fn.Dense(6, 8, activation="tanh"),
        fn.Dense(8, 8),
        fn.ReLU(),
        fn.Dense(8, 4),
        fn.Sigmoid(),
        fn.Dense(4, 3),
        seed=2,
    )
    model[1].parameters()[1].data[:3] = -50.0  # three ReLU units that are never positive
    W = [model[i].parameters()[0].data.astype(np.float64) for i in (0, 1, 3, 5)]
    B = [model[i].parameters()[1].data.astype(np.float64) for i in (0, 1, 3, 5)]
    rep = inspect(model, X, y, CE)
    # NumPy forward.
    a0 = np.tanh(X @ W[0] + B[0])
    z1 = a0 @ W[1] + B[1]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W[2] + B[2]
    a2 = 1 / (1 + np.exp(-z2))
    out = a2 @ W[3] + B[3]
    acts = [a0, z1, a1, z2, a2, out]
    for row, a in zip(rep.layers, acts):
        assert row["act_mean"] == pytest.approx(a.mean(), rel=1e-4, abs=1e-5)
        assert row["act_std"] == pytest.approx(a.std(), rel=1e-4)
    assert rep.layers[0]["saturated_fraction"] == pytest.approx(
        np.mean(np.abs(a0) > 0.99), abs=1e-3
    )
    assert rep.layers[0]["saturated_fraction"] > 0
    assert rep.layers[4]["saturated_fraction"] == pytest.approx(
        np.mean((a2 < 0.01) | (a2 > 0.99)), abs=1e-3
    )
    assert rep.layers[2]["dead_fraction"] == pytest.approx(np.mean(~(a1 > 0).any(axis=0)))
    assert rep.layers[2]["dead_fraction"] >= 3 / 8
    assert rep.layers[1]["dead_fraction"] is None and rep.layers[1]["saturated_fraction"] is None
    # NumPy backward of mean softmax cross-entropy.
    p = _softmax(out)
    p[np.arange(50), y] -= 1
    d3 = p / 50
    g = {3: (a2.T @ d3, d3.sum(0))}
    d2 = (d3 @ W[3].T) * a2 * (1 - a2)
    g[2] = (a1.T @ d2, d2.sum(0))
    d1 = (d2 @ W[2].T) * (z1 > 0)
    g[1] = (a0.T @ d1, d1.sum(0))
    d0 = (d1 @ W[1].T) * (1 - a0**2)
    g[0] = (X.T @ d0, d0.sum(0))
    p = _softmax(out)
    assert rep.loss == pytest.approx(-np.mean(np.log(p[np.arange(50), y])), rel=1e-5)
    for k, li in enumerate((0, 1, 3, 5)):
        gw, gb = g[k]
        row = rep.layers[li]
        assert row["params"]["weight"]["grad_norm"] == pytest.approx(np.linalg.norm(gw), rel=1e-4)
        assert row["params"]["bias"]["grad_norm"] == pytest.approx(np.linalg.norm(gb), rel=1e-4)
        assert row["grad_norm"] == pytest.approx(
            math.hypot(np.linalg.norm(gw), np.linalg.norm(gb)), rel=1e-4
        )
        assert row["params"]["weight"]["weight_norm"] == pytest.approx(
            np.linalg.norm(W[k]), rel=1e-6
        )
    assert rep.layers[2]["grad_norm"] is None  # the ReLU layer holds no parameters
    text = str(rep)
    assert (
        "verdict" in text and "Dense+tanh" in text and len(text.splitlines()) == len(rep.layers) + 5
    )


def test_inspect_has_no_side_effects_and_update_ratio_is_exact():
    Xtr, ytr, _, _ = fn.datasets.load_digits()
    model = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for k in range(3):
        model.train_step(Xtr[k * 32 : (k + 1) * 32], ytr[k * 32 : (k + 1) * 32], CE, opt)
    params = [p.data.copy() for p in model.parameters()]
    grads = [p.grad.copy() for p in model.parameters()]
    state = opt.state_dict()
    step = model._core.step
    rep = inspect(model, Xtr[:100], ytr[:100], CE, optimizer=opt)
    for p, a, g in zip(model.parameters(), params, grads):
        np.testing.assert_array_equal(p.data, a)
        np.testing.assert_array_equal(p.grad, g)
    after = opt.state_dict()
    for a, b in zip(state["state"], after["state"]):
        np.testing.assert_array_equal(a, b)
    assert after["steps"] == state["steps"] and model._core.step == step
    # SGD with momentum (torch): buf <- μ·buf + g; Δw = lr·buf. The momentum buffer lives in the
    # state arena at each parameter's offset.
    buf_arena = state["state"][0]
    for li in (0, 1):
        d_sq = w_sq = 0.0
        for name, p in model[li].named_parameters():
            info = rep.layers[li]["params"][name]
            buf = buf_arena[p._offset : p._offset + p.size].reshape(p.shape).astype(np.float64)
            g = _batch_grad(model, Xtr[:100], ytr[:100], li, name)
            delta = 0.05 * np.linalg.norm(0.9 * buf + g)
            assert info["update_ratio"] == pytest.approx(delta / np.linalg.norm(p.data), rel=1e-3)
            d_sq += delta**2
            w_sq += np.linalg.norm(p.data.astype(np.float64)) ** 2
        assert rep.layers[li]["update_ratio"] == pytest.approx(math.sqrt(d_sq / w_sq), rel=1e-3)
    # Plain SGD on the first step: lr·‖g‖/‖w‖ (the documented shortcut).
    fresh = fn.Sequential(fn.Dense(64, 16, activation="tanh"), fn.Dense(16, 10), seed=4)
    sgd = fn.optim.SGD(fresh.parameters(), lr=0.1)
    r2 = inspect(fresh, Xtr[:64], ytr[:64], CE, optimizer=sgd)
    w = r2.layers[0]["params"]["weight"]
    assert w["update_ratio"] == pytest.approx(0.1 * w["grad_norm"] / w["weight_norm"], rel=1e-4)
    assert r2.layers[0]["params"]["bias"]["update_ratio"] is None  # zero bias: undefined


def _batch_grad(model, X, y, li, name):
    model.forward(X, training=True)
    _, dout = fn.losses.sparse_categorical_crossentropy(model._core.activation(len(model) - 1), y)
    model.backward(dout)
    return dict(model[li].named_parameters())[name].grad.astype(np.float64)


@pytest.mark.parametrize("seed", [0, 1])
def test_deep_sigmoid_with_unit_normal_init_is_vanishing(seed):
    X, y = _data(seed=seed)
    rep = inspect(_deep(fn.Sigmoid, N01, seed=seed), X, y, CE)
    assert rep.verdict == "vanishing", rep.reason
    assert "saturated" in rep.reason  # 65-66% of the hidden sigmoid outputs are saturated


def test_deep_sigmoid_with_glorot_init_vanishes_by_gradient_ratio():
    X, y = _data(d=32)
    rep = inspect(_deep(fn.Sigmoid, "glorot_normal", width=32), X, y, CE)
    assert rep.verdict == "vanishing" and "gradient norm" in rep.reason
    norms = [r["grad_norm"] for r in rep.layers if r["grad_norm"] is not None]
    assert norms[0] < 1e-3 * norms[-1]


@pytest.mark.parametrize("seed", [0, 1])
def test_deep_relu_with_he_init_is_healthy(seed):
    X, y = _data(seed=seed)
    rep = inspect(_deep(fn.ReLU, "he_normal", seed=seed), X, y, CE)
    assert rep.verdict == "healthy", rep.reason
    rep = inspect(_deep(fn.ReLU, "he_normal", seed=seed, batchnorm=True), X, y, CE)
    assert rep.verdict == "healthy", rep.reason


DEPTHS = (5, 10, 20, 30, 40, 50)
SEEDS = range(5)
# Seed 004's example (sigmoid, N(0, 1) weights) and nets initialised as their activation asks.
HEALTHY = {
    "He/ReLU": (fn.ReLU, "he_normal", False),
    "Glorot/tanh": (fn.Tanh, "glorot_normal", False),
    "LeCun/SELU": (fn.SELU, "lecun_normal", False),
    "He/ReLU+BatchNorm": (fn.ReLU, "he_normal", True),
}


def _digits_net(act, init, depth, seed, batchnorm):
    return _deep(act, init, depth=depth, width=64, d_in=64, seed=seed, batchnorm=batchnorm)


def test_verdict_detection_and_false_alarm_rates_over_depths_and_seeds():
    """The seed's sigmoid N(0, 1) MLP is flagged at every depth from 20 layers (it is at 5 and
    10 too), nets initialised for their activation never are; both rates are printed."""
    X, y, _, _ = fn.datasets.load_digits()
    flagged = {d: 0 for d in DEPTHS}
    alarms, healthy_total = [], 0
    for seed in SEEDS:
        rows = np.random.default_rng(seed).choice(len(X), 128, replace=False)
        Xb, yb = X[rows], y[rows]
        for depth in DEPTHS:
            rep = inspect(_digits_net(fn.Sigmoid, N01, depth, seed, False), Xb, yb, CE)
            flagged[depth] += rep.verdict == "vanishing"
            for name, (act, init, bn) in HEALTHY.items():
                rep = inspect(_digits_net(act, init, depth, seed, bn), Xb, yb, CE)
                healthy_total += 1
                if rep.verdict != "healthy":
                    alarms.append((name, depth, seed, rep.verdict, rep.reason))
    rates = {d: flagged[d] / len(SEEDS) for d in DEPTHS}
    print("detection rate (sigmoid, N(0,1)) by depth:", rates)
    print(f"false alarms on healthy nets: {len(alarms)}/{healthy_total}", alarms)
    assert all(rates[d] == 1.0 for d in DEPTHS if d >= 20), rates
    assert not alarms


@pytest.mark.parametrize("act", [None, fn.ReLU])
def test_huge_init_is_exploding(act):
    X, y = _data()
    rep = inspect(_deep(act, N10, depth=6, width=64), X, y, CE)
    assert rep.verdict == "exploding", rep.reason


def test_non_finite_is_exploding():
    X, y = _data()
    Y = np.zeros((len(X), 10), np.float32)
    with np.errstate(all="ignore"):
        rep = inspect(_deep(None, N10, depth=14, width=64), X, Y, "mse")
    assert rep.verdict == "exploding" and "finite" in rep.reason


def test_report_plot_and_errors(tmp_path):
    X, y = _data(n=32)
    model = _deep(fn.ReLU, "he_normal", depth=3, width=16)
    opt = fn.optim.SGD(_deep(fn.ReLU, "he_normal", depth=3, width=16).parameters(), lr=0.1)
    with pytest.raises(TypeError, match="model"):
        inspect(object(), X, y, CE)
    with pytest.raises(ValueError, match="another model"):
        inspect(model, X, y, CE, optimizer=opt)
    with pytest.raises(TypeError, match="optimizer"):
        inspect(model, X, y, CE, optimizer="sgd")
    with pytest.raises(ValueError, match="X"):
        inspect(model, X[:, :5], y, CE)
    with pytest.raises(ValueError, match="y"):
        inspect(model, X, y + 10, CE)
    with pytest.raises(ValueError, match="vanishing_rate"):
        inspect(model, X, y, CE, vanishing_rate=0.0)
    with pytest.raises(ValueError, match="dead_fraction"):
        inspect(model, X, y, CE, dead_fraction=2.0)


def test_activation_binding_copies_layer_outputs():
    model = fn.Sequential(fn.Dense(4, 3, activation="relu"), fn.Dense(3, 2), seed=0)
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    out = model._core.forward(X, True)  # the training workspace keeps every layer's output
    np.testing.assert_array_equal(model._core.activation(1), out)
    a0 = model._core.activation(0)
    a0[...] = 123.0  # a copy: the workspace is untouched
    np.testing.assert_array_equal(model._core.activation(1), out)
    with pytest.raises(IndexError):
        model._core.activation(2)
    with pytest.raises(RuntimeError, match="forward"):  # call order
        fn.Sequential(fn.Dense(4, 3), seed=0)._core.activation(0)


# --------------------------------------------------------------------------- GradientMonitor


def _numpy_training_norms(W1, b1, W2, b2, X, Y, lr, batch, steps):
    """Pure NumPy: Dense+tanh, Dense, mse mean over elements, plain SGD, sequential batches."""
    n = len(X)
    spe = -(-n // batch)
    norms = []
    for s in range(steps):
        k = s % spe
        xb, yb = X[k * batch : (k + 1) * batch], Y[k * batch : (k + 1) * batch]
        a = np.tanh(xb @ W1 + b1)
        out = a @ W2 + b2
        d = 2.0 * (out - yb) / out.size
        gW2, gb2 = a.T @ d, d.sum(0)
        dz = (d @ W2.T) * (1 - a**2)
        gW1, gb1 = xb.T @ dz, dz.sum(0)
        norms.append(
            (
                math.hypot(np.linalg.norm(gW1), np.linalg.norm(gb1)),
                math.hypot(np.linalg.norm(gW2), np.linalg.norm(gb2)),
            )
        )
        W1, b1, W2, b2 = W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2
    return np.array(norms)


def test_gradient_monitor_matches_numpy_training(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4)).astype(np.float32)
    Y = np.sin(X.sum(axis=1, keepdims=True)).astype(np.float32)
    model = fn.Sequential(fn.Dense(4, 8, activation="tanh"), fn.Dense(8, 1), seed=0)
    init = [p.data.astype(np.float64).copy() for p in model.parameters()]
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    mon = GradientMonitor(every=2)
    model.fit(
        X,
        Y,
        loss="mse",
        optimizer=opt,
        epochs=3,
        batch_size=16,
        shuffle=False,
        callbacks=[mon],
        verbose=0,
    )
    # 5 steps per epoch, recorded at within-epoch steps 2 and 4 (the last, shorter chunk is not).
    assert mon.steps == [1, 3, 6, 8, 11, 13]
    assert mon.norms.shape == (6, 2) and mon.layer_names == ["0:Dense+tanh", "1:Dense"]
    ref = _numpy_training_norms(*init, X.astype(np.float64), Y.astype(np.float64), 0.1, 16, 15)
    np.testing.assert_allclose(mon.norms, ref[mon.steps], rtol=1e-4)
    assert model.optimizer is opt
    path = mon.plot(tmp_path / "gn.png") if _has_matplotlib() else None
    assert path is None or (tmp_path / "gn.png").stat().st_size > 0


def test_gradient_monitor_frozen_layer_and_misuse():
    X, y = _data(n=64, d=8)
    model = fn.Sequential(fn.Dense(8, 16, activation="relu"), fn.Dense(16, 10), seed=0)
    model[0].freeze()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    mon = GradientMonitor(every=1)
    model.fit(X, y, loss=CE, optimizer=opt, epochs=1, batch_size=16, callbacks=[mon], verbose=0)
    assert mon.norms.shape == (4, 2)
    assert np.all(np.isnan(mon.norms[:, 0])) and np.all(mon.norms[:, 1] > 0)
    with pytest.raises(ValueError, match="every"):
        GradientMonitor(every=0)
    with pytest.raises(TypeError, match="every"):
        GradientMonitor(every=1.5)
    lone = GradientMonitor()
    lone.set_model(fn.Sequential(fn.Dense(2, 2)))
    with pytest.raises(RuntimeError, match="optimizer"):
        lone.on_train_begin({})


def test_gradient_monitor_does_not_change_training_and_records_every_tenth_step():
    """Recording every 10 steps returns to Python between chunks of the epoch: the weights
    must come out bit-identical to a plain fit, with one record per 10 steps. (Its overhead is
    a timing: measured in bench/, not asserted here.)"""
    Xtr, ytr, _, _ = fn.datasets.load_digits()
    X = np.tile(Xtr, (2, 1))
    y = np.tile(ytr, 2)

    def run(callbacks):
        model = fn.Sequential(
            fn.Dense(64, 128, activation="relu"),
            fn.Dense(128, 128, activation="relu"),
            fn.Dense(128, 10),
            seed=0,
        )
        opt = fn.optim.SGD(model.parameters(), lr=0.01)
        model.fit(
            X,
            y,
            loss=CE,
            optimizer=opt,
            epochs=1,
            batch_size=64,
            callbacks=callbacks,
            verbose=0,
            seed=0,
        )
        return np.concatenate([w.ravel() for w in model.get_weights()])

    threads = fn.get_num_threads()
    fn.set_num_threads(1)  # bit-identical comparison
    try:
        monitor = GradientMonitor(every=10)
        plain, monitored = run([]), run([monitor])
    finally:
        fn.set_num_threads(threads)
    np.testing.assert_array_equal(monitored, plain)
    steps = -(-len(X) // 64)
    assert monitor.steps == list(range(9, steps - steps % 10, 10))
    assert monitor.norms.shape == (len(monitor.steps), 3)
    assert np.all(np.isfinite(monitor.norms)) and np.all(monitor.norms > 0)


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
