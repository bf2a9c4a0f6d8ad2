"""Model averaging: the (weighted) mean prediction of several trained models.

Averaging class probabilities ("soft voting", scikit-learn's ``VotingClassifier(voting=
"soft")``) or regression outputs reduces variance; models trained from different seeds are the
usual members (Lakshminarayanan et al., "Deep Ensembles", NeurIPS 2017).
"""

from __future__ import annotations

import numpy as np

from ._validate import as_batch, as_float_array, check_int

_KINDS = ("auto", "proba", "raw")
_PROBA_ACTIVATIONS = ("softmax", "sigmoid")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free form of 1 / (1 + e^-z)


def _output_activation(model):
    """The activation the model ends with ('softmax', 'sigmoid', ...) or None for a linear
    output (a Dense without fused activation)."""
    return model.layers[-1].activation_name


class Ensemble:
    """Average the predictions of ``models`` (fn.Sequential, same input and output widths).

    Parameters
    ----------
    models : iterable of Sequential
        At least one model; all take the same input width and give the same output width.
        The ensemble holds the models themselves (no copies).
    weights : array_like or None, default None
        One non-negative number per model, not all zero, normalized to sum to 1; None gives
        the plain mean.

    Attributes
    ----------
    models : list of Sequential
    weights : numpy.ndarray
        The normalized weights (float64).

    Raises
    ------
    TypeError
        If ``models`` is not an iterable of Sequential (a single model included), or
        ``weights`` is not numeric.
    ValueError
        If ``models`` is empty, the widths differ, or ``weights`` has the wrong length, a
        negative or non-finite value, or sums to zero.

    Examples
    --------
    >>> import fastnet as fn
    >>> X, y, X_test, y_test = fn.datasets.load_digits()
    >>> models = []
    >>> for seed in range(3):
    ...     m = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=seed)
    ...     _ = m.fit(X, y, loss="sparse_categorical_crossentropy", verbose=0, epochs=5,
    ...               optimizer=fn.optim.Adam(m.parameters(), lr=1e-2))
    ...     models.append(m)
    >>> labels = fn.Ensemble(models).predict_classes(X_test)
    """

    def __init__(self, models, weights=None):
        from .nn.sequential import Sequential

        if isinstance(models, Sequential):
            raise TypeError("models must be a list of fastnet Sequential models, not one model")
        try:
            models = list(models)
        except TypeError:
            raise TypeError(
                f"models must be a list of fastnet Sequential models, got {type(models).__name__}"
            ) from None
        if not models:
            raise ValueError("models is empty: an Ensemble needs at least one model")
        for i, m in enumerate(models):
            if not isinstance(m, Sequential):
                raise TypeError(f"models[{i}] must be a fastnet Sequential, got {type(m).__name__}")
        first = models[0]
        for i, m in enumerate(models[1:], 1):
            if m.in_features != first.in_features:
                raise ValueError(
                    f"models[{i}] takes {m.in_features} input features, models[0] "
                    f"takes {first.in_features}"
                )
            if m.out_features != first.out_features:
                raise ValueError(
                    f"models[{i}] gives {m.out_features} outputs, models[0] gives "
                    f"{first.out_features}"
                )
        self.models = models
        if weights is None:
            w = np.full(len(models), 1.0 / len(models))
        else:
            w = as_float_array(weights, "weights").astype(np.float64)
            if w.shape != (len(models),):
                raise ValueError(
                    f"weights must hold one number per model ({len(models)}), got shape {w.shape}"
                )
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("weights must be finite and non-negative")
            if w.sum() <= 0:
                raise ValueError("weights must not all be zero")
            w = w / w.sum()
        self.weights = w

    @property
    def in_features(self) -> int:
        """The members' input width."""
        return self.models[0].in_features

    @property
    def out_features(self) -> int:
        """The members' output width."""
        return self.models[0].out_features

    def __len__(self) -> int:
        return len(self.models)

    def _resolve_kind(self, kind: str) -> str:
        if not isinstance(kind, str):
            raise TypeError(f"kind must be a string, got {type(kind).__name__}")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))}, got {kind!r}")
        if kind == "auto":
            ends = {_output_activation(m) for m in self.models}
            return "proba" if ends <= set(_PROBA_ACTIVATIONS) else "raw"
        return kind

    def _member_proba(self, model, out: np.ndarray) -> np.ndarray:
        act = _output_activation(model)
        if act in _PROBA_ACTIVATIONS:
            return out  # already probabilities
        # Logits: softmax over classes, or the sigmoid of a single logit (binary).
        return _sigmoid(out) if out.shape[1] == 1 else _softmax(out)

    def predict(self, X, kind: str = "auto", batch_size=None) -> np.ndarray:
        """The weighted mean of the members' outputs.

        Parameters
        ----------
        X : array_like, shape (batch, in_features)
        kind : {"auto", "proba", "raw"}, default "auto"
            "proba": mean class probabilities; a member ending in Softmax or sigmoid is taken
            as is, any other output is treated as logits (softmax over the classes, or sigmoid
            for a single output). "raw": mean of the raw outputs (regression). "auto": "proba"
            when every member ends in Softmax or sigmoid, else "raw" (so classifiers that
            output logits need ``kind="proba"`` explicitly).
        batch_size : int or None, default None
            Passed to each member's ``predict``.

        Returns
        -------
        numpy.ndarray, shape (batch, out_features)
            float32.

        Raises
        ------
        TypeError
            If ``kind`` is not a string or ``X`` is not a real numeric array.
        ValueError
            If ``kind`` is unknown or ``X`` has the wrong shape or non-finite values.
        """
        kind = self._resolve_kind(kind)
        X = as_batch(X, "X", self.in_features)
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        acc = np.zeros((X.shape[0], self.out_features), dtype=np.float64)
        for w, m in zip(self.weights, self.models):
            if w == 0:
                continue
            out = m.predict(X, batch_size=batch_size).astype(np.float64)
            if kind == "proba":
                out = self._member_proba(m, out)
            acc += w * out
        return acc.astype(np.float32)

    def predict_classes(self, X, batch_size=None) -> np.ndarray:
        """The class of each row: argmax of the mean class probabilities.

        A single-output (binary) ensemble gives 1 where the mean probability is above 0.5.

        Parameters
        ----------
        X : array_like, shape (batch, in_features)
        batch_size : int or None, default None

        Returns
        -------
        numpy.ndarray, shape (batch,)
            int64 labels.
        """
        if self.out_features < 2:
            proba = self.predict(X, kind="proba", batch_size=batch_size)
            return (proba[:, 0] > 0.5).astype(np.int64)
        return np.argmax(self.predict(X, kind="proba", batch_size=batch_size), axis=1)

    def __repr__(self) -> str:
        return (
            f"Ensemble({len(self.models)} models, in={self.in_features}, out={self.out_features})"
        )
