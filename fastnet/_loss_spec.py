"""Turns the ``loss=`` argument of train_step / fit (a name or alias, a fn.losses function, a
functools.partial of one with keyword arguments, or a custom callable) into what the C++ step
needs. Names, aliases, hyper-parameters and their checks come from the C++ loss registry
(fastnet/_registry.py).

from_logits of the cross-entropies is decided by the model (``for_model``): a model whose last
layer applies softmax or sigmoid outputs probabilities, any other model outputs logits. So a
Softmax output never gets a second softmax, and a linear output of binary cross-entropy uses
the stable logits form instead of clipped "probabilities". A from_logits given explicitly
that contradicts the model is an error, and so is a sigmoid output (not normalised) with a
categorical cross-entropy.

A custom loss is a callable ``loss(y_true, y_pred) -> (value, grad)``: the mean loss of the
batch and its gradient with respect to ``y_pred`` (the model's output); fit runs it in a
Python step loop (fastnet/training.py).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from . import _registry
from ._validate import as_labels, as_targets

LOSS_NAMES = tuple(e["name"] for e in _registry.entries("losses"))


def loss_entry(name: str):
    """The registry entry of a loss name or alias (any case, surrounding spaces ignored), or
    None."""
    return _registry.lookup("losses", name.strip().lower())


@dataclass(frozen=True)
class LossSpec:
    """A loss by canonical name with its checked hyper-parameters (delta applies to huber,
    from_logits to the cross-entropies; the C++ step takes both)."""

    name: str
    delta: float = 1.0
    from_logits: bool = False
    logits_given: bool = False  # from_logits was passed (else: decided by for_model)
    custom: object = None  # a user's callable (y_true, y_pred) -> (value, grad)

    @property
    def sparse(self) -> bool:
        """The loss reads integer class labels instead of float targets."""
        if self.custom is not None:
            return False
        return _registry.lookup("losses", self.name)["target"] == "labels"

    def prepare_target(self, y, rows: int, cols: int, name: str = "y"):
        """(target, labels) for the C++ step: float targets or int32 labels, validated; errors
        name the argument ``name`` ("y_val" for validation labels). Targets go to C++ as they
        are (the hinge kernels read a 0 target as -1). A custom loss gets ``y`` as given."""
        if self.custom is not None:  # handed to the user's callable as given, row-aligned
            y = np.asarray(y)
            if y.ndim == 0 or y.shape[0] != rows:
                raise ValueError(f"{name} must have one entry per row ({rows}), got {y.shape}")
            return y, None
        if self.sparse:
            return None, as_labels(y, name, rows, cols)
        return as_targets(y, name, (rows, cols)), None


def resolve(loss) -> LossSpec:
    kwargs = {}
    if isinstance(loss, LossSpec):
        return loss
    if isinstance(loss, functools.partial):
        kwargs = dict(loss.keywords or {})
        loss = loss.func
    if callable(loss) and not isinstance(loss, str):
        name = getattr(loss, "__name__", None)
        entry = _registry.lookup("losses", name) if isinstance(name, str) else None
        is_builtin = entry is not None and getattr(loss, "__module__", None) == "fastnet.losses"
        if not is_builtin:
            if kwargs:
                raise TypeError("a custom loss takes no keyword arguments; bind them yourself")
            return LossSpec(name if isinstance(name, str) else "custom_loss", custom=loss)
    elif isinstance(loss, str):
        entry = loss_entry(loss)
        if entry is None:
            raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSS_NAMES)}")
    else:
        raise TypeError(f"loss must be a name or a fn.losses function, got {type(loss).__name__}")
    values = _registry.check_params(entry, kwargs, f"loss {entry['name']}")
    return LossSpec(
        entry["name"],
        values.get("delta", 1.0),
        values.get("from_logits", False),
        logits_given="from_logits" in kwargs,
    )


_SQUASHING = ("softmax", "sigmoid")
_CATEGORICAL = ("categorical_crossentropy", "sparse_categorical_crossentropy")


def output_layer(model):
    """The layer that produces the model's output (dropout, an identity at inference, is
    looked through), or None."""
    for layer in reversed(list(model.layers)):
        if type(layer).__name__ not in ("Dropout", "AlphaDropout"):
            return layer
    return None


def for_model(spec: LossSpec, model) -> LossSpec:
    """``spec`` with from_logits decided by the model's last layer (module docstring), or a
    ValueError naming the layer when the loss and the output cannot go together."""
    if spec.custom is not None:
        return spec
    entry = _registry.lookup("losses", spec.name)
    if not any(p["name"] == "from_logits" for p in entry["params"]):
        return spec
    layer = output_layer(model)
    act = getattr(layer, "activation_name", None)
    probabilities = act in _SQUASHING
    if act == "sigmoid" and spec.name in _CATEGORICAL and model.out_features > 1:
        raise ValueError(
            f"loss {spec.name}: the model's last layer {layer!r} applies sigmoid, whose outputs "
            "do not sum to 1; end the model with Softmax, or with a linear Dense (logits)"
        )
    if spec.logits_given and spec.from_logits == probabilities:
        produces = f"probabilities ({act})" if probabilities else "logits (no softmax/sigmoid)"
        raise ValueError(
            f"loss {spec.name}: from_logits={spec.from_logits}, but the model's last layer "
            f"{layer!r} outputs {produces}; leave from_logits out to have it follow the model"
        )
    if spec.from_logits == (not probabilities):
        return spec
    return dataclasses.replace(spec, from_logits=not probabilities)
