"""The shared base of MLPClassifier and MLPRegressor: the network, the optimizer and the fit
loop, with scikit-learn's meaning for every parameter.

How scikit-learn's objective maps onto fastnet's kernels (sklearn 1.9,
neural_network/_multilayer_perceptron.py ``_backprop`` and _base.py):

- the gradient sklearn steps on is ``(out - y)/batch`` for every output (softmax + log loss,
  logistic + binary log loss, identity + squared loss) plus ``alpha·W/batch`` for the weights
  (not the intercepts). fastnet's losses average over all elements and mse has a factor 2, so
  fastnet's data gradient is sklearn's divided by ``grad_scale`` (1 for softmax cross-entropy,
  k for k logistic outputs, k/2 for k regression outputs). The estimators therefore give the
  weights a weight decay of ``alpha / (batch·grad_scale)`` (torch's coupled L2: added to the
  gradient before the update) and scale the step so the update is sklearn's: SGD's learning
  rate times ``grad_scale``; Adam's epsilon divided by it (Adam is otherwise invariant to the
  gradient's scale).
- the reported loss is sklearn's: fastnet's epoch loss times ``loss_scale`` (1, k, 1/2) plus
  the L2 term ``alpha/2·‖W‖²/batch`` (see _epochs.py).

Known differences: the last, shorter batch of an epoch gets ``alpha/batch_size`` rather than
``alpha/len(batch)``; Adam adds epsilon to the bias-corrected ``√v̂`` (torch's form) where
sklearn adds it to ``√v``; SGD momentum follows torch (the velocity is scaled by the new
learning rate when the rate changes).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import _config, losses
from ..nn import ACTIVATION_CLASSES, BatchNorm, Dense, Dropout, Sequential
from ..optim import SGD, Adam
from ._epochs import SklearnEpochs
from ._params import check_params

_ACTIVATION_LAYERS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
_SEED_BOUND = 2**31 - 1


@contextlib.contextmanager
def _thread_count(n):
    """Sets fastnet's process-wide thread count to ``n`` (fn.set_num_threads) when the block
    starts, and leaves it: the count is process-wide by contract, never flipped around a call
    (another thread's fit or predict would see it change under it). None leaves it as it is."""
    if n is not None and _config.get_num_threads() != n:
        _config.set_num_threads(n)
    yield


class _StepSchedule:
    """A user's schedule (step -> lr in sklearn's units) in fastnet's units: times the
    estimator's learning-rate scale. A class, not a closure, so it pickles."""

    def __init__(self, schedule, scale):
        self.schedule, self.scale = schedule, scale

    def __call__(self, step):
        return self.scale * float(self.schedule(step))


class BaseMLP(BaseEstimator, metaclass=ABCMeta):
    """Parameters, fitted attributes and the fit loop shared by the two estimators (abstract,
    as sklearn's own BaseMultilayerPerceptron: the subclasses provide the four hooks)."""

    # ----- what the subclasses provide -----
    @abstractmethod
    def _validate_input(self, X, y, incremental, reset):
        """(X float32, Y (n, k) encoded targets, y as the score compares it) checked the
        subclass's way."""

    @abstractmethod
    def _output_setup(self, Y):
        """(out_activation_, fastnet loss, loss_scale, grad_scale) for the encoded targets."""

    @abstractmethod
    def _fit_target(self, Y):
        """The target array fastnet's fit takes for the encoded targets Y."""

    @abstractmethod
    def _score_fitted(self, X, y):
        """The score of ``early_stopping`` on already validated rows."""

    # ----- fitted weights, as sklearn lays them out -----
    def _dense_layers(self):
        return [layer for layer in self._model.layers if isinstance(layer, Dense)]

    @property
    def coefs_(self):
        """list of ndarray: the weight matrix of each Dense layer, shape (in, out): writable
        float32 views of the model's weights (writing one changes the model)."""
        check_is_fitted(self, "_model")
        return [layer.parameters()[0].data for layer in self._dense_layers()]

    @property
    def intercepts_(self):
        """list of ndarray: the bias vector of each Dense layer, shape (out,): writable
        float32 views of the model's weights."""
        check_is_fitted(self, "_model")
        return [layer.parameters()[1].data for layer in self._dense_layers()]

    @property
    def model_(self):
        """fastnet.Sequential: the trained network (outputs are logits for classifiers)."""
        check_is_fitted(self, "_model")
        return self._model

    def _coef_sumsq(self) -> float:
        return float(sum(np.dot(w.ravel(), w.ravel()) for w in self.coefs_))

    # ----- building -----
    def _initialize(self, Y, units, rs, p):
        """A new network (sklearn's ``_initialize``): weights drawn as sklearn draws them
        (Glorot uniform, bound sqrt(6/(in+out)), sqrt(2/(in+out)) for logistic, intercepts
        too), from the same random state in the same order, so a given ``random_state``
        starts from sklearn's initial weights."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(units)
        self.out_activation_, *_ = self._output_setup(Y)
        factor = 2.0 if p["activation"] == "sigmoid" else 6.0
        draws = []
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            draws.append(
                (
                    rs.uniform(-bound, bound, (fan_in, fan_out)),
                    rs.uniform(-bound, bound, fan_out),
                )
            )
        layers = []
        act = p["activation"]
        for fan_in, fan_out in zip(units[:-2], units[1:-1]):
            if p["batch_norm"]:
                layers += [Dense(fan_in, fan_out), BatchNorm(fan_out)]
                if act is not None:
                    layers.append(ACTIVATION_CLASSES[_ACTIVATION_LAYERS[act]]())
            else:
                layers.append(Dense(fan_in, fan_out, activation=act))
            if p["dropout"] > 0.0:
                layers.append(Dropout(p["dropout"]))
        layers.append(Dense(units[-2], units[-1]))
        self._model = Sequential(*layers, seed=int(rs.randint(_SEED_BOUND)))
        for layer, (coef, intercept) in zip(self._dense_layers(), draws):
            weight, bias = layer.parameters()
            weight.data[...] = coef
            bias.data[...] = intercept
        self.__dict__.pop("_optimizer", None)
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if p["early_stopping"]:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _optimizer_for(self, p, batch, grad_scale):
        """sklearn's optimizer for this loss in fastnet's units (see the module docstring);
        weight decay on the Dense weights only."""
        weights = [layer.parameters()[0] for layer in self._dense_layers()]
        ids = {id(w) for w in weights}
        others = [q for q in self._model.parameters() if id(q) not in ids]
        decay = p["alpha"] / (batch * grad_scale)
        groups = [{"params": weights, "weight_decay": decay}]
        if others:
            groups.append({"params": others, "weight_decay": 0.0})
        if p["solver"] == "sgd":
            return SGD(
                groups,
                lr=p["learning_rate_init"] * grad_scale,
                momentum=p["momentum"],
                nesterov=p["nesterovs_momentum"] and p["momentum"] > 0,
                clip_norm=p["clip_norm"],
            )
        return Adam(
            groups,
            lr=p["learning_rate_init"],
            betas=(p["beta_1"], p["beta_2"]),
            eps=p["epsilon"] / grad_scale,
            clip_norm=p["clip_norm"],
        )

    # ----- fit -----
    def _fit(self, X, y, incremental):
        p = check_params(self)
        first_pass = not hasattr(self, "_model") or (not p["warm_start"] and not incremental)
        X, Y, y = self._validate_input(X, y, incremental, reset=first_pass)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        units = [X.shape[1], *p["hidden"], Y.shape[1]]
        rs = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, units, rs, p)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs but the fitted network has {self.n_outputs_}"
            )
        elif [layer.out_features for layer in self._dense_layers()[:-1]] != p["hidden"]:
            raise ValueError(
                f"hidden_layer_sizes={p['hidden']} differs from the fitted network's; "
                "warm_start and partial_fit continue the same network"
            )
        _, loss, self._loss_scale, grad_scale = self._output_setup(Y)

        if p["early_stopping"] and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if p["early_stopping"]:
            X, X_val, Y, _, _, y_val = train_test_split(
                X,
                Y,
                y,
                random_state=rs,
                test_size=p["validation_fraction"],
                stratify=y if self._stratify(Y) else None,
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            validation = (X_val, y_val)
        n = X.shape[0]
        if p["batch_size"] is None:
            batch = min(200, n)
        else:
            if p["batch_size"] > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. "
                    "It is going to be clipped",
                    stacklevel=3,
                )
            batch = min(p["batch_size"], n)
        if p["batch_norm"] and n < 2:
            raise ValueError("batch_norm=True needs at least 2 training rows")

        lr_scale = grad_scale if p["solver"] == "sgd" else 1.0
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._optimizer_for(p, batch, grad_scale)
        else:  # partial_fit: the optimizer goes on; alpha's meaning follows this call's batch
            self._optimizer.param_groups[0]["weight_decay"] = p["alpha"] / (batch * grad_scale)
        schedule = None
        if p["schedule"] is not None:
            schedule = _StepSchedule(p["schedule"], lr_scale)
        epochs = SklearnEpochs(self, p, n, validation, lr_scale)
        self.n_iter_ = 0
        try:
            with _thread_count(p["n_threads"]):
                self._model.fit(
                    X,
                    self._fit_target(Y),
                    loss=loss,
                    optimizer=self._optimizer,
                    epochs=1 if incremental else p["max_iter"],
                    batch_size=batch,
                    shuffle=p["shuffle"],
                    schedule=schedule,
                    callbacks=[epochs],
                    verbose=0,
                    seed=int(rs.randint(_SEED_BOUND)),
                )
        except KeyboardInterrupt:  # sklearn keeps the weights of the last whole step
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if validation is not None and getattr(self, "_best_weights", None) is not None:
            self._model.set_weights(self._best_weights)  # sklearn restores the best weights
        self.__dict__.pop("_best_weights", None)
        if not all(np.isfinite(w).all() for w in self._model.get_weights()):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        if not incremental and not epochs.stopped and self.n_iter_ == p["max_iter"]:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({p['max_iter']}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _stratify(self, Y) -> bool:
        return False

    # ----- prediction -----
    def _forward(self, X, check_input=True):
        """The network's raw output (logits for classifiers) as float64, (n, n_outputs_)."""
        check_is_fitted(self, "_model")
        if check_input:
            X = validate_data(self, X, dtype=np.float32, reset=False)
        with _thread_count(self.n_threads):
            return self._model.predict(X).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # fastnet trains on dense float32 rows
        return tags


def bce_from_logits():
    """Binary cross-entropy on logits (the stable form), fastnet's loss for logistic outputs."""
    return functools.partial(losses.binary_crossentropy, from_logits=True)
