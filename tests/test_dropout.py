"""Dropout and AlphaDropout: keep rate, scaling, inference identity, NumPy re-implementation of
the mask, and thread-count independence of the counter-based masks."""

import numpy as np
import pytest

import fastnet as fn

ALPHA_PRIME = -1.7580993408473766  # −λα of SELU


def make(rate, features=256, seed=7, cls=fn.Dropout):
    """An identity Dense followed by the dropout layer."""
    model = fn.Sequential(fn.Dense(features, features, bias=False), cls(rate), seed=seed)
    model[0].parameters()[0].data[...] = np.eye(features)
    return model


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_keep_rate_and_mean_preserved(rate):
    X = np.ones((200, 256), np.float32)
    Y = make(rate).forward(X, training=True)
    kept = Y != 0
    n = kept.size
    # binomial tolerance: 5 standard deviations
    assert abs(kept.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(Y[kept], 1.0 / (1.0 - rate), rtol=1e-6)
    assert abs(Y.mean() - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)


def test_identity_at_inference_and_rate_zero():
    X = np.random.default_rng(0).normal(size=(32, 256)).astype(np.float32)
    np.testing.assert_allclose(make(0.5).forward(X), X, atol=1e-6)
    np.testing.assert_allclose(make(0.0).forward(X, training=True), X, atol=1e-6)
    np.testing.assert_allclose(make(0.3, cls=fn.AlphaDropout).forward(X), X, atol=1e-6)


def test_backward_uses_the_forward_mask():
    X = np.random.default_rng(1).normal(size=(64, 256)).astype(np.float32)
    model = make(0.4)
    Y = model.forward(X, training=True)
    dX = model.backward(np.ones_like(Y))
    np.testing.assert_array_equal(dX != 0, Y != 0)
    np.testing.assert_allclose(dX[dX != 0], 1 / 0.6, rtol=1e-6)


def test_masks_differ_between_steps_and_repeat_for_a_seed():
    X = np.ones((16, 256), np.float32)
    a, b = make(0.5, seed=3), make(0.5, seed=3)
    m1, m2 = a.forward(X, training=True), a.forward(X, training=True)
    assert not np.array_equal(m1, m2)
    np.testing.assert_array_equal(b.forward(X, training=True), m1)
    np.testing.assert_array_equal(b.forward(X, training=True), m2)
    assert not np.array_equal(make(0.5, seed=4).forward(X, training=True), m1)


def test_same_mask_for_one_and_two_threads():
    X = np.ones((512, 256), np.float32)  # above the parallel threshold
    old = fn.get_num_threads()
    try:
        fn.set_num_threads(1)
        one = make(0.3, seed=11).forward(X, training=True)
        fn.set_num_threads(2)
        two = make(0.3, seed=11).forward(X, training=True)
    finally:
        fn.set_num_threads(old)
    np.testing.assert_array_equal(one, two)


def test_alpha_dropout_matches_torch_formula_and_keeps_selu_statistics():
    rate = 0.2
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 256)).astype(np.float32)
    Y = make(rate, cls=fn.AlphaDropout).forward(X, training=True)
    a = ((1 - rate) * (1 + rate * ALPHA_PRIME**2)) ** -0.5
    b = -a * ALPHA_PRIME * rate
    dropped = np.isclose(Y, a * ALPHA_PRIME + b, atol=1e-6)
    expected = np.where(dropped, a * ALPHA_PRIME + b, a * X + b)
    np.testing.assert_allclose(Y, expected, rtol=1e-5, atol=1e-5)
    assert abs(dropped.mean() - rate) < 0.01
    # zero-mean unit-variance inputs keep mean 0 and variance 1
    assert abs(Y.mean()) < 0.02 and abs(Y.std() - 1) < 0.02


def test_bad_rates():
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rate"):
            fn.Dropout(bad)
        with pytest.raises(ValueError, match="rate"):
            fn.AlphaDropout(bad)
    with pytest.raises(TypeError, match="rate"):
        fn.Dropout("0.5")
    with pytest.raises(ValueError, match="rate"):
        fn.Dropout(float("nan"))
    with pytest.raises(ValueError, match="expects 5 input features"):
        fn.Sequential(fn.Dense(3, 4), fn.Dropout(0.2), fn.Dense(5, 2))


# ---------------------------------------------------------------- dropout on the input
# Srivastava et al. 2014 drop input units too (seed 004: "including the input neurons"): the
# model takes its width from the Dense after the Dropout.
def input_dropout_model(rate=0.2, seed=5):
    model = fn.Sequential(fn.Dropout(rate), fn.Dense(64, 10), seed=seed)
    rng = np.random.default_rng(8)
    W = rng.standard_normal((64, 10)).astype(np.float32) / 8
    b = rng.standard_normal(10).astype(np.float32)
    model[1].parameters()[0].data[...] = W
    model[1].parameters()[1].data[...] = b
    return model, W.astype(np.float64), b.astype(np.float64)


def test_input_dropout_training_forward_and_backward_against_numpy():
    model, W, b = input_dropout_model()
    assert (model.in_features, model.out_features) == (64, 10)
    X = np.random.default_rng(9).standard_normal((300, 64)).astype(np.float32)
    # The same seed gives the same mask stream to a Dropout at layer 0 (seed, layer, step).
    masked = fn.Sequential(fn.Dropout(0.2), input_dim=64, seed=5).forward(X, training=True)
    keep = masked != 0
    assert abs(keep.mean() - 0.8) < 5 * np.sqrt(0.16 / keep.size)
    np.testing.assert_allclose(masked[keep], X[keep] / 0.8, rtol=1e-6)
    Y = model.forward(X, training=True)
    np.testing.assert_allclose(Y, masked.astype(np.float64) @ W + b, rtol=1e-5, atol=1e-5)
    dY = np.random.default_rng(10).standard_normal(Y.shape)
    dX = model.backward(dY)
    np.testing.assert_allclose(dX, (dY @ W.T) * keep / 0.8, rtol=1e-4, atol=1e-5)
    dW = model[1].parameters()[0].grad
    np.testing.assert_allclose(dW, masked.T.astype(np.float64) @ dY, rtol=1e-4, atol=1e-4)


def test_input_dropout_is_the_identity_at_inference_and_trains():
    model, W, b = input_dropout_model()
    X = np.random.default_rng(11).standard_normal((50, 64)).astype(np.float32)
    expected = X.astype(np.float64) @ W + b
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)
    inference = model.to_inference()
    assert inference.plan() == ["0-0 identity", "1-1 dense"]  # the leading Dropout: a no-op
    np.testing.assert_allclose(inference.predict(X), expected, rtol=1e-5, atol=1e-5)
    y = np.random.default_rng(12).integers(0, 10, 50)
    opt = fn.optim.Adam(model.parameters(), lr=0.01)
    history = model.fit(
        X,
        y,
        loss="sparse_categorical_crossentropy",
        optimizer=opt,
        epochs=3,
        batch_size=10,
        verbose=0,
        seed=0,
    )
    assert np.all(np.isfinite(history.history["loss"]))
    assert "(batch, 64)" in model.summary(print_fn=None)


def test_input_dropout_save_load_pickle_and_onnx(tmp_path):
    import pickle

    model, _, _ = input_dropout_model()
    X = np.random.default_rng(13).standard_normal((7, 64)).astype(np.float32)
    fn.save(model, tmp_path / "m.safetensors")
    for twin in (fn.load(tmp_path / "m.safetensors"), pickle.loads(pickle.dumps(model))):
        assert type(twin[0]) is fn.Dropout and twin.in_features == 64
        np.testing.assert_array_equal(twin.predict(X), model.predict(X))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    fn.export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(["Y"], {"X": X})[0], model.predict(X), atol=1e-5)


def test_input_width_from_input_dim_when_no_layer_fixes_it(tmp_path):
    # Only adapting layers: the width must be given, and is stored with the architecture.
    model = fn.Sequential(fn.Dropout(0.3), fn.Swish(beta=2.0, learnable=True), input_dim=6)
    assert model.in_features == model.out_features == 6
    assert model.parameters()[0].shape == (6,)
    fn.save(model, tmp_path / "m.safetensors")
    X = np.random.default_rng(14).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(fn.load(tmp_path / "m.safetensors").predict(X), model.predict(X))
    with pytest.raises(ValueError, match="cannot infer the input width.*input_dim"):
        fn.Sequential(fn.Dropout(0.3), fn.ReLU())
    with pytest.raises(ValueError, match="input_dim=5 but layer 1 .* expects 64"):
        fn.Sequential(fn.Dropout(0.3), fn.Dense(64, 2), input_dim=5)
    with pytest.raises(TypeError, match="input_dim"):
        fn.Sequential(fn.Dropout(0.3), fn.Dense(64, 2), input_dim=64.0)
    with pytest.raises(ValueError, match="input_dim"):
        fn.Sequential(fn.Dropout(0.3), input_dim=0)
    # A leading activation or BatchNorm: same rule (BatchNorm fixes the width itself).
    assert fn.Sequential(fn.ReLU(), fn.Dropout(0.1), fn.Dense(3, 2)).in_features == 3
    assert fn.Sequential(fn.Dropout(0.1), fn.BatchNorm(5), fn.Dense(5, 2)).in_features == 5
    # Slicing keeps the width of the slice's input.
    deep = fn.Sequential(fn.Dense(8, 4), fn.Dropout(0.1), fn.ReLU(), fn.Dense(4, 2))
    assert deep[1:3].in_features == 4 and deep[1:].in_features == 4


# ---------------------------------------------------------------- MC dropout (predict_mc)
# Gal & Ghahramani 2016: T inference passes with dropout on, BatchNorm on its running
# statistics. The reference re-implements the counter-based masks (csrc/core/rng.h) in NumPy.
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x):
    x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _keep_mask(seed, layer_index, step, shape, rate):
    """SplitMix64 counter stream (Steele et al. 2014) of rng.h: layer_rng_key, rng_uniform."""
    with np.errstate(over="ignore"):
        seed = np.array([seed], np.uint64)
        layer_seed = seed ^ (np.uint64(0x9E37) * np.uint64(layer_index + 1))
        stream = _splitmix64(np.array([step], np.uint64) + np.uint64(0x632BE59BD9B4E019))
        key = _splitmix64(layer_seed ^ stream)
        counters = np.arange(np.prod(shape), dtype=np.uint64)
        u = (_splitmix64(key + counters) >> np.uint64(40)).astype(np.float64) / 16777216.0
    return (u >= rate).reshape(shape)


def mc_model(rate=0.3, seed=3):
    """Dense(relu) → BatchNorm → Dropout → Dense, trained a few steps so the running
    statistics are not their initial values."""
    model = fn.Sequential(
        fn.Dense(6, 16, activation="relu"),
        fn.BatchNorm(16),
        fn.Dropout(rate),
        fn.Dense(16, 3),
        seed=seed,
    )
    rng = np.random.default_rng(40)
    opt = fn.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(5):
        X = rng.standard_normal((32, 6)).astype(np.float32)
        model.train_step(X, rng.standard_normal((32, 3)).astype(np.float32), "mse", opt)
    return model


def mc_reference(model, X, n_samples, key, rate=0.3):
    """float64 NumPy: the same masks (dropout is C++ layer 2), BatchNorm in eval mode."""
    s = {k: v.astype(np.float64) for k, v in model.state_arrays().items()}
    h = np.maximum(X.astype(np.float64) @ s["0.weight"] + s["0.bias"], 0.0)
    h = (h - s["1.running_mean"]) / np.sqrt(s["1.running_var"] + 1e-5) * s["1.weight"] + s["1.bias"]
    outs = np.stack(
        [
            (h * _keep_mask(key, 2, t, h.shape, rate) / (1 - rate)) @ s["3.weight"] + s["3.bias"]
            for t in range(n_samples)
        ]
    )
    return outs.mean(axis=0), outs.std(axis=0)


def _mc_key(seed):
    # predict_mc draws its mask key from rng_from_seed(seed), as Sequential does its stream seed
    return int(np.random.Generator(np.random.PCG64(seed)).integers(0, 2**63 - 1))


@pytest.mark.parametrize("n_samples", [1, 2, 25])
def test_predict_mc_matches_numpy_with_the_same_masks(n_samples):
    model = mc_model()
    X = np.random.default_rng(41).standard_normal((50, 6)).astype(np.float32)
    mean, std = model.predict_mc(X, n_samples=n_samples, seed=9)
    ref_mean, ref_std = mc_reference(model, X, n_samples, _mc_key(9))
    assert mean.shape == std.shape == (50, 3) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-4, atol=1e-5)
    if n_samples == 1:
        np.testing.assert_array_equal(std, 0.0)
    # the masks really are dropout masks: keep rate 1 - p over many elements
    keep = np.mean([_keep_mask(_mc_key(9), 2, t, (50, 16), 0.3).mean() for t in range(25)])
    assert abs(keep - 0.7) < 5 * np.sqrt(0.21 / (25 * 50 * 16))


def test_predict_mc_leaves_the_model_untouched():
    model, twin = mc_model(), mc_model()
    before = {k: v.copy() for k, v in model.state_arrays().items()}
    X = np.random.default_rng(42).standard_normal((40, 6)).astype(np.float32)
    model.predict_mc(X, n_samples=20, seed=1)
    model.predict_mc(X, n_samples=3)
    for name, value in model.state_arrays().items():  # running statistics bit for bit
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    # the training stream goes on as if predict_mc had not run: same masks as the twin's
    np.testing.assert_array_equal(model.forward(X, training=True), twin.forward(X, training=True))
    # while a training-mode forward in a loop (the naive MC) moves the running mean
    for _ in range(3):
        twin.forward(X, training=True)
    assert not np.array_equal(twin.state_arrays()["1.running_mean"], before["1.running_mean"])


def test_predict_mc_reproducible_and_independent_of_chunking():
    model = mc_model()
    X = np.random.default_rng(43).standard_normal((37, 6)).astype(np.float32)
    mean, std = model.predict_mc(X, n_samples=10, seed=5)
    again = model.predict_mc(X, n_samples=10, seed=5)
    np.testing.assert_array_equal(again[0], mean)
    np.testing.assert_array_equal(again[1], std)
    chunked = model.predict_mc(X, n_samples=10, seed=5, batch_size=8)
    np.testing.assert_allclose(chunked[0], mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(chunked[1], std, rtol=1e-5, atol=1e-6)
    other = model.predict_mc(X, n_samples=10, seed=6)[0]
    assert not np.allclose(other, mean)
    fn.manual_seed(0)
    a = model.predict_mc(X, n_samples=4)[0]
    fn.manual_seed(0)
    np.testing.assert_array_equal(model.predict_mc(X, n_samples=4)[0], a)


def test_predict_mc_mean_converges_to_predict_for_a_linear_head():
    # Dropout right before the last (linear) Dense: E[mask / (1 - p)] = 1, so the MC mean
    # tends to the deterministic prediction; std shrinks as the standard error says.
    model = fn.Sequential(fn.Dense(5, 32, activation="tanh"), fn.Dropout(0.5), fn.Dense(32, 2))
    X = np.random.default_rng(44).standard_normal((20, 5)).astype(np.float32)
    mean, std = model.predict_mc(X, n_samples=4000, seed=0)
    assert np.all(std > 0)
    np.testing.assert_allclose(mean, model.predict(X), atol=float(5 * std.max() / np.sqrt(4000)))


def test_predict_mc_without_dropout_is_predict_and_argument_errors():
    model = fn.Sequential(fn.Dense(4, 3), fn.BatchNorm(3), seed=0)
    X = np.ones((5, 4), np.float32)
    mean, std = model.predict_mc(X, n_samples=3, seed=0)
    np.testing.assert_allclose(mean, model.predict(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(std, 0.0)
    with pytest.raises(ValueError, match="n_samples"):
        model.predict_mc(X, n_samples=0)
    with pytest.raises(TypeError, match="n_samples"):
        model.predict_mc(X, n_samples=2.0)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict_mc(X, batch_size=0)
    with pytest.raises(TypeError, match="seed"):
        model.predict_mc(X, seed="1")
    with pytest.raises(ValueError, match="X"):
        model.predict_mc(np.ones((5, 3), np.float32))
