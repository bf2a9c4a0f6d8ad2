"""BatchNorm, LayerNorm and weight-normalized Dense against float64 NumPy re-implementations,
finite differences of those, and torch where installed."""

import numpy as np
import pytest

import fastnet as fn

RNG = np.random.default_rng(0)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f at x (float64, modified in place and restored)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


# ----- float64 references -----
def bn_train_ref(x, gamma, beta, eps, relu=False):
    mu = x.mean(0)
    var = x.var(0)
    z = (x - mu) / np.sqrt(var + eps) * gamma + beta
    return np.maximum(z, 0) if relu else z


def ln_ref(x, gamma, beta, eps):
    mu = x.mean(1, keepdims=True)
    var = x.var(1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def run(model, X, R):
    """Training forward and backward with dY = R: the output, dX and the gradients by name."""
    Y = model.forward(X, training=True)
    dX = model.backward(R)
    return Y, dX, {p.name: p.grad.copy() for p in model.parameters()}


@pytest.mark.parametrize("relu", [False, True])
def test_batchnorm_forward_backward_vs_numpy_and_finite_differences(relu):
    B, F = 12, 7
    layers = [fn.BatchNorm(F, eps=1e-3)] + ([fn.ReLU()] if relu else [])
    model = fn.Sequential(*layers, seed=0)
    gamma = model[0].parameters()[0]
    beta = model[0].parameters()[1]
    gamma.data[...] = RNG.uniform(0.5, 1.5, F)
    beta.data[...] = RNG.normal(0, 0.3, F)
    X = RNG.normal(2.0, 3.0, (B, F)).astype(np.float32)
    R = RNG.normal(size=(B, F)).astype(np.float32)
    Y, dX, grads = run(model, X, R)

    x, g, b, r = (
        X.astype(np.float64),
        gamma.data.astype(np.float64),
        beta.data.astype(np.float64),
        R.astype(np.float64),
    )
    np.testing.assert_allclose(Y, bn_train_ref(x, g, b, 1e-3, relu), rtol=1e-5, atol=1e-5)
    loss = lambda: float(np.sum(bn_train_ref(x, g, b, 1e-3, relu) * r))  # noqa: E731
    np.testing.assert_allclose(dX, numeric_grad(loss, x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.weight"], numeric_grad(loss, g), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.bias"], numeric_grad(loss, b), rtol=1e-4, atol=1e-4)


def test_batchnorm_relu_fusion_matches_unfused_pair():
    X = RNG.normal(size=(16, 10)).astype(np.float32)
    R = RNG.normal(size=(16, 5)).astype(np.float32)
    fused = fn.Sequential(fn.Dense(10, 12), fn.BatchNorm(12), fn.ReLU(), fn.Dense(12, 5), seed=3)
    # Dropout(0) between them blocks the fusion and is an identity.
    plain = fn.Sequential(
        fn.Dense(10, 12), fn.BatchNorm(12), fn.Dropout(0.0), fn.ReLU(), fn.Dense(12, 5), seed=3
    )
    assert fused._core_index == [0, 1, None, 2]
    assert len(fused.layers) == 4  # the user still sees the ReLU
    for a, b in zip(fused.parameters(), plain.parameters()):
        b.data[...] = a.data
    ya, dxa, ga = run(fused, X, R)
    yb, dxb, gb = run(plain, X, R)
    np.testing.assert_allclose(ya, yb, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dxa, dxb, rtol=1e-5, atol=1e-6)
    for (na, a), (_, b) in zip(ga.items(), gb.items()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=na)


def test_batchnorm_affine_false_as_first_layer_standardizes_inputs():
    X = RNG.normal(5.0, 4.0, (64, 6)).astype(np.float32)
    model = fn.Sequential(fn.BatchNorm(6, affine=False), fn.Dense(6, 2), seed=0)
    assert model.parameters()[0].name == "1.weight"  # no weight/bias for BatchNorm
    out = fn.Sequential(fn.BatchNorm(6, affine=False), seed=0).forward(X, training=True)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-3)


def test_batchnorm_buffers_are_not_parameters_and_keep_zero_gradients():
    model = fn.Sequential(fn.Dense(4, 8), fn.BatchNorm(8), fn.ReLU(), fn.Dense(8, 2), seed=0)
    bn = model[1]
    assert [p.name for p in bn.parameters()] == ["1.weight", "1.bias"]
    assert [p.name for p in bn.buffers()] == ["1.running_mean", "1.running_var"]
    assert all(not p.trainable and p.is_buffer for p in bn.buffers())
    assert all(not p.is_buffer for p in model.parameters())
    np.testing.assert_array_equal(bn.running_var, 1.0)
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    with pytest.raises(ValueError, match="buffer"):
        bn.buffers()[0].trainable = True
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    X = RNG.normal(size=(32, 4)).astype(np.float32)
    y = RNG.integers(0, 2, 32)
    model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    for p in bn.buffers():
        np.testing.assert_array_equal(p.grad, 0.0)
    assert not np.allclose(bn.running_var, 1.0)
    # model[:k] clones carry the running statistics
    np.testing.assert_array_equal(model[:2][1].running_mean, bn.running_mean)


def test_batchnorm_running_stats_and_eval_vs_torch():
    torch = pytest.importorskip("torch")
    F, mom = 9, 0.3
    model = fn.Sequential(fn.BatchNorm(F, momentum=mom, eps=1e-4), seed=0)
    ref = torch.nn.BatchNorm1d(F, momentum=mom, eps=1e-4)
    g = RNG.uniform(0.5, 1.5, F).astype(np.float32)
    b = RNG.normal(size=F).astype(np.float32)
    model[0].parameters()[0].data[...] = g
    model[0].parameters()[1].data[...] = b
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(g))
        ref.bias.copy_(torch.from_numpy(b))
    ref.train()
    for step in range(5):
        X = RNG.normal(step, 1 + step, (20 + step, F)).astype(np.float32)
        y = model.forward(X, training=True)
        yt = ref(torch.from_numpy(X)).detach().numpy()
        np.testing.assert_allclose(y, yt, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        model[0].running_mean, ref.running_mean.numpy(), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(model[0].running_var, ref.running_var.numpy(), rtol=1e-5, atol=1e-5)
    ref.eval()
    X = RNG.normal(size=(7, F)).astype(np.float32)
    np.testing.assert_allclose(
        model.forward(X), ref(torch.from_numpy(X)).detach().numpy(), rtol=1e-5, atol=1e-5
    )


def test_batchnorm_large_batch_threaded_matches_numpy():
    X = RNG.normal(100.0, 0.01, (300, 200)).astype(np.float32)  # large mean, small spread
    model = fn.Sequential(fn.BatchNorm(200), seed=0)
    Y = model.forward(X, training=True)
    np.testing.assert_allclose(Y, bn_train_ref(X.astype(np.float64), 1.0, 0.0, 1e-5), atol=2e-3)


def test_layernorm_forward_backward_vs_numpy_finite_differences_and_torch():
    B, F = 6, 9
    model = fn.Sequential(fn.LayerNorm(F, eps=1e-3), seed=0)
    gamma, beta = model.parameters()
    gamma.data[...] = RNG.uniform(0.5, 1.5, F)
    beta.data[...] = RNG.normal(0, 0.3, F)
    X = RNG.normal(1.0, 2.0, (B, F)).astype(np.float32)
    R = RNG.normal(size=(B, F)).astype(np.float32)
    Y, dX, grads = run(model, X, R)
    x, g, b, r = (
        X.astype(np.float64),
        gamma.data.astype(np.float64),
        beta.data.astype(np.float64),
        R.astype(np.float64),
    )
    np.testing.assert_allclose(Y, ln_ref(x, g, b, 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.forward(X), Y, rtol=1e-6)  # same at inference
    loss = lambda: float(np.sum(ln_ref(x, g, b, 1e-3) * r))  # noqa: E731
    np.testing.assert_allclose(dX, numeric_grad(loss, x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.weight"], numeric_grad(loss, g), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.bias"], numeric_grad(loss, b), rtol=1e-4, atol=1e-4)

    torch = pytest.importorskip("torch")
    ref = torch.nn.LayerNorm(F, eps=1e-3)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma.data))
        ref.bias.copy_(torch.from_numpy(beta.data))
    np.testing.assert_allclose(Y, ref(torch.from_numpy(X)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_layernorm_threaded_batch_matches_numpy():
    X = RNG.normal(size=(256, 300)).astype(np.float32)
    R = RNG.normal(size=(256, 300)).astype(np.float32)
    model = fn.Sequential(fn.LayerNorm(300), seed=0)
    Y, dX, grads = run(model, X, R)
    x = X.astype(np.float64)
    np.testing.assert_allclose(Y, ln_ref(x, 1.0, 0.0, 1e-5), atol=1e-4)
    xhat = ln_ref(x, 1.0, 0.0, 1e-5)
    np.testing.assert_allclose(grads["0.weight"], (R * xhat).sum(0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(grads["0.bias"], R.sum(0), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("activation", [None, "tanh"])
def test_weight_norm_dense_gradients_vs_finite_differences(activation):
    B, I, O = 5, 4, 3
    model = fn.Sequential(fn.Dense(I, O, weight_norm=True, activation=activation), seed=1)
    names = [p.name for p in model.parameters()]
    assert names == ["0.weight_v", "0.weight_g", "0.bias"]
    v, g, b = model.parameters()
    # initial W = v: g = ‖v‖ per column
    np.testing.assert_allclose(g.data, np.linalg.norm(v.data, axis=0), rtol=1e-6)
    g.data[...] = RNG.uniform(0.5, 2.0, O)
    b.data[...] = RNG.normal(size=O)
    X = RNG.normal(size=(B, I)).astype(np.float32)
    R = RNG.normal(size=(B, O)).astype(np.float32)
    Y, dX, grads = run(model, X, R)
    x, vv, gg, bb, r = (a.astype(np.float64) for a in (X, v.data, g.data, b.data, R))
    act = np.tanh if activation == "tanh" else (lambda z: z)

    def fwd():
        W = gg * vv / np.linalg.norm(vv, axis=0)
        return act(x @ W + bb)

    np.testing.assert_allclose(Y, fwd(), rtol=1e-5, atol=1e-5)
    loss = lambda: float(np.sum(fwd() * r))  # noqa: E731
    np.testing.assert_allclose(dX, numeric_grad(loss, x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.weight_v"], numeric_grad(loss, vv), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.weight_g"], numeric_grad(loss, gg), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["0.bias"], numeric_grad(loss, bb), rtol=1e-4, atol=1e-4)


def test_weight_norm_dense_trains():
    X = RNG.normal(size=(64, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)
    model = fn.Sequential(
        fn.Dense(5, 16, weight_norm=True, activation="relu"),
        fn.Dense(16, 2, weight_norm=True),
        seed=0,
    )
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    first = model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    for _ in range(100):
        last = model.train_step(X, y, "sparse_categorical_crossentropy", opt)
    assert last < 0.5 * first


def test_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        fn.BatchNorm(4, eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        fn.LayerNorm(4, eps=-1e-5)
    with pytest.raises(ValueError, match="momentum"):
        fn.BatchNorm(4, momentum=1.5)
    with pytest.raises(ValueError, match="momentum"):
        fn.BatchNorm(4, momentum=-0.1)
    with pytest.raises(ValueError, match="features"):
        fn.BatchNorm(0)
    with pytest.raises(TypeError, match="features"):
        fn.LayerNorm("4")
    with pytest.raises(TypeError, match="affine"):
        fn.BatchNorm(4, affine="yes")
    with pytest.raises(TypeError, match="weight_norm"):
        fn.Dense(3, 4, weight_norm=1)
    with pytest.raises(ValueError, match="prelu"):
        fn.Dense(3, 4, weight_norm=True, activation="prelu")
    with pytest.raises(ValueError, match="expects 8 input features"):
        fn.Sequential(fn.Dense(3, 4), fn.BatchNorm(8))
    with pytest.raises(ValueError, match="expects 8 input features"):
        fn.Sequential(fn.Dense(3, 4), fn.LayerNorm(8))


def test_batch_of_one_in_training_is_a_clear_error():
    model = fn.Sequential(fn.Dense(3, 4), fn.BatchNorm(4), fn.ReLU(), fn.Dense(4, 2), seed=0)
    X = np.ones((1, 3), np.float32)
    with pytest.raises(ValueError, match="at least 2 rows"):
        model.forward(X, training=True)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        model.train_step(X, np.array([0]), "sparse_categorical_crossentropy", opt)
    assert model.forward(X).shape == (1, 2)  # inference is fine
    # Inside a Residual too; and the C++ check is the last line of defence.
    res = fn.Sequential(fn.Residual(fn.Dense(3, 3), fn.BatchNorm(3)), seed=0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        res.forward(X, training=True)
    with pytest.raises(ValueError, match="at least 2"):
        res._core.forward(X, True)


# ---- golden references from PyTorch (tests/golden/make_golden.py), checked without torch ----
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["bn", "ln"])
def test_forward_backward_match_torch_golden_at_a_threaded_size(kind, threads):
    """torch.nn.BatchNorm1d / LayerNorm forward and backward on 256 x 160 (above
    kParallelThreshold, so the pool's path at 2 threads): Y, dX, dgamma, dbeta and the running
    statistics."""
    import os

    with np.load(os.path.join(os.path.dirname(__file__), "golden", "torch_norm.npz")) as z:
        g = {k: z[k] for k in z.files}
    old = fn.get_num_threads()
    fn.set_num_threads(min(threads, fn._config.available_cores()))
    try:
        feats = g["X"].shape[1]
        model = fn.Sequential(
            fn.BatchNorm(feats, eps=1e-5, momentum=0.1)
            if kind == "bn"
            else fn.LayerNorm(feats, eps=1e-5)
        )
        state = model.state_arrays()
        state["0.weight"][...] = g["gamma"]
        state["0.bias"][...] = g["beta"]
        Y = model.forward(g["X"], training=True)
        dX = model.backward(g["dY"])
    finally:
        fn.set_num_threads(old)
    np.testing.assert_allclose(Y, g[f"{kind}_Y"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dX, g[f"{kind}_dX"], rtol=1e-4, atol=1e-5)
    weight, bias = model.parameters()
    np.testing.assert_allclose(weight.grad, g[f"{kind}_dgamma"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bias.grad, g[f"{kind}_dbeta"], rtol=1e-4, atol=1e-4)
    if kind == "bn":
        np.testing.assert_allclose(
            state["0.running_mean"], g["bn_running_mean"], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            state["0.running_var"], g["bn_running_var"], rtol=1e-5, atol=1e-6
        )


# ---- BatchNorm(momentum=None): the cumulative average, torch's population statistics ----
def _cma_batches(seed=30, feats=6, sizes=(2, 3, 9, 40, 5)):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((m, feats)) * (1 + i) + 3 * i).astype(np.float32)
        for i, m in enumerate(sizes)
    ]


def test_batchnorm_cumulative_average_is_the_mean_over_all_batches():
    """Ioffe & Szegedy 2015, Alg. 2: E[x] = mean of the batch means, Var[x] = mean of the
    m/(m−1)-corrected batch variances (batches of different sizes: each its own correction)."""
    batches = _cma_batches()
    model = fn.Sequential(fn.BatchNorm(6, momentum=None), seed=0)
    bn = model[0]
    assert bn.momentum is None and bn.num_batches_tracked == 0
    assert [p.name for p in bn.buffers()] == [
        "0.running_mean",
        "0.running_var",
        "0.num_batches_tracked",
    ]
    means, variances = [], []
    for k, X in enumerate(batches, start=1):
        Y = model.forward(X, training=True)
        Xd = X.astype(np.float64)
        np.testing.assert_allclose(Y, bn_train_ref(Xd, 1.0, 0.0, 1e-5), rtol=1e-4, atol=1e-4)
        means.append(Xd.mean(axis=0))
        variances.append(Xd.var(axis=0, ddof=1))  # the unbiased m/(m−1) variance
        assert bn.num_batches_tracked == k
        np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bn.running_var, np.mean(variances, axis=0), rtol=1e-5)
    # inference normalizes with the population statistics
    X = batches[0]
    mean, var = np.mean(means, axis=0), np.mean(variances, axis=0)
    np.testing.assert_allclose(
        model.forward(X), (X - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(model.predict(X), model.forward(X), rtol=1e-5, atol=1e-6)


def test_batchnorm_cumulative_average_in_train_steps_and_fit():
    # BatchNorm first: its inputs are the batches themselves, whatever the optimizer does.
    batches = _cma_batches(seed=31, sizes=(8, 8, 8, 8))
    model = fn.Sequential(fn.BatchNorm(6, momentum=None), fn.Dense(6, 2), seed=0)
    opt = fn.optim.Adam(model.parameters(), lr=0.01)
    for X in batches:
        model.train_step(X, np.zeros((len(X), 2), np.float32), "mse", opt)
    allX = np.concatenate(batches).astype(np.float64)
    assert model[0].num_batches_tracked == 4
    np.testing.assert_allclose(model[0].running_mean, allX.mean(axis=0), rtol=1e-5, atol=1e-5)
    expected_var = np.mean([b.astype(np.float64).var(axis=0, ddof=1) for b in batches], axis=0)
    np.testing.assert_allclose(model[0].running_var, expected_var, rtol=1e-5)
    # fit: one count per training batch (32 rows, batch 8: 4 more); eval passes do not count
    model.fit(
        allX.astype(np.float32),
        np.zeros((32, 2), np.float32),
        loss="mse",
        optimizer=opt,
        batch_size=8,
        epochs=1,
        validation_data=(allX.astype(np.float32), np.zeros((32, 2), np.float32)),
        verbose=0,
    )
    assert model[0].num_batches_tracked == 8


def test_batchnorm_cumulative_matches_torch_golden():
    """torch.nn.BatchNorm1d(momentum=None) (tests/golden/make_golden.py): training outputs,
    running statistics after each of five batches of 2 to 256 rows, the count, eval output."""
    import os

    with np.load(os.path.join(os.path.dirname(__file__), "golden", "torch_norm.npz")) as z:
        g = {k: z[k] for k in z.files}
    model = fn.Sequential(fn.BatchNorm(24, momentum=None), seed=0)
    for i in range(5):
        Y = model.forward(g[f"cma_X{i}"], training=True)
        np.testing.assert_allclose(Y, g[f"cma_Y{i}"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            model[0].running_mean, g[f"cma_running_mean{i}"], rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(model[0].running_var, g[f"cma_running_var{i}"], rtol=1e-5)
    assert model[0].num_batches_tracked == int(g["cma_num_batches_tracked"])
    np.testing.assert_allclose(model.predict(g["cma_X0"]), g["cma_eval_Y"], rtol=1e-4, atol=1e-4)


def test_batchnorm_cumulative_count_is_saved_and_continues(tmp_path):
    import pickle

    batches = _cma_batches(seed=32)
    model = fn.Sequential(fn.Dense(6, 6), fn.BatchNorm(6, momentum=None), fn.ReLU(), seed=0)
    for X in batches[:3]:
        model.forward(X, training=True)
    fn.save(model, tmp_path / "m.safetensors")
    twins = [fn.load(tmp_path / "m.safetensors"), pickle.loads(pickle.dumps(model))]
    for X in batches[3:]:
        model.forward(X, training=True)
    for twin in twins:
        assert twin[1].momentum is None and twin[1].num_batches_tracked == 3
        for X in batches[3:]:  # the average goes on from batch 4 with weight 1/4, then 1/5
            twin.forward(X, training=True)
        assert twin[1].num_batches_tracked == 5
        np.testing.assert_array_equal(twin[1].running_mean, model[1].running_mean)
        np.testing.assert_array_equal(twin[1].running_var, model[1].running_var)
    # a momentum BatchNorm has no count (its files are as before)
    assert fn.Sequential(fn.BatchNorm(3), seed=0)[0].num_batches_tracked is None
    assert "0.num_batches_tracked" not in fn.Sequential(fn.BatchNorm(3)).state_arrays()


def test_batchnorm_cumulative_bad_count_in_a_file(tmp_path):
    import json
    import struct

    model = fn.Sequential(fn.BatchNorm(3, momentum=None), seed=0)
    model.forward(np.ones((4, 3), np.float32), training=True)
    path = tmp_path / "m.safetensors"
    fn.save(model, path)
    raw = bytearray(path.read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    begin = 8 + n + header["0.num_batches_tracked"]["data_offsets"][0]
    raw[begin : begin + 4] = struct.pack("<f", 1.5)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="batch count"):
        fn.load(path)
    with pytest.raises(TypeError, match="momentum"):
        fn.BatchNorm(3, momentum="none")
