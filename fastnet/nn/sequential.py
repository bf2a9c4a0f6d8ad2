"""fn.Sequential: a stack of layers compiled into one C++ model over one flat arena."""

from __future__ import annotations

import contextlib
import copy

import numpy as np

from .. import _engine
from .. import init as _init
from .._loss_spec import for_model as _for_model
from .._loss_spec import resolve as _resolve_loss
from .._validate import MAX_FEATURES, as_batch, check_bool, check_int
from ._fusion import activation_after, compile_layers, needs_batch_statistics
from .layers import Layer
from .parameter import Parameter

# Loss names already resolved (resolve() is pure for a string, and unknown names raise before
# they are stored), so a training loop passing the same name every step skips re-parsing it.
_LOSS_BY_NAME: dict = {}
_LOSS_CACHE_MAX = 64


def _loss_spec(loss, model):
    """The LossSpec of ``loss`` with from_logits following ``model``'s output layer."""
    if type(loss) is str:
        # The model's layers never change, so the spec for a name is decided once per model
        # (a training loop calling train_step with the same name skips it every step).
        cache = model.__dict__.setdefault("_loss_for_model", {})
        decided = cache.get(loss)
        if decided is not None:
            return decided
        spec = _LOSS_BY_NAME.get(loss)
        if spec is None:
            spec = _resolve_loss(loss)
            if len(_LOSS_BY_NAME) < _LOSS_CACHE_MAX:
                _LOSS_BY_NAME[loss] = spec
        decided = _for_model(spec, model)
        if len(cache) < _LOSS_CACHE_MAX:
            cache[loss] = decided
        return decided
    return _for_model(_resolve_loss(loss), model)


def _optimizer_check():
    """fastnet.optim.base.check_optimizer_for, imported on first use (optim imports nn: a
    cycle at load)."""
    global _check_optimizer_for
    if _check_optimizer_for is None:
        from ..optim.base import check_optimizer_for

        _check_optimizer_for = check_optimizer_for
    return _check_optimizer_for


_check_optimizer_for = None

# Private attributes a pickled Sequential keeps besides its payload (the rest are rebuilt):
# the TrainingContext of its last fit (optimizer, history, shuffle generator).
_PICKLED_PRIVATE = ("_training",)


def _unpickle_sequential(payload):
    """Rebuild a pickled Sequential (see Sequential.__reduce__)."""
    from ..io import model_from_payload

    return model_from_payload(payload)


def _input_width(layers, input_dim) -> int:
    """The model's input width: ``input_dim`` when given, else the width the first layer that
    fixes one expects. The layers before it adapt to their input and keep its width (Dropout,
    activations, a Residual block starting with one), so that width is the model's input too;
    compile_layers then checks every width, ``input_dim`` against that layer included."""
    given = None if input_dim is None else check_int(input_dim, "input_dim", 1, MAX_FEATURES)
    for i, layer in enumerate(layers):
        width = layer.input_features()
        if width is not None:
            if given is not None and given != width:
                raise ValueError(
                    f"input_dim={given} but layer {i} ({layer!r}) expects {width} input features"
                )
            return width
    if given is not None:
        return given
    names = ", ".join(repr(layer) for layer in layers[:4]) + (", ..." if len(layers) > 4 else "")
    raise ValueError(
        f"cannot infer the input width: no layer fixes it ({names}); pass input_dim= "
        "or add a Dense (or a BatchNorm, LayerNorm or PReLU given its features)"
    )


class Sequential:
    """A feed-forward stack of layers, compiled into one C++ model.

    ``forward``/``backward``/``train_step`` and whole ``fit`` epochs run in C++ with the GIL
    released. Parameters are views into one 64-byte-aligned float32 arena; gradients into a
    second one of the same layout (docs/architecture.md). The model is built, and its
    parameters initialized, when it is constructed.

    Parameters
    ----------
    *layers : Layer
        The layers, in order; each width must match the one before. Layers that adapt to
        their input (Dropout, an activation) may come first: the input width is then taken
        from the first layer that fixes one (a Dense, or a BatchNorm, LayerNorm or PReLU given
        its features), or from ``input_dim``. A layer that belongs to another model, or is
        listed twice, is cloned: models share nothing.
    seed : int or None, default None
        Seeds the initializers and the random streams (dropout masks, RReLU slopes, fit's
        shuffling when ``fit`` gets no seed of its own). None draws from the global generator
        (:func:`fastnet.manual_seed`).
    input_dim : int or None, default None
        The input width (columns of ``X``). Needed only when no layer fixes it (e.g.
        ``Sequential(fn.Dropout(0.2), fn.Swish(learnable=True), input_dim=64)``); when given,
        it must agree with the first layer that fixes one.

    Raises
    ------
    TypeError
        If an element of ``layers`` is not a fastnet layer, or ``seed`` is not an int or None.
    ValueError
        If there is no layer, the widths do not match (``input_dim`` included), or no layer
        fixes the input width and ``input_dim`` is not given.

    See Also
    --------
    fastnet.io.save, fastnet.io.load : the model on disk.

    Examples
    --------
    >>> import fastnet as fn
    >>> model = fn.Sequential(fn.Dense(64, 128, activation="relu"), fn.Dropout(0.1),
    ...                       fn.Dense(128, 10), seed=0)
    >>> model.in_features, model.out_features, model.count_params()
    (64, 10, 9610)
    >>> model[0]          # a layer; model[:1] is a new model (a copy)
    Dense(64, 128, activation='relu')
    >>> fn.Sequential(fn.Dropout(0.2), fn.Dense(64, 10), seed=0).in_features  # input dropout
    64
    """

    def __init__(self, *layers, seed=None, input_dim=None):
        # Construction in steps, so that a loader can check a declared architecture before
        # anything large is allocated (Sequential._unbuilt): own the layers and compile them
        # into C++ layer objects (_prepare: no arena yet), then allocate the arena, bind the
        # Parameters and run the initializers (_allocate).
        self._prepare(layers, seed, input_dim)
        self._allocate(initialize=True)

    @classmethod
    def _unbuilt(cls, layers, seed, input_dim=None):
        """A model whose C++ layers exist but whose arena is not allocated yet: the caller
        checks ``_declared_tensors()`` (cheap: no memory proportional to the parameters), then
        calls ``_allocate(initialize=False)`` and fills every tensor itself (fastnet/io.py
        loading a file, unpickling). Nothing else may be used before ``_allocate``."""
        model = cls.__new__(cls)
        model._prepare(layers, seed, input_dim)
        return model

    def _prepare(self, layers, seed, input_dim=None) -> None:
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
        self._training = None  # the TrainingContext of the last fit (fastnet/training.py)
        rng = _init.rng_from_seed(seed)
        # Counter-based dropout / RReLU streams are keyed by this seed.
        drawn = seed is None or isinstance(seed, np.random.Generator)
        if not drawn and int(seed) >= 2**64:  # rng_from_seed has checked the type and sign
            raise ValueError(f"seed must be < 2**64 (the dropout stream key), got {seed}")
        stream_seed = int(rng.integers(0, 2**63 - 1)) if drawn else int(seed)
        self._init_rng = rng  # the initializers draw from it in _allocate

        width = _input_width(own, input_dim)
        # BatchNorm→ReLU pairs become one C++ layer (nn/_fusion.py); _core_index maps each
        # Python layer to its C++ layer (None for a fused ReLU).
        configs, self._core_index, self._widths = compile_layers(own, width)
        # C++ layer objects only: the arena is allocated by _allocate.
        _engine.build_model_core(self, configs, stream_seed)
        self._batch_statistics = needs_batch_statistics(own)

    def _allocate(self, initialize: bool) -> None:
        """Allocate the arena, bind every layer's Parameters to it and, when ``initialize``,
        run the initializers (a loader that overwrites every tensor skips them)."""
        rng = self.__dict__.pop("_init_rng")
        _engine.allocate(self)
        index = 0  # tensors in arena order, as C++ Model::param_decls lists them
        for i, layer in enumerate(self._layers):
            params = {}
            core = self._core_index[i]
            for name, shape, offset in _engine.layer_params(self, core) if core is not None else []:
                params[name] = Parameter(
                    f"{i}.{name}",
                    _engine.params_view(self, offset, shape),
                    _engine.grads_view(self, offset, shape),
                    offset,
                    index,
                    self,
                    layer,
                )
                index += 1
            if layer._bind(self, params) and initialize:
                layer._initialize(rng, self._activation_after(i))

    def _tensor_decls(self):
        """(name "<layer>.<param>", shape, offset) of every arena tensor, in arena order. The
        names and shapes are known before ``_allocate`` (offsets are 0 until then)."""
        for i, core in enumerate(self._core_index):
            if core is None:  # an activation fused into the C++ layer before it
                continue
            for name, shape, offset in _engine.layer_params(self, core):
                yield f"{i}.{name}", tuple(shape), offset

    def _declared_tensors(self) -> list:
        """[(name, shape)] of the tensors this architecture has, without allocating them."""
        return [(name, shape) for name, shape, _ in self._tensor_decls()]

    # ----- structure -----
    def _activation_after(self, i: int):
        """The activation that follows layer i, looking through normalization and dropout."""
        return activation_after(self._layers, i)

    @property
    def layers(self):
        """The layers, in order (a new list; the layers themselves are the model's)."""
        return list(self._layers)

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            start = range(len(self._layers))[idx][:1]
            width = self._widths[start[0]] if start else None
            return Sequential(
                *[layer._clone() for layer in self._layers[idx]], seed=self._seed, input_dim=width
            )
        return self._layers[idx]

    @property
    def in_features(self) -> int:
        """The input width (columns of ``X``)."""
        return self._widths[0]

    @property
    def out_features(self) -> int:
        """The output width (columns of ``forward``'s result)."""
        return self._widths[-1]

    def parameters(self):
        """Every parameter of every layer, in order: what an optimizer takes.

        Buffers (BatchNorm's running statistics) are left out; frozen parameters are included
        (optimizers skip them while ``trainable`` is False).

        Returns
        -------
        list of Parameter
        """
        return [p for layer in self._layers for p in layer.parameters()]

    def named_parameters(self):
        """``(name, parameter)`` pairs of :meth:`parameters`, names such as ``"0.weight"``."""
        return [(p.name, p) for p in self.parameters()]

    def count_params(self, trainable_only: bool = False) -> int:
        """The number of parameter elements (buffers not counted).

        Parameters
        ----------
        trainable_only : bool, default False
            Count only parameters whose ``trainable`` flag is set.
        """
        return sum(p.size for p in self.parameters() if p.trainable or not trainable_only)

    def freeze(self):
        """Freeze every layer (``trainable=False`` on its parameters); returns the model."""
        for layer in self._layers:
            layer.freeze()
        return self

    def unfreeze(self):
        """Unfreeze every layer; returns the model."""
        for layer in self._layers:
            layer.unfreeze()
        return self

    # ----- the last fit (its TrainingContext, fastnet/training.py) -----
    @property
    def history(self):
        """The History of the last ``fit`` (None before any), as Keras' ``model.history``."""
        return None if self._training is None else self._training.history

    @property
    def optimizer(self):
        """The optimizer of the last ``fit`` (None before any)."""
        return None if self._training is None else self._training.optimizer

    @property
    def stop_training(self) -> bool:
        """Set to True from a callback to end the running fit (the Keras idiom): it sets the
        fit's ``TrainingContext.stop_training``."""
        return self._training is not None and self._training.stop_training

    @stop_training.setter
    def stop_training(self, value) -> None:
        value = check_bool(value, "stop_training")
        if self._training is None:
            raise RuntimeError("stop_training ends a running fit; this model has not been fit")
        self._training.stop_training = value

    # ----- whole-model state (checkpoints, EarlyStopping, save/load) -----
    @contextlib.contextmanager
    def _preserved_state(self):
        """Everything a probe may change comes back on exit: the parameter arena (weights and
        BatchNorm buffers), the gradient arena and the random-stream step counter. Yields the
        saved parameter arena (a flat copy) or None for a model without parameters."""
        floats = _engine.arena_floats(self)
        params = _engine.params_view(self, 0, [floats]) if floats else None
        grads = _engine.grads_view(self, 0, [floats]) if floats else None
        saved_params = None if params is None else params.copy()
        saved_grads = None if grads is None else grads.copy()
        _, saved_step = _engine.rng_state(self)
        try:
            yield saved_params
        finally:
            if params is not None:
                params[...] = saved_params
                grads[...] = saved_grads
            _engine.set_rng_state(self, step=saved_step)

    def state_arrays(self) -> dict:
        """Every tensor the layers declared in the arena, by name ``"<layer>.<param>"``, as
        live views: trainable weights, frozen ones and non-trainable buffers (running
        statistics) alike, in arena order.

        Returns
        -------
        dict of str to numpy.ndarray
            Writable float32 views: writing one changes the model.
        """
        return {
            name: _engine.params_view(self, offset, shape)
            for name, shape, offset in self._tensor_decls()
        }

    def get_weights(self) -> list:
        """Copies of every arena tensor (see :meth:`state_arrays`), in arena order.

        Returns
        -------
        list of numpy.ndarray
            float32 copies, for :meth:`set_weights` on a model of the same architecture.
        """
        return [v.copy() for v in self.state_arrays().values()]

    def set_weights(self, weights) -> None:
        """Copy a list from :meth:`get_weights` (same architecture) back into the arena.

        Every array is checked before anything is written, so a bad list leaves the model
        unchanged.

        Parameters
        ----------
        weights : sequence of array_like
            One array per arena tensor, in arena order, each of the tensor's shape.

        Raises
        ------
        TypeError
            If ``weights`` is not a sequence, or an array is not numeric.
        ValueError
            If the count or a shape differs, or a value is NaN or Inf after conversion to
            float32.
        """
        views = list(self.state_arrays().items())
        try:
            weights = list(weights)
        except TypeError:
            raise TypeError("weights must be a list of arrays (from get_weights())") from None
        if len(weights) != len(views):
            raise ValueError(
                f"weights has {len(weights)} arrays but the model has {len(views)} tensors"
            )
        arrays = []
        for (name, view), w in zip(views, weights):
            w = np.asarray(w)
            if w.shape != view.shape:
                raise ValueError(f"weights for {name}: expected shape {view.shape}, got {w.shape}")
            if not np.issubdtype(w.dtype, np.floating) and not np.issubdtype(w.dtype, np.integer):
                raise TypeError(f"weights for {name} must be numeric, got dtype {w.dtype}")
            with np.errstate(over="ignore"):  # an overflow to inf is reported below
                w = w.astype(view.dtype, copy=False)  # float64 1e300 becomes inf here: check after
            if w.size and not np.isfinite(w).all():
                raise ValueError(
                    f"weights for {name} contain NaN or Inf (after conversion to {view.dtype})"
                )
            arrays.append(w)
        for (_, view), w in zip(views, arrays):  # all checked before anything is written
            view[...] = w

    # ----- pickle and copy -----
    def __reduce__(self):
        """Pickled as data (fastnet/io.py ``model_payload``): the architecture (the JSON
        structure fn.save writes), every arena tensor (safetensors bytes, or a dict of arrays
        without safetensors), each parameter's trainable flag, the seed and the random-stream
        step. Public attributes (your own) and the context of the last fit (``history``, the
        ``optimizer``, the shuffle generator) follow as state, after the model is rebuilt, so
        a model and its optimizer pickled together stay one model and one optimizer."""
        from ..io import model_payload

        extras = {
            k: v for k, v in self.__dict__.items() if not k.startswith("_") or k in _PICKLED_PRIVATE
        }
        return (_unpickle_sequential, (model_payload(self),), extras)

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)

    def __copy__(self):
        # Two models never share an arena: a copy of a model is a deep copy.
        return copy.deepcopy(self)

    def summary(self, print_fn=print) -> str:
        """Layers, output shapes and parameter counts, as a table.

        Parameters
        ----------
        print_fn : callable or None, default print
            Called with the table; None prints nothing.

        Returns
        -------
        str
            The table.
        """
        rows = [("#", "layer", "output", "params")]
        for i, layer in enumerate(self._layers):
            n = sum(p.size for p in layer.parameters())
            flag = "" if layer.trainable else " (frozen)"
            rows.append((str(i), repr(layer) + flag, f"(batch, {self._widths[i + 1]})", f"{n:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "-" * (sum(widths) + 6)
        out = [line]
        for k, r in enumerate(rows):
            out.append(
                "  ".join(
                    r[c].ljust(widths[c]) if c < 3 else r[c].rjust(widths[c]) for c in range(4)
                )
            )
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
        """Run the model on a batch.

        Parameters
        ----------
        X : array_like, shape (batch, in_features)
            Real numbers, converted to C-contiguous float32.
        training : bool, default False
            True: training mode (dropout active, BatchNorm batch statistics, activations kept
            for :meth:`backward`); the model is held exclusively for the call. False:
            inference, safe to run from many threads at once. ``model(X)`` is
            ``model.forward(X)``.

        Returns
        -------
        numpy.ndarray, shape (batch, out_features)
            A new float32 array.

        Raises
        ------
        TypeError
            If ``X`` is not a real numeric array or ``training`` is not a bool.
        ValueError
            If ``X`` has the wrong shape, no rows, NaN or Inf, or (training with BatchNorm)
            fewer than 2 rows.
        """
        X = as_batch(X, "X", self.in_features)
        training = check_bool(training, "training")
        if training:
            self._check_training_batch(X.shape[0])
            return _engine.forward(self, X, True)
        # Inference: chunked, in a borrowed workspace, safe from many threads (see predict).
        return _engine.predict(self, X, X.shape[0])

    def _check_training_batch(self, rows: int) -> None:
        if self._batch_statistics and rows < 2:
            raise ValueError(
                f"X has {rows} row; training a model with BatchNorm needs a batch "
                "of at least 2 rows (batch statistics)"
            )

    __call__ = forward

    def backward(self, dY) -> np.ndarray:
        """Back-propagate ``dY`` after ``forward(X, training=True)``.

        Overwrites every parameter's ``.grad`` (no accumulation), ready for
        ``optimizer.step()``.

        Parameters
        ----------
        dY : array_like, shape (batch, out_features)
            The gradient of the loss with respect to the last forward's output (the second
            value a :mod:`fastnet.losses` function returns); the same number of rows.

        Returns
        -------
        numpy.ndarray, shape (batch, in_features)
            dX, the gradient with respect to the input.

        Raises
        ------
        RuntimeError
            If no ``forward(X, training=True)`` came before.
        ValueError
            If ``dY``'s shape does not match the last forward's output.
        """
        rows = _engine.last_train_batch(self)
        if rows < 0:
            raise RuntimeError("backward() needs a forward(X, training=True) first")
        dY = as_batch(dY, "dY", self.out_features)
        if dY.shape[0] != rows:
            raise ValueError(f"dY has {dY.shape[0]} rows but the last forward had {rows}")
        return _engine.backward(self, dY, True)

    def predict(self, X, batch_size=None) -> np.ndarray:
        """Inference-mode forward, batched in C++ in chunks of ``batch_size`` rows (all rows
        at once when None), each chunk capped so its workspace stays under 32 MiB: memory
        beyond the input and output is bounded whatever the number of rows.

        Safe to call from many threads at once, on one model or several: each call borrows
        its own workspace and reads the weights under a shared lock. A training step on the
        same model (fit, train_step) takes the lock exclusively, so a prediction sees the
        weights after some whole step, never a half-updated one.
        """
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        X = as_batch(X, "X", self.in_features)
        rows = X.shape[0] if batch_size is None else min(batch_size, X.shape[0])
        return _engine.predict(self, X, rows)

    def predict_mc(self, X, n_samples: int = 30, seed=None, batch_size=None) -> tuple:
        """MC dropout (Gal & Ghahramani 2016): the mean and standard deviation of
        ``n_samples`` stochastic predictions with dropout on.

        Each pass is an inference pass, BatchNorm normalizing with its running statistics,
        in which every Dropout / AlphaDropout layer draws a fresh mask (RReLU keeps its
        inference slope). Nothing in the model changes: running statistics, weights and the
        random stream that training masks come from are untouched, so training afterwards
        draws the masks it would have drawn anyway.

        Parameters
        ----------
        X : array-like of shape (n, in_features)
            Inputs.
        n_samples : int, default 30
            Stochastic passes T (at least 1).
        seed : int, numpy.random.Generator or None, default None
            Keys the masks: the same seed gives the same result, whatever ``batch_size``
            (each element's mask depends on its row in ``X``, not on the chunk). None draws
            the key from the global generator (:func:`fastnet.manual_seed`).
        batch_size : int or None, default None
            Rows per chunk, as in :meth:`predict`.

        Returns
        -------
        mean, std : numpy.ndarray of shape (n, out_features), float32
            Per output element, the mean over the passes and the standard deviation (ddof 0,
            as ``numpy.std``; zero for ``n_samples=1``), accumulated in float64.

        Raises
        ------
        TypeError
            ``n_samples`` or ``batch_size`` not an int, ``seed`` of another type.
        ValueError
            ``n_samples`` or ``batch_size`` below 1, ``X`` of the wrong shape or not finite.

        Examples
        --------
        >>> import numpy as np, fastnet as fn
        >>> model = fn.Sequential(fn.Dense(4, 8, activation="relu"), fn.Dropout(0.5),
        ...                       fn.Dense(8, 2), seed=0)
        >>> mean, std = model.predict_mc(np.ones((3, 4), np.float32), n_samples=20, seed=1)
        >>> mean.shape, std.shape
        ((3, 2), (3, 2))
        """
        n_samples = check_int(n_samples, "n_samples", 1)
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        key = int(_init.rng_from_seed(seed).integers(0, 2**63 - 1))
        X = as_batch(X, "X", self.in_features)
        rows = X.shape[0] if batch_size is None else min(batch_size, X.shape[0])
        return _engine.predict_mc(self, X, rows, n_samples, key)

    def to_inference(self, precision: str = "fp32"):
        """A frozen inference copy of this model (:class:`fastnet.InferenceModel`).

        Parameters
        ----------
        precision : {"fp32", "bf16"}
            ``"bf16"``: every Dense weight stored as bfloat16 (round to nearest even), its
            inputs rounded the same way, products summed in float32 (AVX512_BF16
            ``vdpbf16ps`` where the CPU has it, an exact fallback elsewhere): half the
            weight bytes, the lever at batch 1. Dense layers inside a Residual stay float32.

        Returns
        -------
        fastnet.InferenceModel
            A copy: training this model afterwards does not change it.
        """
        from ..inference import InferenceModel

        return InferenceModel(self, precision)

    def fit(
        self,
        X,
        y,
        *,
        loss,
        optimizer,
        epochs=1,
        batch_size=32,
        schedule=None,
        schedule_interval="step",
        validation_data=None,
        validation_split=0.0,
        shuffle=True,
        metrics=None,
        callbacks=(),
        verbose="auto",
        seed=None,
        initial_epoch=0,
        sample_weight=None,
        class_weight=None,
        distributed=False,
        shard="split",
        sync_batchnorm=True,
    ):
        """Train the model; the epochs run in C++ with the GIL released.

        Parameters
        ----------
        X : array_like, shape (n, in_features)
            Training inputs (converted to float32; NaN or Inf is a ValueError).
        y : array_like
            Targets: integer class labels (n,) for the sparse losses, else an array of the
            output's shape ((n,) is accepted for one output).
        loss : str, loss object or callable
            The loss, by name (e.g. ``"sparse_categorical_crossentropy"``, ``"mse"``), a
            configured object from ``fastnet.losses``, or a custom callable
            ``(y_true, y_pred) -> (value, grad wrt y_pred)`` (run in a Python step loop).
            The cross-entropies' from_logits follows the last layer: softmax/sigmoid
            outputs are probabilities, any other output logits.
        optimizer : fastnet.optim.Optimizer
            An optimizer built on this model's parameters.
        epochs : int, default 1
            Train epochs ``initial_epoch .. epochs - 1``.
        batch_size : int, default 32
            Rows per step; a batch larger than the data is one batch of all rows. The last,
            shorter batch of an epoch is kept.
        schedule : callable or None, default None
            ``step -> lr`` (see fastnet.schedules), applied per ``schedule_interval``; a
            schedule whose ``momentum(step)`` gives a value (OneCycle's cycle_momentum) also sets
            the optimizer's momentum / β1 then (fit then returns to Python every step).
        schedule_interval : {"step", "epoch"}, default "step"
            Call ``schedule`` with the optimizer's step count before every step, or with the
            epoch index before every epoch.
        validation_data : tuple (X_val, y_val[, sample_weight_val]) or None, default None
            Evaluated after every epoch (``val_loss``, ``val_accuracy``, ...).
        validation_split : float in [0, 1), default 0.0
            Hold out this last fraction of the rows (before shuffling) as validation data.
            Give ``validation_data`` or ``validation_split``, not both.
        shuffle : bool, default True
            Shuffle the rows every epoch.
        metrics : str, callable, sequence of them, or None, default None
            ``"accuracy"`` (argmax for several classes; for binary cross-entropy per label,
            threshold 0.5 on probabilities / 0 on logits), ``"mae"``, ``"mse"``, ``"rmse"``,
            ``"r2"``, or callables ``(y_true, y_pred) -> float`` (logged under their
            ``__name__``). None: accuracy for classification losses. Metrics other than
            accuracy are computed from predictions at each epoch's end.
        callbacks : sequence of fastnet.callbacks.Callback, default ()
            Called at train, epoch and (when they ask) batch boundaries; they reach the run
            as ``self.context`` (a TrainingContext) and may set
            ``self.model.stop_training = True``.
        verbose : {0, 1, 2, "auto"}, default "auto"
            0 silent, 1 a progress bar (tqdm), 2 one line per epoch; "auto": 1 on a
            terminal, else 2.
        seed : int, numpy Generator or None, default None
            Seed of the shuffle generator (None: drawn from the global generator).
        initial_epoch : int, default 0
            First epoch to run; with ``initial_epoch > 0`` the shuffle generator of the last
            fit (or of ``fn.load_checkpoint``) is continued and ``seed`` is unused.
        sample_weight : array_like, shape (n,), or None, default None
            Non-negative weight of each row in the loss: each batch's loss is
            ``sum w l / sum w`` (torch's weighted mean), computed in C++.
        class_weight : dict or "balanced" or None, default None
            Weight per class index (multiplies ``sample_weight``); "balanced" is sklearn's
            ``n / (n_classes * count)``.
        distributed : bool, default False
            Data-parallel training over MPI under ``mpirun -n N`` (see fastnet.distributed):
            every rank computes the gradient of its part of each global batch of
            ``N * batch_size`` rows and one all-reduce averages it before the optimizer step;
            rank 0's weights are broadcast first, rank 0 prints and writes files.
        shard : {"split", "given"}, default "split"
            ``"split"``: every rank passes the same rows and takes every N-th row of each
            epoch's shuffled order (padded to a multiple of N, as torch's
            DistributedSampler). ``"given"``: every rank passes its own rows; all ranks take
            as many steps per epoch as the rank with the fewest batches.
        sync_batchnorm : bool, default True
            With ``distributed``: BatchNorm statistics of the global batch (one small
            all-reduce per BatchNorm layer in forward and in backward).

        Returns
        -------
        History
            Per-epoch records: ``history.history["loss"]``, ``"accuracy"``, ``"val_loss"``,
            ``"val_accuracy"``, ``"lr"``, ``"grad_norm"``; also kept as ``model.history``.

        Raises
        ------
        TypeError
            An argument of the wrong type (the message names it).
        ValueError
            A bad value or shape (the message names the argument).
        FloatingPointError
            A non-finite gradient norm with ``on_nonfinite="raise"`` on the optimizer.
        """
        from ..training import fit as _fit

        return _fit(
            self,
            X,
            y,
            loss=loss,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            schedule=schedule,
            schedule_interval=schedule_interval,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=shuffle,
            metrics=metrics,
            callbacks=callbacks,
            verbose=verbose,
            seed=seed,
            initial_epoch=initial_epoch,
            sample_weight=sample_weight,
            class_weight=class_weight,
            distributed=distributed,
            shard=shard,
            sync_batchnorm=sync_batchnorm,
        )

    def evaluate(
        self, X, y, loss, metrics=None, batch_size=256, sample_weight=None, class_weight=None
    ) -> dict:
        """Mean loss (and accuracy for classification, or the ``metrics`` asked for) in
        inference mode; ``sample_weight`` / ``class_weight`` weight the loss as in ``fit``."""
        from ..training import evaluate as _evaluate

        return _evaluate(
            self,
            X,
            y,
            loss,
            metrics=metrics,
            batch_size=batch_size,
            sample_weight=sample_weight,
            class_weight=class_weight,
        )

    def train_step(
        self, X, y, loss, optimizer, schedule=None, distributed=False, sync_batchnorm=True
    ) -> float:
        """Forward, loss, backward and optimizer update in one C++ call (GIL released).

        With a ``schedule`` (a ``step -> lr`` callable, see fastnet.schedules) the optimizer's
        lr is set to ``schedule(optimizer.steps)`` before the step, and its momentum / β1 to
        ``schedule.momentum(optimizer.steps)`` when the schedule cycles it (OneCycle). Returns the mean loss of the
        batch; ``optimizer.last_grad_norm`` holds the gradient norm.

        With ``distributed=True`` (under ``mpirun``; every rank calls it with its own batch)
        the gradient is averaged over the ranks before the update, and BatchNorm statistics
        are those of all ranks' rows (``sync_batchnorm``); a model's first distributed step
        starts from rank 0's weights. The returned loss is this rank's.
        """
        if distributed is not False:
            from ..training import distributed_train_step

            return distributed_train_step(
                self, X, y, loss, optimizer, schedule, distributed, sync_batchnorm
            )
        return self._checked_step(X, y, loss, optimizer, schedule)

    def _checked_step(self, X, y, loss, optimizer, schedule, collective=None) -> float:
        """train_step's checks, the schedule's lr and momentum, then the C++ step (with the
        data-parallel ``collective`` of a distributed step, or none)."""
        _optimizer_check()(self, optimizer)
        spec = _loss_spec(loss, self)
        X = as_batch(X, "X", self.in_features)
        self._check_training_batch(X.shape[0])
        if spec.custom is not None:
            raise ValueError(
                f"loss {loss!r} is not a fastnet loss: train_step runs the C++ step; a custom "
                "loss (y_true, y_pred) -> (value, grad) is for fit and evaluate"
            )
        target, labels = spec.prepare_target(y, X.shape[0], self.out_features)
        if schedule is not None:
            if not callable(schedule):
                raise TypeError(
                    f"schedule must be a callable step -> lr, got {type(schedule).__name__}"
                )
            optimizer.lr = schedule(optimizer.steps)
            from ..training import apply_momentum

            apply_momentum(schedule, optimizer, optimizer.steps)
        value, _ = _engine.train_step(
            self, X, target, labels, spec, optimizer, collective=collective
        )
        return value

    def evaluate_loss(self, X, y, loss) -> float:
        """The mean loss over ``X`` in inference mode (no parameter changes).

        Parameters
        ----------
        X : array_like, shape (batch, in_features)
        y : array_like
            Targets in the form ``loss`` takes (integer labels for
            ``sparse_categorical_crossentropy``, else an array of the output's shape).
        loss : str
            A name from ``fastnet.losses.LOSSES`` (or an alias ``fastnet.losses.get`` accepts).

        Returns
        -------
        float
        """
        spec = _loss_spec(loss, self)
        if spec.custom is not None:
            raise ValueError(f"loss {loss!r} is not a fastnet loss: use evaluate for a custom loss")
        X = as_batch(X, "X", self.in_features)
        target, labels = spec.prepare_target(y, X.shape[0], self.out_features)
        return _engine.eval_loss(self, X, target, labels, spec)
