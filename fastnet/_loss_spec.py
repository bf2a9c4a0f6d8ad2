"""Turns the ``loss=`` argument of train_step / fit (a name, a fn.losses function, or a
functools.partial of one with keyword arguments) into what the C++ step needs."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from ._validate import as_labels, as_targets, check_bool, check_float

LOSS_NAMES = ("mse", "mae", "huber", "log_cosh", "mape", "msle", "hinge", "squared_hinge",
              "categorical_hinge", "binary_crossentropy", "categorical_crossentropy",
              "sparse_categorical_crossentropy", "kl_divergence", "poisson", "cosine_similarity")
_DEFAULT_FROM_LOGITS = {"sparse_categorical_crossentropy": True}


@dataclass(frozen=True)
class LossSpec:
    name: str
    delta: float = 1.0
    from_logits: bool = False

    @property
    def sparse(self) -> bool:
        return self.name == "sparse_categorical_crossentropy"

    def prepare_target(self, y, rows: int, cols: int, name: str = "y"):
        """(target, labels) for the C++ step: float targets or int32 labels, validated; errors
        name the argument ``name`` ("y_val" for validation labels)."""
        if self.sparse:
            return None, as_labels(y, name, rows, cols)
        target = as_targets(y, name, (rows, cols))
        if self.name in ("hinge", "squared_hinge"):
            target = target.copy()
            target[target == 0] = -1.0  # hinge targets are -1/+1; 0/1 labels are mapped
        return target, None


def resolve(loss) -> LossSpec:
    kwargs = {}
    if isinstance(loss, LossSpec):
        return loss
    if isinstance(loss, functools.partial):
        kwargs = dict(loss.keywords or {})
        loss = loss.func
    if callable(loss) and not isinstance(loss, str):
        name = getattr(loss, "__name__", None)
        if name not in LOSS_NAMES:
            raise ValueError(f"loss {loss!r} is not a fastnet loss; use one of fn.losses "
                             f"({', '.join(LOSS_NAMES)})")
    elif isinstance(loss, str):
        name = loss.lower()
        if name not in LOSS_NAMES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSS_NAMES)}")
    else:
        raise TypeError(f"loss must be a name or a fn.losses function, got {type(loss).__name__}")
    unknown = set(kwargs) - {"delta", "from_logits"}
    if unknown:
        raise TypeError(f"unexpected loss arguments: {', '.join(sorted(unknown))}")
    delta = check_float(kwargs.get("delta", 1.0), "delta", low=0.0, low_open=True)
    from_logits = check_bool(kwargs.get("from_logits", _DEFAULT_FROM_LOGITS.get(name, False)),
                             "from_logits")
    return LossSpec(name, delta, from_logits)
