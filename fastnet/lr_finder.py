"""Learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks",
WACV 2017; the exponential ramp and smoothed-loss stop of fastai's ``lr_find``).

One training step per learning rate on successive shuffled minibatches, with the rate growing
exponentially from ``start_lr`` to ``end_lr``; the run stops early once the loss blows up. The
model's weights and the optimizer's state are restored afterwards, so the test leaves no trace.
"""

from __future__ import annotations

import math

import numpy as np

from . import _engine
from . import init as _init
from ._loss_spec import for_model
from ._loss_spec import resolve as resolve_loss
from ._validate import as_batch, check_float, check_int


class LRFinderResult:
    """Outcome of :func:`lr_find`.

    ``lrs``: the learning rates tried (float64 array); ``raw_losses``: the minibatch loss of
    each step; ``losses``: the bias-corrected exponentially smoothed losses; ``suggestion``:
    the proposed learning rate (or None, see :func:`suggest_lr`); ``stopped_early``: True when
    the run ended on a blow-up before the last rate.
    """

    def __init__(self, lrs, raw_losses, losses, stopped_early: bool):
        self.lrs = np.asarray(lrs, dtype=np.float64)
        self.raw_losses = np.asarray(raw_losses, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.stopped_early = bool(stopped_early)
        self.suggestion = suggest_lr(self.lrs, self.losses, self.stopped_early)

    def plot(self, path):
        """Loss against lr on a log axis with the suggestion marked (matplotlib)."""
        from .plotting import plot_lr_find

        return plot_lr_find(self, path)

    def __repr__(self) -> str:
        sug = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (
            f"LRFinderResult(steps={self.lrs.size}, lr=[{self.lrs[0]:.3g}, "
            f"{self.lrs[-1]:.3g}], suggestion={sug}, stopped_early={self.stopped_early})"
        )


def smooth_losses(raw_losses, smooth: float) -> np.ndarray:
    """Exponential moving average with bias correction (as Adam's first moment):
    avg_i = β·avg_{i-1} + (1-β)·loss_i, smoothed_i = avg_i / (1 - β^(i+1))."""
    out = np.empty(len(raw_losses), dtype=np.float64)
    avg = 0.0
    for i, v in enumerate(raw_losses):
        avg = smooth * avg + (1.0 - smooth) * float(v)
        out[i] = avg / (1.0 - smooth ** (i + 1))
    return out


def suggest_lr(lrs, losses, stopped_early: bool):
    """The steepest-descent rule.

    Drop the final point when the run stopped on a blow-up (it is the diverged one) and the
    first 10% of the points (the bias-corrected average still rests on a handful of noisy
    minibatches there; fastai's ``lr_find`` skips ``num_it // 10`` points the same way), keep
    the points up to the minimum of the smoothed loss (after it the loss only rises: the
    blow-up), and return the lr where d(smoothed loss)/d(log lr) — central differences,
    ``np.gradient`` — is most negative. None when fewer than 3 points remain or the loss never
    falls there (the ramp started too high or the range is too short).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    n = lrs.size - (1 if stopped_early else 0)
    if n < 3:
        return None
    lrs, losses = lrs[:n], losses[:n]
    finite = np.isfinite(losses)
    if not finite.all():
        n = int(np.argmin(finite))  # first non-finite point
        lrs, losses = lrs[:n], losses[:n]
    skip = (lrs.size + (1 if stopped_early else 0)) // 10
    lrs, losses = lrs[skip:], losses[skip:]
    if lrs.size < 3:
        return None
    k = int(np.argmin(losses)) + 1
    if k < 3:
        return None
    slope = np.gradient(losses[:k], np.log(lrs[:k]))
    j = int(np.argmin(slope))
    if not slope[j] < 0:
        return None
    return float(lrs[j])


def lr_find(
    model,
    X,
    y,
    loss,
    optimizer,
    start_lr=1e-7,
    end_lr=10.0,
    steps=100,
    batch_size=32,
    smooth=0.98,
    diverge_factor=4.0,
    seed=None,
) -> LRFinderResult:
    """Exponential learning-rate range test.

    Step i (0-based) trains one minibatch at lr_i = start_lr·(end_lr/start_lr)^(i/(steps-1));
    minibatches walk through a shuffled copy of (X, y), reshuffled after each pass. The loss
    is smoothed (``smooth_losses``) and the run stops after the first step whose smoothed loss
    exceeds ``diverge_factor`` × the best smoothed loss so far, or is not finite (that point is
    kept in the result). Weights, gradients, the optimizer (state buffers, step counts, learning
    rates) and the model's random-stream counter are restored afterwards.

    Parameters
    ----------
    model : Sequential
    X : array_like, shape (n, features)
    y : array_like
        Targets in the form ``loss`` takes.
    loss : str
        A loss name (see :mod:`fastnet.losses`).
    optimizer : Optimizer
        An optimizer built on ``model.parameters()``; its own lr is ignored during the ramp.
    start_lr, end_lr : float, default 1e-7 and 10.0
        The first and last rates (0 < start_lr < end_lr).
    steps : int, default 100
        The number of rates tried (>= 2), one minibatch each.
    batch_size : int, default 32
    smooth : float, default 0.98
        The smoothing factor β of the loss average, in [0, 1).
    diverge_factor : float, default 4.0
        Stop when the smoothed loss exceeds this multiple of its best (> 1).
    seed : int or None, default None
        Seeds the minibatch order; None draws from the global generator.

    Returns
    -------
    LRFinderResult
        ``lrs``, ``losses``, ``raw_losses``, ``suggestion``, ``stopped_early`` and ``plot``.

    Raises
    ------
    TypeError
        If ``model`` is not a Sequential, ``optimizer`` not an optimizer, or an argument has
        the wrong type.
    ValueError
        If ``optimizer`` trains another model, an argument is out of its range, or ``X``/``y``
        are malformed.

    Examples
    --------
    >>> import fastnet as fn
    >>> X, y, _, _ = fn.datasets.load_digits()
    >>> model = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    >>> result = fn.lr_find(model, X, y, "sparse_categorical_crossentropy",
    ...                     fn.optim.SGD(model.parameters(), lr=0.1), seed=0)
    >>> 1e-7 <= result.suggestion <= 10.0
    True
    """
    from .nn.sequential import Sequential
    from .optim.base import check_optimizer_for

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    check_optimizer_for(model, optimizer)
    start_lr = check_float(start_lr, "start_lr", low=0.0, low_open=True)
    end_lr = check_float(end_lr, "end_lr", low=0.0, low_open=True)
    if not end_lr > start_lr:
        raise ValueError(
            f"end_lr must be greater than start_lr, got start_lr={start_lr}, end_lr={end_lr}"
        )
    steps = check_int(steps, "steps", 2)
    batch_size = check_int(batch_size, "batch_size", 1)
    smooth = check_float(smooth, "smooth", low=0.0, high=1.0, high_open=True)
    diverge_factor = check_float(diverge_factor, "diverge_factor", low=1.0, low_open=True)
    spec = for_model(resolve_loss(loss), model)
    if spec.custom is not None:
        raise ValueError(f"loss {loss!r} is not a fastnet loss (a name or a fn.losses function)")
    X = as_batch(X, "X", model.in_features)
    target, labels = spec.prepare_target(y, X.shape[0], model.out_features)
    rng = _init.rng_from_seed(seed)

    n = X.shape[0]
    batch_size = min(batch_size, n)
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))

    saved_opt = optimizer.state_dict()
    saved_last_gnorm = optimizer.last_grad_norm

    tried, raw, smoothed = [], [], []
    stopped_early = False
    try:
        with model._preserved_state():
            order = rng.permutation(n)
            pos = 0
            avg, best = 0.0, math.inf
            for i, lr in enumerate(lrs):
                if pos + batch_size > n:  # start a new pass on a fresh shuffle
                    order, pos = rng.permutation(n), 0
                idx = order[pos : pos + batch_size]
                pos += batch_size
                optimizer.lr = float(lr)
                idx = np.ascontiguousarray(idx, dtype=np.int64)
                xb = np.take(X, idx, axis=0)  # one contiguous minibatch
                tb = None if target is None else np.ascontiguousarray(target[idx])
                lb = None if labels is None else np.ascontiguousarray(labels[idx])
                # The run stops on a blow-up itself: a skipped step is not reported.
                value, gnorm = _engine.train_step(model, xb, tb, lb, spec, optimizer, report=False)
                avg = smooth * avg + (1.0 - smooth) * value
                s = avg / (1.0 - smooth ** (i + 1))
                tried.append(float(lr))
                raw.append(float(value))
                smoothed.append(s)
                if not (math.isfinite(s) and math.isfinite(gnorm)) or s > diverge_factor * best:
                    stopped_early = i < steps - 1
                    break
                best = min(best, s)
    finally:
        optimizer.load_state_dict(saved_opt)
        optimizer.last_grad_norm = saved_last_gnorm
    return LRFinderResult(tried, raw, smoothed, stopped_early)
