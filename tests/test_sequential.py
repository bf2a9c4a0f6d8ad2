"""fn.Sequential: forward/predict, summary, indexing and slicing, layer reuse, freezing, seeds,
the init="auto" rule, and train_step against a float64 NumPy reference SGD step."""

from __future__ import annotations

import numpy as np
import pytest

import fastnet as fn


def params(layer):
    return dict(layer.named_parameters())


def small_model(seed=0):
    return fn.Sequential(
        fn.Dense(8, 16, activation="relu"), fn.Dense(16, 12), fn.Tanh(), fn.Dense(12, 3), seed=seed
    )


# ---------------------------------------------------------------- forward / predict
def test_forward_and_predict_agree():
    rng = np.random.default_rng(0)
    model = small_model()
    X = rng.standard_normal((50, 8)).astype(np.float32)
    Y = model.forward(X)
    assert Y.shape == (50, 3) and Y.dtype == np.float32
    np.testing.assert_array_equal(model(X), Y)
    np.testing.assert_allclose(model.predict(X), Y, rtol=1e-6, atol=1e-7)
    for batch_size in (1, 7, 16, 50, 500):
        np.testing.assert_allclose(model.predict(X, batch_size=batch_size), Y, rtol=1e-5, atol=1e-6)
    # one row, given as a 1-D vector
    np.testing.assert_allclose(model.predict(X[3]), Y[3:4], rtol=1e-5, atol=1e-6)
    # forward(training=True) of a model without random layers gives the same output
    np.testing.assert_allclose(model.forward(X, training=True), Y, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- structure
def test_summary_lists_layers_shapes_and_counts():
    model = fn.Sequential(
        fn.Dense(8, 16, activation="relu"), fn.PReLU(16), fn.Dense(16, 3, bias=False)
    )
    text = model.summary(print_fn=None)
    lines = text.splitlines()
    assert any(
        "Dense(8, 16, activation='relu')" in l and "(batch, 16)" in l and l.rstrip().endswith("144")
        for l in lines
    )
    assert any("PReLU(16)" in l and "(batch, 16)" in l and l.rstrip().endswith("16") for l in lines)
    assert any(
        "Dense(16, 3)" in l and "(batch, 3)" in l and l.rstrip().endswith("48") for l in lines
    )
    assert "parameters: 208 (trainable 208, frozen 0)" in text
    assert model.count_params() == 208
    printed = []
    model[1].freeze()
    model.summary(print_fn=printed.append)
    assert "(frozen)" in printed[0] and "trainable 192, frozen 16" in printed[0]


def test_indexing_and_slicing_share_nothing():
    model = small_model()
    assert model[0] is model.layers[0] and model[-1] is model.layers[3]
    assert len(model) == 4 and list(model) == model.layers
    head = model[:2]
    assert isinstance(head, fn.Sequential) and len(head) == 2
    assert head.in_features == 8 and head.out_features == 12
    for p_head, p in zip(head.parameters(), model.parameters()):
        np.testing.assert_array_equal(p_head.data, p.data)  # same values ...
        assert not np.shares_memory(p_head.data, p.data)  # ... in a new arena
    assert head[0] is not model[0]
    X = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    W0 = params(model[0])["weight"].data
    Z = np.maximum(X @ W0 + params(model[0])["bias"].data, 0)
    np.testing.assert_allclose(
        head.forward(X),
        Z @ params(model[1])["weight"].data + params(model[1])["bias"].data,
        rtol=1e-5,
        atol=1e-6,
    )
    before = model.forward(X)
    params(head[0])["weight"].data[...] = 0.0  # writes stay in the slice
    np.testing.assert_array_equal(model.forward(X), before)


def test_layer_reuse_copies_weights():
    dense = fn.Dense(4, 3)
    first = fn.Sequential(dense, seed=0)
    second = fn.Sequential(dense, fn.ReLU(), seed=1)  # `dense` already owned: cloned
    w1, w2 = params(first[0])["weight"], params(second[0])["weight"]
    np.testing.assert_array_equal(w1.data, w2.data)  # weights copied, not re-initialized
    assert not np.shares_memory(w1.data, w2.data)
    assert second[0] is not dense and first[0] is dense
    w2.data[...] = 1.0
    assert not np.any(w1.data == 1.0)
    # the same layer listed twice in one model: two independent copies
    twice = fn.Sequential(fn.Dense(3, 3), fn.Dense(3, 3), seed=0)
    shared = twice[0]
    both = fn.Sequential(shared, shared, seed=0)
    a, b = (params(l)["weight"].data for l in both)
    np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(a, b)


def test_freeze_and_unfreeze():
    rng = np.random.default_rng(2)
    model = small_model()
    model[0].freeze()
    assert not model[0].trainable and all(not p.trainable for p in model[0].parameters())
    assert model.count_params(trainable_only=True) == model.count_params() - (8 * 16 + 16)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    before = [p.data.copy() for p in model.parameters()]
    X = rng.standard_normal((10, 8)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    after = [p.data.copy() for p in model.parameters()]
    frozen = {id(p) for p in model[0].parameters()}
    for p, a, b in zip(model.parameters(), before, after):
        if id(p) in frozen:
            np.testing.assert_array_equal(a, b)  # skipped by the optimizer
        else:
            assert not np.array_equal(a, b), p.name
    model[0].unfreeze()
    assert model[0].trainable and all(p.trainable for p in model.parameters())
    model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    assert not np.array_equal(params(model[0])["weight"].data, after[0])
    # whole-model freeze
    model.freeze()
    snap = [p.data.copy() for p in model.parameters()]
    model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    for p, s in zip(model.parameters(), snap):
        np.testing.assert_array_equal(p.data, s)


# ---------------------------------------------------------------- seeds and init="auto"
def test_seed_reproducibility():
    a, b, c = small_model(seed=5), small_model(seed=5), small_model(seed=6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    assert any(
        not np.array_equal(pa.data, pc.data) for pa, pc in zip(a.parameters(), c.parameters())
    )
    fn.manual_seed(123)
    d = small_model(seed=None)
    fn.manual_seed(123)
    e = small_model(seed=None)
    f = small_model(seed=None)  # the global generator moved on
    for pd, pe in zip(d.parameters(), e.parameters()):
        np.testing.assert_array_equal(pd.data, pe.data)
    assert not np.array_equal(params(e[0])["weight"].data, params(f[0])["weight"].data)


@pytest.mark.parametrize(
    "act,variance",
    [("relu", 2.0), ("sigmoid", None), ("selu", 1.0), ("tanh", None), ("gelu", 2.0), ("elu", 2.0)],
)
@pytest.mark.parametrize("fused", [True, False])
def test_auto_init_variance(act, variance, fused):
    fan_in, fan_out = 400, 300
    if fused:
        model = fn.Sequential(fn.Dense(fan_in, fan_out, activation=act), seed=0)
    else:
        layer = {
            "relu": fn.ReLU,
            "sigmoid": fn.Sigmoid,
            "selu": fn.SELU,
            "tanh": fn.Tanh,
            "gelu": fn.GELU,
            "elu": fn.ELU,
        }[act]()
        model = fn.Sequential(fn.Dense(fan_in, fan_out), layer, seed=0)
    W = params(model[0])["weight"].data
    expected = (2.0 / (fan_in + fan_out)) if variance is None else variance / fan_in
    assert abs(W.var() - expected) < 0.03 * expected
    np.testing.assert_array_equal(params(model[0])["bias"].data, 0.0)


def test_auto_init_without_activation_is_glorot():
    model = fn.Sequential(fn.Dense(400, 300), fn.Dense(300, 10), seed=0)
    W = params(model[0])["weight"].data
    assert abs(W.var() - 2.0 / 700) < 0.03 * 2.0 / 700


# ---------------------------------------------------------------- train_step
def _reference_sgd_step(Ws, bs, X, y, lr):
    """float64: relu MLP forward, mean softmax cross-entropy, backward, W -= lr·dW."""
    X = X.astype(np.float64)
    acts, Zs = [X], []
    h = X
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = h @ W + b
        Zs.append(z)
        h = np.maximum(z, 0) if i < len(Ws) - 1 else z
        acts.append(h)
    logits = acts[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = X.shape[0]
    loss = -logp[np.arange(n), y].mean()
    g = np.exp(logp)
    g[np.arange(n), y] -= 1.0
    g /= n
    newW, newb = [], []
    for i in reversed(range(len(Ws))):
        if i < len(Ws) - 1:
            g = g * (Zs[i] > 0)
        dW, db = acts[i].T @ g, g.sum(axis=0)
        g = g @ Ws[i].T
        newW.insert(0, Ws[i] - lr * dW)
        newb.insert(0, bs[i] - lr * db)
    return loss, newW, newb


def test_train_step_matches_numpy_sgd_reference():
    rng = np.random.default_rng(3)
    model = fn.Sequential(fn.Dense(6, 10, activation="relu"), fn.Dense(10, 4), seed=3)
    for layer in model:
        params(layer)["bias"].data[...] = 0.1 * rng.standard_normal(layer.out_features)
    X = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    Ws = [params(l)["weight"].data.astype(np.float64) for l in model]
    bs = [params(l)["bias"].data.astype(np.float64) for l in model]
    loss_ref, newW, newb = _reference_sgd_step(Ws, bs, X, y, lr=0.5)
    opt = fn.optim.SGD(model.parameters(), lr=0.5)
    loss = model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    assert abs(loss - loss_ref) < 1e-5 * max(1.0, abs(loss_ref))
    for layer, W, b in zip(model, newW, newb):
        np.testing.assert_allclose(params(layer)["weight"].data, W, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(params(layer)["bias"].data, b, rtol=1e-5, atol=1e-5)
    assert opt.last_grad_norm > 0


def test_train_step_lowers_the_loss_on_digits():
    X_train, y_train, X_test, y_test = fn.datasets.load_digits()
    model = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = "sparse_categorical_crossentropy"
    start = model.evaluate_loss(X_train, y_train, loss_fn)
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(len(X_train))
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            model.train_step(X_train[idx], y_train[idx], loss_fn, opt)
    end = model.evaluate_loss(X_train, y_train, loss_fn)
    assert end < 0.3 * start
    acc = (model.predict(X_test).argmax(axis=1) == y_test).mean()
    assert acc > 0.9


def test_one_thread_training_is_bit_identical():
    X, y, _, _ = fn.datasets.load_digits()
    X, y = X[:256], y[:256]
    old = fn.get_num_threads()
    fn.set_num_threads(1)
    try:
        finals = []
        for _ in range(2):
            model = fn.Sequential(
                fn.Dense(64, 48, activation="relu"), fn.RReLU(), fn.Dense(48, 10), seed=42
            )
            opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            for step in range(20):
                idx = slice((step * 32) % 256, (step * 32) % 256 + 32)
                model.train_step(X[idx], y[idx], "sparse_categorical_crossentropy", opt)
            finals.append([p.data.copy() for p in model.parameters()])
    finally:
        fn.set_num_threads(old)
    for a, b in zip(*finals):
        np.testing.assert_array_equal(a, b)


def test_concurrent_predict_from_threads_is_correct():
    """predict releases the GIL; the model's workspaces are guarded, so service threads sharing
    one model get correct results (different batch sizes force workspace regrowth)."""
    import threading

    rng = np.random.default_rng(9)
    model = fn.Sequential(fn.Dense(64, 128, activation="relu"), fn.Dense(128, 10), seed=0)
    Xs = [rng.standard_normal((b, 64)).astype(np.float32) for b in (1, 33, 200, 700)]
    expected = [model.predict(x) for x in Xs]
    wrong = []

    def work(k):
        for i in range(40):
            j = (i + k) % len(Xs)
            if not np.allclose(model.predict(Xs[j]), expected[j], rtol=1e-5, atol=1e-6):
                wrong.append(j)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
