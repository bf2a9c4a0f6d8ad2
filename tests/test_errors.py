"""Bad input at every public entry point of the core engine: a clear Python exception (type and
a fragment of the message naming the argument), raised before C++ touches memory; conversions
(float64, non-contiguous) that are accepted silently give the same results."""

from __future__ import annotations

import numpy as np
import pytest

import fastnet as fn

SPARSE = "sparse_categorical_crossentropy"


@pytest.fixture()
def model():
    return fn.Sequential(fn.Dense(4, 3, activation="relu"), fn.Dense(3, 2), seed=0)


@pytest.fixture()
def X():
    return np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)


# ---------------------------------------------------------------- X
def test_wrong_feature_count(model):
    with pytest.raises(ValueError, match="X has 3 features, expected 4"):
        model.forward(np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="X has 5 features"):
        model.predict(np.ones((2, 5)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.forward(np.ones((2, 2, 4)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.forward(np.ones(3))


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        b"abc",
        np.array([["a", "b", "c", "d"]]),
        np.array([[object()] * 4], dtype=object),
        np.ones((2, 4), complex),
        None,
    ],
    ids=["str", "bytes", "str-array", "object-array", "complex", "None"],
)
def test_wrong_dtype_is_a_type_error(model, bad):
    with pytest.raises(TypeError, match="X must be"):
        model.forward(bad)
    with pytest.raises(TypeError, match="X must be"):
        model.predict(bad)


def test_ragged_input_is_a_value_error_everywhere(model):
    # A bad shape, as fn.losses reports it: ValueError naming the argument.
    ragged = [[1, 2], [3]]
    for call in (model.forward, model.predict):
        with pytest.raises(ValueError, match="X must be a rectangular"):
            call(ragged)
    with pytest.raises(ValueError, match="pred must be a rectangular"):
        fn.losses.mse(ragged, [[1, 2], [3, 4]])


def test_float64_and_ints_are_converted_silently(model, X):
    expected = model.forward(X)
    np.testing.assert_array_equal(model.forward(X.astype(np.float64)), expected)
    np.testing.assert_array_equal(model.forward(X.tolist()), expected)
    ints = np.arange(20).reshape(5, 4)
    np.testing.assert_array_equal(model.forward(ints), model.forward(ints.astype(np.float32)))


def test_non_contiguous_inputs_are_copied(model):
    rng = np.random.default_rng(1)
    big = rng.standard_normal((10, 8)).astype(np.float32)
    strided = big[::2, ::2]  # every other row and column
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(
        model.forward(strided), model.forward(np.ascontiguousarray(strided))
    )
    fortran = np.asfortranarray(big[:, :4])
    np.testing.assert_array_equal(
        model.forward(fortran), model.forward(np.ascontiguousarray(fortran))
    )
    reversed_rows = big[::-1, :4]
    np.testing.assert_array_equal(
        model.predict(reversed_rows, batch_size=3), model.forward(reversed_rows.copy())
    )
    # backward with a non-contiguous dY
    model.forward(big[:5, :4], training=True)
    dY = rng.standard_normal((2, 5)).astype(np.float32).T  # (5, 2), Fortran order
    a = model.backward(dY)
    model.forward(big[:5, :4], training=True)
    np.testing.assert_array_equal(a, model.backward(np.ascontiguousarray(dY)))


def test_empty_batch(model):
    with pytest.raises(ValueError, match="X is an empty batch"):
        model.forward(np.ones((0, 4), np.float32))
    with pytest.raises(ValueError, match="empty batch"):
        model.predict(np.ones((0, 4)))
    opt = fn.optim.SGD(model.parameters())
    with pytest.raises(ValueError, match="empty batch"):
        model.train_step(np.ones((0, 4)), np.ones(0, int), SPARSE, opt)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_X(model, value):
    X = np.ones((3, 4), np.float32)
    X[1, 2] = value
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        model.forward(X)
    opt = fn.optim.SGD(model.parameters())
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        model.train_step(X, [0, 1, 0], SPARSE, opt)


# ---------------------------------------------------------------- labels and targets
@pytest.mark.parametrize(
    "labels,exc,fragment",
    [
        ([0, 1, 2, 0, 1], ValueError, r"y must be in \[0, 2\)"),
        ([0, -1, 0, 0, 1], ValueError, r"y must be in \[0, 2\)"),
        ([0, 0.5, 0, 0, 1], ValueError, "whole-number class labels"),
        ([0, np.nan, 0, 0, 1], ValueError, "whole-number class labels"),
        (["a"] * 5, TypeError, "y must hold integer class labels"),
        ([0, 1], ValueError, "y has 2 labels for 5 rows"),
        (np.zeros((5, 2)), ValueError, "y must be 1-D"),
        ("01010", TypeError, "y must be an array of integer labels"),
    ],
)
def test_bad_labels(model, X, labels, exc, fragment):
    opt = fn.optim.SGD(model.parameters())
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(exc, match=fragment):
        model.train_step(X, labels, SPARSE, opt)
    with pytest.raises(exc, match=fragment):
        model.evaluate_loss(X, labels, SPARSE)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)  # nothing was applied


def test_whole_float_labels_are_accepted(model, X):
    opt = fn.optim.SGD(model.parameters())
    a = model.evaluate_loss(X, np.array([0.0, 1.0, 1.0, 0.0, 1.0]), SPARSE)
    assert a == model.evaluate_loss(X, [0, 1, 1, 0, 1], SPARSE)
    assert np.isfinite(model.train_step(X, np.array([[0], [1], [1], [0], [1]]), SPARSE, opt))


def test_bad_float_targets(model, X):
    opt = fn.optim.SGD(model.parameters())
    with pytest.raises(ValueError, match=r"y has shape \(5, 3\), expected \(5, 2\)"):
        model.train_step(X, np.ones((5, 3)), "mse", opt)
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        model.train_step(X, np.full((5, 2), np.nan), "mse", opt)
    with pytest.raises(TypeError, match="y must be"):
        model.train_step(X, np.ones((5, 2), complex), "mse", opt)


# ---------------------------------------------------------------- backward
def test_backward_before_training_forward(model, X):
    with pytest.raises(RuntimeError, match=r"forward\(X, training=True\) first"):
        model.backward(np.ones((5, 2)))
    model.forward(X)  # inference forward is not enough
    with pytest.raises(RuntimeError, match="training=True"):
        model.backward(np.ones((5, 2)))
    model.forward(X, training=True)
    dx = model.backward(np.ones((5, 2)))
    model.forward(X, training=True)
    model.predict(X)  # inference borrows its own workspace:
    model.forward(X[:2])  # the training activations survive
    np.testing.assert_array_equal(model.backward(np.ones((5, 2))), dx)
    opt = fn.optim.SGD(model.parameters())
    model.train_step(X, [0, 1, 0, 1, 0], SPARSE, opt)  # a train step keeps nothing for backward
    with pytest.raises(RuntimeError, match="training=True"):
        model.backward(np.ones((5, 2)))


def test_backward_with_wrong_dY(model, X):
    model.forward(X, training=True)
    with pytest.raises(ValueError, match="dY has 3 features, expected 2"):
        model.backward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="dY has 4 rows but the last forward had 5"):
        model.backward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="dY contains NaN or Inf"):
        model.backward(np.full((5, 2), np.nan))
    with pytest.raises(TypeError, match="dY must be"):
        model.backward("dy")
    assert model.backward(np.ones((5, 2))).shape == (5, 4)  # still usable afterwards


def test_training_flag_must_be_a_bool(model, X):
    with pytest.raises(TypeError, match="training must be True or False"):
        model.forward(X, training="no")
    model.forward(X, training=np.bool_(True))


# ---------------------------------------------------------------- construction
def test_mismatched_layer_sizes():
    with pytest.raises(
        ValueError, match="layer 1 .* expects 4 input features but the previous layer gives 3"
    ):
        fn.Sequential(fn.Dense(4, 3), fn.Dense(4, 2))
    with pytest.raises(ValueError, match="expects 5 input features"):
        fn.Sequential(fn.Dense(4, 3), fn.ReLU(), fn.PReLU(5))
    # Issue 14 item 5: a layer that adapts may come first; the width comes from the Dense.
    assert fn.Sequential(fn.ReLU(), fn.Dense(4, 2)).in_features == 4
    with pytest.raises(ValueError, match="cannot infer the input width.*input_dim"):
        fn.Sequential(fn.ReLU(), fn.Dropout(0.1))


@pytest.mark.parametrize(
    "bad",
    ["relu", np.tanh, 3, None, fn.Sequential(fn.Dense(2, 2))],
    ids=["str", "function", "int", "None", "Sequential"],
)
def test_non_layer_objects(bad):
    with pytest.raises(TypeError, match="layer 1 must be a fastnet layer"):
        fn.Sequential(fn.Dense(2, 2), bad)


def test_empty_sequential():
    with pytest.raises(ValueError, match="at least one layer"):
        fn.Sequential()


def test_bad_init_and_activation_names():
    with pytest.raises(ValueError, match="unknown initializer 'hee'"):
        fn.Dense(4, 3, init="hee")
    with pytest.raises(TypeError, match="initializer"):
        fn.Dense(4, 3, init=3)
    with pytest.raises(ValueError, match="unknown activation 'rel'"):
        fn.Dense(4, 3, activation="rel")
    with pytest.raises(TypeError, match="activation must be a string"):
        fn.Dense(4, 3, activation=3)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        fn.GELU(approximate="fast")


@pytest.mark.parametrize(
    "make,exc,fragment",
    [
        (lambda: fn.Dense(0, 3), ValueError, "in_features must be >= 1"),
        (lambda: fn.Dense(4, -2), ValueError, "out_features must be >= 1"),
        (lambda: fn.Dense(2.5, 3), TypeError, "in_features must be an integer"),
        (lambda: fn.Dense("4", 3), TypeError, "in_features must be an integer"),
        (lambda: fn.Dense(4, 3, bias="yes"), TypeError, "bias must be True or False"),
        (
            lambda: fn.Dense(4, 3, activation="leaky_relu", alpha=-0.1),
            ValueError,
            "alpha must be in",
        ),
        (lambda: fn.LeakyReLU(-1.0), ValueError, "alpha must be in"),
        (lambda: fn.LeakyReLU("x"), TypeError, "alpha must be a real number"),
        (lambda: fn.ELU(float("nan")), ValueError, "alpha must be finite"),
        (lambda: fn.PReLU(0), ValueError, "features must be >= 1"),
        (lambda: fn.RReLU(0.5, 0.1), ValueError, "upper must be >= lower"),
        (lambda: fn.Sequential(fn.Dense(2, 2), seed=-1), ValueError, "seed must be a non-negative"),
        (lambda: fn.Sequential(fn.Dense(2, 2), seed="a"), TypeError, "seed must be a non-negative"),
    ],
)
def test_bad_layer_arguments(make, exc, fragment):
    with pytest.raises(exc, match=fragment):
        make()


def test_seed_may_be_a_generator():
    a = fn.Sequential(fn.Dense(3, 2), seed=np.random.default_rng(7))
    b = fn.Sequential(fn.Dense(3, 2), seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.parameters()[0].data, b.parameters()[0].data)


def test_bad_predict_batch_size(model, X):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.predict(X, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        model.predict(X, batch_size="8")
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        model.predict(X, batch_size=2.5)


# ---------------------------------------------------------------- train_step arguments
def test_optimizer_of_another_model(model, X):
    other = fn.Sequential(fn.Dense(4, 2), seed=0)
    with pytest.raises(ValueError, match="optimizer was built on the parameters of another model"):
        model.train_step(X, [0] * 5, SPARSE, fn.optim.SGD(other.parameters()))
    with pytest.raises(ValueError, match="another model"):  # a slice is another model too
        model.train_step(X, [0] * 5, SPARSE, fn.optim.SGD(model[:2].parameters()))
    with pytest.raises(TypeError, match="optimizer must be a fastnet optimizer"):
        model.train_step(X, [0] * 5, SPARSE, "sgd")


def test_bad_loss(model, X):
    opt = fn.optim.SGD(model.parameters())
    with pytest.raises(ValueError, match="unknown loss 'cross'"):
        model.train_step(X, [0] * 5, "cross", opt)
    with pytest.raises(TypeError, match="loss must be a name"):
        model.train_step(X, [0] * 5, 3, opt)
    with pytest.raises(ValueError, match="is not a fastnet loss"):
        model.train_step(X, [0] * 5, np.mean, opt)


# ---------------------------------------------------------------- the C++ last line of defence
def test_core_guards_do_not_crash():
    core = fn._core.Model()
    with pytest.raises(RuntimeError, match="no layers"):
        _ = core.in_features
    with pytest.raises(RuntimeError, match="no layers"):
        core.forward(np.ones((2, 3), np.float32), False)
    with pytest.raises(ValueError, match="at least one layer"):
        core.build()
    core.add({"kind": "dense", "in_features": 3, "out_features": 2})
    with pytest.raises(RuntimeError, match="not built"):
        core.forward(np.ones((2, 3), np.float32), False)
    core.build()
    with pytest.raises(ValueError, match="outside the arena"):
        core.params_view(2**64 - 1, [2])
    with pytest.raises(ValueError, match="outside the arena"):
        core.grads_view(0, [1000])
    with pytest.raises(ValueError, match="X has 4 columns, expected 3"):
        core.forward(np.ones((2, 4), np.float32), False)
    with pytest.raises(RuntimeError, match="backward"):  # call order
        core.backward(np.ones((2, 2), np.float32), True)
    with pytest.raises(ValueError, match="unknown activation"):
        fn._core.Model().add(
            {"kind": "dense", "in_features": 3, "out_features": 2, "activation": "nope"}
        )
    with pytest.raises(ValueError, match="unknown layer kind"):
        fn._core.Model().add({"kind": "conv"})
    with pytest.raises(ValueError, match="expects 5 input features"):
        m = fn._core.Model()
        m.add({"kind": "dense", "in_features": 3, "out_features": 2})
        m.add({"kind": "dense", "in_features": 5, "out_features": 2})
