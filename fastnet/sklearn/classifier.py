"""MLPClassifier: scikit-learn's multi-layer perceptron classifier, trained by fastnet."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import BaseMLP, bce_from_logits

_SPARSE_CE = "sparse_categorical_crossentropy"  # on logits: softmax + log loss in one kernel


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: :class:`sklearn.neural_network.MLPClassifier`'s
    parameters, attributes and methods, trained by fastnet's C++ engine.

    The output layer is sklearn's: softmax with log loss for more than two classes, one
    logistic unit with binary log loss for two classes, one logistic unit per label for
    multi-label targets (a 2-D 0/1 ``y``). The loss minimized is sklearn's, L2 term included
    (see ``alpha``). Labels may be any sortable values (strings included); X may be a pandas
    DataFrame (``feature_names_in_`` is then set).

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, or int, default (100,)
        The width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        The hidden layers' activation.
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        The update rule. "lbfgs" is not supported yet (a ValueError at fit).
    alpha : float, default 0.0001
        Strength of the L2 penalty: sklearn adds ``alpha/2·‖W‖²/batch`` to each batch's loss
        (W: the weights, not the intercepts), applied here as a weight decay of the same
        gradient.
    batch_size : int or "auto", default "auto"
        Rows per step; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The learning-rate rule of ``solver="sgd"`` (sklearn's): constant; ``invscaling``
        ``learning_rate_init / (t + 1)**power_t`` after each epoch (t: rows seen);
        ``adaptive``: divided by 5 each time ``n_iter_no_change`` epochs fail to improve by
        ``tol``, stopping once it is at most 1e-6.
    learning_rate_init : float, default 0.001
        The initial learning rate.
    power_t : float, default 0.5
        The exponent of ``invscaling``.
    max_iter : int, default 200
        The most epochs per fit.
    shuffle : bool, default True
        Shuffle the rows every epoch.
    random_state : int, RandomState or None, default None
        Draws the initial weights (sklearn's Glorot-uniform rule, in sklearn's order: the
        same ``random_state`` gives sklearn's initial weights), the early-stopping split, the
        dropout stream and the epoch orders.
    tol : float, default 1e-4
        Improvement that counts: training loss (or validation score with ``early_stopping``)
        better by more than ``tol``.
    verbose : bool or int, default False
        Print the loss (and validation score) after each epoch.
    warm_start : bool, default False
        ``fit`` continues from the fitted network instead of starting again.
    momentum : float, default 0.9
        SGD momentum, in [0, 1].
    nesterovs_momentum : bool, default True
        Nesterov's momentum for SGD (when ``momentum > 0``).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows (stratified for two classes, as
        sklearn), stop when the validation
        accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs and keep the best
        weights.
    validation_fraction : float, default 0.1
        The held-out fraction of ``early_stopping``.
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's moment decay rates, in [0, 1).
    epsilon : float, default 1e-8
        Adam's epsilon.
    n_iter_no_change : int or numpy.inf, default 10
        Epochs without improvement before stopping (or, with ``adaptive``, before dividing the
        learning rate).
    max_fun : int, default 15000
        L-BFGS's function-evaluation limit; checked but unused (no L-BFGS yet).
    batch_norm : bool, default False
        fastnet: a BatchNorm (then the activation) after each hidden Dense layer.
    dropout : float, default 0.0
        fastnet: dropout rate after each hidden layer's activation, in [0, 1).
    clip_norm : float or None, default None
        fastnet: clip the global gradient norm to this value before each update.
    schedule : fastnet schedule or None, default None
        fastnet: a ``step -> learning rate`` callable (``fastnet.schedules``), applied before
        every step; needs ``learning_rate="constant"``.
    n_threads : int or None, default None
        fastnet: sets fastnet's process-wide thread count (``fastnet.set_num_threads``) when
        ``fit`` or prediction starts, and leaves it set; None keeps
        ``fastnet.get_num_threads()``.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (for multi-label: 0 .. n_labels-1).
    loss_ : float
        The loss of the last epoch.
    best_loss_ : float or None
        The smallest loss of ``loss_curve_`` (None with ``early_stopping``).
    loss_curve_ : list of float
        The loss after each epoch, sklearn's definition (L2 term included).
    validation_scores_ : list of float or None
        The validation accuracy after each epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    t_ : int
        Training rows seen.
    coefs_ : list of ndarray
        Weight matrices, shape (in, out) per layer (float32 views of the network).
    intercepts_ : list of ndarray
        Bias vectors per layer (float32 views).
    n_features_in_ : int
        Columns of X seen at fit.
    feature_names_in_ : ndarray of str
        Column names, when X was a DataFrame with string column names.
    n_iter_ : int
        Epochs run by the last fit.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
        Output units.
    out_activation_ : str
        "softmax" or "logistic".
    model_ : fastnet.Sequential
        The trained network (its outputs are logits).

    See Also
    --------
    MLPRegressor : the regressor.
    sklearn.neural_network.MLPClassifier : the estimator this one replaces.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastnet.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        batch_norm=False,
        dropout=0.0,
        clip_norm=None,
        schedule=None,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.clip_norm = clip_norm
        self.schedule = schedule
        self.n_threads = n_threads

    # ----- targets -----
    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=np.float32, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        # sklearn's table (MLPClassifier._validate_input): a new fit defines classes_;
        # warm_start needs the same classes; partial_fit needs classes among classes_.
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        elif self.warm_start:
            classes = unique_labels(y)
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                )
        if y.ndim == 2:  # multi-label indicator rows
            if incremental and y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y has {y.shape[1]} labels but the classifier was fit with {len(self.classes_)}"
                )
            return X, self._label_binarizer.transform(y).astype(np.float32), y
        # LabelBinarizer.transform's encoding (the positive class of two is classes_[1]) from
        # one searchsorted: partial_fit is called once per epoch, and the binarizer's checks
        # cost more than the epoch on small data.
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("y must be a 2-D indicator matrix: the classifier is multi-label")
        try:
            index = np.searchsorted(self.classes_, y)
            index[index == len(self.classes_)] = 0
            unseen = np.asarray(self.classes_[index] != y).any()
        except TypeError:  # labels that do not compare with classes_ (str against int)
            unseen = True
        if unseen:
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has "
                f"{self.classes_}. 'y' has {unique_labels(y)}."
            )
        if self._label_binarizer.y_type_ == "multiclass":
            Y = np.zeros((len(y), len(self.classes_)), dtype=np.float32)
            Y[np.arange(len(y)), index] = 1.0
        else:
            Y = (index == 1).astype(np.float32).reshape(-1, 1)
        return X, Y, y

    def _output_setup(self, Y):
        k = Y.shape[1]
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", _SPARSE_CE, 1.0, 1.0
        # Logistic outputs: fastnet's binary cross-entropy averages over the k outputs where
        # sklearn sums them, so both the loss and the gradient scale by k.
        return "logistic", bce_from_logits(), float(k), float(k)

    def _fit_target(self, Y):
        if self.out_activation_ == "softmax":
            return Y.argmax(axis=1).astype(np.int32)
        return Y

    def _stratify(self, Y) -> bool:
        return Y.shape[1] == 1  # sklearn stratifies single-output targets only

    def _score_fitted(self, X, y):
        pred = self._predict(X, check_input=False)
        return accuracy_score(y, pred)

    # ----- public API -----
    def fit(self, X, y):
        """Fit the network to X and y (sklearn's ``fit``; no ``sample_weight`` yet).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (dense; a pandas DataFrame keeps its column names).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over X, y, continuing the network and optimizer (sklearn's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), default None
            Every class of all calls: required on the first call, ignored afterwards.

        Returns
        -------
        self : MLPClassifier
        """
        first = not hasattr(self, "classes_") or not hasattr(self, "_model")
        if first:
            y_arr = np.asarray(y) if not hasattr(y, "iloc") else y
            if classes is None and not type_of_target(y_arr).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y_arr).startswith("multilabel"):
                self._label_binarizer.fit(y_arr)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                f"was: {self.classes_!r}"
            )
        return self._fit(X, y, incremental=True)

    def _predict(self, X, check_input=True):
        proba = self._proba(self._forward(X, check_input))
        return self._label_binarizer.inverse_transform(proba)

    def _proba(self, logits):
        if self.out_activation_ == "softmax":
            return _softmax(logits)
        out = _sigmoid(logits)
        return out.ravel() if self.n_outputs_ == 1 else out

    def predict(self, X):
        """The predicted class of each row (or indicator rows for multi-label).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        check_is_fitted(self)
        return self._predict(X)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            float64; for multi-label, each label's probability.
        """
        check_is_fitted(self)
        p = self._proba(self._forward(X))
        if p.ndim == 1:
            return np.vstack([1.0 - p, p]).T
        return p

    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
