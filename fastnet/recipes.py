"""The automatic training recipe: :func:`fit_auto`, one call that picks the learning rate with a
range test, clips the global gradient norm, schedules with 1cycle and stops early.

Each step is a technique the seeds name, in the order Smith ("A disciplined approach to neural
network hyper-parameters", 2018) gives it: a learning-rate range test (Smith, WACV 2017;
fastnet.lr_finder) picks the peak rate, the 1cycle policy with cycled momentum
(fastnet.schedules.OneCycle) trains with it, gradient clipping at global norm 1 guards every step
("use gradient clipping everywhere, my default option is to limit to 1", seed 002), and early
stopping on a held-out part restores the best weights (seed 001).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import _engine
from . import init as _init
from ._validate import as_batch, check_float, check_int

__all__ = ["AutoFitResult", "fit_auto"]

# The range test's ramp: wide enough that the loss both falls and blows up on any MLP, and 50
# steps a decade: with fastai's 100 steps the minimum of the 20-layer ReLU net of
# bench/trainability.py moved between 5e-3 and 8e-2 from seed to seed, with 300 between 6e-3
# and 2e-2 (each rate is tried long enough to show where training stops improving).
RANGE_START, RANGE_END, RANGE_STEPS = 1e-6, 1.0, 300
# Peak rate = a fifth of the rate where the smoothed loss bottoms out (Smith 2018, sec. 4.1:
# the largest rate before the loss gets worse, with a margin). Measured on that net over 15
# seeds: 0.916-0.967 test accuracy; with Adam's beta2 at 0.999 a tenth (fastai's lr_min / 10)
# gave 0.900-0.953 and a third failed one seed in ten (0.74: its minimum sat at 8e-2).
MIN_LOSS_FRACTION = 0.2
# When the range test finds no falling stretch: Adam's usual rate.
FALLBACK_LR = 1e-3


class AutoFitResult:
    """What :func:`fit_auto` did.

    Attributes
    ----------
    history : History
        The epochs of the 1cycle run (``history.history["val_loss"]`` ...).
    max_lr : float
        The peak rate the range test chose (the 1cycle's ``max_lr``).
    lr_find : LRFinderResult
        The range test (``lrs``, ``losses``, ``suggestion``, ``plot``).
    best_epoch : int
        The epoch whose weights the model holds now (lowest validation loss).
    stopped_epoch : int
        The last epoch trained (early stopping may end before ``epochs``).
    optimizer : Optimizer
        The optimizer the run used.
    """

    def __init__(self, history, max_lr, lr_find, best_epoch, stopped_epoch, optimizer):
        self.history = history
        self.max_lr = max_lr
        self.lr_find = lr_find
        self.best_epoch = best_epoch
        self.stopped_epoch = stopped_epoch
        self.optimizer = optimizer

    def __repr__(self) -> str:
        return (
            f"AutoFitResult(max_lr={self.max_lr:.3g}, best_epoch={self.best_epoch}, "
            f"stopped_epoch={self.stopped_epoch})"
        )


def choose_max_lr(result) -> float:
    """The 1cycle peak rate from a range test: ``MIN_LOSS_FRACTION`` (a fifth) × the rate at
    the lowest smoothed loss; ``FALLBACK_LR`` (with a warning) when the loss never fell below
    its first value.

    The steepest-descent suggestion (``result.suggestion``) is not used: on deep nets the
    smoothed loss falls fastest in its first, noisy steps (measured on the 20-layer ReLU net
    of bench/trainability.py: suggestions of 3e-6 to 1e-2 for minima at 9e-3 to 5e-2).

    Parameters
    ----------
    result : LRFinderResult

    Returns
    -------
    float
    """
    losses = np.asarray(result.losses, dtype=np.float64)
    losses = np.where(np.isfinite(losses), losses, np.inf)
    k = int(np.argmin(losses)) if losses.size else 0
    if losses.size < 2 or k == 0 or not np.isfinite(losses[k]):
        warnings.warn(
            f"the learning-rate range test found no falling loss; using lr {FALLBACK_LR}",
            RuntimeWarning,
            stacklevel=3,
        )
        return FALLBACK_LR
    return float(MIN_LOSS_FRACTION * result.lrs[k])


def _is_classification(loss, model) -> bool:
    """True when fit reports an accuracy for this loss and model (the classification losses
    with several outputs, binary cross-entropy)."""
    from .training import _resolve_metrics, resolve_loss

    return ("accuracy", None) in _resolve_metrics(
        None, resolve_loss(loss, model), model.out_features
    )


def _split(n, validation_split, rng):
    """Shuffled (train, validation) row indices; the validation part has at least one row."""
    n_val = int(math.floor(n * validation_split))
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation_split={validation_split} leaves an empty part of {n} rows")
    order = rng.permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_auto(
    model,
    X,
    y,
    *,
    loss,
    optimizer=None,
    epochs=30,
    batch_size=32,
    validation_split=0.1,
    validation_data=None,
    clip_norm=1.0,
    patience=10,
    monitor="auto",
    seed=None,
    verbose=0,
) -> AutoFitResult:
    """Train ``model`` with the automatic recipe; the model ends with its best weights.

    1. Hold out ``validation_split`` of the rows (a seeded shuffle), unless
       ``validation_data`` is given.
    2. Build Adam with ``clip_norm`` (global gradient norm) unless ``optimizer`` is given.
    3. Run the learning-rate range test (``fn.lr_find``, 1e-6 → 1, 300 steps) on the training
       rows and take a fifth of the rate at its lowest loss (:func:`choose_max_lr`): the
       1cycle's peak.
    4. ``fit`` for ``epochs`` with ``OneCycle(max_lr, epochs × steps per epoch)`` (momentum /
       β1 cycled 0.95 → 0.85 → 0.95) and ``EarlyStopping(monitor, patience,
       restore_best_weights=True)``.

    Parameters
    ----------
    model : Sequential
    X : array_like, shape (n, features)
    y : array_like
        Targets in the form ``loss`` takes.
    loss : str
        A fastnet loss name or ``fn.losses`` function.
    optimizer : Optimizer, optional
        Used as given (its own clipping; its lr is replaced by the schedule). Default:
        ``fn.optim.Adam(model.parameters(), clip_norm=clip_norm)``.
    epochs : int, default 30
        The length of the 1cycle (>= 1); early stopping may end sooner.
    batch_size : int, default 32
    validation_split : float, default 0.1
        The held-out fraction for early stopping, in (0, 1); ignored with ``validation_data``.
    validation_data : tuple, optional
        ``(X_val, y_val)`` to monitor instead of a split.
    clip_norm : float or None, default 1.0
        The global gradient-norm clip of the default optimizer (> 0; None: no clipping).
    patience : int, default 10
        Epochs without a better ``monitor`` before stopping (>= 0).
    monitor : str, default "auto"
        The validation log entry early stopping watches: "auto" is "val_accuracy" for a
        classification loss (a deep net's validation loss rises from over-confidence while
        its accuracy still improves), else "val_loss".
    seed : int or None, default None
        Seeds the split, the range test's batches and the epoch shuffles.
    verbose : {0, 1, 2, "auto"}, default 0
        Passed to ``fit``.

    Returns
    -------
    AutoFitResult
        ``history``, ``max_lr``, ``lr_find``, ``best_epoch``, ``stopped_epoch``, ``optimizer``.

    Raises
    ------
    TypeError
        If ``model`` is not a Sequential, ``optimizer`` not an optimizer, or an argument has
        the wrong type.
    ValueError
        If an argument is out of range, the split leaves an empty part, or X / y are
        malformed.

    Examples
    --------
    >>> import fastnet as fn
    >>> X, y, X_test, y_test = fn.datasets.load_digits()
    >>> model = fn.Sequential(fn.Dense(64, 64, activation="relu"), fn.Dense(64, 10), seed=0)
    >>> result = fn.fit_auto(model, X, y, loss="sparse_categorical_crossentropy", epochs=5,
    ...                      seed=0)
    >>> model.evaluate(X_test, y_test, "sparse_categorical_crossentropy")["accuracy"] > 0.9
    True
    """
    from .callbacks import EarlyStopping
    from .lr_finder import lr_find
    from .nn.sequential import Sequential
    from .optim import Adam
    from .optim.base import check_optimizer_for
    from .schedules import OneCycle

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    patience = check_int(patience, "patience", 0)
    if clip_norm is not None:
        clip_norm = check_float(clip_norm, "clip_norm", low=0.0, low_open=True)
    if optimizer is None:
        optimizer = Adam(model.parameters(), clip_norm=clip_norm)
    else:
        check_optimizer_for(model, optimizer)
    rng = _init.rng_from_seed(seed)
    X = as_batch(X, "X", model.in_features)
    y = np.asarray(y)
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"y has {y.shape[0] if y.ndim else 0} rows, X has {X.shape[0]}")
    if validation_data is None:
        validation_split = check_float(
            validation_split, "validation_split", low=0.0, high=1.0, low_open=True, high_open=True
        )
        train, val = _split(X.shape[0], validation_split, rng)
        X_train, y_train = np.ascontiguousarray(X[train]), y[train]
        validation_data = (np.ascontiguousarray(X[val]), y[val])
    else:
        X_train, y_train = X, y
    sub_seed = lambda: int(rng.integers(2**31))  # noqa: E731

    found = lr_find(
        model,
        X_train,
        y_train,
        loss,
        optimizer,
        start_lr=RANGE_START,
        end_lr=RANGE_END,
        steps=RANGE_STEPS,
        batch_size=batch_size,
        seed=sub_seed(),
    )
    max_lr = choose_max_lr(found)
    absorb = bool(getattr(model, "_batch_statistics", False))
    steps = _engine.epoch_batches(X_train.shape[0], min(batch_size, X_train.shape[0]), absorb)
    schedule = OneCycle(max_lr, max(epochs * steps, 4))  # each phase needs a step
    if monitor == "auto":
        monitor = "val_accuracy" if _is_classification(loss, model) else "val_loss"
    elif not isinstance(monitor, str):
        raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
    stopper = EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True)
    optimizer.lr = schedule(optimizer.steps)
    history = model.fit(
        X_train,
        y_train,
        loss=loss,
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        schedule=_Offset(schedule, optimizer.steps),
        validation_data=validation_data,
        callbacks=[stopper],
        verbose=verbose,
        seed=sub_seed(),
    )
    return AutoFitResult(
        history, max_lr, found, int(stopper.best_epoch), int(history.epoch[-1]), optimizer
    )


class _Offset:
    """A schedule started at the optimizer's current step count (an optimizer that has
    stepped before starts its 1cycle at its own step 0)."""

    def __init__(self, schedule, first_step):
        self.schedule, self.first_step = schedule, first_step

    def __call__(self, step):
        return self.schedule(max(step - self.first_step, 0))

    def momentum(self, step):
        return self.schedule.momentum(max(step - self.first_step, 0))
