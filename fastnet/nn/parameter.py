"""fn.Parameter: a named tensor whose data and grad are zero-copy views into the model's arenas."""

from __future__ import annotations

import numpy as np

from .. import _engine
from .._validate import check_bool


class Parameter:
    """One parameter tensor of a built model.

    ``data`` and ``grad`` are writable NumPy views into the model's flat parameter and gradient
    arenas: writing ``p.data[...]`` changes the model's output. ``trainable=False`` makes the
    optimizers skip it. A buffer (``is_buffer``, e.g. BatchNorm's running statistics) is state
    the layer updates itself: never trainable, its gradient stays zero, and ``parameters()``
    leaves it out (``layer.buffers()`` lists it).

    Parameters are made by the model when it is built; users get them from
    ``model.parameters()``, ``model.named_parameters()`` or ``layer.parameters()``.

    Attributes
    ----------
    name : str
        The qualified name, e.g. ``"0.weight"`` (layer 0's weight) or ``"2.1.bias"`` inside a
        :class:`~fastnet.nn.Residual`.
    layer : Layer
        The layer that owns the tensor.
    is_buffer : bool
        True for state the layer updates itself (BatchNorm's running mean and variance).

    Examples
    --------
    >>> import fastnet as fn
    >>> model = fn.Sequential(fn.Dense(4, 3), seed=0)
    >>> W = model.parameters()[0]
    >>> W.name, W.shape
    ('0.weight', (4, 3))
    >>> W.data[...] = 0.0          # writes the model's weights in place
    """

    __slots__ = ("name", "_data", "_grad", "_offset", "_index", "_owner", "layer", "is_buffer")

    def __init__(
        self, name: str, data: np.ndarray, grad: np.ndarray, offset: int, index: int, owner, layer
    ):
        self.name = name
        self._data = data
        self._grad = grad
        self._offset = offset
        self._index = index  # position among the model's tensors (C++ Model::param_decls)
        self._owner = owner  # the Sequential whose arena holds this tensor
        self.layer = layer
        self.is_buffer = False

    # ``p.data = a`` / ``p.grad = a`` copy into the arena view: rebinding the attribute would
    # silently detach the Parameter from the model (its writes and reads would no longer be
    # the model's weights), so the view itself is never replaced.
    @property
    def data(self) -> np.ndarray:
        """The values: a writable float32 view into the model's parameter arena.

        Assigning (``p.data = a``) copies ``a`` into the view after checking it: a real numeric
        array of the same shape (TypeError, ValueError), finite after conversion to float32
        (ValueError). The view itself is never replaced, so it stays the model's weights.
        """
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._copy_into(self._data, value, "data", finite=True)

    @property
    def grad(self) -> np.ndarray:
        """The gradient: a writable float32 view into the model's gradient arena.

        ``model.backward`` overwrites it (no accumulation across calls); the optimizer reads it
        at ``step()``. Assigning copies into the view, with the type and shape checks of
        :attr:`data` (non-finite values are allowed: the optimizer skips such a step).
        """
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        self._copy_into(self._grad, value, "grad", finite=False)

    def _copy_into(self, view: np.ndarray, value, what: str, finite: bool) -> None:
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError(
                f"{self.name}.{what} must be a numeric array, got {type(value).__name__}"
            )
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{self.name}.{what} must be a real numeric array, got dtype {arr.dtype}"
            )
        if arr.shape != view.shape:
            raise ValueError(f"{self.name}.{what}: expected shape {view.shape}, got {arr.shape}")
        with np.errstate(over="ignore"):  # an overflow to inf is reported below
            arr = arr.astype(np.float32, copy=False)
        if finite and arr.size and not np.isfinite(arr).all():
            raise ValueError(
                f"{self.name}.{what} contains NaN or Inf (after conversion to float32)"
            )
        view[...] = arr

    # The flag lives in the C++ model (the optimizers read it at every step).
    @property
    def trainable(self) -> bool:
        """Whether optimizers update this tensor (default True).

        Set it to a bool (TypeError otherwise); a buffer cannot be made trainable
        (ValueError). ``layer.freeze()`` / ``unfreeze()`` set it for a whole layer.
        """
        return _engine.param_trainable(self._owner, self._index)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = check_bool(value, f"{self.name}.trainable")
        if value and self.is_buffer:
            raise ValueError(f"{self.name} is a buffer (updated by its layer), not trainable")
        _engine.set_param_trainable(self._owner, self._index, value)

    # Layer._bind sets the flag without the buffer check (it sets is_buffer just before).
    @property
    def _trainable(self) -> bool:
        return self.trainable

    @_trainable.setter
    def _trainable(self, value: bool) -> None:
        _engine.set_param_trainable(self._owner, self._index, bool(value))

    @property
    def shape(self):
        """The tensor's shape, e.g. ``(in, out)`` for a Dense weight."""
        return self.data.shape

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    def __repr__(self) -> str:
        flag = ", buffer" if self.is_buffer else ("" if self._trainable else ", frozen")
        return f"Parameter({self.name}, shape={self.data.shape}{flag})"
