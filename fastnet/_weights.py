"""``sample_weight`` and ``class_weight`` of fit / evaluate: one weight per row for the C++ loss.

The loss is the weighted mean sum_i w_i l_i / sum_i w_i of the row losses l_i (csrc/losses/
loss.h; torch's weighted-mean reduction; Keras divides by the row count instead, so its value
scales with the weights). A row's weight is its sample weight times the weight of its class,
as Keras combines them. The class of a row: its label (sparse targets), the argmax of its
one-hot target row, or its 0/1 target for a one-output binary model. ``class_weight=
"balanced"`` is sklearn's ``n_samples / (n_classes * bincount(y))``.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import as_sample_weight


def row_classes(target, labels, name: str = "y") -> np.ndarray:
    """The class index of each row (int64), for class weights."""
    if labels is not None:
        return labels.astype(np.int64)
    if target.shape[1] == 1:
        values = target[:, 0]
        if not np.all((values == 0) | (values == 1)):
            raise ValueError(f"class_weight needs 0/1 targets for a one-output model ({name})")
        return values.astype(np.int64)
    return np.argmax(target, axis=1).astype(np.int64)


def class_weight_table(class_weight, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """float64 (n_classes,) weight per class from a dict {class: weight} (missing: 1) or
    "balanced"."""
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        counts = np.bincount(classes, minlength=n_classes).astype(np.float64)
        present = counts > 0
        table = np.ones(n_classes)
        table[present] = classes.size / (np.count_nonzero(present) * counts[present])
        return table
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict or 'balanced', got {type(class_weight).__name__}"
        )
    table = np.ones(n_classes)
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n_classes:
            raise ValueError(f"class_weight: class {k!r} is not an integer in [0, {n_classes})")
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
            raise TypeError(f"class_weight[{k}] must be a number, got {type(v).__name__}")
        if not (math.isfinite(float(v)) and float(v) >= 0):
            raise ValueError(f"class_weight[{k}] must be finite and non-negative, got {v!r}")
        table[int(k)] = float(v)
    return table


def row_weights(sample_weight, class_weight, target, labels, cols: int, suffix: str = ""):
    """float32 (rows,) weights for the C++ loss, or None when neither is given. ``cols``: the
    model's outputs (the number of classes; a one-output model has 2)."""
    rows = labels.shape[0] if labels is not None else target.shape[0]
    w = as_sample_weight(sample_weight, "sample_weight" + suffix, rows)
    if class_weight is None:
        return w
    classes = row_classes(target, labels, "y" + suffix)
    table = class_weight_table(class_weight, classes, max(2, cols))
    cw = table[classes].astype(np.float32)
    return cw if w is None else np.ascontiguousarray(w * cw, dtype=np.float32)
