"""Optimizer base: parameter groups, clipping options and the bridge to the fused C++ step.

Every optimizer follows torch.optim's update formulas, names and defaults (Adam/AdamW's beta2
excepted: 0.99, tests/test_recipes.py). The C++ side does one reduction for the gradient norms
and one fused pass over (param, grad, state) per step, with the clip scale folded into that
pass (csrc/optim/).
"""

from __future__ import annotations

import abc
import contextlib
import copy
from collections.abc import MutableMapping

import numpy as np

from .. import _engine
from .._validate import check_float, check_int
from ..nn.parameter import Parameter

# The C++ ClipMode codes (csrc/optim/optimizer.h). clip_layer_norm clips each layer's whole
# gradient [W, b]; clip_tensor_norm each tensor apart (what clip_layer_norm did before 0.x).
_CLIP_MODES = {"clip_norm": 1, "clip_tensor_norm": 2, "clip_value": 3, "clip_layer_norm": 4}
CLIP_KEYWORDS = ("clip_norm", "clip_layer_norm", "clip_tensor_norm", "clip_value")
# The C++ AverageMode codes.
_AVERAGE_MODES = {None: 0, "ema": 1, "polyak": 2}


def _slot_layout(p, layer_ids: dict) -> tuple:
    """(layer index, l1, max_norm, columns) of a parameter: tensors of one layer share the
    index (per-layer clipping); a Dense kernel carries its layer's L1 penalty and max-norm
    constraint (the bias never does, as Keras' kernel_regularizer / kernel_constraint)."""
    from ..nn.layers import Dense

    layer = p.layer
    index = layer_ids.setdefault(id(layer), len(layer_ids))
    if isinstance(layer, Dense) and layer._params.get("weight") is p:
        return index, float(layer.l1), float(layer.max_norm or 0.0), int(p.shape[-1])
    return index, 0.0, 0.0, 0


def check_betas(betas) -> tuple:
    """A pair (beta1, beta2), each in [0, 1), as torch.optim.Adam checks them."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(
        check_float(b, f"betas[{i}]", low=0.0, high=1.0, high_open=True)
        for i, b in enumerate(betas)
    )


class ParamGroup(MutableMapping):
    """One parameter group: ``params`` and its settings, as torch.optim's group dicts.

    "lr" and "weight_decay" are read from and written to the C++ optimizer's slots of the
    group's parameters (C++ owns them): ``opt.param_groups[0]["lr"] = x`` takes effect at the
    next step and is validated when set. Other keys (e.g. "params") are kept here. A group
    without parameters has no slot and keeps its settings here.
    """

    _SETTINGS = ("lr", "weight_decay")

    def __init__(self, optimizer, index: int, first_slot: int, entries: dict):
        self._optimizer = optimizer
        self._index = index
        self._slots = range(first_slot, first_slot + len(entries["params"]))
        self._entries = dict(entries)

    def __getitem__(self, key):
        if key in self._SETTINGS and self._slots:
            read = _engine.slot_lr if key == "lr" else _engine.slot_weight_decay
            return read(self._optimizer, self._slots[0])
        return self._entries[key]

    def __setitem__(self, key, value) -> None:
        if key not in self._SETTINGS:
            if key == "params":
                raise TypeError("a parameter group's params cannot be replaced")
            self._entries[key] = value
            return
        value = check_float(value, f"param_groups[{self._index}][{key!r}]", low=0.0)
        if self._slots:
            write = _engine.set_slot_lr if key == "lr" else _engine.set_slot_weight_decay
            for k in self._slots:
                write(self._optimizer, k, value)
        self._entries[key] = value  # read back only for a group without parameters

    def __delitem__(self, key) -> None:
        raise TypeError("keys of a parameter group cannot be deleted")

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return repr(dict(self))


class Optimizer(abc.ABC):
    """Base class; subclasses set ``kind``, ``_group_keys`` defaults and ``_hparams()``."""

    kind = ""

    def __init__(
        self,
        params,
        defaults: dict,
        *,
        clip_norm=None,
        clip_layer_norm=None,
        clip_tensor_norm=None,
        clip_value=None,
        on_nonfinite="skip",
        average=None,
        ema_decay=0.999,
    ):
        self.defaults = dict(defaults)
        self.param_groups = self._make_groups(params)
        models = {id(p._owner): p._owner for g in self.param_groups for p in g["params"]}
        if len(models) != 1:
            raise ValueError("all parameters of an optimizer must belong to one model")
        self._model = next(iter(models.values()))

        clips = {
            k: v
            for k, v in (
                ("clip_norm", clip_norm),
                ("clip_layer_norm", clip_layer_norm),
                ("clip_tensor_norm", clip_tensor_norm),
                ("clip_value", clip_value),
            )
            if v is not None
        }
        if len(clips) > 1:
            raise ValueError(
                f"use at most one of {', '.join(CLIP_KEYWORDS)}; got {', '.join(clips)}"
            )
        self.clip_mode, self.clip = None, None
        if clips:
            ((self.clip_mode, value),) = clips.items()
            self.clip = check_float(value, self.clip_mode, low=0.0, low_open=True)
        if on_nonfinite not in ("skip", "raise"):
            raise ValueError(f"on_nonfinite must be 'skip' or 'raise', got {on_nonfinite!r}")
        self.on_nonfinite = on_nonfinite
        self.last_grad_norm = None
        if average is not None and not isinstance(average, str):
            raise TypeError(
                f"average must be None, 'ema' or 'polyak', got {type(average).__name__}"
            )
        if average not in _AVERAGE_MODES:
            raise ValueError(f"average must be None, 'ema' or 'polyak', got {average!r}")
        self.average = average
        self.ema_decay = check_float(ema_decay, "ema_decay", low=0.0, high=1.0)

        self._base_lrs = [g["lr"] for g in self.param_groups]
        self._scheduled_hparams = {}  # set_hparam's values (the attributes keep the constructor's)
        self._make_core()

    def _make_core(self) -> None:
        """The fused C++ optimizer over the model's arena (fresh state: zero moments). From
        here on the groups' lr and weight_decay live in its slots."""
        groups = [{k: v for k, v in g.items()} for g in self.param_groups]
        layer_ids = {}
        slots = [
            (p._offset, p.size, g["lr"], g["weight_decay"], p._index, *_slot_layout(p, layer_ids))
            for g in groups
            for p in g["params"]
        ]
        _engine.build_optimizer_core(
            self,
            self._model,
            self.kind,
            self._hparam_dict(),
            slots,
            _CLIP_MODES.get(self.clip_mode, 0),
            float(self.clip or 0.0),
        )
        if getattr(self, "average", None) is not None:  # pickles from before averaging lack it
            _engine.set_average(self, _AVERAGE_MODES[self.average], self.ema_decay)
        self.param_groups, first = [], 0
        for gi, g in enumerate(groups):
            self.param_groups.append(ParamGroup(self, gi, first, g))
            first += len(g["params"])

    # ----- construction helpers -----
    def _check_group(self, group: dict) -> None:
        """Validate lr and weight_decay of a group (subclasses check their own defaults)."""
        group["lr"] = check_float(group["lr"], "lr", low=0.0)
        group["weight_decay"] = check_float(group.get("weight_decay", 0.0), "weight_decay", low=0.0)

    def _make_groups(self, params):
        if isinstance(params, Parameter):
            params = [params]
        try:
            params = list(params)
        except TypeError:
            raise TypeError(
                "params must be an iterable of Parameters or of parameter-group "
                "dicts (e.g. model.parameters())"
            ) from None
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        raw = params if isinstance(params[0], dict) else [{"params": params}]
        groups, seen = [], set()
        for gi, g in enumerate(raw):
            if not isinstance(g, dict) or "params" not in g:
                raise TypeError("parameter groups must be dicts with a 'params' entry")
            extra = set(g) - {"params", "lr", "weight_decay"}
            if extra:
                raise ValueError(
                    f"parameter group {gi}: only 'lr' and 'weight_decay' may differ "
                    f"between groups, got {', '.join(sorted(extra))}"
                )
            ps = g["params"]
            ps = [ps] if isinstance(ps, Parameter) else list(ps)
            for p in ps:
                if not isinstance(p, Parameter):
                    raise TypeError(f"expected fastnet Parameters, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError(f"parameter {p.name} appears in more than one group")
                seen.add(id(p))
            group = {
                "params": ps,
                "lr": g.get("lr", self.defaults["lr"]),
                "weight_decay": g.get("weight_decay", self.defaults.get("weight_decay", 0.0)),
            }
            self._check_group(group)
            groups.append(group)
        return groups

    def _hparam_dict(self) -> dict:
        """The update rule's hyper-parameters by name, as the C++ registry entry names them."""
        from .._registry import optimizer_entry

        names = [p["name"] for p in optimizer_entry(self.kind)["params"] if not p["per_group"]]
        return dict(zip(names, (float(h) for h in self._hparams())))

    @abc.abstractmethod
    def _hparams(self):
        """The positional hyper-parameters csrc/optim/factory.cpp expects for ``kind``."""

    # ----- learning rate -----
    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group (settable; see the setter)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        """Set the learning rate; with several groups, their ratios to the first are kept."""
        value = check_float(value, "lr", low=0.0)
        base0 = self._base_lrs[0]
        for g, base in zip(self.param_groups, self._base_lrs):
            g["lr"] = value if base0 == 0 else base * (value / base0)

    # ----- hyper-parameters a schedule changes (1cycle's momentum) -----
    def set_hparam(self, name, value) -> None:
        """Change one of the update rule's hyper-parameters before the next step, as torch's
        schedulers write ``param_groups[i]["momentum"]`` / ``["betas"]``: SGD's and RMSprop's
        ``momentum`` (when built with momentum > 0: its buffer exists), ``beta1`` / ``beta2``
        of Adam, AdamW and Nadam. :meth:`hparam` reads the value in use; the attributes
        (``opt.momentum``, ``opt.betas``) keep the constructor's, which ``load_state_dict``
        checks; ``state_dict`` saves the changed ones ("scheduled_hparams") and restores them.

        Parameters
        ----------
        name : str
            The hyper-parameter's registry name ("momentum", "beta1", "beta2").
        value : float
            Checked against the hyper-parameter's range.

        Raises
        ------
        TypeError
            If ``name`` is not a str or ``value`` not a number.
        ValueError
            If the rule has no such hyper-parameter, cannot change it after construction, or
            ``value`` is out of its range.
        """
        from .._registry import check_param, optimizer_entry

        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        specs = {p["name"]: p for p in optimizer_entry(self.kind)["params"] if not p["per_group"]}
        if name not in specs:
            raise ValueError(
                f"{type(self).__name__} has no hyper-parameter {name!r} "
                f"(it has {', '.join(specs) or 'none'})"
            )
        if _engine.scheduled_hparam(self, name) is None:
            raise ValueError(
                f"{type(self).__name__}'s {name} cannot change after construction"
                + (" (build it with momentum > 0: its buffer is sized then)" if name == "momentum"
                   else "")
            )  # fmt: skip
        value = float(check_param(specs[name], value))
        _engine.set_scheduled_hparam(self, name, value)
        self._scheduled_hparams[name] = value

    def set_momentum(self, value) -> None:
        """Set the momentum a schedule cycles (torch OneCycleLR's rule): ``momentum`` when the
        rule has one (SGD, RMSprop), else ``beta1`` (Adam, AdamW, Nadam).

        Parameters
        ----------
        value : float

        Raises
        ------
        ValueError
            If the rule has neither, cannot change it (SGD / RMSprop built with momentum 0),
            or ``value`` is out of range.
        """
        names = self._hparam_dict()
        name = "momentum" if "momentum" in names else "beta1" if "beta1" in names else None
        if name is None:
            raise ValueError(
                f"{type(self).__name__} has no momentum or beta1 to cycle; use a schedule "
                "with cycle_momentum=False"
            )
        self.set_hparam(name, value)

    def hparam(self, name) -> float:
        """The value in use of the update rule's hyper-parameter ``name`` (after
        :meth:`set_hparam`, the value set; otherwise the constructor's).

        Parameters
        ----------
        name : str

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If the rule has no such hyper-parameter.
        """
        hp = self._hparam_dict()
        if name not in hp:
            raise ValueError(f"{type(self).__name__} has no hyper-parameter {name!r}")
        return self._scheduled_hparams.get(name, hp[name])

    def _check_scheduled(self, scheduled) -> dict:
        """The "scheduled_hparams" of a state_dict, checked (names this rule can change,
        values in their ranges)."""
        from .._registry import check_param, optimizer_entry

        if not isinstance(scheduled, dict):
            raise ValueError("state_dict['scheduled_hparams'] must be a dict")
        specs = {p["name"]: p for p in optimizer_entry(self.kind)["params"] if not p["per_group"]}
        out = {}
        for name, value in scheduled.items():
            if name not in specs or _engine.scheduled_hparam(self, name) is None:
                raise ValueError(
                    f"state_dict['scheduled_hparams'] names {name!r}, which "
                    f"{type(self).__name__} cannot change"
                )
            out[name] = float(check_param(specs[name], value, f"state_dict {name}"))
        return out

    # ----- stepping -----
    def step(self) -> float:
        """Apply one update from the current gradients; returns the global gradient norm
        before clipping (non-finite: nothing applied, the step is counted as skipped)."""
        return _engine.optimizer_step(self)

    def step_reference(self) -> float:
        """The same step through the plain scalar reference loops (no SIMD, no threads): the
        twin of the fused kernels that tests compare against."""
        return _engine.optimizer_step(self, reference=True)

    def zero_grad(self) -> None:
        """Zero the gradients (backward overwrites them anyway; kept for PyTorch habits)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad[...] = 0.0

    @property
    def skipped_steps(self) -> int:
        """Steps whose gradient norm was not finite, so nothing was applied."""
        return _engine.skipped_steps(self)

    @property
    def steps(self) -> int:
        """Updates applied so far (what a schedule is evaluated at)."""
        return _engine.steps(self)

    # ----- model averaging -----
    def _check_average(self) -> None:
        if getattr(self, "average", None) is None:
            raise RuntimeError(
                f"this {type(self).__name__} keeps no average; build it with "
                "average='ema' or average='polyak'"
            )

    def averaged_weights(self) -> list:
        """Copies of the averaged parameters, one array per parameter of this optimizer (in
        ``param_groups`` order; ``model.parameters()`` order for an optimizer over the whole
        model). Before the first update they equal the weights at construction.

        Raises
        ------
        RuntimeError
            Without ``average``.
        """
        self._check_average()
        view = _engine.average_view(self)
        if self.average_swapped:  # the average sits in the model, the raw weights here
            return [p.data.copy() for g in self.param_groups for p in g["params"]]
        return [
            view[p._offset : p._offset + p.size].reshape(p.shape).copy()
            for g in self.param_groups
            for p in g["params"]
        ]

    @property
    def average_swapped(self) -> bool:
        """True while the average is in the model (inside :meth:`averaged`, or after an odd
        number of :meth:`swap_average` calls); stepping then raises RuntimeError."""
        return getattr(self, "average", None) is not None and _engine.average_swapped(self)

    def swap_average(self) -> None:
        """Exchange the model's parameters with the average, in place: the model then holds
        the averaged weights and the optimizer the raw ones; a second call swaps them back
        exactly. fit does not swap at its end (Keras' ``use_ema`` overwrites by default):
        call this once after training to keep the average, or use :meth:`averaged`.

        Raises
        ------
        RuntimeError
            Without ``average``.
        """
        self._check_average()
        _engine.swap_average(self)

    @contextlib.contextmanager
    def averaged(self):
        """Context manager: the model holds the averaged weights inside the block, its own
        weights again after it (also on an exception), e.g.
        ``with opt.averaged(): model.evaluate(X, y, ...)`` or ``fn.save(model, path)``.
        BatchNorm's running statistics are the model's own (not averaged, as torch's
        ``AveragedModel(use_buffers=False)`` keeps them in sync with the model).

        Raises
        ------
        RuntimeError
            Without ``average``, or when the average is already swapped in.
        """
        self._check_average()
        if self.average_swapped:
            raise RuntimeError("the average is already swapped into the model")
        _engine.swap_average(self)
        try:
            yield self
        finally:
            _engine.swap_average(self)

    # ----- state -----
    def state_dict(self) -> dict:
        """A copy (not live views) of everything needed to resume (the parameter average and
        its count included when ``average`` is set).

        Raises
        ------
        RuntimeError
            While the average is swapped into the model.
        """
        if self.average_swapped:
            raise RuntimeError(
                "state_dict() while the average is swapped into the model: swap it back first"
            )
        counts = _engine.step_counts(self)
        average = None
        if getattr(self, "average", None) is not None:
            average = {
                "mode": self.average,
                "ema_decay": self.ema_decay,
                "steps": _engine.averaged_steps(self),
                "values": _engine.average_view(self).copy(),
            }
        return {
            "average": average,
            "kind": self.kind,
            "hparams": [float(h) for h in self._hparams()],
            "param_groups": [
                {
                    "lr": g["lr"],
                    "weight_decay": g["weight_decay"],
                    "sizes": [p.size for p in g["params"]],
                }
                for g in self.param_groups
            ],
            "base_lrs": list(self._base_lrs),
            "steps": counts["steps"],
            "skipped_steps": counts["skipped_steps"],
            "slot_steps": counts["slot_steps"],
            "slot_state": counts["slot_state"],
            "state": [v.copy() for v in _engine.state_views(self)],
            "scheduled_hparams": dict(self._scheduled_hparams),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict() of an optimizer of the same kind over the same parameters;
        everything is validated before anything is written."""
        self._apply_state(self._check_state(state))

    def _check_state(self, state) -> dict:
        """The validated values of a state_dict, ready for ``_apply_state``; writes nothing
        (fn.load_checkpoint checks a whole checkpoint before it changes anything)."""
        if not isinstance(state, dict) or state.get("kind") != self.kind:
            raise ValueError(f"state_dict is not from a {type(self).__name__} optimizer")
        groups = state.get("param_groups")
        if not isinstance(groups, (list, tuple)) or not all(isinstance(gr, dict) for gr in groups):
            raise ValueError("state_dict['param_groups'] must be a list of dicts")
        if [gr.get("sizes") for gr in groups] != [
            [p.size for p in g["params"]] for g in self.param_groups
        ]:
            raise ValueError("state_dict does not match this optimizer's parameters")
        # Every scalar is checked too: a NaN lr or a negative step count would be loaded silently.
        group_values = [
            (
                check_float(gr.get("lr"), f"state_dict param_groups[{gi}]['lr']", low=0.0),
                check_float(
                    gr.get("weight_decay"),
                    f"state_dict param_groups[{gi}]['weight_decay']",
                    low=0.0,
                ),
            )
            for gi, gr in enumerate(groups)
        ]
        saved = state.get("hparams")
        current = [float(h) for h in self._hparams()]
        if saved is not None:
            if isinstance(saved, (str, bytes)) or not isinstance(saved, (list, tuple)):
                raise ValueError(
                    f"state_dict['hparams'] must be a list of numbers, got {saved!r:.100}"
                )
            saved = [check_float(h, "state_dict hparams") for h in saved]
            if saved != current:
                # The fused C++ optimizer is built with its hyper-parameters (betas, momentum,
                # ...): resuming under different ones would silently not be the saved optimizer.
                raise ValueError(
                    f"state_dict was saved with hyper-parameters {list(saved)}, "
                    f"this {type(self).__name__} has {current}; build it with the "
                    "saved ones"
                )
        base_lrs = state.get("base_lrs", self._base_lrs)
        if not isinstance(base_lrs, (list, tuple)) or len(base_lrs) != len(self.param_groups):
            raise ValueError(
                f"state_dict['base_lrs'] must hold one lr per group ({len(self.param_groups)})"
            )
        base_lrs = [check_float(b, "state_dict base_lrs", low=0.0) for b in base_lrs]
        steps = check_int(state.get("steps"), "state_dict['steps']", 0, 2**63 - 1)
        skipped = check_int(state.get("skipped_steps"), "state_dict['skipped_steps']", 0, 2**63 - 1)
        buffers = state.get("state")
        if not isinstance(buffers, (list, tuple)):
            raise ValueError("state_dict['state'] must be a list of arrays")
        try:
            arrays = [np.asarray(a, dtype=np.float32) for a in buffers]
        except (TypeError, ValueError) as e:
            raise ValueError(f"state_dict['state'] must hold float arrays: {e}") from None
        views = _engine.state_views(self)
        if len(arrays) != len(views):
            raise ValueError("state_dict has a different number of state buffers")
        if any(a.shape != v.shape for a, v in zip(arrays, views)):
            raise ValueError("state_dict buffers do not match this model's arena")
        slot_steps, slot_state = state.get("slot_steps"), state.get("slot_state", [])
        if not isinstance(slot_steps, (list, tuple)) or not isinstance(slot_state, (list, tuple)):
            raise ValueError("state_dict['slot_steps'] and ['slot_state'] must be lists")
        slot_steps = [check_int(s, "state_dict slot_steps", 0, 2**63 - 1) for s in slot_steps]
        slot_state = [check_float(v, "state_dict slot_state") for v in slot_state]
        counts = _engine.step_counts(self)
        if len(slot_steps) != len(counts["slot_steps"]):
            raise ValueError("state_dict has a different number of parameter step counts")
        if len(slot_state) != len(counts["slot_state"]):
            raise ValueError("state_dict has a different per-parameter scalar state")
        average = self._check_average_state(state.get("average"))
        return {
            "average": average,
            "scheduled_hparams": self._check_scheduled(state.get("scheduled_hparams", {})),
            "arrays": arrays,
            "group_values": group_values,
            "base_lrs": base_lrs,
            "steps": steps,
            "skipped": skipped,
            "slot_steps": slot_steps,
            "slot_state": slot_state,
        }

    def _check_average_state(self, saved):
        """The validated (steps, values) of a state_dict's "average" entry, or None."""
        mode = getattr(self, "average", None)
        if saved is None:
            if mode is not None:
                raise ValueError(
                    f"state_dict has no parameter average; this optimizer keeps {mode!r}"
                )
            return None
        if not isinstance(saved, dict) or saved.get("mode") != mode:
            got = saved.get("mode") if isinstance(saved, dict) else saved
            raise ValueError(
                f"state_dict's average is {got!r:.50}, this optimizer's average={mode!r}"
            )
        decay = check_float(
            saved.get("ema_decay"), "state_dict average ema_decay", low=0.0, high=1.0
        )
        if decay != self.ema_decay:
            raise ValueError(
                f"state_dict was saved with ema_decay={decay}, this optimizer has {self.ema_decay}"
            )
        steps = check_int(saved.get("steps"), "state_dict average steps", 0, 2**63 - 1)
        try:
            values = np.asarray(saved.get("values"), dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f"state_dict average values must be a float array: {e}") from None
        if values.shape != _engine.average_view(self).shape:
            raise ValueError("state_dict average does not match this model's arena")
        return steps, values

    def _apply_state(self, checked: dict) -> None:
        """Write what ``_check_state`` validated (nothing here can fail on the values)."""
        if checked.get("average") is not None:
            steps, values = checked["average"]
            _engine.average_view(self)[...] = values
            _engine.set_averaged_steps(self, steps)
        for view, arr in zip(_engine.state_views(self), checked["arrays"]):
            view[...] = arr
        for name in self._scheduled_hparams:  # back to the constructor's
            _engine.set_scheduled_hparam(self, name, self._hparam_dict()[name])
        self._scheduled_hparams = {}
        for name, value in checked["scheduled_hparams"].items():
            _engine.set_scheduled_hparam(self, name, value)
            self._scheduled_hparams[name] = value
        for g, (lr, wd) in zip(self.param_groups, checked["group_values"]):
            g["lr"], g["weight_decay"] = lr, wd
        self._base_lrs = checked["base_lrs"]
        _engine.set_step_counts(
            self, checked["steps"], checked["skipped"], checked["slot_steps"], checked["slot_state"]
        )

    # ----- pickle and copy -----
    # An optimizer is pickled as (its class, its model, its parameters by name, its plain
    # attributes) and its state_dict. The model travels with it, so pickling the model and
    # its optimizer together (pickle.dumps((model, opt))) keeps one model, and the optimizer
    # steps that model's parameters after loading; copy.copy gives a second optimizer over
    # the same model with a copy of the state; copy.deepcopy copies the model too.
    _NOT_PICKLED = (_engine.NATIVE_ATTR, "_model", "param_groups")

    def _pickle_spec(self) -> dict:
        groups = [
            {
                **{k: v for k, v in g.items() if k != "params"},
                "params": [p.name for p in g["params"]],
            }
            for g in self.param_groups
        ]
        attrs = {k: v for k, v in self.__dict__.items() if k not in self._NOT_PICKLED}
        return {"groups": groups, "attrs": attrs}

    def __reduce__(self):
        return (
            _restore_optimizer,
            (type(self), self._model, self._pickle_spec()),
            self.state_dict(),
        )

    def __setstate__(self, state) -> None:
        self.load_state_dict(state)

    def __deepcopy__(self, memo):
        model = copy.deepcopy(self._model, memo)
        done = memo.get(id(self))
        if done is not None:  # copying the model copied this optimizer (model.optimizer)
            return done
        twin = _restore_optimizer(type(self), model, copy.deepcopy(self._pickle_spec(), memo))
        memo[id(self)] = twin
        twin.load_state_dict(self.state_dict())
        return twin

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, clip={self.clip_mode}={self.clip})"


def _restore_optimizer(cls, model, spec) -> Optimizer:
    """Rebuild a pickled optimizer over ``model`` (its state follows via __setstate__)."""
    from ..nn.sequential import Sequential

    if not (isinstance(cls, type) and issubclass(cls, Optimizer)) or not isinstance(
        model, Sequential
    ):
        raise TypeError("not a pickled fastnet optimizer")
    by_name = {}
    for layer in model.layers:
        for p in layer._params.values():  # a Residual's holds its children's Parameters
            by_name[p.name] = p
    opt = cls.__new__(cls)
    # copy.copy passes the original's attributes: lists and dicts get their own copies.
    opt.__dict__.update(
        {k: v.copy() if isinstance(v, (list, dict)) else v for k, v in spec["attrs"].items()}
    )
    groups = []
    for g in spec["groups"]:
        try:
            params = [by_name[name] for name in g["params"]]
        except KeyError as e:
            raise ValueError(f"pickled optimizer: the model has no parameter {e}") from None
        groups.append({**g, "params": params})
    opt.param_groups = groups
    opt.__dict__.setdefault("_scheduled_hparams", {})  # pickled before set_hparam existed
    opt._model = model
    opt._make_core()
    return opt


def check_optimizer_for(model, optimizer) -> Optimizer:
    """``optimizer`` must be a fastnet optimizer built on ``model``'s parameters."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnet optimizer, got {type(optimizer).__name__}")
    if optimizer._model is not model:
        raise ValueError("optimizer was built on the parameters of another model")
    return optimizer
