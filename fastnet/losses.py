"""Losses: every function returns ``(value, grad)`` = (mean loss, d(mean loss)/d(pred)).

Argument order is PyTorch's ``(pred, target)`` (Keras uses ``(y_true, y_pred)``); formulas
and epsilons follow Keras 3 (``keras.losses``, ``keras.backend.epsilon() = 1e-7``).

The losses (generated from the C++ loss registry, csrc/losses/registry.cpp) are listed at the
end of this docstring.

Element-wise losses average over all elements; per-sample losses (categorical_hinge, the
categorical cross-entropies, kl_divergence, cosine_similarity) sum over features and
average over the batch. Clipped or clamped entries get a zero gradient (as autodiff through
Keras' ``clip``/``maximum`` gives).

Inputs may be any real numeric array-like; they are converted to float32, C-contiguous.
A 1-D ``pred`` is read as (n, 1) and its gradient comes back 1-D.
"""

from __future__ import annotations

import inspect

import numpy as np

from . import _engine, _registry

__all__ = [e["name"] for e in _registry.entries("losses")] + ["LOSSES", "get"]


# --------------------------------------------------------------------------- validation


def _as_numeric_array(x, argname, allow_bool):
    """np.asarray with a TypeError (naming the argument) for non-real-numeric input."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{argname} must be a numeric array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise ValueError(f"{argname} must be a rectangular numeric array: {exc}") from None
    kinds = "fiub" if allow_bool else "fiu"
    if arr.dtype.kind not in kinds:
        raise TypeError(
            f"{argname} must be a real numeric array, got dtype {arr.dtype}"
            + (" (bool is not accepted)" if arr.dtype.kind == "b" else "")
        )
    return arr


def _as_float32_matrix(x, argname, allow_bool=False):
    """Validated float32 C-contiguous 2-D array (1-D is read as (n, 1)) and the input shape."""
    arr = _as_numeric_array(x, argname, allow_bool)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{argname} must be 1-D or 2-D (batch, features), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{argname} is empty (shape {arr.shape}): need at least one sample")
    shape = arr.shape
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    lo, hi = arr.min(), arr.max()  # NaN propagates through both; +/-Inf show at the ends
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(
            f"{argname} must be finite: it contains NaN or Inf (or values beyond the float32 range)"
        )
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return arr, shape, float(lo)


def _as_labels(labels, rows, cols, argname="labels"):
    """Class indices as int32 (rows,), integer-valued and in [0, cols)."""
    arr = _as_numeric_array(labels, argname, allow_bool=False)
    if arr.ndim == 2 and arr.shape[1] == 1:  # a (n, 1) column of labels, as Keras accepts
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(
            f"{argname} must be 1-D class indices of length {rows}, got shape {arr.shape}"
        )
    if arr.shape[0] != rows:
        raise ValueError(f"{argname} has {arr.shape[0]} entries but pred has {rows} rows")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{argname} must be finite class indices")
        if not (arr == np.floor(arr)).all():
            raise ValueError(f"{argname} must be integer class indices, got non-integer values")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= cols:
        raise ValueError(
            f"{argname} must lie in [0, {cols}) (pred has {cols} columns), "
            f"got values in [{lo}, {hi}]"
        )
    return np.ascontiguousarray(arr, dtype=np.int32)


def _check_probability_rows(pred, min_value, name):
    """Probabilities must be non-negative with a positive sum per row (they get normalized)."""
    if min_value < 0.0:
        raise ValueError(
            f"{name}: pred must be non-negative probabilities when "
            "from_logits=False (pass from_logits=True for logits)"
        )
    if not (pred.sum(axis=1, dtype=np.float64) > 0.0).all():
        raise ValueError(
            f"{name}: every row of pred must have a positive sum when from_logits=False"
        )


def _check_pred(entry, p, p_min, params):
    """What the entry's "pred" capability asks of pred: non-negative rates (poisson), or
    probabilities when from_logits is False (the categorical cross-entropies)."""
    rule, name = entry["pred"], entry["name"]
    if rule == "non_negative" and p_min < 0.0:
        raise ValueError(f"{name}: pred must be non-negative (predicted rates)")
    if rule == "probabilities" and not params.get("from_logits", False):
        _check_probability_rows(p, p_min, name)


def _evaluate(entry, pred, target, params):
    """Validate pred, the target (float targets of pred's shape, or class labels) and the
    checked hyper-parameters, then run the C++ loss: (value, grad of pred's shape)."""
    name = entry["name"]
    p, shape, p_min = _as_float32_matrix(pred, "pred")
    if entry["target"] == "labels":
        t, labels = None, _as_labels(target, p.shape[0], p.shape[1], "labels")
    else:
        t, t_shape, _ = _as_float32_matrix(target, "target", allow_bool=True)
        if t_shape != shape:
            raise ValueError(f"{name}: target shape {t_shape} must equal pred shape {shape}")
        labels = None
    _check_pred(entry, p, p_min, params)
    value, grad = _engine.loss_forward_backward(
        name, p, t, labels, params.get("delta", 1.0), params.get("from_logits", False), True
    )
    return float(value), grad.reshape(shape)


def _loss_function(entry):
    """The public function of one registry entry: ``name(pred, target, **params)`` (``labels``
    for a label loss) with a real signature and a NumPy docstring from the entry."""
    target_name = "labels" if entry["target"] == "labels" else "target"
    specs = entry["params"]
    P = inspect.Parameter
    signature = inspect.Signature(
        [P("pred", P.POSITIONAL_OR_KEYWORD), P(target_name, P.POSITIONAL_OR_KEYWORD)]
        + [
            P(
                q["name"],
                P.POSITIONAL_OR_KEYWORD,
                default=q["default"],
                annotation=_registry.PY_TYPES[q["type"]],
            )
            for q in specs
        ]
    )

    def loss(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        params = {q["name"]: _registry.check_param(q, bound.arguments[q["name"]]) for q in specs}
        return _evaluate(entry, bound.arguments["pred"], bound.arguments[target_name], params)

    target_doc = (
        "labels : array-like (batch,)\n    Integer class indices in [0, classes)."
        if target_name == "labels"
        else "target : array-like, the shape of pred\n    Targets."
    )
    rows = "\n".join(
        f"{q['name']} : {q['type']}, default {q['default']!r}\n    {q['doc']}" for q in specs
    )
    loss.__name__ = loss.__qualname__ = entry["name"]
    loss.__module__ = __name__
    loss.__signature__ = signature
    loss.__doc__ = (
        f"{entry['doc']}\n\nParameters\n----------\npred : array-like (batch, "
        f"features) or (batch,)\n    Predictions.\n{target_doc}"
        + (f"\n{rows}" if rows else "")
        + "\n\nReturns\n-------\n(value, grad)\n    The mean loss and "
        "d(mean loss)/d(pred), of pred's shape."
    )
    return loss


# --------------------------------------------------------------------------- registry
LOSSES = {e["name"]: _loss_function(e) for e in _registry.entries("losses")}
globals().update(LOSSES)
# Keras' long names and legacy aliases (the entries' aliases) resolve to the canonical names.
_ALIASES = {alias: e["name"] for e in _registry.entries("losses") for alias in e["aliases"]}
__doc__ += "\n" + "\n".join(
    f"{e['name']}({', '.join(q['name'] for q in e['params'])}): {e['doc']}"
    for e in _registry.entries("losses")
)


def get(name_or_callable):
    """Loss function by name (canonical or Keras alias, case-insensitive), or the callable
    itself. The canonical name of a returned built-in is its ``__name__``."""
    if isinstance(name_or_callable, str):
        key = name_or_callable.strip().lower()
        key = _ALIASES.get(key, key)
        try:
            return LOSSES[key]
        except KeyError:
            raise ValueError(
                f"unknown loss {name_or_callable!r}; expected one of "
                f"{', '.join(LOSSES)} or a callable"
            ) from None
    if callable(name_or_callable):
        return name_or_callable
    raise TypeError(f"loss must be a name or a callable, got {type(name_or_callable).__name__}")
