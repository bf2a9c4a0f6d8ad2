"""fn.Ensemble: weighted averages of probabilities and raw outputs against NumPy; bad input."""

import numpy as np
import pytest

import fastnet as fn


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _classifiers(k=3, d_in=8, classes=4):
    return [
        fn.Sequential(fn.Dense(d_in, 16, activation="relu"), fn.Dense(16, classes), seed=s)
        for s in range(k)
    ]


X = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)


def test_proba_averages_softmax_of_logits():
    models = _classifiers()
    ref = np.mean([_softmax(m.predict(X).astype(np.float64)) for m in models], axis=0)
    got = fn.Ensemble(models).predict(X, kind="proba")
    assert got.dtype == np.float32 and got.shape == (20, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fn.Ensemble(models).predict_classes(X), ref.argmax(axis=1))


def test_weights_are_normalized():
    models = _classifiers()
    outs = [m.predict(X).astype(np.float64) for m in models]
    got = fn.Ensemble(models, weights=[2, 1, 1]).predict(X, kind="raw")
    np.testing.assert_allclose(
        got, 0.5 * outs[0] + 0.25 * outs[1] + 0.25 * outs[2], rtol=1e-5, atol=1e-6
    )
    only_first = fn.Ensemble(models, weights=[1, 0, 0]).predict(X, kind="proba")
    np.testing.assert_allclose(only_first, _softmax(outs[0]), rtol=1e-5, atol=1e-7)


def test_softmax_and_sigmoid_outputs_are_taken_as_probabilities():
    soft = [fn.Sequential(fn.Dense(8, 4), fn.Softmax(), seed=s) for s in range(2)]
    ref = np.mean([m.predict(X) for m in soft], axis=0)
    ens = fn.Ensemble(soft)
    np.testing.assert_allclose(ens.predict(X), ref, rtol=1e-6)  # auto -> proba, no 2nd softmax
    np.testing.assert_allclose(ens.predict(X, kind="proba"), ref, rtol=1e-6)
    sig = [fn.Sequential(fn.Dense(8, 1, activation="sigmoid"), seed=s) for s in range(2)]
    np.testing.assert_allclose(
        fn.Ensemble(sig).predict(X), np.mean([m.predict(X) for m in sig], 0), rtol=1e-6
    )
    # One logit per row: sigmoid (softmax of one column would always be 1).
    logit = [fn.Sequential(fn.Dense(8, 1), seed=s) for s in range(2)]
    ref = np.mean([1 / (1 + np.exp(-m.predict(X).astype(np.float64))) for m in logit], axis=0)
    np.testing.assert_allclose(fn.Ensemble(logit).predict(X, kind="proba"), ref, rtol=1e-5)
    assert set(fn.Ensemble(logit).predict_classes(X)) <= {0, 1}


def test_raw_and_auto_for_regression():
    reg = [
        fn.Sequential(fn.Dense(8, 3, activation="tanh"), fn.Dense(3, 2), seed=s) for s in range(4)
    ]
    ref = np.mean([m.predict(X) for m in reg], axis=0)
    ens = fn.Ensemble(reg)
    np.testing.assert_allclose(ens.predict(X), ref, rtol=1e-5, atol=1e-6)  # auto -> raw
    np.testing.assert_allclose(ens.predict(X, kind="raw", batch_size=7), ref, rtol=1e-5, atol=1e-6)
    assert len(ens) == 4 and ens.in_features == 8 and ens.out_features == 2


def test_ensemble_of_trained_digit_classifiers_is_at_least_as_good_as_its_members():
    Xtr, ytr, Xte, yte = fn.datasets.load_digits()
    members = []
    for seed in range(3):
        m = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=seed)
        opt = fn.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        m.fit(
            Xtr[:300],
            ytr[:300],
            loss="sparse_categorical_crossentropy",
            optimizer=opt,
            epochs=10,
            verbose=0,
            seed=seed,
        )
        members.append(m)
    accs = [np.mean(m.predict(Xte).argmax(1) == yte) for m in members]
    ens_acc = np.mean(fn.Ensemble(members).predict_classes(Xte) == yte)
    assert ens_acc >= np.mean(accs)


def test_bad_inputs():
    models = _classifiers()
    with pytest.raises(ValueError, match="empty"):
        fn.Ensemble([])
    with pytest.raises(TypeError, match="list"):
        fn.Ensemble(models[0])
    with pytest.raises(TypeError, match="list"):
        fn.Ensemble(5)
    with pytest.raises(TypeError, match=r"models\[1\]"):
        fn.Ensemble([models[0], "model"])
    with pytest.raises(ValueError, match="input features"):
        fn.Ensemble([models[0], fn.Sequential(fn.Dense(7, 4))])
    with pytest.raises(ValueError, match="outputs"):
        fn.Ensemble([models[0], fn.Sequential(fn.Dense(8, 3))])
    with pytest.raises(ValueError, match="weights"):
        fn.Ensemble(models, weights=[1, 2])
    with pytest.raises(ValueError, match="weights"):
        fn.Ensemble(models, weights=[1, -1, 1])
    with pytest.raises(ValueError, match="weights"):
        fn.Ensemble(models, weights=[0, 0, 0])
    with pytest.raises(ValueError, match="weights"):
        fn.Ensemble(models, weights=[1, np.nan, 1])
    with pytest.raises(TypeError, match="weights"):
        fn.Ensemble(models, weights=["a", "b", "c"])
    ens = fn.Ensemble(models)
    with pytest.raises(ValueError, match="kind"):
        ens.predict(X, kind="mean")
    with pytest.raises(TypeError, match="kind"):
        ens.predict(X, kind=1)
    with pytest.raises(ValueError, match="X"):
        ens.predict(X[:, :5])
    with pytest.raises(ValueError, match="batch_size"):
        ens.predict(X, batch_size=0)
