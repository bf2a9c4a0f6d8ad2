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

from .. import init as _init
from .._validate import MAX_FEATURES, as_float_array, check_finite, check_float, check_int

# Activation names understood by the C++ core (csrc/activation.cpp) and the aliases we accept.
ACTIVATION_NAMES = ("sigmoid", "tanh", "softmax", "relu", "leaky_relu", "prelu", "rrelu", "elu",
                    "selu", "gelu", "gelu_tanh", "swish", "mish")
_ALIASES = {"silu": "swish", "linear": None, "none": None}


def canonical_activation(name):
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string name or None, got {type(name).__name__}")
    key = name.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key not in ACTIVATION_NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATION_NAMES)}")
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
        """Rebuild a layer from ``get_config()`` output (positional parameters, *args and
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
        self._model = None        # the Sequential that owns this layer's arena segments
        self._params = {}         # name -> Parameter, once bound
        self._pending = None      # values to copy in at bind time (a cloned layer)
        self._frozen = False

    # ----- shape inference and C++ configuration -----
    def output_features(self, in_features: int) -> int:
        return in_features

    def input_features(self):
        """Width this layer needs, or None when it adapts to its input."""
        return None

    @abc.abstractmethod
    def _config(self, in_features: int) -> dict:
        """The C++ layer configuration (csrc/model/layer.h LayerConfig) for this input width."""

    # Activation applied by this layer (for the "auto" initializer rule), or None.
    @property
    def activation_name(self):
        return None

    # ----- parameters -----
    def _initialize(self, rng, next_activation) -> None:
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
        self._frozen = False
        for p in self.parameters():
            p.trainable = True
        return self

    @property
    def trainable(self) -> bool:
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

    ``init="auto"`` picks Glorot, He or LeCun from the activation that follows (DESIGN.md).
    """

    kind = "dense"

    def __init__(self, in_features: int, out_features: int, init="auto", bias: bool = True,
                 activation=None, alpha=None, weight_norm: bool = False):
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
            raise ValueError("Dense(weight_norm=True) cannot fuse activation='prelu'; "
                             "add a PReLU layer after it")

    def input_features(self):
        return self.in_features

    def output_features(self, in_features: int) -> int:
        return self.out_features

    @property
    def activation_name(self):
        return self.activation

    def _config(self, in_features: int) -> dict:
        return {"kind": "dense", "in_features": self.in_features, "out_features": self.out_features,
                "bias": int(self.bias), "activation": self.activation or "none",
                "alpha": self.alpha, **({"weight_norm": 1} if self.weight_norm else {})}

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
    """A stand-alone activation layer; the subclasses below are the public names."""

    kind = "activation"
    act = None

    def __init__(self):
        super().__init__()
        self._features = None

    @property
    def activation_name(self):
        return self.act

    def _extra(self) -> dict:
        return {}

    def _config(self, in_features: int) -> dict:
        self._features = in_features
        return {"kind": "activation", "features": in_features, "activation": self.act, **self._extra()}


class Sigmoid(Activation):
    act = "sigmoid"


class Tanh(Activation):
    act = "tanh"


class Softmax(Activation):
    """Softmax over the features of each row."""
    act = "softmax"


class ReLU(Activation):
    act = "relu"


class LeakyReLU(Activation):
    act = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = check_float(alpha, "alpha", low=0.0)

    def _extra(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class PReLU(Activation):
    """Parametric ReLU (He et al. 2015): one learned negative slope per feature."""
    act = "prelu"

    def __init__(self, features: int, init: float = 0.25):
        super().__init__()
        self.features = check_int(features, "features", 1, MAX_FEATURES)
        self.init = check_float(init, "init")

    def input_features(self):
        return self.features

    def _initialize(self, rng, next_activation) -> None:
        self._params["slope"].data[...] = self.init

    def __repr__(self):
        return f"PReLU({self.features})"


class RReLU(Activation):
    """Randomized leaky ReLU (Xu et al. 2015): slope ~ U(lower, upper) per element in training,
    the mean slope (lower + upper) / 2 at inference (as torch.nn.RReLU)."""
    act = "rrelu"

    def __init__(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0):
        super().__init__()
        self.lower = check_float(lower, "lower", low=0.0)
        self.upper = check_float(upper, "upper", low=0.0)
        if self.upper < self.lower:
            raise ValueError(f"upper must be >= lower, got lower={lower}, upper={upper}")

    def _extra(self):
        return {"lower": self.lower, "upper": self.upper}


class ELU(Activation):
    act = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_float(alpha, "alpha", low=0.0)

    def _extra(self):
        return {"alpha": self.alpha}


class SELU(Activation):
    """Scaled ELU (Klambauer et al. 2017); pairs with lecun_normal init and AlphaDropout."""
    act = "selu"


class GELU(Activation):
    """Gaussian error linear unit: exact (erf) or the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self.act = "gelu" if approximate == "none" else "gelu_tanh"


class Swish(Activation):
    """x·sigmoid(x) (Ramachandran et al. 2017), also known as SiLU."""
    act = "swish"


SiLU = Swish


class Mish(Activation):
    """x·tanh(softplus(x)) (Misra 2019)."""
    act = "mish"


# Registry of activation layers: drives the table-driven tests.
ACTIVATION_LAYERS = {
    "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax, "relu": ReLU, "leaky_relu": LeakyReLU,
    "prelu": PReLU, "rrelu": RReLU, "elu": ELU, "selu": SELU, "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"), "swish": Swish, "mish": Mish,
}
