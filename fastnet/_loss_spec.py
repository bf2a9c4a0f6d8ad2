"""Turns the ``loss=`` argument of train_step / fit (a name or alias, a fn.losses function, or a
functools.partial of one with keyword arguments) into what the C++ step needs. Names, aliases,
hyper-parameters and their checks come from the C++ loss registry (fastnet/_registry.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

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

    @property
    def sparse(self) -> bool:
        """The loss reads integer class labels instead of float targets."""
        return _registry.lookup("losses", self.name)["target"] == "labels"

    def prepare_target(self, y, rows: int, cols: int, name: str = "y"):
        """(target, labels) for the C++ step: float targets or int32 labels, validated; errors
        name the argument ``name`` ("y_val" for validation labels). Targets go to C++ as they
        are (the hinge kernels read a 0 target as -1)."""
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
        if entry is None or entry["name"] != name:
            raise ValueError(
                f"loss {loss!r} is not a fastnet loss; use one of fn.losses "
                f"({', '.join(LOSS_NAMES)})"
            )
    elif isinstance(loss, str):
        entry = loss_entry(loss)
        if entry is None:
            raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSS_NAMES)}")
    else:
        raise TypeError(f"loss must be a name or a fn.losses function, got {type(loss).__name__}")
    values = _registry.check_params(entry, kwargs, f"loss {entry['name']}")
    return LossSpec(entry["name"], values.get("delta", 1.0), values.get("from_logits", False))
