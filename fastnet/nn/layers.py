"""Layer objects: configuration on the Python side; the computation lives in the C++ model.

A layer is unbound until a Sequential builds it into its arena; its parameters are then views
into that arena. A layer that already belongs to a model is cloned (weights copied) when it is
put into a new one, so two models never share memory.
"""

from __future__ import annotations

import abc
import copy
import functools
import inspect

import numpy as np

from .. import _registry
from .. import init as _init
from .._validate import MAX_FEATURES, as_float_array, check_finite, check_float, check_int

# Activation names and aliases: the C++ activation registry (csrc/activations/registry.cpp).
# The identity's names ("linear", "none", "identity") mean no activation (None).
_ACT_ENTRIES = [e for e in _registry.entries("activations") if not e.get("identity")]
ACTIVATION_NAMES = tuple(e["name"] for e in _ACT_ENTRIES)
_ALIASES = {alias: e["name"] for e in _ACT_ENTRIES for alias in e["aliases"]}
_ALIASES.update(
    {
        n: None
        for e in _registry.entries("activations")
        if e.get("identity")
        for n in (e["name"], *e["aliases"])
    }
)


def canonical_activation(name):
    """The canonical activation name for ``name`` (a name or alias, any case), or None for
    None and the identity's names. TypeError for a non-str, ValueError for an unknown name."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string name or None, got {type(name).__name__}")
    key = name.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key not in ACTIVATION_NAMES:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(ACTIVATION_NAMES)}"
        )
    return key


class Layer(abc.ABC):
    """Base class. Subclasses describe themselves to the C++ core with ``_config``."""

    kind = "layer"
    # Names of the arena tensors that are buffers (state, not learned): see Parameter.is_buffer.
    _buffer_names = ()
    # True for layers that need batch statistics in training (a batch of one is an error).
    _batch_statistics = False

    # Class name -> class for every Layer subclass, so a saved architecture can be rebuilt
    # (fastnet/io.py) without per-class code. Filled by __init_subclass__.
    _registry: dict = {}

    def __init_subclass__(cls, **kwargs):
        """Register the class and wrap its __init__ so the constructor arguments of the
        outermost call are recorded (``get_config``), as Keras layers' get_config do by hand."""
        super().__init_subclass__(**kwargs)
        # Short name for the first class of that name (fastnet's own), full name for all.
        Layer._registry.setdefault(cls.__name__, cls)
        Layer._registry[f"{cls.__module__}.{cls.__qualname__}"] = cls
        if "__init__" not in cls.__dict__:
            return
        original = cls.__dict__["__init__"]
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self, *args, **kw):
            if "_init_arguments" not in self.__dict__:  # only the most derived call records
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))  # self
                self.__dict__["_init_arguments"] = (signature, arguments)
            original(self, *args, **kw)

        cls.__init__ = __init__

    def get_config(self) -> dict:
        """The constructor arguments this layer was built with (defaults filled in), by name.

        Values are as given (child layers, callables included); fastnet/io.py turns them into
        JSON. A layer class without its own __init__ has an empty config."""
        recorded = self.__dict__.get("_init_arguments")
        return {} if recorded is None else dict(recorded[1])

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild a layer from ``get_config()`` output (positional parameters, ``*args`` and
        keyword-only parameters are passed the way the signature needs them)."""
        signature = inspect.signature(cls.__init__)
        args, kwargs = [], {}
        for name, param in list(signature.parameters.items())[1:]:
            if name in config:
                value = config[name]
            elif param.default is not inspect.Parameter.empty:
                value = param.default
            elif param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            else:
                raise ValueError(f"{cls.__name__} config lacks the required argument {name!r}")
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                args.extend(value)
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                kwargs.update(value)
            elif param.kind is inspect.Parameter.KEYWORD_ONLY:
                kwargs[name] = value
            else:
                args.append(value)
        return cls(*args, **kwargs)

    def __init__(self):
        self._model = None  # the Sequential that owns this layer's arena segments
        self._params = {}  # name -> Parameter, once bound
        self._pending = None  # values to copy in at bind time (a cloned layer)
        self._frozen = False

    # ----- shape inference and C++ configuration -----
    def output_features(self, in_features: int) -> int:
        """The width this layer produces from an input of ``in_features`` columns."""
        return in_features

    def input_features(self):
        """Width this layer needs, or None when it adapts to its input."""
        return None

    @abc.abstractmethod
    def _config(self, in_features: int) -> dict:
        """The C++ layer configuration for this input width: {"kind": ..., settings...}, the
        settings checked in C++ against the kind's registry entry (csrc/layers/registry.h)."""

    # Activation applied by this layer (for the "auto" initializer rule), or None.
    @property
    def activation_name(self):
        """The activation this layer applies (canonical name), or None; ``init="auto"`` of the
        Dense before it reads it."""
        return None

    # ----- parameters -----
    def _initialize(self, rng, next_activation) -> None:  # noqa: B027 (optional hook)
        """Fill freshly bound parameters (the arena starts at zero)."""

    def _bind(self, model, params: dict) -> bool:
        """Attach arena views; returns True when the parameters still need initializing."""
        self._model = model
        self._params = params
        for name, p in params.items():
            p.is_buffer = name in self._buffer_names
            p._trainable = not self._frozen and not p.is_buffer
        if self._pending is not None:
            for name, value in self._pending.items():
                params[name].data[...] = value
            self._pending = None
            return False
        return True

    def parameters(self):
        """The learnable parameters (buffers excluded)."""
        return [p for p in self._params.values() if not p.is_buffer]

    def named_parameters(self):
        """``[(name, Parameter)]`` of the learnable parameters (buffers excluded)."""
        return [(n, p) for n, p in self._params.items() if not p.is_buffer]

    def buffers(self):
        """Tensors the layer updates itself (e.g. BatchNorm running statistics)."""
        return [p for p in self._params.values() if p.is_buffer]

    def freeze(self):
        """Exclude this layer's parameters from optimizer updates (transfer learning)."""
        self._frozen = True
        for p in self.parameters():
            p.trainable = False
        return self

    def unfreeze(self):
        """Undo :meth:`freeze`: optimizers update this layer's parameters again."""
        self._frozen = False
        for p in self.parameters():
            p.trainable = True
        return self

    @property
    def trainable(self) -> bool:
        """False once :meth:`freeze` was called (until :meth:`unfreeze`)."""
        return not self._frozen

    def _clone(self):
        """An unbound copy of this layer carrying its current weights."""
        twin = copy.copy(self)
        Layer.__init__(twin)
        twin._frozen = self._frozen
        if self._params:
            twin._pending = {n: p.data.copy() for n, p in self._params.items()}
        elif self._pending is not None:
            twin._pending = {n: v.copy() for n, v in self._pending.items()}
        return twin

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer y = act(x·W + b), W stored (in_features, out_features).

    ``init="auto"`` picks Glorot, He or LeCun from the activation that follows (docs/architecture.md, "Initialization").

    ``l1`` and ``max_norm`` act on the kernel W only (not the bias), inside every optimizer's
    fused step, as Keras' ``kernel_regularizer=l1(l1)`` and ``kernel_constraint=MaxNorm(
    max_norm, axis=0)``: λ·sign(W) is added to W's gradient before the gradient norm,
    clipping and the update (it stays in ``W.grad``; the reported loss leaves the penalty
    out); after the update each
    output unit's incoming weight vector (a column of W) is rescaled by
    min(‖w‖, c) / (1e-7 + ‖w‖). Both are fixed at construction (optimizers read them when
    they are built) and saved with the layer's config.
    """

    kind = "dense"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init="auto",
        bias: bool = True,
        activation=None,
        alpha=None,
        weight_norm: bool = False,
        l1=0.0,
        max_norm=None,
    ):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1, MAX_FEATURES)
        self.out_features = check_int(out_features, "out_features", 1, MAX_FEATURES)
        if not (init == "auto" or callable(init)):
            _init.get(init)  # unknown names fail here, at construction
        self.init = init
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {type(bias).__name__}")
        self.bias = bool(bias)
        self.activation = canonical_activation(activation)
        # alpha: the LeakyReLU slope (default 0.01) or the ELU alpha (default 1.0) when fused.
        if alpha is None:
            alpha = 1.0 if self.activation == "elu" else 0.01
        self.alpha = check_float(alpha, "alpha", low=0.0)
        # Weight normalization (Salimans & Kingma 2016): W = g·v/‖v‖ per output unit, with
        # parameters weight_v (in, out) and weight_g (out,) instead of weight.
        if not isinstance(weight_norm, (bool, np.bool_)):
            raise TypeError(f"weight_norm must be True or False, got {type(weight_norm).__name__}")
        self.weight_norm = bool(weight_norm)
        if self.weight_norm and self.activation == "prelu":
            raise ValueError(
                "Dense(weight_norm=True) cannot fuse activation='prelu'; add a PReLU layer after it"
            )
        self._l1 = check_float(l1, "l1", low=0.0)
        self._max_norm = None
        if max_norm is not None:
            self._max_norm = check_float(max_norm, "max_norm", low=0.0, low_open=True)
        if self.weight_norm and (self._l1 or self._max_norm is not None):
            raise ValueError(
                "Dense(weight_norm=True) has no kernel W to regularize or constrain; "
                "l1 and max_norm need weight_norm=False"
            )

    @property
    def l1(self) -> float:
        """The L1 penalty λ on the kernel (0: none); fixed at construction."""
        return self._l1

    @property
    def max_norm(self):
        """The max-norm bound c of each kernel column (None: none); fixed at construction."""
        return self._max_norm

    def input_features(self):
        return self.in_features

    def output_features(self, in_features: int) -> int:
        """``out_features``, whatever the input width."""
        return self.out_features

    @property
    def activation_name(self):
        """The fused activation's canonical name, or None for a linear Dense."""
        return self.activation

    def _config(self, in_features: int) -> dict:
        return {
            "kind": "dense",
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": int(self.bias),
            "activation": self.activation or "none",
            "alpha": self.alpha,
            **({"weight_norm": 1} if self.weight_norm else {}),
        }

    def _initialize(self, rng, next_activation) -> None:
        act = self.activation if self.activation is not None else next_activation
        name = _init.auto_init_for(act) if self.init == "auto" else self.init
        fn = _init.get(name)
        w = self._params["weight_v" if self.weight_norm else "weight"].data
        # A user initializer's output is checked like any input: shape, real dtype, finite.
        value = as_float_array(fn(w.shape, self.in_features, self.out_features, rng), "init output")
        if value.shape != w.shape:
            raise ValueError(f"init returned shape {value.shape}, expected {w.shape}")
        check_finite(value, "init output")
        w[...] = value
        if self.weight_norm:  # g = ‖v‖ per column: W starts equal to v
            self._params["weight_g"].data[...] = np.linalg.norm(w.astype(np.float64), axis=0)
        if "slope" in self._params:
            self._params["slope"].data[...] = 0.25

    def __repr__(self) -> str:
        act = f", activation={self.activation!r}" if self.activation else ""
        wn = ", weight_norm=True" if self.weight_norm else ""
        return f"Dense({self.in_features}, {self.out_features}{act}{wn})"


class Activation(Layer):
    """A stand-alone activation layer. The public classes (fn.ReLU, fn.LeakyReLU, ...) are
    generated below from the C++ activation registry: one per entry with a "class"."""

    kind = "activation"
    act = None
    _entry = None  # the registry entry (set on generated classes)

    @property
    def activation_name(self):
        """This layer's activation (canonical registry name)."""
        return self.act

    def _settings(self) -> dict:
        """The activation's own parameters as sent to C++ (checked there again)."""
        if self._entry is None:
            return {}
        return {p["name"]: getattr(self, p["name"]) for p in self._entry["params"]}

    def _config(self, in_features: int) -> dict:
        return {
            "kind": "activation",
            "features": in_features,
            "activation": self.act,
            **self._settings(),
        }

    def __repr__(self) -> str:
        if self._entry is not None and self._entry.get("learned"):
            return f"{type(self).__name__}({self.features})"
        shown = ", ".join(f"{k}={v}" for k, v in self._settings().items())
        return f"{type(self).__name__}({shown})"


def _activation_class(entry: dict):
    """The layer class of one registry entry, with a real signature and a NumPy docstring:
    learned activations (PReLU) take the width first; every parameter is checked against its
    spec; "ordered" pairs (RReLU's lower <= upper) are checked together."""
    params = entry["params"]
    learned = bool(entry.get("learned"))
    P = inspect.Parameter
    sig_params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    rows = []
    if learned:
        sig_params.append(P("features", P.POSITIONAL_OR_KEYWORD, annotation=int))
        rows.append(
            ("features", "int", None, "Width of the input (one learned value per feature).")
        )
    for p in params:
        sig_params.append(
            P(
                p["name"],
                P.POSITIONAL_OR_KEYWORD,
                default=p["default"],
                annotation=_registry.PY_TYPES[p["type"]],
            )
        )
        rows.append((p["name"], p["type"], p["default"], p["doc"]))
    signature = inspect.Signature(sig_params)
    ordered = entry.get("ordered")

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        Activation.__init__(self)
        values = dict(bound.arguments)
        values.pop("self")
        if learned:
            self.features = check_int(values.pop("features"), "features", 1, MAX_FEATURES)
        for p in params:
            setattr(self, p["name"], _registry.check_param(p, values[p["name"]]))
        if ordered:
            lo, hi = ordered
            if getattr(self, hi) < getattr(self, lo):
                raise ValueError(f"{hi} must be >= {lo}, got {lo}={values[lo]}, {hi}={values[hi]}")

    __init__.__signature__ = signature
    namespace = {
        "__init__": __init__,
        "act": entry["name"],
        "_entry": entry,
        "__doc__": _registry.signature_doc(entry, rows),
        "__module__": __name__,
    }
    if learned:

        def input_features(self):
            """The width this layer needs: its ``features`` (one learned slope each)."""
            return self.features

        namespace["input_features"] = input_features

        def _initialize(self, rng, next_activation) -> None:
            self._params["slope"].data[...] = self.init

        namespace["_initialize"] = _initialize
    learnable = entry.get("learnable")
    if learnable:  # [switch, param]: a per-feature arena tensor `param` when the switch is on
        start = learnable[1]

        def _initialize(self, rng, next_activation) -> None:
            if start in self._params:
                self._params[start].data[...] = getattr(self, start)

        namespace["_initialize"] = _initialize
    cls = type(entry["class"], (Activation,), namespace)
    cls.__init__.__qualname__ = f"{cls.__name__}.__init__"
    return cls


_ACTIVATION_CLASSES = {e["name"]: _activation_class(e) for e in _ACT_ENTRIES if e.get("class")}
globals().update({cls.__name__: cls for cls in _ACTIVATION_CLASSES.values()})
globals().update(
    {
        alias: _ACTIVATION_CLASSES[e["name"]]
        for e in _ACT_ENTRIES
        for alias in e.get("class_aliases", ())
    }
)


class GELU(Activation):
    """Gaussian error linear unit (Hendrycks & Gimpel 2016), x·Φ(x): exact (erf,
    ``approximate="none"``) or the tanh approximation (``approximate="tanh"``), as torch.nn.GELU.
    The two forms are the registry's "gelu" and "gelu_tanh" entries.

    Parameters
    ----------
    approximate : str, default 'none'
        'none' or 'tanh'.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self.act = "gelu" if approximate == "none" else "gelu_tanh"


# Public activation classes by class name (generated ones, their aliases such as SiLU, and GELU):
# fastnet.nn and fastnet export exactly these, so a new registry entry needs no export edit.
ACTIVATION_CLASSES = {
    **{cls.__name__: cls for cls in _ACTIVATION_CLASSES.values()},
    **{
        alias: _ACTIVATION_CLASSES[e["name"]]
        for e in _ACT_ENTRIES
        for alias in e.get("class_aliases", ())
    },
    "GELU": GELU,
}

# Activation layers by registry name (every activation, gelu_tanh as GELU(approximate="tanh")):
# drives the table-driven tests.
ACTIVATION_LAYERS = {
    **_ACTIVATION_CLASSES,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
}
