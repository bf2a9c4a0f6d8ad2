"""Residual(*layers, scale=1.0): y = x + scale·f(x) (He et al. 2016; scale < 1 is the residual
scaling of Szegedy et al. 2017). One composite C++ layer owns the children (csrc/model/
residual.cpp); here the children keep their own Parameters, routed from the block's arena
segments by the "k." prefix the C++ block gives their names."""

from __future__ import annotations

from .._validate import check_float
from ._fusion import activation_after, compile_layers, needs_batch_statistics
from .layers import Layer


class Residual(Layer):
    """A residual block, ``y = x + scale * f(x)``, where ``f`` runs ``layers`` in order.

    The block runs as one composite layer in the C++ core; its children keep their own
    parameters (named ``"<block>.<child>.<tensor>"``) and can be frozen one by one. ``f`` must
    keep the width (its output features equal its input features).

    Parameters
    ----------
    *layers : Layer
        The layers of ``f``, or a single list or tuple of them. A layer that already belongs
        to a model, or is listed twice, is cloned: blocks share nothing.
    scale : float, default 1.0
        The factor on ``f(x)`` (residual scaling, Szegedy et al. 2017, uses values below 1).

    Raises
    ------
    TypeError
        If an element of ``layers`` is not a fastnet layer, or ``scale`` is not a real number.
    ValueError
        If ``layers`` is empty, or ``f`` changes the width.

    Examples
    --------
    >>> import fastnet as fn
    >>> model = fn.Sequential(
    ...     fn.Dense(16, 32, activation="relu"),
    ...     fn.Residual(fn.Dense(32, 32), fn.BatchNorm(32), fn.ReLU(), fn.Dense(32, 32)),
    ...     fn.Dense(32, 2), seed=0)
    """

    kind = "residual"

    def __init__(self, *layers, scale: float = 1.0):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Residual needs at least one layer")
        own, seen = [], set()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Residual layer {i} must be a fastnet layer, got {type(layer).__name__}"
                )
            # A layer owned by a model (or listed twice) is cloned: blocks share nothing.
            if layer._model is not None or id(layer) in seen:
                layer = layer._clone()
            seen.add(id(layer))
            own.append(layer)
        self._layers = own
        self.scale = check_float(scale, "scale")
        self._core_index = []
        self._needs_init = []
        width = own[0].input_features()
        if width is not None:
            self._check_width(width)

    @property
    def layers(self):
        """The child layers of ``f``, in order (a new list)."""
        return list(self._layers)

    @property
    def _batch_statistics(self):
        return needs_batch_statistics(self._layers)

    def _check_width(self, width: int) -> None:
        _, _, widths = compile_layers(self._layers, width, where="Residual")
        if widths[-1] != width:
            raise ValueError(
                f"Residual: the block maps {width} features to {widths[-1]}; "
                "y = x + f(x) needs f to keep the width"
            )

    def input_features(self):
        """The block's input width as given by its first layer, or None if that layer does
        not fix it (an activation or dropout first)."""
        return self._layers[0].input_features()

    def output_features(self, in_features: int) -> int:
        """The block's output width for ``in_features`` inputs: the same width.

        Raises
        ------
        ValueError
            If ``f`` does not map ``in_features`` features to ``in_features``.
        """
        self._check_width(in_features)
        return in_features

    def _config(self, in_features: int) -> dict:
        configs, self._core_index, _ = compile_layers(self._layers, in_features, where="Residual")
        return {"kind": "residual", "scale": self.scale, "children": configs}

    # ----- parameters: the children's -----
    def _bind(self, model, params: dict) -> bool:
        self._model = model
        self._params = params
        child_of = {core: k for k, core in enumerate(self._core_index) if core is not None}
        per_child = [{} for _ in self._layers]
        for name, p in params.items():
            head, rest = name.split(".", 1)
            k = child_of[int(head)]
            # The C++ prefix counts C++ children; rename to the Python position.
            p.name = p.name[: len(p.name) - len(name)] + f"{k}.{rest}"
            p.layer = self._layers[k]
            per_child[k][rest] = p
        self._needs_init = [
            child._bind(model, per_child[k]) for k, child in enumerate(self._layers)
        ]
        return any(self._needs_init)

    def _initialize(self, rng, next_activation) -> None:
        for k, child in enumerate(self._layers):
            if self._needs_init[k]:
                child._initialize(rng, activation_after(self._layers, k))

    def parameters(self):
        """The children's parameters, in order (buffers left out); empty before the model
        is built."""
        return [p for child in self._layers for p in child.parameters()]

    def named_parameters(self):
        """``(name, parameter)`` pairs of :meth:`parameters`."""
        return [(p.name, p) for p in self.parameters()]

    def buffers(self):
        """The children's buffers (BatchNorm running statistics), in order."""
        return [p for child in self._layers for p in child.buffers()]

    def freeze(self):
        """Freeze every child (their parameters stop training); returns the block."""
        self._frozen = True
        for child in self._layers:
            child.freeze()
        return self

    def unfreeze(self):
        """Unfreeze every child; returns the block."""
        self._frozen = False
        for child in self._layers:
            child.unfreeze()
        return self

    def _clone(self):
        twin = Residual(*[child._clone() for child in self._layers], scale=self.scale)
        twin._frozen = self._frozen
        return twin

    def __repr__(self) -> str:
        inner = ", ".join(repr(child) for child in self._layers)
        extra = f", scale={self.scale}" if self.scale != 1.0 else ""
        return f"Residual({inner}{extra})"
