"""fn.Sequential: a stack of layers compiled into one C++ model over one flat arena."""
from __future__ import annotations

import numpy as np

from .. import _core
from .. import init as _init
from .._validate import as_batch, check_int
from .layers import Activation, Dense, Layer
from .parameter import Parameter

# Layers the "auto" initializer looks through when it searches the activation after a Dense.
_TRANSPARENT_KINDS = ("batchnorm", "layernorm", "dropout", "alphadropout")


class Sequential:
    """A feed-forward stack of layers.

    ``forward``/``backward``/``train_step`` run in C++ with the GIL released. Parameters are
    views into one 64-byte-aligned float32 arena; gradients into a second one.
    """

    def __init__(self, *layers, seed=None):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} must be a fastnet layer, got {type(layer).__name__}")
        # A layer already owned by a model (or listed twice) is cloned: models share nothing.
        seen = set()
        own = []
        for layer in layers:
            if layer._model is not None or id(layer) in seen:
                layer = layer._clone()
            seen.add(id(layer))
            own.append(layer)
        self._layers = own
        self._seed = seed
        self._trainable_version = 0
        rng = _init.rng_from_seed(seed)
        self._core = _core.Model()
        # Counter-based dropout / RReLU streams are keyed by this seed.
        self._core.seed = int(rng.integers(0, 2**63 - 1)) if seed is None else int(seed)

        width = own[0].input_features()
        if width is None:
            raise ValueError(f"the first layer ({own[0]!r}) does not know its input width; "
                             "start the model with a Dense layer (or PReLU/BatchNorm with features)")
        self._widths = [width]
        for i, layer in enumerate(own):
            need = layer.input_features()
            if need is not None and need != width:
                raise ValueError(f"layer {i} ({layer!r}) expects {need} input features but the "
                                 f"previous layer gives {width}")
            self._core.add(layer._config(width))
            width = layer.output_features(width)
            self._widths.append(width)
        self._core.build()

        for i, layer in enumerate(own):
            params = {}
            for name, shape, offset in self._core.layer_params(i):
                params[name] = Parameter(f"{i}.{name}", self._core.params_view(offset, shape),
                                         self._core.grads_view(offset, shape), offset, self, layer)
            if layer._bind(self, params):
                layer._initialize(rng, self._activation_after(i))

    # ----- structure -----
    def _activation_after(self, i: int):
        """The activation that follows layer i, looking through normalization and dropout."""
        for layer in self._layers[i + 1:]:
            if isinstance(layer, Activation):
                return layer.activation_name
            if layer.kind in _TRANSPARENT_KINDS:
                continue
            break
        return None

    @property
    def layers(self):
        return list(self._layers)

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(*[layer._clone() for layer in self._layers[idx]], seed=self._seed)
        return self._layers[idx]

    @property
    def in_features(self) -> int:
        return self._widths[0]

    @property
    def out_features(self) -> int:
        return self._widths[-1]

    def parameters(self):
        return [p for layer in self._layers for p in layer.parameters()]

    def named_parameters(self):
        return [(p.name, p) for p in self.parameters()]

    def count_params(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.trainable or not trainable_only)

    def freeze(self):
        for layer in self._layers:
            layer.freeze()
        return self

    def unfreeze(self):
        for layer in self._layers:
            layer.unfreeze()
        return self

    def summary(self, print_fn=print) -> str:
        """Layers, output shapes and parameter counts, as a table (also returned)."""
        rows = [("#", "layer", "output", "params")]
        for i, layer in enumerate(self._layers):
            n = sum(p.size for p in layer.parameters())
            flag = "" if layer.trainable else " (frozen)"
            rows.append((str(i), repr(layer) + flag, f"(batch, {self._widths[i + 1]})", f"{n:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "-" * (sum(widths) + 6)
        out = [line]
        for k, r in enumerate(rows):
            out.append("  ".join(r[c].ljust(widths[c]) if c < 3 else r[c].rjust(widths[c]) for c in range(4)))
            if k == 0:
                out.append(line)
        out.append(line)
        total, train = self.count_params(), self.count_params(trainable_only=True)
        out.append(f"parameters: {total:,} (trainable {train:,}, frozen {total - train:,})")
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self._layers)
        return f"Sequential(\n  {inner}\n)"

    # ----- computation -----
    def forward(self, X, training: bool = False) -> np.ndarray:
        """Output (batch, out_features) as a new float32 array."""
        X = as_batch(X, "X", self.in_features)
        return self._core.forward(X, bool(training))

    __call__ = forward

    def backward(self, dY) -> np.ndarray:
        """Back-propagate dY (batch, out) after ``forward(X, training=True)``.

        Overwrites every parameter's ``.grad`` and returns dX (batch, in_features).
        """
        if self._core.last_train_batch < 0:
            raise RuntimeError("backward() needs a forward(X, training=True) first")
        dY = as_batch(dY, "dY", self.out_features)
        if dY.shape[0] != self._core.last_train_batch:
            raise ValueError(f"dY has {dY.shape[0]} rows but the last forward had "
                             f"{self._core.last_train_batch}")
        return self._core.backward(dY, True)

    def predict(self, X, batch_size=None) -> np.ndarray:
        """Inference-mode forward, in chunks of batch_size rows (all at once when None)."""
        X = as_batch(X, "X", self.in_features)
        if batch_size is None or batch_size >= X.shape[0]:
            return self._core.forward(X, False)
        batch_size = check_int(batch_size, "batch_size", 1)
        out = np.empty((X.shape[0], self.out_features), dtype=np.float32)
        for start in range(0, X.shape[0], batch_size):
            out[start:start + batch_size] = self._core.forward(X[start:start + batch_size], False)
        return out

    def train_step(self, X, y, loss, optimizer, schedule=None) -> float:
        """Forward, loss, backward and optimizer update in one C++ call (GIL released).

        With a ``schedule`` (a ``step -> lr`` callable, see fastnet.schedules) the optimizer's
        lr is set to ``schedule(optimizer.steps)`` before the step. Returns the mean loss of the
        batch; ``optimizer.last_grad_norm`` holds the gradient norm.
        """
        from .._loss_spec import resolve as _resolve_loss
        from ..optim.base import Optimizer

        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastnet optimizer, got {type(optimizer).__name__}")
        if optimizer._model is not self:
            raise ValueError("optimizer was built on the parameters of another model")
        spec = _resolve_loss(loss)
        X = as_batch(X, "X", self.in_features)
        target, labels = spec.prepare_target(y, X.shape[0], self.out_features)
        if schedule is not None:
            if not callable(schedule):
                raise TypeError(f"schedule must be a callable step -> lr, got "
                                f"{type(schedule).__name__}")
            optimizer.lr = schedule(optimizer.steps)
        optimizer._sync()
        value, gnorm = self._core.train_step(X, target, labels, spec.name, spec.delta,
                                             spec.from_logits, optimizer._core)
        optimizer._after_step(gnorm)
        return value

    def evaluate_loss(self, X, y, loss) -> float:
        """Mean loss in inference mode."""
        from .._loss_spec import resolve as _resolve_loss

        spec = _resolve_loss(loss)
        X = as_batch(X, "X", self.in_features)
        target, labels = spec.prepare_target(y, X.shape[0], self.out_features)
        return self._core.eval_loss(X, target, labels, spec.name, spec.delta, spec.from_logits)
