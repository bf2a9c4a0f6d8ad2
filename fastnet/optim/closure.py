"""``loss_closure``: the closure that LBFGS, ConjugateGradient and NewtonCG call, for a model,
a full batch and a fastnet loss.

torch's closure zeroes the gradients, computes the loss, back-propagates and returns the loss.
fastnet's backward overwrites the gradient arena (no accumulation), so the closure is one
training-mode forward, one loss kernel (value and gradient in one pass, double accumulation)
and one backward, three C++ calls on inputs checked once when the closure is made.
"""

from __future__ import annotations

import numpy as np

from .. import _engine
from .._loss_spec import for_model, resolve
from .._validate import as_batch, check_float


def loss_closure(model, X, y, loss, *, weight_decay=0.0):
    """A closure that evaluates ``loss`` of ``model`` on ``(X, y)`` and its gradients.

    Each call runs a training-mode forward over all rows, the loss kernel and a backward that
    writes every parameter's ``.grad``, and returns the mean loss as a float: the closure
    ``step(closure)`` of :class:`LBFGS`, :class:`ConjugateGradient` and :class:`NewtonCG`
    expects (the twin of torch's ``zero_grad(); loss = f(model(X), y); loss.backward()``).

    Parameters
    ----------
    model : fastnet.nn.Sequential
        The model (the optimizer's parameters belong to it).
    X : array_like of shape (n, features)
        All training rows (a full batch: these methods need a deterministic objective).
    y : array_like
        Targets as ``model.train_step`` takes them (integer labels for the sparse losses).
    loss : str or fn.losses function
        A fastnet loss; from_logits follows the model's last layer as in ``fit``.
    weight_decay : float, default 0.0
        Adds ``weight_decay / 2 * ‖w‖²`` over the trainable parameters to the loss and
        ``weight_decay * w`` to their gradients (L2 regularisation: a strictly convex
        logistic regression, for one).

    Returns
    -------
    callable
        ``closure() -> float``.

    Raises
    ------
    TypeError
        If ``model`` is not a Sequential, or an argument has the wrong type.
    ValueError
        If ``X`` or ``y`` has the wrong shape or non-finite values, ``loss`` is unknown or
        custom, or ``weight_decay`` is negative.

    Notes
    -----
    Every call is a training-mode forward: Dropout draws a new mask each time (the line
    searches then compare losses of different objectives: leave dropout out of a model
    trained this way) and BatchNorm uses the batch statistics of all rows and updates its
    running statistics, as the same closure does in PyTorch.

    Examples
    --------
    >>> import numpy as np, fastnet as fn
    >>> X = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    >>> model = fn.Sequential(fn.Dense(3, 1), seed=0)
    >>> opt = fn.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    >>> closure = fn.optim.loss_closure(model, X, y, "mse")
    >>> for _ in range(3):
    ...     _ = opt.step(closure)
    >>> round(closure(), 6)
    0.0
    """
    from ..nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    spec = for_model(resolve(loss), model)
    if spec.custom is not None:
        raise ValueError(
            f"loss {loss!r} is not a fastnet loss; write the closure yourself with "
            "model.forward(X, training=True), your loss and model.backward(grad)"
        )
    weight_decay = check_float(weight_decay, "weight_decay", low=0.0)
    X = as_batch(X, "X", model.in_features)
    model._check_training_batch(X.shape[0])
    target, labels = spec.prepare_target(y, X.shape[0], model.out_features)
    params = model.parameters()

    def closure() -> float:
        out = _engine.forward(model, X, True)
        value, grad = _engine.loss_forward_backward(
            spec.name, out, target, labels, spec.delta, spec.from_logits
        )
        _engine.backward(model, grad, False)
        value = float(value)
        if weight_decay:
            penalty = 0.0
            for p in params:
                if p.trainable:
                    w = p.data.ravel().astype(np.float64)  # the penalty in double, as the loss
                    penalty += float(w @ w)
                    p.grad[...] += np.float32(weight_decay) * p.data
            value += 0.5 * weight_decay * penalty
        return value

    return closure
