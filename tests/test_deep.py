"""Deep networks: a self-normalizing SELU stack keeps its activation statistics through depth,
and a deep residual He+ReLU+BatchNorm stack learns where a plain deep sigmoid stack with N(0, 1)
weights does not (Glorot & Bengio 2010; He et al. 2016; Klambauer et al. 2017)."""

import numpy as np

import fastnet as fn


def test_selu_lecun_alpha_dropout_stack_self_normalizes():
    width, depth = 128, 32
    layers = []
    for _ in range(depth):
        layers += [fn.Dense(width, width, init="lecun_normal"), fn.SELU(), fn.AlphaDropout(0.05)]
    model = fn.Sequential(*layers, seed=0)
    X = np.random.default_rng(0).normal(size=(512, width)).astype(np.float32)
    for k in (depth // 2, depth):  # the statistics hold half-way and at the end
        out = model[: 3 * k].forward(X, training=True)
        assert abs(out.mean()) < 0.15, (k, out.mean())
        assert 0.8 < out.std() < 1.2, (k, out.std())
    out = model.forward(X)  # inference too
    assert abs(out.mean()) < 0.15 and 0.8 < out.std() < 1.2


def _standard_normal_init(shape, fan_in, fan_out, rng):
    return rng.standard_normal(shape)


def _train(model, X, y, epochs=60, batch=64):
    rng = np.random.default_rng(1)
    opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(epochs):
        perm = rng.permutation(len(X))
        for i in range(0, len(X), batch):
            idx = perm[i : i + batch]
            model.train_step(X[idx], y[idx], "sparse_categorical_crossentropy", opt)
    return float((model.predict(X).argmax(1) == y).mean())


def test_deep_sigmoid_fails_where_residual_batchnorm_relu_learns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 16)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(np.int32)
    width, depth = 32, 50  # Dense layers in each model

    plain = [fn.Dense(16, width, init=_standard_normal_init), fn.Sigmoid()]
    for _ in range(depth - 2):
        plain += [fn.Dense(width, width, init=_standard_normal_init), fn.Sigmoid()]
    plain.append(fn.Dense(width, 2, init=_standard_normal_init))

    residual = [fn.Dense(16, width, init="he_normal")]
    for _ in range((depth - 2) // 2):
        residual.append(
            fn.Residual(
                fn.Dense(width, width, init="he_normal"),
                fn.BatchNorm(width),
                fn.ReLU(),
                fn.Dense(width, width, init="he_normal"),
                fn.BatchNorm(width),
            )
        )
    residual.append(fn.Dense(width, 2))

    plain_acc = _train(fn.Sequential(*plain, seed=0), X, y)
    residual_acc = _train(fn.Sequential(*residual, seed=0), X, y)
    assert plain_acc < 0.7, plain_acc
    assert residual_acc > 0.95, residual_acc
