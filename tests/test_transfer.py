"""Transfer learning from the public API: slicing, a new head, frozen layers, per-group
learning rates, and frozen flags through save/load."""

import numpy as np
import pytest
from conftest import random_data

import fastnet as fn

LOSS = "sparse_categorical_crossentropy"


def data(n=96, classes=3, seed=0):
    return random_data(n, 8, classes, seed)


@pytest.fixture(scope="module")
def base():
    """A model 'pre-trained' on a 5-class task."""
    X, y = data(classes=5, seed=1)
    model = fn.Sequential(
        fn.Dense(8, 16, activation="relu"),
        fn.Dense(16, 12, activation="tanh"),
        fn.Dense(12, 5),
        seed=0,
    )
    opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.fit(X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=16, verbose=0, seed=0)
    return model


def test_slice_reuses_lower_layers_without_sharing(base):
    lower = base[:2]
    assert len(lower) == 2 and lower.out_features == 12
    X, _ = data()
    # The slice computes the base's hidden features: compare with a NumPy forward pass.
    W0, b0, W1, b1 = (p.data for p in base.parameters()[:4])
    hidden = np.tanh(np.maximum(X @ W0 + b0, 0) @ W1 + b1)
    np.testing.assert_allclose(lower.predict(X), hidden, rtol=1e-5, atol=1e-6)
    lower.parameters()[0].data[...] = 0.0  # shares nothing with base
    assert np.any(base.parameters()[0].data != 0.0)


def test_new_head_training_leaves_frozen_layers_unchanged(base):
    head_model = fn.Sequential(*base[:2].layers, fn.Dense(12, 3), seed=1)
    for a, b in zip(head_model.parameters()[:4], base.parameters()[:4]):
        np.testing.assert_array_equal(a.data, b.data)  # weights copied, not re-initialized
    for layer in head_model.layers[:2]:
        layer.freeze()
    assert [p.trainable for p in head_model.parameters()] == [False] * 4 + [True] * 2
    frozen_before = [p.data.copy() for p in head_model.parameters()[:4]]
    head_before = [p.data.copy() for p in head_model.parameters()[4:]]

    X, y = data(seed=2)
    opt = fn.optim.SGD(head_model.parameters(), lr=0.1, momentum=0.9)
    hist = head_model.fit(
        X, y, loss=LOSS, optimizer=opt, epochs=3, batch_size=16, verbose=0, seed=0
    )
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    for p, before in zip(head_model.parameters()[:4], frozen_before):
        np.testing.assert_array_equal(p.data, before)
    for p, before in zip(head_model.parameters()[4:], head_before):
        assert not np.array_equal(p.data, before)
    assert head_model.count_params(trainable_only=True) == 12 * 3 + 3


def test_unfreeze_top_with_lower_learning_rate(base, tmp_path):
    model = fn.Sequential(*base[:2].layers, fn.Dense(12, 3), seed=1)
    model[0].freeze()
    path = tmp_path / "transfer.safetensors"
    fn.save(model, path)
    model = fn.load(path)  # the frozen flag survives save/load
    assert [layer.trainable for layer in model.layers] == [False, True, True]

    low, head = model[1].parameters(), model[2].parameters()
    opt = fn.optim.SGD([{"params": low, "lr": 1e-3}, {"params": head}], lr=1e-2)
    X, y = data(32, seed=3)
    # Reference: gradients from forward/backward, then plain SGD p - lr_group * grad.
    logits = model.forward(X, training=True)
    _, dlogits = fn.losses.sparse_categorical_crossentropy(logits, y)
    model.backward(dlogits)
    grads = [p.grad.copy() for p in model.parameters()]
    before = [p.data.copy() for p in model.parameters()]
    model.train_step(X, y, LOSS, opt)
    lrs = [0.0, 0.0, 1e-3, 1e-3, 1e-2, 1e-2]  # layer 0 frozen
    for p, w, g, lr in zip(model.parameters(), before, grads, lrs):
        np.testing.assert_allclose(p.data, w - lr * g, rtol=1e-5, atol=1e-7)
