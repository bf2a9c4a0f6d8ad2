"""fit / evaluate: epochs run in C++ (shuffled minibatch gathering, steps, schedule, running
loss) with the GIL released; Python is re-entered at epoch ends, or every N steps when a
callback asks for it."""

from __future__ import annotations

import contextlib
import math
import sys
import time

import numpy as np

from . import _engine
from . import init as _init
from ._loss_spec import for_model
from ._loss_spec import resolve as _resolve_loss
from ._validate import as_batch, check_bool, check_float, check_int
from ._weights import row_weights
from .callbacks import CallbackList

_CLASS_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "categorical_hinge")
# Metrics computed from predictions (fastnet.metrics), by name and Keras alias.
_PREDICTION_METRICS = {
    "mae": "mae",
    "mean_absolute_error": "mae",
    "mse": "mse",
    "mean_squared_error": "mse",
    "rmse": "rmse",
    "root_mean_squared_error": "rmse",
    "r2": "r2",
    "r2_score": "r2",
}


def resolve_loss(loss, model):
    """The LossSpec of ``loss`` for ``model``: from_logits follows the model's output layer."""
    return for_model(_resolve_loss(loss), model)


class History:
    """Per-epoch records of fit: ``history`` maps 'loss', 'val_loss', 'accuracy', 'lr',
    'grad_norm', ... to lists; ``epoch`` lists the epoch indices."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def append(self, epoch: int, logs: dict) -> None:
        """Record one epoch: its index and every value of ``logs`` under its key."""
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"

    def plot(self, path, keys=None):
        """Draw the per-epoch curves (matplotlib, optional extra) and save them to path."""
        from .plotting import plot_history

        return plot_history(self, path, keys)


class TrainingContext:
    """The state of a fit run, which callbacks reach as ``self.context``.

    ``model``, ``optimizer``, ``history`` (a History), ``stop_training`` (set it to end the run
    after the current chunk of steps or epoch; ``model.stop_training = True``, the Keras idiom,
    sets it too), ``params`` (epochs, steps, batch_size, samples, metrics) and
    ``shuffle_rng``, the generator of the epoch orders. The model keeps the context of its
    last fit (``model.history``, ``model.optimizer`` read it): ``fit(..., initial_epoch=k)``
    continues its shuffle generator, and checkpoints and pickles carry it.
    """

    def __init__(self, model, optimizer, shuffle_rng, params=None):
        self.model = model
        self.optimizer = optimizer
        self.history = History()
        self.stop_training = False
        self.shuffle_rng = shuffle_rng
        self.params = dict(params or {})

    def __repr__(self) -> str:
        return (
            f"TrainingContext(optimizer={self.optimizer!r}, history={self.history!r}, "
            f"stop_training={self.stop_training})"
        )


def set_shuffle_rng(model, rng, optimizer=None) -> None:
    """Make ``rng`` the shuffle generator that ``fit(..., initial_epoch=k)`` continues
    (fn.load_checkpoint restores it)."""
    if model._training is None:
        model._training = TrainingContext(model, optimizer, rng)
    else:
        model._training.shuffle_rng = rng


def shuffle_rng(model):
    """The shuffle generator of the model's last fit (None before any)."""
    return None if model._training is None else model._training.shuffle_rng


def _resolve_metrics(metrics, spec, out_features):
    """(name, function or None) pairs: None for the accuracy counted in C++, a function
    ``f(y_true, y_pred) -> float`` for metrics computed from predictions (regression metrics
    and custom callables)."""
    binary = spec.name == "binary_crossentropy"
    if metrics is None:
        wanted = (spec.name in _CLASS_LOSSES and out_features > 1) or binary
        metrics = ("accuracy",) if wanted and spec.custom is None else ()
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    from . import metrics as _metrics

    out = []
    for m in metrics:
        if callable(m):
            name = getattr(m, "__name__", None)
            out.append((name if isinstance(name, str) else f"metric_{len(out)}", m))
            continue
        if not isinstance(m, str):
            raise TypeError(f"metrics: expected names or callables, got {type(m).__name__}")
        key = m.strip().lower()
        if key in ("accuracy", "acc"):
            if spec.custom is not None:
                out.append(("accuracy", _metrics.accuracy))
            elif out_features < 2 and not binary:
                raise ValueError(
                    "the accuracy metric needs a classification output: several classes "
                    "(out_features >= 2) or binary_crossentropy (one output: threshold at 0.5 "
                    f"probability / 0 logit), got loss {spec.name} with one output"
                )
            else:
                out.append(("accuracy", None))
        elif key in _PREDICTION_METRICS:
            short = _PREDICTION_METRICS[key]
            out.append((short, getattr(_metrics, short)))
        else:
            raise ValueError(
                f"unknown metric {m!r}; supported: 'accuracy', 'mae', 'mse', 'rmse', 'r2', or a "
                "callable (y_true, y_pred) -> float"
            )
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: duplicate names {names}")
    return tuple(out)


def _accuracy_denominator(spec, rows: int, cols: int) -> int:
    """Binary cross-entropy counts hits per label (C++ fit.cpp), the rest per row."""
    return rows * cols if spec.name == "binary_crossentropy" else rows


def _prediction_metrics(metrics, model, X, target, labels, batch_size) -> dict:
    """The metrics computed from the model's predictions on X (inference mode)."""
    wanted = [(n, f) for n, f in metrics if f is not None]
    if not wanted:
        return {}
    pred = model.predict(X, batch_size=batch_size)
    y = target if target is not None else labels
    out = {}
    for name, f in wanted:
        value = f(y, pred)
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {name!r} must return a number, got {type(value).__name__}"
            ) from None
    return out


class _Progress:
    """tqdm bar on a terminal (verbose=1), one line per epoch (verbose=2), or nothing."""

    def __init__(self, verbose, epochs, steps_per_epoch):
        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        self.verbose, self.epochs, self.steps = verbose, epochs, steps_per_epoch
        self.bar = None

    def epoch_begin(self, epoch):
        if self.verbose == 1:
            try:
                from tqdm import tqdm
            except ImportError:  # the progress extra is optional: fall back to epoch lines
                self.verbose = 2
                return
            self.bar = tqdm(
                total=self.steps,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="step",
                leave=True,
                file=sys.stdout,
            )

    def advance(self, steps, loss):
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix(loss=f"{loss:.4f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def epoch_end(self, epoch, logs, seconds):
        text = " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            print(f"epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - {text}", flush=True)


def apply_momentum(schedule, optimizer, step) -> bool:
    """Write ``schedule.momentum(step)`` into the optimizer (1cycle's cycle_momentum); False
    when the schedule sets no momentum."""
    at = getattr(schedule, "momentum", None)
    value = at(step) if callable(at) else None
    if value is None:
        return False
    optimizer.set_momentum(value)
    return True


def _prepare_xy(model, X, y, spec, name_x="X", name_y="y"):
    X = as_batch(X, name_x, model.in_features)
    target, labels = spec.prepare_target(y, X.shape[0], model.out_features, name_y)
    return X, target, labels


def fit(model, X, y, *, distributed=False, shard="split", sync_batchnorm=True, **kwargs):
    """Train epochs ``initial_epoch .. epochs-1``; returns a History (see _fit).

    ``distributed=True`` (under ``mpirun -n N``, fastnet/distributed.py): data-parallel
    training; ``shard="split"``: every rank passes the same dataset and takes its shard of each
    epoch, ``shard="given"``: every rank passes its own rows. ``sync_batchnorm``: BatchNorm
    statistics over the global batch.
    """
    distributed = check_bool(distributed, "distributed")
    sync_batchnorm = check_bool(sync_batchnorm, "sync_batchnorm")
    if shard not in ("split", "given"):
        raise ValueError(f"shard must be 'split' or 'given', got {shard!r}")
    if not distributed:
        return _fit(model, X, y, session=None, shard=shard, **kwargs)
    from .distributed import Session

    session = Session(model, sync_batchnorm)
    try:
        return _fit(model, X, y, session=session, shard=shard, **kwargs)
    except BaseException:
        session.fail()  # the other ranks raise at their next collective instead of hanging
        raise


def _fit(
    model,
    X,
    y,
    *,
    loss,
    optimizer,
    epochs=1,
    batch_size=32,
    schedule=None,
    schedule_interval="step",
    validation_data=None,
    validation_split=0.0,
    shuffle=True,
    metrics=None,
    callbacks=(),
    verbose="auto",
    seed=None,
    initial_epoch=0,
    sample_weight=None,
    class_weight=None,
    session=None,
    shard="split",
):
    """Train epochs ``initial_epoch .. epochs-1``; returns a History.

    Resuming: with ``initial_epoch > 0`` the shuffle generator of the model's last fit
    (its TrainingContext, restored by ``fn.load_checkpoint``) is continued and ``seed`` is not
    used, so 2 epochs + checkpoint + 2 epochs equals 4 epochs straight.

    ``sample_weight`` (one per row) and ``class_weight`` (dict class -> weight, or
    "balanced") weight the loss in C++: sum w l / sum w per batch (fastnet/_weights.py);
    ``validation_data`` may then be ``(X_val, y_val, sample_weight_val)``. A custom loss
    (a callable ``(y_true, y_pred) -> (value, grad)``) runs a Python step loop. Metrics
    other than accuracy are computed from predictions at each epoch's end (training rows in
    inference mode, and validation rows). With an averaging optimizer (``average="ema"`` or
    ``"polyak"``) the validation metrics are computed on the averaged weights, swapped in for
    the evaluation and out again; the model keeps its own weights after fit (call
    ``optimizer.swap_average()`` to keep the average).
    """
    from .optim.base import check_optimizer_for

    check_optimizer_for(model, optimizer)
    spec = resolve_loss(loss, model)
    epochs = check_int(epochs, "epochs", 0)
    initial_epoch = check_int(initial_epoch, "initial_epoch", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    shuffle = check_bool(shuffle, "shuffle")
    validation_split = check_float(
        validation_split, "validation_split", low=0.0, high=1.0, high_open=True
    )
    if schedule is not None and not callable(schedule):
        raise TypeError("schedule must be a callable step -> lr")
    if schedule_interval not in ("step", "epoch"):
        raise ValueError("schedule_interval must be 'step' or 'epoch'")
    metrics = _resolve_metrics(metrics, spec, model.out_features)

    if session is not None and spec.custom is not None:
        raise ValueError(
            f"distributed=True needs one of fastnet's losses: custom loss {spec.name!r} runs "
            "its steps in Python"
        )
    X, target, labels = _prepare_xy(model, X, y, spec)
    if spec.custom is not None and (sample_weight is not None or class_weight is not None):
        raise ValueError(
            "sample_weight / class_weight apply to fastnet's losses; a custom loss "
            "weights its rows itself"
        )
    weights = row_weights(sample_weight, class_weight, target, labels, model.out_features)
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    val = None
    if validation_split:
        # Keras convention: the last fraction of the rows, taken before shuffling.
        n_val = int(math.floor(X.shape[0] * validation_split))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(f"validation_split={validation_split} leaves an empty part")
        cut = X.shape[0] - n_val
        val = (
            X[cut:],
            None if target is None else target[cut:],
            None if labels is None else labels[cut:],
            None if weights is None else weights[cut:],
        )
        X = X[:cut]
        target = None if target is None else np.ascontiguousarray(target[:cut])
        labels = None if labels is None else np.ascontiguousarray(labels[:cut])
        weights = None if weights is None else np.ascontiguousarray(weights[:cut])
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (X_val, y_val[, sample_weight_val])")
        val = _prepare_xy(model, validation_data[0], validation_data[1], spec, "X_val", "y_val")
        w_val = validation_data[2] if len(validation_data) == 3 else None
        val = (*val, row_weights(w_val, class_weight, val[1], val[2], model.out_features, "_val"))

    n = X.shape[0]
    # A rank's rows per epoch: all of X, or its shard (fastnet/distributed.py).
    epoch_rows = n
    if session is not None and shard == "split":
        epoch_rows = -(-n // session.world)
    # A batch larger than the data is one batch of all rows (Keras); the C++ side sizes its
    # per-batch workspaces by batch_size, so 2**40 must not reach it.
    batch_size = min(batch_size, epoch_rows)
    absorb = bool(getattr(model, "_batch_statistics", False))
    if absorb and epoch_rows < 2:
        raise ValueError("a model with BatchNorm needs at least 2 training rows (per rank)")
    steps_per_epoch = _engine.epoch_batches(epoch_rows, batch_size, absorb)
    # The shuffle generator stays with the model's training context so a checkpoint can save
    # it (fn.save_checkpoint) and fit(..., initial_epoch=k) can continue it: a resumed run then
    # sees the same epoch orders as an uninterrupted one. A fresh run starts from ``seed``.
    stored = shuffle_rng(model)
    if initial_epoch > 0 and isinstance(stored, np.random.Generator):
        rng = stored
    else:
        rng = _init.rng_from_seed(seed)
    if session is not None:
        steps_per_epoch, rng = _distributed_start(
            session,
            n,
            steps_per_epoch,
            rng,
            shard,
            fresh=rng is not stored and (seed is None or isinstance(seed, np.random.Generator)),
        )
        if session.rank != 0:
            verbose = 0  # rank 0 prints
    params = {
        "epochs": epochs,
        "steps": steps_per_epoch,
        "batch_size": batch_size,
        "samples": n,
        "metrics": tuple(name for name, _ in metrics),
    }
    context = TrainingContext(model, optimizer, rng, params)
    model._training = context
    history = context.history
    cbs = CallbackList(callbacks, model, params, context)
    # A schedule that cycles the momentum (OneCycle) sets it before every step from Python:
    # the chunks shrink to one step (the momentum lives in the update rule, not in the slots).
    per_step_momentum = (
        schedule is not None
        and schedule_interval == "step"
        and apply_momentum(schedule, optimizer, optimizer.steps)
    )
    interval = 1 if per_step_momentum else cbs.batch_interval() or steps_per_epoch
    progress = _Progress(verbose, epochs, steps_per_epoch)
    base0 = optimizer._base_lrs[0]
    slot_base = None
    if schedule is not None:
        slot_base = np.array(
            [
                base
                for g, base in zip(optimizer.param_groups, optimizer._base_lrs)
                for _ in g["params"]
            ],
            dtype=np.float32,
        )

    cbs.call("on_train_begin", {})
    for epoch in range(initial_epoch, epochs):
        cbs.call("on_epoch_begin", epoch, {})
        progress.epoch_begin(epoch)
        t0 = time.perf_counter()
        order = rng.permutation(n).astype(np.int64) if shuffle else np.arange(n, dtype=np.int64)
        if session is not None and shard == "split":
            from .distributed import shard_indices

            order = shard_indices(order, session.rank, session.world)
        tot = {
            "loss_sum": 0.0,
            "weight_sum": 0.0,
            "samples": 0,
            "correct": 0,
            "gnorm_sum": 0.0,
            "steps": 0,
            "nonfinite": 0,
        }
        batch = 0
        if schedule is not None and schedule_interval == "epoch":
            optimizer.lr = float(schedule(epoch))
            apply_momentum(schedule, optimizer, epoch)
        while batch < steps_per_epoch:
            count = min(interval, steps_per_epoch - batch)
            factors = None
            if schedule is not None and schedule_interval == "step":
                start = optimizer.steps
                if per_step_momentum:
                    apply_momentum(schedule, optimizer, start)
                lrs = np.array([schedule(start + k) for k in range(count)], dtype=np.float64)
                if not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
                    raise ValueError("schedule returned a negative or non-finite learning rate")
                factors = (lrs / base0 if base0 else lrs).astype(np.float32)
            # C++ sets each batch's scheduled lr in the optimizer's slots itself.
            run = _engine.fit_batches if spec.custom is None else _custom_loss_batches
            st = run(
                model,
                X,
                target,
                labels,
                order,
                batch_size,
                batch,
                count,
                spec,
                optimizer,
                slot_base if factors is not None else None,
                factors,
                absorb,
                weights,
                *(() if session is None else (session.collective,)),
            )
            for k in tot:
                tot[k] += st[k]
            batch += st["steps"]
            if st["interrupt"] is not None:
                # A signal handler raised (Ctrl-C) between two steps: the model and optimizer
                # hold the state after the last whole step; the counters above include it.
                progress.close()
                raise st["interrupt"]
            running = tot["loss_sum"] / tot["weight_sum"] if tot["weight_sum"] > 0 else 0.0
            progress.advance(st["steps"], running)
            cbs.batch_end(
                epoch * steps_per_epoch + batch - 1,
                batch,
                batch >= steps_per_epoch,
                {"loss": running, "batch": batch},
            )
            if session is not None and batch < steps_per_epoch:
                # A callback's stop between two chunks of an epoch: rank 0 decides (the
                # epoch's end decides in _follow_main).
                context.stop_training = bool(session.broadcast([context.stop_training])[0])
            if context.stop_training:
                break
        if session is not None:  # the epoch's statistics over every rank's rows
            keys = ("loss_sum", "weight_sum", "samples", "correct")
            for k, v in zip(keys, session.sum([tot[k] for k in keys])):
                tot[k] = float(v)
        logs = {"loss": tot["loss_sum"] / tot["weight_sum"] if tot["weight_sum"] > 0 else 0.0}
        if ("accuracy", None) in metrics:
            denominator = _accuracy_denominator(spec, tot["samples"], model.out_features)
            logs["accuracy"] = tot["correct"] / max(denominator, 1)
        logs.update(_prediction_metrics(metrics, model, X, target, labels, max(batch_size, 256)))
        if val is not None:
            # An optimizer that averages its parameters (average="ema"/"polyak") is
            # validated on the average, the weights it is meant to be used with.
            averaging = getattr(optimizer, "average", None) is not None
            with optimizer.averaged() if averaging else contextlib.nullcontext():
                for key, value in _evaluate_prepared(model, *val, max(batch_size, 256), spec,
                                                     metrics).items():  # fmt: skip
                    logs[f"val_{key}"] = value
        logs["lr"] = optimizer.lr
        finite_steps = tot["steps"] - tot["nonfinite"]
        logs["grad_norm"] = tot["gnorm_sum"] / finite_steps if finite_steps else float("nan")
        history.append(epoch, logs)
        progress.epoch_end(epoch, logs, time.perf_counter() - t0)
        cbs.call("on_epoch_end", epoch, logs)
        if session is not None:
            _follow_main(session, context, optimizer)
        if context.stop_training:
            break
    cbs.call("on_train_end", {})
    if session is not None:
        session.broadcast_weights()  # e.g. EarlyStopping's restored weights: rank 0's
        session.closed = True
    return history


def distributed_train_step(model, X, y, loss, optimizer, schedule, distributed, sync_batchnorm):
    """``Sequential.train_step(..., distributed=True)``: one data-parallel step. The model
    keeps its Session (one per sync_batchnorm setting); its first step broadcasts rank 0's
    weights."""
    from .distributed import Session

    distributed = check_bool(distributed, "distributed")
    sync_batchnorm = check_bool(sync_batchnorm, "sync_batchnorm")
    sessions = model.__dict__.setdefault("_distributed_sessions", {})
    session = sessions.get(sync_batchnorm)
    fresh = session is None
    if fresh:
        session = sessions[sync_batchnorm] = Session(model, sync_batchnorm)
    session.closed = False
    try:
        if fresh:
            session.broadcast_weights()
        return model._checked_step(X, y, loss, optimizer, schedule, collective=session.collective)
    except BaseException:
        session.fail()
        raise


def _distributed_start(session, n, steps, rng, shard, fresh):
    """The first round of a distributed fit: every rank's row and step counts, and rank 0's
    shuffle seed when the ranks have none in common; then rank 0's weights everywhere.
    Returns (steps per epoch, shuffle generator)."""
    from .distributed import _pack, _unpack

    world, me = session.world, session.rank
    payload = np.zeros(4 * (1 + 2 * world), np.float32)
    if me == 0 and fresh:
        payload[:4] = _pack([float(rng.integers(2**53))])
    payload[4 + 8 * me : 12 + 8 * me] = _pack([n, steps])
    values = _unpack(session.sum(payload))
    counts = values[1:].reshape(world, 2).astype(np.int64)
    if shard == "split" and np.any(counts[:, 0] != n):
        raise ValueError(
            "distributed=True with shard='split' needs the same rows on every rank (each takes "
            f"its shard); rows per rank: {counts[:, 0].tolist()}. Pass shard='given' when each "
            "rank loads its own rows"
        )
    if fresh:
        rng = np.random.default_rng(int(values[0]))
    session.broadcast_weights()
    # shard='given': every rank takes as many steps as the rank with the fewest batches.
    return int(counts[:, 1].min()), rng


def _follow_main(session, context, optimizer) -> None:
    """Rank 0's decisions after an epoch's callbacks (stop, learning rates), on every rank."""
    mine = [float(context.stop_training)] + [float(g["lr"]) for g in optimizer.param_groups]
    decided = session.broadcast(mine)
    context.stop_training = bool(decided[0])
    for g, lr in zip(optimizer.param_groups, decided[1:]):
        if float(g["lr"]) != float(lr):
            g["lr"] = float(lr)


def _evaluate_prepared(model, X, target, labels, weights, batch_size, spec, metrics) -> dict:
    if spec.custom is not None:
        pred = model.predict(X, batch_size=batch_size)
        value = _custom_value(spec, target, pred)[0]
        out = {"loss": value}
    else:
        value, correct = _engine.evaluate(model, X, target, labels, batch_size, spec, weights)
        out = {"loss": value}
        if ("accuracy", None) in metrics:
            out["accuracy"] = correct / _accuracy_denominator(spec, X.shape[0], model.out_features)
    out.update(_prediction_metrics(metrics, model, X, target, labels, batch_size))
    return out


def evaluate(
    model, X, y, loss, metrics=None, batch_size=256, sample_weight=None, class_weight=None
) -> dict:
    """Mean loss (weighted with ``sample_weight`` / ``class_weight``: sum w l / sum w), and
    the metrics (accuracy by default for classification losses), in inference mode, batched
    in C++."""
    spec = resolve_loss(loss, model)
    batch_size = check_int(batch_size, "batch_size", 1)
    metrics = _resolve_metrics(metrics, spec, model.out_features)
    X, target, labels = _prepare_xy(model, X, y, spec)
    if spec.custom is not None and (sample_weight is not None or class_weight is not None):
        raise ValueError("sample_weight / class_weight apply to fastnet's losses")
    weights = row_weights(sample_weight, class_weight, target, labels, model.out_features)
    batch_size = min(batch_size, X.shape[0])  # 2**63 does not fit the C++ int64 argument
    return _evaluate_prepared(model, X, target, labels, weights, batch_size, spec, metrics)


# --------------------------------------------------------------------------- custom losses


def _custom_value(spec, y_true, y_pred):
    """(value, grad) of a custom loss, checked: a finite number and a finite float32 gradient
    of y_pred's shape (ValueError / TypeError naming the loss otherwise)."""
    result = spec.custom(y_true, y_pred)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"custom loss {spec.name!r} must return (value, grad wrt y_pred)")
    value, grad = result
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"custom loss {spec.name!r}: the value must be a number") from None
    grad = as_batch(grad, f"the gradient of custom loss {spec.name!r}", y_pred.shape[1])
    if grad.shape != y_pred.shape:
        raise ValueError(
            f"custom loss {spec.name!r}: gradient shape {grad.shape} must equal the output's "
            f"{y_pred.shape}"
        )
    return value, grad


def _custom_loss_batches(
    model, X, y, _labels, order, batch_size, first_batch, count, spec, optimizer,
    slot_base_lrs, lr_factors, absorb, _weights,
) -> dict:  # fmt: skip
    """The batches of ``_engine.fit_batches`` (same order, same batches, same lr factors) with
    a Python loss between the C++ forward and backward: forward, ``spec.custom``, backward,
    optimizer step."""
    n = X.shape[0]
    total = _engine.epoch_batches(n, batch_size, absorb)
    st = {"loss_sum": 0.0, "weight_sum": 0.0, "samples": 0, "correct": 0, "gnorm_sum": 0.0,
          "steps": 0, "nonfinite": 0, "interrupt": None}  # fmt: skip
    for b in range(count):
        gb = first_batch + b
        if gb >= total:
            break
        start = gb * batch_size
        rows = n - start if gb == total - 1 else batch_size
        idx = order[start : start + rows]
        if lr_factors is not None:
            for slot, base in enumerate(slot_base_lrs):
                _engine.set_slot_lr(optimizer, slot, float(base) * float(lr_factors[b]))
        out = _engine.forward(model, np.ascontiguousarray(X[idx]), True)
        value, grad = _custom_value(spec, y[idx], out)
        _engine.backward(model, grad, False)
        gnorm = _engine.optimizer_step(optimizer, report=False)
        st["loss_sum"] += value * rows
        st["weight_sum"] += rows
        st["samples"] += rows
        st["steps"] += 1
        if math.isfinite(gnorm):
            st["gnorm_sum"] += gnorm
        else:
            st["nonfinite"] += 1
            if optimizer.on_nonfinite == "raise":
                _engine.record_step(optimizer, gnorm)
    optimizer.last_grad_norm = gnorm if st["steps"] else optimizer.last_grad_norm
    if st["nonfinite"]:
        _engine.record_step(optimizer, float("nan"), stacklevel=6)
    return st
