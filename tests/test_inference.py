"""The inference path (csrc/inference/, csrc/engine/infer_plan.cpp, fastnet/inference.py):
fused Dense + BatchNorm + activation products against a float64 NumPy reference on every
kernel path (AVX-512 register tiles read in place and packed, the generic sgemm + epilogue
reference, 1 and 2 threads), predictions that follow every change of the weights, and the
bf16 inference copy against a NumPy reference that rounds weights and inputs to bfloat16 with
round-to-nearest-even, with AVX512_BF16 and with its exact fallback."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_activations import LAYERS, REFERENCE

import fastnet as fn
from fastnet import _engine

ISA = _engine.cpu_isa()
PATHS = ["generic"] + (["avx512"] if ISA in ("avx512", "avx512_bf16") else [])
BF16_PATHS = ["generic"] + (["avx512_bf16"] if ISA == "avx512_bf16" else [])
# Batches: 1 (one row, read in place), 5 (a few rows), 37 (packed 8-row tiles and a tail).
BATCHES = (1, 5, 37)


@pytest.fixture
def isa_limit():
    """Set the kernels' instruction-set cap for one test, and put it back."""
    yield _engine.set_isa_limit
    _engine.set_isa_limit("avx512_bf16")


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fn.get_num_threads()
    fn.set_num_threads(request.param)
    yield request.param
    fn.set_num_threads(before)


def trained_bn_model(name, n_in=50, n_hidden=70, n_out=70, seed=0):
    """Dense -> BatchNorm -> activation -> Dropout -> Dense, trained a few steps so that the
    running statistics are not the initial ones."""
    make_layer, _ = LAYERS[name]
    model = fn.Sequential(
        fn.Dense(n_in, n_hidden),
        fn.BatchNorm(n_hidden),
        make_layer(n_hidden),
        fn.Dropout(0.1),
        fn.Dense(n_hidden, n_out),
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, n_in), dtype=np.float32)
    y = rng.standard_normal((64, n_out), dtype=np.float32)
    opt = fn.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):
        model.train_step(X, y, "mse", opt)
    return model


def numpy_reference(model, X, name):
    """float64: the same layers written out (BatchNorm with its running statistics)."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in model.state_arrays().items()}
    bn = model.layers[1]
    z = X.astype(np.float64) @ p["0.weight"] + p["0.bias"]
    z = (z - p["1.running_mean"]) / np.sqrt(p["1.running_var"] + bn.eps) * p["1.weight"]
    z = z + p["1.bias"]
    if name == "prelu":  # its slope was trained with the rest
        z = np.where(z > 0, z, p["2.slope"] * z)
    else:
        z = REFERENCE[name](z)
    return z @ p["4.weight"] + p["4.bias"]


def close(got, expected, rtol=1e-5):
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * scale)


# ---------------------------------------------------------------- fp32: fusion and paths
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_fused_dense_batchnorm_activation_matches_numpy(name, path, threads, isa_limit):
    isa_limit(path)
    model = trained_bn_model(name)
    first = _engine.inference_plan(model)[0]  # C++ layers: BatchNorm->ReLU is one of them
    assert first in ("0-1 dense+batchnorm+activation", "0-2 dense+batchnorm+activation")
    rng = np.random.default_rng(3)
    for batch in BATCHES:
        X = rng.standard_normal((batch, 50), dtype=np.float32)
        close(model.predict(X), numpy_reference(model, X, name))


def test_fused_activation_of_dense_with_wide_and_odd_shapes(threads, isa_limit):
    # 784 -> 515: a 256-column row tile, 48-column packed panels and a 3-column tail.
    rng = np.random.default_rng(0)
    model = fn.Sequential(fn.Dense(784, 515, activation="relu"), fn.Dense(515, 3), seed=0)
    W0, b0, W1, b1 = (np.asarray(a, np.float64) for a in model.get_weights())
    for path in PATHS:
        isa_limit(path)
        for batch in (1, 3, 8, 9, 64, 300):
            X = rng.standard_normal((batch, 784), dtype=np.float32)
            expected = np.maximum(X @ W0 + b0, 0) @ W1 + b1
            close(model.predict(X), expected)


def test_paths_and_thread_counts_give_the_same_bits(isa_limit):
    # Each output's sum runs whole in one tile: the split over threads does not change it.
    model = trained_bn_model("relu", n_in=300, n_hidden=512, n_out=200)
    X = np.random.default_rng(1).standard_normal((45, 300), dtype=np.float32)
    for path in PATHS:
        isa_limit(path)
        outs = []
        for t in (1, 2):
            fn.set_num_threads(t)
            outs.append(model.predict(X))
        fn.set_num_threads(1)
        assert np.array_equal(outs[0], outs[1]), path


def test_plan_lists_the_fused_steps():
    model = fn.Sequential(
        fn.Dense(4, 8),
        fn.BatchNorm(8),
        fn.ReLU(),
        fn.Dropout(0.5),
        fn.Dense(8, 8, activation="tanh"),
        fn.BatchNorm(8),  # after a nonlinearity: cannot fold, runs as its own layer
        fn.LayerNorm(8),
        fn.Dense(8, 2),
        fn.Softmax(),
        seed=0,
    )
    # C++ layer indices: BatchNorm->ReLU is one C++ layer (nn/_fusion.py).
    assert _engine.inference_plan(model) == [
        "0-1 dense+batchnorm+activation",
        "2-2 identity",
        "3-3 dense+activation",
        "4-4 layer",
        "5-5 layer",
        "6-7 dense+activation",
    ]


# ---------------------------------------------------------------- fp32: nothing goes stale
def test_predict_follows_every_change_of_the_weights(tmp_path):
    model = trained_bn_model("relu")
    X = np.random.default_rng(2).standard_normal((20, 50), dtype=np.float32)
    first = model.predict(X)
    close(first, numpy_reference(model, X, "relu"))
    # a training step (weights and running statistics move)
    opt = fn.optim.Adam(model.parameters(), lr=0.01)
    model.train_step(X, np.zeros((20, 70), np.float32), "mse", opt)
    after_step = model.predict(X)
    assert not np.allclose(after_step, first)
    close(after_step, numpy_reference(model, X, "relu"))
    # set_weights
    weights = [w * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    close(model.predict(X), numpy_reference(model, X, "relu"))
    # a write through a view held since before the last prediction
    running_var = model.state_arrays()["1.running_var"]
    model.predict(X)
    running_var[...] = 4.0
    close(model.predict(X), numpy_reference(model, X, "relu"))
    # fn.load into a fresh model
    path = tmp_path / "m.safetensors"
    fn.save(model, path)
    loaded = fn.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# ---------------------------------------------------------------- bf16
def bf16_round(a):
    """float32 -> bfloat16 -> float32, round to nearest even (NaN-free input)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def bf16_reference(model, X):
    """The bf16 copy's numbers: every Dense's weight and input rounded to bf16, exact
    products, float64 sums (the kernels sum in float32), the epilogue in float64."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in model.state_arrays().items()}
    bn = model.layers[1]
    x = bf16_round(X).astype(np.float64)
    z = x @ bf16_round(model.state_arrays()["0.weight"]).astype(np.float64) + p["0.bias"]
    z = (z - p["1.running_mean"]) / np.sqrt(p["1.running_var"] + bn.eps) * p["1.weight"]
    z = np.maximum(z + p["1.bias"], 0.0).astype(np.float32)
    x = bf16_round(z).astype(np.float64)
    return x @ bf16_round(model.state_arrays()["4.weight"]).astype(np.float64) + p["4.bias"]


def test_bf16_rounding_is_round_to_nearest_even():
    # ties: 1 + 2^-8 lies halfway between two bf16 values and rounds to the even one (1.0);
    # 1 + 3·2^-8 rounds up to 1 + 2^-6 (even); the largest finite float rounds to infinity.
    w = np.array(
        [1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.5, 3e38, 1e-40], dtype=np.float32
    )
    model = fn.Sequential(fn.Dense(6, 1, bias=False), seed=0)
    model.set_weights([w.reshape(6, 1)])
    copy = model.to_inference("bf16")
    got = _engine.bf16_weight(copy._model, 0)
    np.testing.assert_array_equal(got, bf16_round(w))
    assert got[0] == 1.0 and got[1] == 1 + 2**-6 and got[2] == 1 + 2**-7


@pytest.mark.parametrize("path", BF16_PATHS)
def test_bf16_copy_matches_numpy_reference(path, threads, isa_limit):
    isa_limit(path)
    model = trained_bn_model("relu", n_in=101, n_hidden=130, n_out=19)
    copy = model.to_inference("bf16")
    assert copy.plan()[0].endswith("bf16")
    rng = np.random.default_rng(4)
    for batch in (1, 7, 37):
        X = rng.standard_normal((batch, 101), dtype=np.float32)
        close(copy.predict(X), bf16_reference(model, X), rtol=2e-5)


def test_bf16_fallback_equals_the_instruction(isa_limit):
    if ISA != "avx512_bf16":
        pytest.skip("this CPU has no AVX512_BF16")
    model = trained_bn_model("relu", n_in=200, n_hidden=300, n_out=10)
    copy = model.to_inference("bf16")
    X = np.random.default_rng(5).standard_normal((33, 200), dtype=np.float32)
    isa_limit("avx512_bf16")
    fast = copy.predict(X)
    isa_limit("generic")
    np.testing.assert_array_equal(copy.predict(X), fast)


def test_bf16_copy_is_frozen_and_half_the_bytes():
    model = trained_bn_model("relu")
    X = np.random.default_rng(6).standard_normal((4, 50), dtype=np.float32)
    copy = model.to_inference("bf16")
    before = copy.predict(X)
    opt = fn.optim.SGD(model.parameters(), lr=0.5)
    model.train_step(X, np.ones((4, 70), np.float32), "mse", opt)
    np.testing.assert_array_equal(copy.predict(X), before)
    dense_floats = 50 * 70 + 70 * 70
    assert copy.nbytes < 4 * dense_floats * 0.6
    fp32 = model.to_inference("fp32")
    np.testing.assert_array_equal(fp32.predict(X), model.predict(X))


def test_bf16_copy_from_many_threads_at_once():
    copy = trained_bn_model("relu").to_inference("bf16")
    X = np.random.default_rng(7).standard_normal((16, 50), dtype=np.float32)
    expected = copy.predict(X)
    results, errors = [], []

    def work():
        try:
            for _ in range(50):
                results.append(np.array_equal(copy.predict(X), expected))
        except Exception as e:  # reported below
            errors.append(e)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not errors and len(results) == 200 and all(results)


def test_to_inference_rejects_bad_arguments():
    model = fn.Sequential(fn.Dense(3, 2), seed=0)
    with pytest.raises(ValueError, match="precision"):
        model.to_inference("fp16")
    with pytest.raises(TypeError, match="precision"):
        model.to_inference(16)
    copy = model.to_inference("bf16")
    with pytest.raises(ValueError, match="X"):
        copy.predict(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError):
        copy.predict(np.array([[1.0, np.nan, 0.0]], np.float32))


def test_bf16_top1_agreement_on_mnist10k():
    try:
        X, y = fn.datasets.load_mnist10k()
    except FileNotFoundError:
        pytest.skip("../shared/data/mnist10k is not here")
    model = fn.Sequential(
        fn.Dense(784, 256), fn.BatchNorm(256), fn.ReLU(), fn.Dense(256, 10), seed=0
    )
    opt = fn.optim.Adam(model.parameters(), lr=1e-3)
    model.fit(
        X[:8000],
        y[:8000],
        loss="sparse_categorical_crossentropy",
        optimizer=opt,
        epochs=2,
        verbose=0,
    )
    fp32 = model.predict(X[8000:]).argmax(1)
    bf16 = model.to_inference("bf16").predict(X[8000:]).argmax(1)
    agreement = float(np.mean(fp32 == bf16))
    acc32, acc16 = float(np.mean(fp32 == y[8000:])), float(np.mean(bf16 == y[8000:]))
    assert agreement >= 0.995, agreement
    assert abs(acc32 - acc16) <= 0.002, (acc32, acc16)
