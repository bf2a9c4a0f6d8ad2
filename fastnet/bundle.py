"""Bundles: a trained network together with the preprocessing its inputs need, in one file.

``python -m fastnet train --out model.safetensors`` writes a bundle; ``python -m fastnet
predict --model model.safetensors --data new.csv`` and ``fn.load_bundle(path).predict(...)``
apply it to raw data, so a model trained on a CSV predicts on rows of the same form.

The file is a fastnet safetensors file (the network's tensors and architecture, readable by
``fn.load`` too, which warns that the preprocessing is left out) whose metadata also holds,
as JSON under ``preprocessing``:

- ``task``: "classify" or "regress"; ``target``: the target column's name; ``index``: the
  index column's name or null;
- ``columns``: per feature column, in order, its kind and values (fastnet/tabular.py:
  numeric: the imputation mean and the standardisation mean and std; categorical: the most
  frequent value and the one-hot categories);
- ``classes``: the class labels, in the order of the network's outputs (classify), or
  ``target_mean`` / ``target_std``: the network predicts the standardised target (regress).

Loading reads the file as untrusted data, as ``fn.load`` does: a regular file, the
safetensors layout and the architecture checked before anything is allocated, and the
preprocessing checked field by field against the network's input and output sizes. No code
runs and no pickle is read.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import io as _io
from ._files import check_path
from .tabular import DataError, Preprocessor, Table, read_csv, table_from_columns

__all__ = ["Bundle", "load_bundle", "save_bundle"]

BUNDLE_VERSION = 1
_TASKS = ("classify", "regress")


class Bundle:
    """A network and the preprocessing of its raw inputs (see the module docstring).

    Parameters
    ----------
    model : Sequential
        The trained network: its input is ``preprocessor``'s output; its output holds one
        logit per class (classify) or the standardised target (regress).
    preprocessor : fastnet.tabular.Preprocessor
        Imputation, one-hot encoding and standardisation of the feature columns.
    task : {"classify", "regress"}
    target : str
        The target column's name (ignored when present in data to predict on).
    classes : list or None
        Class labels in output order (classify).
    target_mean, target_std : float
        The target's standardisation (regress): prediction = output * std + mean.
    index : str or None
        The index column's name, carried to the CLI's output file.

    Examples
    --------
    >>> import fastnet as fn  # doctest: +SKIP
    >>> bundle = fn.load_bundle("model.safetensors")  # doctest: +SKIP
    >>> bundle.predict({"age": [41, None], "color": ["red", "blue"]})  # doctest: +SKIP
    array(['no', 'yes'], dtype='<U3')
    """

    def __init__(
        self,
        model,
        preprocessor,
        task,
        target,
        classes=None,
        target_mean=0.0,
        target_std=1.0,
        index=None,
    ):
        if task not in _TASKS:
            raise ValueError(f"task must be 'classify' or 'regress', got {task!r}")
        if preprocessor.width != model.in_features:
            raise ValueError(
                f"the preprocessing gives {preprocessor.width} inputs but the model reads "
                f"{model.in_features}"
            )
        if task == "classify":
            if not classes or len(classes) != model.out_features:
                raise ValueError(
                    f"classes: one label per model output expected ({model.out_features}), "
                    f"got {classes!r:.80}"
                )
        elif model.out_features != 1:
            raise ValueError("a regression bundle needs a model with one output")
        self.model = model
        self.preprocessor = preprocessor
        self.task = task
        self.target = target
        self.classes = list(classes) if classes is not None else None
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)
        self.index = index

    @property
    def feature_names(self) -> list:
        """The raw feature columns the bundle reads, in order."""
        return self.preprocessor.feature_names

    def __repr__(self) -> str:
        return (
            f"Bundle(task={self.task!r}, target={self.target!r}, "
            f"features={len(self.feature_names)}, inputs={self.model.in_features}, "
            f"classes={self.classes!r:.60})"
        )

    # ------------------------------------------------------------------ raw data

    def table(self, data) -> Table:
        """The rows of ``data`` as a Table: a CSV path, a mapping of column name to values
        (a dict of lists, a pandas DataFrame), a list of row dicts, or rows in feature order
        (a list of sequences or a 2-D array)."""
        if isinstance(data, (str, os.PathLike)):
            path = check_path(data, "data")
            from .tabular import check_data_file

            check_data_file(path)
            return read_csv(path, index_col=self.index, index_optional=True)
        if hasattr(data, "keys") and callable(data.keys):
            return table_from_columns(data)
        if isinstance(data, np.ndarray) or isinstance(data, (list, tuple)):
            rows = list(data)
            if not rows:
                raise DataError("data: no rows")
            if all(isinstance(r, dict) for r in rows):
                names = list(dict.fromkeys(k for r in rows for k in r))
                return table_from_columns({k: [r.get(k) for r in rows] for k in names})
            names = self.feature_names
            for i, r in enumerate(rows):
                if isinstance(r, (str, bytes)) or not hasattr(r, "__len__") or len(r) != len(names):
                    raise DataError(
                        f"data row {i + 1}: expected {len(names)} values in the order "
                        f"{names!r:.200}"
                    )
            return table_from_columns({k: [r[j] for r in rows] for j, k in enumerate(names)})
        raise TypeError(
            "data must be a CSV path, a mapping of columns, a list of rows or a 2-D array, got "
            f"{type(data).__name__}"
        )

    def transform(self, data, report=None) -> np.ndarray:
        """The network's float32 input for raw ``data`` (see ``table``): missing values
        imputed, categories one-hot encoded, numbers standardised."""
        table = data if isinstance(data, Table) else self.table(data)
        return self.preprocessor.transform(table, report)

    def predict_output(self, data) -> np.ndarray:
        """The network's raw output (logits, or the standardised target) for raw ``data``."""
        return self.model.predict(self.transform(data))

    def predict(self, data) -> np.ndarray:
        """Class labels (classify, as in the training target) or target values (regress) for
        raw ``data`` (see ``table``), one per row."""
        out = self.predict_output(data)
        if self.task == "classify":
            return np.asarray(self.classes)[np.argmax(out, axis=1)]
        return out[:, 0].astype(np.float64) * self.target_std + self.target_mean

    def predict_proba(self, data) -> np.ndarray:
        """Class probabilities (softmax of the logits), one column per ``classes`` entry."""
        if self.task != "classify":
            raise RuntimeError("predict_proba needs a classification bundle")
        return softmax(self.predict_output(data))

    # ------------------------------------------------------------------ JSON

    def _metadata(self) -> dict:
        meta = {
            "bundle_version": BUNDLE_VERSION,
            "task": self.task,
            "target": self.target,
            "index": self.index,
            "columns": self.preprocessor.to_json(),
        }
        if self.task == "classify":
            meta["classes"] = self.classes
        else:
            meta.update(target_mean=self.target_mean, target_std=self.target_std)
        return meta


def softmax(z) -> np.ndarray:
    """Row-wise softmax of logits, float64 (max subtracted first)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def save_bundle(bundle, path) -> None:
    """Write ``bundle`` to ``path``: one safetensors file, written atomically.

    Parameters
    ----------
    bundle : Bundle
    path : str or os.PathLike

    Raises
    ------
    TypeError
        If ``bundle`` is not a Bundle or ``path`` not a path.
    """
    if not isinstance(bundle, Bundle):
        raise TypeError(f"bundle must be a fastnet Bundle, got {type(bundle).__name__}")
    path = check_path(path)
    model = bundle.model
    _io._write(
        path,
        _io._model_tensors(model),
        {
            "kind": "bundle",
            "architecture": _io._architecture(model),
            "preprocessing": bundle._metadata(),
        },
    )


def load_bundle(path) -> Bundle:
    """Read a bundle written by ``save_bundle`` (or ``python -m fastnet train --out``).

    The file is checked before anything is allocated for it (as ``fn.load``), and its
    preprocessing field by field against the network: a bad file gives a ValueError naming it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Bundle

    Raises
    ------
    ValueError
        If the file is not a fastnet bundle or any part of it is malformed.

    Examples
    --------
    >>> import fastnet as fn  # doctest: +SKIP
    >>> fn.load_bundle("bc.safetensors").predict("new.csv")  # doctest: +SKIP
    """
    path = check_path(path)

    def plan(meta, entries):
        if meta.get("kind") != "bundle" or "preprocessing" not in meta:
            raise ValueError(
                f"{path} is a fastnet model without preprocessing, not a bundle (use fn.load)"
            )
        model = _io._unbuilt_model(meta["architecture"], path)
        _io._match(model._declared_tensors(), entries, path)
        pre = _io._parse_json(meta["preprocessing"], path, "the preprocessing metadata")
        return model, pre

    _, tensors, (model, pre) = _io._read(path, plan)
    fields = _check_fields(pre, path)
    preprocessor = Preprocessor.from_json(fields["columns"], path)
    try:  # sizes are compared before the network's arena is allocated
        _check_sizes(preprocessor, fields, model)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    model._allocate(initialize=False)
    _io._assign_weights(model, tensors)
    return Bundle(
        model,
        preprocessor,
        fields["task"],
        fields["target"],
        fields.get("classes"),
        fields.get("target_mean", 0.0),
        fields.get("target_std", 1.0),
        fields["index"],
    )


def _check_fields(pre, where: str) -> dict:
    if not isinstance(pre, dict):
        raise ValueError(f"{where}: the preprocessing metadata must be an object")
    if pre.get("bundle_version") != BUNDLE_VERSION:
        raise ValueError(
            f"{where}: unsupported bundle version {pre.get('bundle_version')!r:.40} "
            f"(this fastnet reads {BUNDLE_VERSION})"
        )
    task = pre.get("task")
    if task not in _TASKS:
        raise ValueError(f"{where}: task must be 'classify' or 'regress'")
    common = {"bundle_version", "task", "target", "index", "columns"}
    expected = common | ({"classes"} if task == "classify" else {"target_mean", "target_std"})
    if set(pre) != expected:
        raise ValueError(f"{where}: the preprocessing fields must be {sorted(expected)}")
    if not isinstance(pre["target"], str):
        raise ValueError(f"{where}: target must be a string")
    if pre["index"] is not None and not isinstance(pre["index"], str):
        raise ValueError(f"{where}: index must be a string or null")
    if task == "classify":
        classes = pre["classes"]
        ok = (
            isinstance(classes, list)
            and len(classes) >= 2
            and len(set(map(repr, classes))) == len(classes)
        )
        kinds = {type(c) for c in classes} if isinstance(classes, list) else set()
        if not ok or not (kinds <= {int} or kinds <= {int, float} or kinds <= {str}):
            raise ValueError(f"{where}: classes must be 2+ unique numbers or strings")
        if float in kinds and not all(math.isfinite(c) for c in classes):
            raise ValueError(f"{where}: classes must be finite")
    else:
        mean, std = pre["target_mean"], pre["target_std"]
        if (
            not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in (mean, std)
            )
            or not std > 0
        ):
            raise ValueError(f"{where}: target_mean and target_std must be finite, std > 0")
    return pre


def _check_sizes(preprocessor, fields, model) -> None:
    if preprocessor.width != model.in_features:
        raise ValueError(
            f"the preprocessing gives {preprocessor.width} inputs but the network reads "
            f"{model.in_features}"
        )
    want = len(fields["classes"]) if fields["task"] == "classify" else 1
    if model.out_features != want:
        raise ValueError(f"the network has {model.out_features} outputs, expected {want}")
