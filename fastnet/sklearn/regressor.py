"""MLPRegressor: scikit-learn's multi-layer perceptron regressor, trained by fastnet."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import BaseMLP


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: :class:`sklearn.neural_network.MLPRegressor`'s
    parameters, attributes and methods, trained by fastnet's C++ engine.

    An identity output with sklearn's half squared error, one output per target column
    (multi-output regression with a 2-D ``y``). The loss minimized is sklearn's, L2 term
    included (see ``alpha``). X may be a pandas DataFrame (``feature_names_in_`` is then set).

    Parameters
    ----------
    loss : {"squared_error"}, default "squared_error"
        sklearn's half squared error. sklearn's "poisson" (log link) is not supported yet (a
        ValueError at fit).
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
        Hold out ``validation_fraction`` of the rows, stop when the validation R² has not
        improved by ``tol`` for ``n_iter_no_change`` epochs and keep the best
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
    loss_ : float
        The loss of the last epoch.
    best_loss_ : float or None
        The smallest loss of ``loss_curve_`` (None with ``early_stopping``).
    loss_curve_ : list of float
        The loss after each epoch, sklearn's definition (half squared error + L2 term).
    validation_scores_ : list of float or None
        The validation R² after each epoch with ``early_stopping``, else None.
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
        Output units (target columns).
    out_activation_ : str
        "identity".
    model_ : fastnet.Sequential
        The trained network.

    See Also
    --------
    MLPClassifier : the classifier.
    sklearn.neural_network.MLPRegressor : the estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnet.sklearn import MLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), random_state=0).fit(X, X @ [1.0, 2.0, -1.0])
    >>> reg.predict(X[:4]).shape
    (4,)
    """

    def __init__(
        self,
        loss="squared_error",
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
        self.loss = loss
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
        if self.loss != "squared_error":
            if not isinstance(self.loss, str):
                raise TypeError(f"loss must be a string, got {type(self.loss).__name__}")
            if self.loss == "poisson":
                raise ValueError(
                    "loss='poisson' is not supported yet by fastnet.sklearn; "
                    "use loss='squared_error'"
                )
            raise ValueError(f"loss must be 'squared_error', got {self.loss!r}")
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=np.float32, reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        with np.errstate(over="ignore"):
            Y = np.ascontiguousarray(Y, dtype=np.float32)
        if not np.isfinite(Y).all():
            raise ValueError("y holds values too large for float32 (fastnet trains in float32)")
        return X, Y, Y

    def _output_setup(self, Y):
        # fastnet's mse is mean((p - t)^2) over all n·k elements (gradient 2(p - t)/(n·k));
        # sklearn's loss is half of that and its gradient (p - t)/n.
        k = Y.shape[1]
        return "identity", "mse", 0.5, k / 2.0

    def _fit_target(self, Y):
        return Y

    def _stratify(self, Y) -> bool:
        return False

    def _score_fitted(self, X, y):
        pred = self._forward(X, check_input=False)
        if not np.isfinite(pred).all():
            return np.nan
        return r2_score(y, pred)

    # ----- public API -----
    def fit(self, X, y):
        """Fit the network to X and y (sklearn's ``fit``; no ``sample_weight`` yet).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (dense; a pandas DataFrame keeps its column names).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over X, y, continuing the network and optimizer (sklearn's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """The predicted values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            float64.
        """
        check_is_fitted(self)
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
