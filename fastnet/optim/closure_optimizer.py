"""ClosureOptimizer: the base of the full-batch methods that re-evaluate the loss themselves
(LBFGS, ConjugateGradient, NewtonCG), as torch.optim.LBFGS's ``step(closure)``.

They run in Python over the flat parameter vector (``_flat.FlatParams``: the model's arena)
with NumPy float32 arithmetic; the closure does the C++ forward and backward. They are not
fused-step optimizers: ``fit`` and ``train_step`` take those (fastnet.optim.Optimizer).
"""

from __future__ import annotations

import abc
import copy
import math
import numbers

import numpy as np

from .._validate import check_float, check_int
from ..nn.parameter import Parameter
from ._flat import FlatParams
from .line_search import strong_wolfe


def check_line_search(value):
    """``line_search_fn``: None or "strong_wolfe" (torch.optim.LBFGS's choices)."""
    if value is not None and not isinstance(value, str):
        raise TypeError(
            f"line_search_fn must be None or 'strong_wolfe', got {type(value).__name__}"
        )
    if value not in (None, "strong_wolfe"):
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {value!r}")
    return value


def check_tolerance(value, name: str) -> float:
    return check_float(value, name, low=0.0)


class ClosureOptimizer(abc.ABC):
    """Base class of the optimizers stepped with a closure (:class:`LBFGS`,
    :class:`ConjugateGradient`, :class:`NewtonCG`).

    ``step(closure)`` runs up to ``max_iter`` iterations, calling ``closure()`` whenever it
    needs the loss and gradient at the current parameters; the closure computes the loss of
    the model on the full batch, writes the gradients (``model.backward``) and returns the loss
    (:func:`fastnet.optim.loss_closure` makes one). There is one parameter group, as for
    torch.optim.LBFGS; its hyper-parameters may be changed between steps through
    ``param_groups[0]`` and are checked again at every step.

    Parameters
    ----------
    params : iterable
        Parameters of one model (``model.parameters()``), or a list with one group dict.
    defaults : dict
        The hyper-parameters (checked by the subclass).

    Attributes
    ----------
    param_groups : list of dict
        One group: ``params`` and the hyper-parameters.
    state : dict
        The method's state between steps (``func_evals``, ``n_iter``, directions, ...).
    """

    # State entries by kind: "vector" (a flat float32 array), "vectors" (a list of them),
    # "scalar" (a number) or "count" (an int); None is allowed for all but counts.
    _STATE_SCHEMA: dict = {}

    def __init__(self, params, defaults: dict):
        params = self._params_of(params)
        models = {id(p._owner): p._owner for p in params}
        if len(models) != 1:
            raise ValueError("all parameters of an optimizer must belong to one model")
        self._model = next(iter(models.values()))
        self.defaults = self._check_hparams(dict(defaults))
        self.param_groups = [{"params": params, **self.defaults}]
        self._flat = FlatParams(self._model, params)
        self.state: dict = {"func_evals": 0, "n_iter": 0}

    # ----- construction -----
    def _params_of(self, params) -> list:
        name = type(self).__name__
        if isinstance(params, Parameter):
            params = [params]
        try:
            params = list(params)
        except TypeError:
            raise TypeError(
                "params must be an iterable of Parameters (e.g. model.parameters()) or a list "
                "with one parameter-group dict"
            ) from None
        if params and isinstance(params[0], dict):
            if len(params) != 1:
                raise ValueError(f"{name} doesn't support per-parameter options (parameter groups)")
            group = params[0]
            extra = set(group) - {"params"}
            if "params" not in group or extra:
                raise ValueError(
                    f"{name}'s parameter group takes only 'params' (hyper-parameters are "
                    f"arguments), got {', '.join(sorted(map(str, group)))}"
                )
            params = group["params"]
            params = [params] if isinstance(params, Parameter) else list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        seen = set()
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"expected fastnet Parameters, got {type(p).__name__}")
            if p.is_buffer:
                raise ValueError(f"{p.name} is a buffer (updated by its layer), not a parameter")
            if id(p) in seen:
                raise ValueError(f"parameter {p.name} appears twice")
            seen.add(id(p))
        return params

    @abc.abstractmethod
    def _check_hparams(self, values: dict) -> dict:
        """The checked hyper-parameters (subclasses check their own)."""

    def _hparams(self) -> dict:
        """The group's hyper-parameters, checked again (they may have been edited)."""
        group = self.param_groups[0]
        return self._check_hparams({k: v for k, v in group.items() if k != "params"})

    @property
    def lr(self) -> float:
        """The learning rate (the first trial step; settable)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        self.param_groups[0]["lr"] = check_float(value, "lr", low=0.0)

    def zero_grad(self) -> None:
        """Zero the gradients (the closure's backward overwrites them anyway)."""
        for p in self.param_groups[0]["params"]:
            p.grad[...] = 0.0

    # ----- evaluations -----
    def _evaluate(self, closure):
        """(loss as a float, flat gradient) at the current parameters."""
        value = closure()
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(()).item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"closure must return the loss as a real number, got {type(value).__name__}"
            )
        value = float(value)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"{type(self).__name__}: the closure returned a non-finite loss ({value}); "
                "the parameters are left at the last point with a finite loss"
            )
        g = self._flat.grad()
        if not np.isfinite(g).all():
            raise FloatingPointError(
                f"{type(self).__name__}: the gradient after the closure is not finite; "
                "the parameters are left at the last point with a finite loss"
            )
        return value, g

    def _evaluate_at(self, closure, x, t, d):
        """(loss, gradient) at ``x + t d``; the parameters are ``x`` again afterwards, also
        when the closure raises."""
        self._flat.set_step(x, t, d)
        try:
            return self._evaluate(closure)
        finally:
            self._flat.set(x)

    def _line_search(self, closure, x, t, d, loss, g, gtd, *, c2=0.9, tolerance_change, max_ls):
        """The strong Wolfe search along ``d`` from ``x`` (fastnet/optim/line_search.py):
        ``(loss, gradient, t, evaluations)``; the parameters are ``x`` afterwards."""

        def evaluate(step):
            return self._evaluate_at(closure, x, step, d)

        return strong_wolfe(
            evaluate, t, d, loss, g, gtd, c2=c2, tolerance_change=tolerance_change, max_ls=max_ls
        )

    @staticmethod
    def _check_closure(closure) -> None:
        if not callable(closure):
            raise TypeError(
                f"step needs a closure (a callable returning the loss), got {type(closure).__name__}"
            )

    def step(self, closure):
        """Run up to ``max_iter`` iterations; returns the loss before them.

        Parameters
        ----------
        closure : callable
            ``closure() -> float``: the loss at the current parameters, with the gradients
            written into the model (``model.backward``); see
            :func:`fastnet.optim.loss_closure`.

        Returns
        -------
        float
            The loss the first call of the closure returned (torch's ``orig_loss``).

        Raises
        ------
        TypeError
            If ``closure`` is not callable or returns something other than a number.
        FloatingPointError
            If the closure returns a non-finite loss or leaves a non-finite gradient (the
            parameters stay at the last point whose loss was finite).
        """
        self._check_closure(closure)
        return self._step(closure, self._hparams())

    @abc.abstractmethod
    def _step(self, closure, hp: dict):
        """One ``step(closure)`` with the checked hyper-parameters ``hp``; returns the first loss."""

    # ----- state -----
    def state_dict(self) -> dict:
        """A copy of the hyper-parameters and the state, for :meth:`load_state_dict`."""
        return {
            "kind": type(self).__name__,
            "size": self._flat.size,
            "hparams": self._hparams(),
            "state": copy.deepcopy(self.state),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of the same method over parameters of the same layout;
        everything is checked before anything is written.

        Raises
        ------
        ValueError
            If ``state`` is not from this method or these parameters, or holds a bad value.
        TypeError
            If a hyper-parameter has the wrong type.
        """
        name = type(self).__name__
        if not isinstance(state, dict) or state.get("kind") != name:
            raise ValueError(f"state_dict is not from a {name} optimizer")
        if state.get("size") != self._flat.size:
            raise ValueError("state_dict does not match this optimizer's parameters")
        hparams = state.get("hparams")
        if not isinstance(hparams, dict) or set(hparams) != set(self.defaults):
            raise ValueError(f"state_dict['hparams'] must hold {', '.join(self.defaults)}")
        hparams = self._check_hparams(dict(hparams))
        saved = state.get("state")
        if not isinstance(saved, dict):
            raise ValueError("state_dict['state'] must be a dict")
        checked = {}
        for key, value in saved.items():
            kind = self._STATE_SCHEMA.get(key)
            if kind is None:
                raise ValueError(f"state_dict['state'] has an unknown entry {key!r}")
            checked[key] = self._check_state_value(key, kind, value, hparams)
        for key in ("func_evals", "n_iter"):
            if key not in checked:
                raise ValueError(f"state_dict['state'] lacks {key!r}")
        self.param_groups[0].update(hparams)
        self.state = checked

    def _check_state_value(self, key, kind, value, hparams):
        where = f"state_dict['state'][{key!r}]"
        if kind == "count":
            return check_int(value, where, 0)
        if value is None:
            return None
        if kind == "scalar":
            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.reshape(())[()]
            if isinstance(value, np.floating):
                value = np.float32(check_float(float(value), where))
                return value
            return check_float(value, where)
        if kind == "vector":
            return self._check_vector(value, where)
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list of arrays")
        if len(value) > hparams.get("history_size", len(value)):
            raise ValueError(f"{where} holds more entries than history_size")
        if kind == "scalars":
            return [self._check_state_value(key, "scalar", v, hparams) for v in value]
        return [self._check_vector(v, f"{where}[{i}]") for i, v in enumerate(value)]

    def _check_vector(self, value, where):
        try:
            arr = np.array(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be a float array") from None
        if arr.shape != (self._flat.size,):
            raise ValueError(f"{where} must have shape ({self._flat.size},), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{where} contains NaN or Inf")
        return arr

    # ----- pickle and copy -----
    # Pickled as (class, model, parameter names, hyper-parameters) and the state_dict, as
    # fastnet.optim.Optimizer: pickling the model and the optimizer together keeps one model;
    # copy.deepcopy copies the model too; copy.copy gives a second optimizer over the same model.
    def __reduce__(self):
        names = [p.name for p in self.param_groups[0]["params"]]
        return (
            _restore_closure_optimizer,
            (type(self), self._model, names, self._hparams()),
            self.state_dict(),
        )

    def __setstate__(self, state) -> None:
        self.load_state_dict(state)

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self._hparams().items())
        return f"{type(self).__name__}({hp})"


def _restore_closure_optimizer(cls, model, names, hparams) -> ClosureOptimizer:
    """Rebuild a pickled closure optimizer over ``model`` (its state follows via
    __setstate__)."""
    from ..nn.sequential import Sequential

    if not (
        isinstance(cls, type)
        and issubclass(cls, ClosureOptimizer)
        and isinstance(model, Sequential)
    ):
        raise TypeError("not a pickled fastnet optimizer")
    by_name = {p.name: p for layer in model.layers for p in layer._params.values()}
    try:
        params = [by_name[name] for name in names]
    except KeyError as e:
        raise ValueError(f"pickled optimizer: the model has no parameter {e}") from None
    return cls(params, **hparams)
