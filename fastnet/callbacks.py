"""Callbacks for fit: the base class and the list that dispatches to them.

Hooks follow Keras: on_train_begin/end, on_epoch_begin/end(epoch, logs), and on_batch_end
(step, logs) every ``batch_interval`` steps (None: never; the C++ loop then runs whole epochs
without returning to Python).
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from ._validate import check_bool, check_float, check_int


class Callback:
    """Base class of the objects ``fit(callbacks=[...])`` calls back (Keras conventions).

    Subclass it and override the hooks you need; each default does nothing. ``fit`` calls
    :meth:`set_model` and :meth:`set_params` first, then ``on_train_begin``, per epoch
    ``on_epoch_begin`` and ``on_epoch_end``, and ``on_train_end``. ``on_batch_end`` is called
    only when the class sets ``batch_interval`` to a positive int: fit then returns from its
    C++ loop to Python every ``batch_interval`` steps (the fewer returns, the faster).
    Setting ``self.model.stop_training = True`` (or ``self.context.stop_training = True``) in a
    hook stops training after the current step chunk (from ``on_batch_end``) or epoch.

    Attributes
    ----------
    model : Sequential or None
        The model being trained (set by fit).
    context : TrainingContext or None
        The running fit's state: optimizer, history, stop_training (set by fit).
    params : dict
        ``epochs``, ``steps`` (per epoch), ``batch_size``, ``samples`` and ``metrics`` of the
        fit call.
    batch_interval : int or None
        Steps between ``on_batch_end`` calls; None (the default) for no batch-level calls.

    Examples
    --------
    >>> import fastnet as fn
    >>> class PrintLoss(fn.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, round(logs["loss"], 3))
    """

    batch_interval = None  # steps between on_batch_end calls; None: no batch-level calls

    def __init__(self):
        self.model = None
        self.params = {}
        self.context = None

    def set_model(self, model) -> None:
        """Called by fit before training with the model being trained."""
        self.model = model

    def set_context(self, context) -> None:
        """Called by fit before training with the run's TrainingContext (see ``context``)."""
        self.context = context

    def _fit_optimizer(self):
        """The optimizer fit trains with: the context's, else ``model.optimizer`` (a model
        driven by hand)."""
        if self.context is not None:
            return self.context.optimizer
        return getattr(self.model, "optimizer", None)

    def set_params(self, params: dict) -> None:
        """Called by fit before training with the run's settings (see ``params``)."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once when fit starts, before the first epoch (``logs`` is empty)."""

    def on_train_end(self, logs=None):
        """Called once when fit ends, also after an early stop (``logs`` is empty)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch (``epoch`` is 0-based; ``logs`` is empty)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch.

        Parameters
        ----------
        epoch : int
            The 0-based epoch index.
        logs : dict
            ``loss`` (the epoch's mean training loss), ``accuracy`` for classification losses,
            ``val_loss`` and ``val_accuracy`` with validation data, ``lr`` (the rate after the
            epoch) and ``grad_norm`` (the mean global gradient norm of its finite steps).
        """

    def on_batch_end(self, step, logs=None):
        """Called every ``batch_interval`` steps, and after an epoch's last step, when
        ``batch_interval`` is set; never when it is None.

        Parameters
        ----------
        step : int
            The 0-based global step just finished (counted over all epochs of this fit).
        logs : dict
            ``loss`` (the running mean loss of the epoch so far) and ``batch`` (steps done in
            this epoch).
        """


class CallbackList:
    """The callbacks of one fit call, dispatched together (used by fit; rarely needed).

    Parameters
    ----------
    callbacks : iterable of Callback or None
    model : Sequential
        Given to each callback's ``set_model``.
    params : dict
        Given to each callback's ``set_params``.

    Raises
    ------
    TypeError
        If an element is not a :class:`Callback`.
    """

    def __init__(self, callbacks, model, params, context=None):
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be fastnet Callback objects, got {type(cb).__name__}"
                )
            cb.set_model(model)
            cb.set_params(params)
            cb.set_context(context)

    def batch_interval(self):
        """Steps between returns to Python: the greatest common divisor of the intervals the
        callbacks ask for (each is then called on its own multiples), or None."""
        steps = [cb.batch_interval for cb in self.callbacks if cb.batch_interval]
        return math.gcd(*steps) if steps else None

    def call(self, hook: str, *args) -> None:
        """Call the hook named ``hook`` (e.g. ``"on_epoch_end"``) on every callback, in order."""
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def batch_end(self, step: int, batch: int, epoch_end: bool, logs: dict) -> None:
        """on_batch_end(step, logs) for the callbacks that asked for batch-level calls, when
        the within-epoch batch count is a multiple of their interval or the epoch ends (its
        last, shorter chunk); never for a callback whose batch_interval is None."""
        for cb in self.callbacks:
            if cb.batch_interval and (batch % cb.batch_interval == 0 or epoch_end):
                cb.on_batch_end(step, logs)


# --------------------------------------------------------------------------- monitored metrics


def _check_mode(mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class MonitorCallback(Callback):
    """Base of the callbacks that watch one entry of the epoch logs (Keras conventions).

    ``mode="auto"`` maximizes a monitor whose name contains "acc" or "auc" and minimizes
    anything else. An improvement over ``reference`` is ``current < reference - min_delta``
    (min) or ``current > reference + min_delta`` (max). A monitor missing from the logs gives a
    RuntimeWarning that lists the available keys (once per training run) and the epoch is
    skipped, as in Keras.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be a non-empty string, got {monitor!r}")
        self.monitor = monitor
        self.mode = _check_mode(mode)
        self.min_delta = check_float(min_delta, "min_delta", low=0.0)
        if mode == "auto":
            name = monitor.lower()
            self.mode_resolved = "max" if ("acc" in name or "auc" in name) else "min"
        else:
            self.mode_resolved = mode
        self._warned = False

    def _is_improvement(self, current, reference) -> bool:
        if reference is None:
            return True
        if self.mode_resolved == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _monitor_value(self, logs):
        """The monitored value from the logs, or None (with a warning) when absent."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned:
                warnings.warn(
                    f"{type(self).__name__} monitors {self.monitor!r}, which is not in "
                    f"the logs; available keys: {', '.join(sorted(logs)) or 'none'} "
                    "(val_* keys need validation_data or validation_split)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._warned = True
            return None
        return float(value)

    def on_train_begin(self, logs=None):
        self._warned = False


class EarlyStopping(MonitorCallback):
    """Stop training when the monitored value has stopped improving (keras.callbacks.EarlyStopping).

    Training stops at the end of the epoch where ``patience`` epochs in a row brought no
    improvement larger than ``min_delta`` (never at epoch 0). With a ``baseline``, the patience
    counter is only reset by values that also beat the baseline. With
    ``restore_best_weights=True`` the weights of the best epoch are copied back when training
    ends, whether it stopped early or ran all its epochs (Keras 3 behaviour); all arena
    tensors are restored, buffers such as running statistics included.

    After training: ``stopped_epoch`` (0 when it did not stop early), ``best``, ``best_epoch``.
    """

    def __init__(
        self,
        monitor="val_loss",
        patience=0,
        min_delta=0.0,
        mode="auto",
        restore_best_weights=False,
        baseline=None,
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int(patience, "patience", 0)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.baseline = None if baseline is None else check_float(baseline, "baseline")
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something better shows up, the first monitored epoch is the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when the monitored value has not improved for
    ``patience`` epochs (performance scheduling; keras.callbacks.ReduceLROnPlateau).

    After a reduction, ``cooldown`` epochs pass before the patience counter runs again; the
    rate never goes below ``min_lr``. It sets ``optimizer.lr`` of the optimizer fit trains with
    (``model.optimizer``); with several parameter groups their ratios are kept.
    A ``schedule`` given to fit sets the rate itself (every step, or every epoch with
    ``schedule_interval="epoch"``) and so overrides what this callback sets: use one or the other.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        mode="auto",
    ):
        super().__init__(monitor, mode, min_delta)
        self.factor = check_float(
            factor, "factor", low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.patience = check_int(patience, "patience", 0)
        self.cooldown = check_int(cooldown, "cooldown", 0)
        self.min_lr = check_float(min_lr, "min_lr", low=0.0)
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._reset()

    def _optimizer(self):
        opt = self._fit_optimizer()
        if opt is None:
            raise RuntimeError(
                "ReduceLROnPlateau needs the optimizer on model.optimizer (model.fit sets it)"
            )
        return opt

    def in_cooldown(self) -> bool:
        """Whether epochs of the cooldown after the last reduction remain."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                opt = self._optimizer()
                old_lr = float(opt.lr)
                if old_lr > self.min_lr:
                    opt.lr = max(old_lr * self.factor, self.min_lr)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# --------------------------------------------------------------------------- saving and logging


class ModelCheckpoint(MonitorCallback):
    """Save the model (``fn.save``: safetensors, written atomically) at the end of each epoch
    (keras.callbacks.ModelCheckpoint).

    ``path`` may hold format fields: ``{epoch}`` (1-based, as Keras) and any log key, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"``. With ``save_best_only`` a file is
    written only when the monitored value beats the best so far (no min_delta; the best is
    kept across fit calls, as Keras); the ``saved`` list records the paths written. Under
    ``mpirun`` only rank 0 writes (fn.save); every rank's ``saved`` lists the paths.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode, 0.0)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = os.fspath(path)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.best = None
        self.saved = []

    def _file_path(self, epoch, logs):
        try:
            return self.path.format(epoch=epoch + 1, **(logs or {}))
        except (KeyError, IndexError) as e:
            raise ValueError(
                f"ModelCheckpoint path {self.path!r} has the format field {e}, "
                f"which is not epoch or a log key ({', '.join(sorted(logs or {}))})"
            ) from None

    def on_epoch_end(self, epoch, logs=None):
        from .io import save

        if self.save_best_only:
            current = self._monitor_value(logs)
            if current is None or not self._is_improvement(current, self.best):
                return
            self.best = current
        path = self._file_path(epoch, logs)
        save(self.model, path)
        self.saved.append(path)


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite (keras.callbacks.TerminateOnNaN).

    The running loss is checked every ``batch_interval`` steps (1: every step, as Keras;
    a larger value lets fit run longer stretches in C++) and at each epoch end.
    ``terminated_at`` is the global step where it fired, or None.
    """

    def __init__(self, batch_interval=1):
        super().__init__()
        self.batch_interval = check_int(batch_interval, "batch_interval", 1)
        self.terminated_at = None

    def _check(self, where, logs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.terminated_at = where
            self.model.stop_training = True

    def on_batch_end(self, step, logs=None):
        self._check(step, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.terminated_at is None:
            self._check(epoch * self.params.get("steps", 1), logs)


class CSVLogger(Callback):
    """Stream the epoch logs to a CSV file (keras.callbacks.CSVLogger): a header
    ``epoch,<sorted log keys>``, then one row per epoch (0-based epoch, as Keras). With
    ``append=True`` rows go after an existing file's and no second header is written.
    The file is flushed after every row and closed when training ends. Under ``mpirun`` only
    rank 0 writes (fastnet.distributed)."""

    def __init__(self, path, separator=",", append=False):
        super().__init__()
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be one character, got {separator!r}")
        self.path = os.fspath(path)
        self.separator = separator
        self.append = check_bool(append, "append")
        self.keys = None
        self._file = None
        self._writer = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        from .distributed import is_main

        self._write_header = True
        self._file = None
        if not is_main():
            return
        if self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            self._write_header = False
        self._file = open(self.path, "a" if self.append else "w", newline="")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:  # not rank 0
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow(
            [epoch, *(_csv_value(logs[k]) if k in logs else "NA" for k in self.keys)]
        )
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


def _csv_value(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return value
