"""fastnet.sklearn: MLPClassifier / MLPRegressor against scikit-learn's own estimators, a NumPy
reference of scikit-learn's objective, the estimator checks and the integrations (Pipeline,
GridSearchCV, cross_val_score, clone, pickle, pandas)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from child import run_child

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnet as fn  # noqa: E402
from fastnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _digits(n=300):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


# ----------------------------------------------------------------------------- sklearn's checks
@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------- the objective, exactly
def _sk_initial_weights(units, seed, factor=6.0):
    """scikit-learn's _init_coef, replayed: Glorot uniform for coef then intercept, per layer."""
    rs = np.random.RandomState(seed)
    out = []
    for a, b in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (a + b))
        out.append((rs.uniform(-bound, bound, (a, b)), rs.uniform(-bound, bound, b)))
    return out


def _sk_objective(params, X, T, kind, alpha):
    """scikit-learn's loss (neural_network/_base.py + _backprop) in float64 for one ReLU hidden
    layer: data loss + alpha/2·‖W‖²/n over the weights (not the intercepts)."""
    (W1, b1), (W2, b2) = params
    Z = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
    n = X.shape[0]
    if kind == "softmax":
        Z = Z - Z.max(axis=1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        data = -(T * logp).sum() / n
    elif kind == "logistic":
        p = 1.0 / (1.0 + np.exp(-Z))
        data = -(T * np.log(p) + (1 - T) * np.log(1 - p)).sum() / n
    else:
        data = 0.5 * ((Z - T) ** 2).mean()
    return data + 0.5 * alpha * ((W1**2).sum() + (W2**2).sum()) / n


def _sk_gradient(params, X, T, kind, alpha):
    """scikit-learn's step direction: (out - y)/n at the output layer for every loss (its
    _backprop), back-propagated, plus alpha·W/n; checked below against finite differences of
    _sk_objective where sklearn's loss and step agree (one output or softmax)."""
    (W1, b1), (W2, b2) = params
    n = X.shape[0]
    H = np.maximum(X @ W1 + b1, 0.0)
    Z = H @ W2 + b2
    if kind == "softmax":
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        out = E / E.sum(axis=1, keepdims=True)
    elif kind == "logistic":
        out = 1.0 / (1.0 + np.exp(-Z))
    else:
        out = Z
    d2 = out - T
    d1 = (d2 @ W2.T) * (H > 0)
    return [
        ((X.T @ d1 + alpha * W1) / n, d1.sum(0) / n),
        ((H.T @ d2 + alpha * W2) / n, d2.sum(0) / n),
    ]


def _cases():
    X, y = _digits(120)
    X = X[:, ::4]  # 16 features: a small network keeps the finite differences cheap
    rng = np.random.default_rng(0)
    multilabel = np.stack([y % 2, y > 4, y % 3 == 0], axis=1).astype(int)
    return {
        "multiclass": (MLPClassifier, X, y, "softmax", np.eye(10)[y]),
        "binary": (MLPClassifier, X, y % 2, "logistic", (y % 2)[:, None].astype(float)),
        "multilabel": (MLPClassifier, X, multilabel, "logistic", multilabel.astype(float)),
        "regression": (MLPRegressor, X, X @ rng.normal(size=16), "identity", None),
        "multioutput": (MLPRegressor, X, X @ rng.normal(size=(16, 3)), "identity", None),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_one_sgd_step_follows_sklearns_objective(name):
    """One full-batch SGD step (no momentum): the weights move by -lr·∇ of scikit-learn's
    objective (alpha included), and loss_curve_[0] is that objective at the initial weights,
    which are scikit-learn's for the same random_state."""
    cls, X, y, kind, T = _cases()[name]
    if T is None:
        T = y.reshape(len(y), -1)
    alpha, lr, seed = 0.7, 0.05, 5
    est = cls(
        hidden_layer_sizes=(6,),
        solver="sgd",
        momentum=0.0,
        alpha=alpha,
        learning_rate_init=lr,
        batch_size=len(X),
        shuffle=False,
        random_state=seed,
    )
    if cls is MLPClassifier and y.ndim == 1:
        est.partial_fit(X, y, classes=np.unique(y))
    else:
        est.partial_fit(X, y)
    params = _sk_initial_weights([16, 6, T.shape[1]], seed)
    assert est.loss_curve_[0] == pytest.approx(_sk_objective(params, X, T, kind, alpha), rel=1e-5)
    grads = _sk_gradient(params, X, T, kind, alpha)
    for (W, b), (gW, gb), W_est, b_est in zip(params, grads, est.coefs_, est.intercepts_):
        np.testing.assert_allclose(W_est, W - lr * gW, atol=2e-6)
        np.testing.assert_allclose(b_est, b - lr * gb, atol=2e-6)


@pytest.mark.parametrize("name", ["multiclass", "binary", "regression"])
def test_sklearn_step_is_the_objective_gradient(name):
    """The reference step direction above is the gradient of the reference objective (central
    differences), so the previous test checks the objective's meaning, alpha's included."""
    _, X, y, kind, T = _cases()[name]
    if T is None:
        T = y.reshape(len(y), -1)
    params = _sk_initial_weights([16, 6, T.shape[1]], 1)
    grads = _sk_gradient(params, X, T, kind, 0.7)
    h = 1e-6
    for li, (W, b) in enumerate(params):
        for arr, g in ((W, grads[li][0]), (b, grads[li][1])):
            for idx in [(0,) * arr.ndim, tuple(s - 1 for s in arr.shape)]:
                old = arr[idx]
                arr[idx] = old + h
                up = _sk_objective(params, X, T, kind, 0.7)
                arr[idx] = old - h
                down = _sk_objective(params, X, T, kind, 0.7)
                arr[idx] = old
                assert (up - down) / (2 * h) == pytest.approx(g[idx], rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", list(_cases()))
def test_epochs_match_sklearn(name, solver):
    """Five full-batch epochs (Nesterov momentum, alpha=0.5) against scikit-learn's own
    estimator from the same initial weights: SGD to float32 precision; Adam's loss curve to
    1e-4 (fastnet adds epsilon to the bias-corrected √v̂, sklearn to √v)."""
    cls, X, y, _, _ = _cases()[name]
    sk_cls = SkClassifier if cls is MLPClassifier else SkRegressor
    kw = dict(
        hidden_layer_sizes=(10,),
        solver=solver,
        alpha=0.5,
        batch_size=len(X),
        shuffle=False,
        learning_rate_init=0.01,
        random_state=3,
    )
    ours, theirs = cls(**kw), sk_cls(**kw)
    extra = {}
    if cls is MLPClassifier:
        extra = {"classes": np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])}
    for _ in range(5):
        ours.partial_fit(X, y, **extra)
        theirs.partial_fit(X, y, **extra)
    np.testing.assert_allclose(
        ours.loss_curve_, theirs.loss_curve_, rtol=1e-6 if solver == "sgd" else 1e-4
    )
    if solver == "sgd":
        for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
            np.testing.assert_allclose(a, b, atol=1e-6)
    assert ours.t_ == theirs.t_ == 5 * len(X)
    assert ours.n_iter_ == theirs.n_iter_ == 1


def test_invscaling_matches_sklearn():
    X, y = _digits(200)
    kw = dict(
        hidden_layer_sizes=(8,),
        solver="sgd",
        momentum=0.0,
        learning_rate="invscaling",
        learning_rate_init=0.5,
        power_t=0.25,
        batch_size=200,
        shuffle=False,
        random_state=0,
        max_iter=4,
    )
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("learning_rate", ["constant", "adaptive"])
def test_stopping_rule_counts_epochs_as_sklearn(learning_rate):
    """tol larger than any improvement: the run stops after n_iter_no_change + 1 epochs without
    improvement; 'adaptive' instead divides the rate by 5 until it is at most 1e-6 (sklearn's
    epoch counts, which do not depend on rounding here)."""
    X, y = _digits(100)
    kw = dict(
        hidden_layer_sizes=(5,),
        solver="sgd",
        learning_rate=learning_rate,
        learning_rate_init=0.1,
        tol=1e3,
        n_iter_no_change=2,
        max_iter=100,
        random_state=0,
    )
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == len(ours.loss_curve_)
    assert ours.n_iter_ == (4 if learning_rate == "constant" else 1 + 9 * 3)
    assert ours.best_loss_ == min(ours.loss_curve_)


def test_early_stopping_keeps_the_best_weights():
    X, y = _digits(400)
    clf = MLPClassifier(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=3,
        max_iter=60,
        learning_rate_init=0.05,
        random_state=4,
    ).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # Replay the split: the random state draws the initial weights, the model seed, then the
    # split (fastnet/sklearn/_base.py).
    rs = np.random.RandomState(4)
    for a, b in ((64, 16), (16, 10)):
        rs.uniform(size=(a, b)), rs.uniform(size=b)
    rs.randint(2**31 - 1)
    _, X_val, _, y_val = train_test_split(X, y, random_state=rs, test_size=0.25)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_convergence_warning_and_verbose(capsys):
    X, y = _digits(100)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    assert "Iteration 3, loss = " in capsys.readouterr().out


# ------------------------------------------------------------------------ quality
def test_digits_accuracy_at_least_sklearns():
    X_train, y_train, X_test, y_test = fn.datasets.load_digits()
    kw = dict(hidden_layer_sizes=(100,), max_iter=200, random_state=0)
    ours = MLPClassifier(**kw).fit(X_train, y_train).score(X_test, y_test)
    theirs = SkClassifier(**kw).fit(X_train, y_train).score(X_test, y_test)
    assert ours >= theirs - 0.02, (ours, theirs)
    assert ours > 0.95


def test_linear_regression_reaches_least_squares():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 5))
    y = X @ np.array([1.5, -2.0, 0.5, 3.0, -1.0]) + 0.7 + 0.1 * rng.normal(size=500)
    A = np.hstack([X, np.ones((500, 1))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    linear = MLPRegressor(
        hidden_layer_sizes=(),
        alpha=0.0,
        learning_rate_init=0.01,
        max_iter=500,
        tol=1e-7,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(linear.coefs_[0].ravel(), coef[:5], atol=5e-3)
    assert linear.intercepts_[0][0] == pytest.approx(coef[5], abs=5e-3)
    best = 1 - ((A @ coef - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    mlp = MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    assert mlp.score(X, y) > best - 0.01


# ------------------------------------------------------------------------ targets and inputs
def test_string_labels_and_probabilities():
    X, y = _digits(300)
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0).fit(X, names[y])
    assert list(clf.classes_) == sorted(names)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 10 and clf.n_layers_ == 3
    assert [c.shape for c in clf.coefs_] == [(64, 32), (32, 10)]
    assert [b.shape for b in clf.intercepts_] == [(32,), (10,)]


def test_binary_has_one_logistic_output():
    X, y = _digits(300)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0).fit(X, y > 4)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 2)
    logits = clf.model_.predict(X.astype(np.float32)).astype(np.float64).ravel()
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logits)), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), logits > 0)


def test_multilabel_and_multioutput():
    X, y = _digits(300)
    Y = np.stack([y % 2, y > 4, y == 0], axis=1).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    pred = clf.predict(X)
    assert pred.shape == (300, 3) and set(np.unique(pred)) <= {0, 1}
    assert (pred == Y).mean() > 0.9
    assert clf.predict_proba(X).shape == (300, 3)
    targets = X @ np.random.default_rng(0).normal(size=(64, 2))
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X, targets)
    assert reg.predict(X).shape == (300, 2) and reg.n_outputs_ == 2
    assert reg.score(X, targets) > 0.9


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _digits(200)
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fitted with names, given an array
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"px0": "other"}))


# ------------------------------------------------------------------------ integrations
def test_pickle_round_trip_and_clone():
    X, y = _digits(200)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    back.partial_fit(X, y)  # the optimizer travels with the network
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "classes_")


def test_pipeline_and_cross_val_score():
    X, y = _digits(300)
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0)
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7


def test_grid_search_two_workers_in_a_child():
    out = run_child(
        """
        import warnings
        warnings.simplefilter("ignore")
        from sklearn.datasets import load_digits
        from sklearn.model_selection import GridSearchCV
        from fastnet.sklearn import MLPClassifier
        X, y = load_digits(return_X_y=True)
        space = {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-2]}
        est = MLPClassifier(max_iter=60, learning_rate_init=0.01, random_state=0)
        for jobs in (2, 1):
            grid = GridSearchCV(est, space, cv=3, n_jobs=jobs).fit(X[:600] / 16, y[:600])
            print(repr(grid.cv_results_["mean_test_score"].round(6).tolist()))
        """,
        timeout=240,
    )
    two, one = (eval(line) for line in out.split("\n")[:2])
    assert two == one  # the workers' fits are the parent's (same seeds, same results)
    assert max(two) > 0.85


# ------------------------------------------------------------------------ fastnet's own knobs
def test_fastnet_options():
    X, y = _digits(300)
    before = fn.get_num_threads()
    clf = MLPClassifier(
        hidden_layer_sizes=(32, 16),
        batch_norm=True,
        dropout=0.1,
        clip_norm=1.0,
        schedule=fn.schedules.CosineDecay(1e-2, total_steps=200),
        n_threads=1,
        max_iter=20,
        random_state=0,
    ).fit(X, y)
    kinds = [type(layer).__name__ for layer in clf.model_.layers]
    assert kinds == ["Dense", "BatchNorm", "ReLU", "Dropout"] * 2 + ["Dense"]
    # n_threads sets the process-wide count (never flipped back around a call)
    assert fn.get_num_threads() == 1
    fn.set_num_threads(before)
    assert clf.score(X, y) > 0.8
    assert len(clf.coefs_) == 3


def test_warm_start_and_partial_fit_continue():
    X, y = _digits(200)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    first = clf.fit(X, y).coefs_[0].copy()
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 10 and clf.n_iter_ == 5 and clf.t_ == 2000
    assert not np.array_equal(first, clf.coefs_[0])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 5], y[y < 5])
    inc = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(X, y)
    inc.partial_fit(X[:100], y[:100], classes=np.arange(10))
    inc.partial_fit(X[100:], y[100:])
    assert inc.n_iter_ == 1 and inc.t_ == 200 and len(inc.loss_curve_) == 2
    with pytest.raises(ValueError, match="classes not in"):
        inc.partial_fit(X, y + 20)
    with pytest.raises(ValueError, match="classes not in"):
        inc.partial_fit(X, y.astype(str))


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"solver": "lbfgs"}, ValueError, "lbfgs.*not supported yet"),
        ({"solver": "newton"}, ValueError, "solver"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"alpha": "big"}, TypeError, "alpha"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"hidden_layer_sizes": (10, 0)}, ValueError, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": "10"}, TypeError, "hidden_layer_sizes"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"n_threads": 0}, ValueError, "n_threads"),
        ({"schedule": 3}, TypeError, "schedule"),
        ({"learning_rate": "adaptive", "schedule": lambda s: 0.1}, ValueError, "schedule"),
        ({"early_stopping": True, "validation_fraction": 0.0}, ValueError, "validation_fraction"),
    ],
)
def test_bad_parameters_name_themselves(params, error, match):
    X, y = _digits(50)
    with pytest.raises(error, match=match):
        MLPClassifier(**params).fit(X, y)


def test_regressor_poisson_and_sparse_refused():
    import scipy.sparse

    X, y = _digits(50)
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson").fit(X, y)
    with pytest.raises(TypeError, match="dense"):
        MLPRegressor().fit(scipy.sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


# ------------------------------------------------------------------------ optional dependency
def test_import_fastnet_does_not_import_sklearn():
    out = run_child("import sys, fastnet; print('sklearn' in sys.modules, 'pandas' in sys.modules)")
    assert out.split() == ["False", "False"]


def test_missing_sklearn_names_the_extra():
    out = run_child(
        """
        import sys
        sys.modules["sklearn"] = None  # as if scikit-learn were not installed
        try:
            import fastnet.sklearn
        except ImportError as e:
            print(e)
        """
    )
    assert "pip install fastnet[sklearn]" in out
