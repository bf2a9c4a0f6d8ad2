"""Gradient-health diagnostics: one inspected step (:func:`inspect`) and a training-time
monitor of per-layer gradient norms (:class:`GradientMonitor`).

Default verdict rule (docs/architecture.md, "Tools"), on the layers that hold parameters; the
first rule that fires decides:

- **exploding** when any activation, gradient norm or the loss is not finite;
- from the per-layer gradient rate ρ = (‖g_first‖/‖g_last‖)^(1/depth) (depth: weight layers
  between them): **exploding** when ρ > 1.25 and **vanishing** when ρ < 0.8 = 1/1.25, each once
  the end-to-end ratio is beyond a factor 10 (over a few layers a factor 2-3 is the layers'
  shapes, not a trend);
- **vanishing** when more than 25% of the hidden sigmoid/tanh outputs are saturated (σ' below
  4% of its peak): seed 004's sigmoid net with N(0, 1) weights (37-45% saturated, ρ 0.55-0.9
  at width 64) at every depth;
- **exploding** / **vanishing** when a hidden output's std is above 1e3 × / below 1e-3 × the
  input's (activations growing layer after layer, as with a too large init: the gradients of
  every layer then grow together and their ratio stays near 1; or collapsing);
- **vanishing** when more than 50% of the hidden ReLU-family units are dead;
- **healthy** otherwise.

Measured in tests/test_diagnostics.py (digits, width 64, depths 5-50, 5 seeds): the sigmoid
N(0, 1) nets are all flagged; He/ReLU, Glorot/tanh, LeCun/SELU and He/ReLU+BatchNorm nets never.
Glorot & Bengio (AISTATS 2010) show the saturated-sigmoid failure; He et al. (ICCV 2015) the
variance argument behind the ratio test.
"""

from __future__ import annotations

import math

import numpy as np

from . import _engine
from ._loss_spec import for_model
from ._loss_spec import resolve as resolve_loss
from ._validate import as_batch, check_float, check_int
from .callbacks import Callback

# Outputs whose never-positive units are "dead" (no or almost no gradient flows through them).
RELU_FAMILY = ("relu", "leaky_relu", "prelu", "rrelu")
SATURATING = ("sigmoid", "tanh")
# Layers whose parameters (scale and shift) sit inside a weight layer's Dense→norm pair.
NORMALIZATION = ("batchnorm", "layernorm")
SIGMOID_BAND = (0.01, 0.99)  # sigmoid outputs outside it are saturated (σ' < 0.0099)
TANH_LIMIT = 0.99  # |tanh| above it is saturated (1 - tanh² < 0.0199)


def _layer_name(layer) -> str:
    act = layer.activation_name
    base = type(layer).__name__
    if layer.kind == "dense" and act:
        return f"{base}+{act}"
    return base


def _dead_fraction(act: np.ndarray) -> float:
    """Fraction of units (columns) never positive over the batch."""
    return float(np.mean(~(act > 0).any(axis=0)))


def _saturated_fraction(act: np.ndarray, kind: str) -> float:
    """Fraction of all elements in the flat regions of sigmoid/tanh."""
    if kind == "tanh":
        return float(np.mean(np.abs(act) > TANH_LIMIT))
    lo, hi = SIGMOID_BAND
    return float(np.mean((act < lo) | (act > hi)))


def _norm(a: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


class DiagnosticsReport:
    """What :func:`inspect` found.

    ``layers``: one dict per layer with index, name, kind, width, act_mean, act_std, dead_fraction
    (None unless ReLU-family), saturated_fraction (None unless sigmoid/tanh), params
    ({name: {"grad_norm", "weight_norm", "update_ratio"}}), grad_norm (None without
    parameters) and update_ratio (‖Δ‖/‖w‖ over all of the layer's tensors together; None
    without an optimizer).
    ``loss``: the batch loss; ``verdict`` in {"vanishing", "exploding", "healthy"};
    ``reason``: why.
    """

    def __init__(self, layers, loss, verdict, reason):
        self.layers = layers
        self.loss = loss
        self.verdict = verdict
        self.reason = reason

    def __str__(self) -> str:
        def fmt(v, spec=".3g"):
            if v is None:
                return "-"
            return format(v, spec)

        head = (
            "#",
            "layer",
            "width",
            "act mean",
            "act std",
            "dead",
            "saturated",
            "grad norm",
            "update/weight",
        )
        rows = [head]
        for r in self.layers:
            rows.append(
                (
                    str(r["index"]),
                    r["name"],
                    str(r["width"]),
                    fmt(r["act_mean"]),
                    fmt(r["act_std"]),
                    fmt(r["dead_fraction"], ".1%"),
                    fmt(r["saturated_fraction"], ".1%"),
                    fmt(r["grad_norm"], ".3e"),
                    fmt(r["update_ratio"], ".2e"),
                )
            )
        widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
        lines = [
            "  ".join(
                cell.rjust(w) if c != 1 else cell.ljust(w)
                for c, (cell, w) in enumerate(zip(row, widths))
            )
            for row in rows
        ]
        rule = "-" * len(lines[0])
        return "\n".join(
            [
                rule,
                lines[0],
                rule,
                *lines[1:],
                rule,
                f"loss {self.loss:.4g}; verdict: {self.verdict} ({self.reason})",
            ]
        )

    def __repr__(self) -> str:
        return f"DiagnosticsReport(verdict={self.verdict!r}, reason={self.reason!r})"

    def plot(self, path):
        """Gradient norms, activation statistics and dead/saturated fractions per layer."""
        from .plotting import plot_diagnostics

        return plot_diagnostics(self, path)


def _gradient_trend(rows):
    """(end-to-end ratio, per-layer rate, depth) of the gradient norms, or None.

    The ratio is the first parametrized layer's gradient norm over the last one's; the rate is
    ``ratio ** (1 / depth)``, the geometric factor per layer, so that nets of any depth are
    judged on the same scale (He et al. 2015 derive the per-layer factor; Glorot & Bengio 2010
    measure it). Depth counts the weight layers: a normalization layer's scale and shift sit
    inside a Dense→BatchNorm pair and add no depth.
    """
    with_params = [r for r in rows if r["grad_norm"] is not None]
    if len(with_params) < 2:
        return None
    g0, g1 = with_params[0]["grad_norm"], with_params[-1]["grad_norm"]
    depth = max(sum(1 for r in with_params if r["kind"] not in NORMALIZATION) - 1, 1)
    if g0 == 0.0 and g1 == 0.0:
        return 0.0, 0.0, depth
    ratio = math.inf if g1 == 0.0 else g0 / g1
    rate = 0.0 if ratio == 0.0 else math.exp(math.log(ratio) / depth)
    return ratio, rate, depth


def _unit_fraction(rows, key):
    """Width-weighted mean of ``key`` over the hidden layers that report it (the output layer
    is left out: a confident sigmoid/softmax output is expected to saturate)."""
    inactive = total = 0.0
    for r in rows[:-1]:
        if r[key] is not None:
            inactive += r[key] * r["width"]
            total += r["width"]
    return inactive / total if total else None


def _verdict(rows, loss, input_std, t):
    """(verdict, reason, signals) from the per-layer rows and the thresholds ``t``."""
    for r in rows:
        if not (math.isfinite(r["act_mean"]) and math.isfinite(r["act_std"])):
            return "exploding", f"layer {r['index']} ({r['name']}) has non-finite activations"
    for r in rows:
        if r["grad_norm"] is not None and not math.isfinite(r["grad_norm"]):
            return "exploding", f"layer {r['index']} ({r['name']}) has a non-finite gradient norm"
    if not math.isfinite(loss):
        return "exploding", f"the loss is not finite ({loss})"
    trend = _gradient_trend(rows)
    saturated = _unit_fraction(rows, "saturated_fraction")
    dead = _unit_fraction(rows, "dead_fraction")
    if trend is not None:
        ratio, rate, depth = trend
        if (
            ratio == 0.0
            and rate == 0.0
            and all(r["grad_norm"] == 0.0 for r in rows if r["grad_norm"] is not None)
        ):
            return "vanishing", "every gradient is zero"
        # A rate counts once the end-to-end change is material (min_change): over a few layers
        # a factor of 2-3 between the first and the last layer is their shapes, not a trend.
        if rate > t["exploding_rate"] and ratio > t["min_change"]:
            return "exploding", (
                f"gradient norm grows {rate:.3g}x per layer toward the input "
                f"(> {t['exploding_rate']:g}; first/last layer {ratio:.3g} over {depth} layers)"
            )
        if rate < t["vanishing_rate"] and ratio < 1.0 / t["min_change"]:
            return "vanishing", (
                f"gradient norm shrinks {rate:.3g}x per layer toward the input "
                f"(< {t['vanishing_rate']:g}; first/last layer {ratio:.3g} over {depth} layers)"
            )
    # Saturated sigmoid/tanh units pass < 4% of their peak derivative (SIGMOID_BAND,
    # TANH_LIMIT): their weights barely learn whatever the gradient norms say (with very large
    # weights, as N(0, 1) in wide layers, the norms can even grow toward the input while most
    # units are stuck; Glorot & Bengio 2010, Fig. 2-4).
    if saturated is not None and saturated > t["saturated_fraction"]:
        rate_text = "" if trend is None else f"; gradient norm x{trend[1]:.3g} per layer"
        return "vanishing", (
            f"{saturated:.0%} of hidden sigmoid/tanh outputs are saturated "
            f"(> {t['saturated_fraction']:.0%}){rate_text}"
        )
    if input_std > 0:
        for r in rows[:-1]:
            if r["act_std"] > t["activation_ratio"] * input_std:
                return "exploding", (
                    f"layer {r['index']} ({r['name']}) output std is "
                    f"{r['act_std'] / input_std:.3g} x the input's "
                    f"(> {t['activation_ratio']:g})"
                )
            if r["act_std"] < input_std / t["activation_ratio"]:
                return "vanishing", (
                    f"layer {r['index']} ({r['name']}) output std is "
                    f"{r['act_std'] / input_std:.3g} x the input's "
                    f"(< 1/{t['activation_ratio']:g}): the activations collapse"
                )
    if dead is not None and dead > t["dead_fraction"]:
        return "vanishing", (
            f"{dead:.0%} of hidden ReLU-family units are dead (> {t['dead_fraction']:.0%})"
        )
    parts = []
    if trend is not None:
        parts.append(f"gradient norm x{trend[1]:.3g} per layer (first/last {trend[0]:.3g})")
    if saturated is not None:
        parts.append(f"{saturated:.0%} of hidden sigmoid/tanh outputs saturated")
    if dead is not None:
        parts.append(f"{dead:.0%} of hidden ReLU units dead")
    return "healthy", ", ".join(parts) or "no gradient to judge"


def inspect(
    model,
    X,
    y,
    loss,
    optimizer=None,
    *,
    vanishing_rate=0.8,
    exploding_rate=1.25,
    min_change=10.0,
    saturated_fraction=0.25,
    dead_fraction=0.5,
    activation_ratio=1e3,
) -> DiagnosticsReport:
    """One training-mode forward and backward on (X, y), without changing the model.

    Reports per layer the output mean/std, dead-ReLU and saturation fractions and the
    gradient norms of its parameters. With ``optimizer``, each tensor's would-be update ratio
    ‖Δw‖/‖w‖ is measured by really taking one optimizer step from these gradients and undoing it
    (exact for every optimizer, momentum, Adam moments and clipping included; for plain SGD it
    equals lr·‖g‖/‖w‖). Weights, gradients, the optimizer's state and the model's random-stream
    counter are all restored, so a later step is unaffected.

    The verdict (first rule that fires, module docstring): *exploding* on anything non-finite;
    then the per-layer rate ρ = (first/last gradient norm)^(1/depth): *exploding* when
    ρ > ``exploding_rate`` and *vanishing* when ρ < ``vanishing_rate``, each once the end-to-end
    ratio has moved by more than ``min_change``; *vanishing* when more than
    ``saturated_fraction`` of the hidden sigmoid/tanh outputs are saturated; a
    hidden output std beyond ``activation_ratio`` × (or below 1/``activation_ratio`` ×) the
    input's; more than ``dead_fraction`` dead hidden ReLU units; *healthy* otherwise.

    Parameters
    ----------
    model : Sequential
    X : array_like, shape (n, features)
    y : array_like
        Targets in the form ``loss`` takes.
    loss : str or callable
        A fastnet loss (name or ``fn.losses`` function).
    optimizer : Optimizer, optional
        Measure each tensor's would-be update ratio with it.
    vanishing_rate : float, default 0.8
        Per-layer gradient factor below which the gradient vanishes (in (0, 1]): 0.8 loses
        an order of magnitude every 10 layers (1/0.8 = 1.25 is the exploding default).
    exploding_rate : float, default 1.25
        Per-layer gradient factor above which it explodes (>= 1). Above the
        sqrt(π/(π−1)) ≈ 1.21 growth that BatchNorm+ReLU nets show at initialization (Yang et
        al., ICLR 2019), which their normalization absorbs.
    min_change : float, default 10.0
        The first/last gradient-norm ratio must differ from 1 by more than this factor before
        a rate counts (>= 1).
    saturated_fraction : float, default 0.25
        The share of saturated hidden sigmoid/tanh outputs that is flagged (in [0, 1]).
    dead_fraction : float, default 0.5
        The share of dead hidden ReLU-family units that is flagged (in [0, 1]).
    activation_ratio : float, default 1e3
        A hidden output std this many times larger (or smaller) than the input's is flagged
        as exploding (or collapsing: vanishing) (>= 1).

    Returns
    -------
    DiagnosticsReport

    Raises
    ------
    TypeError
        If ``model`` is not a Sequential or ``optimizer`` not an optimizer.
    ValueError
        If a threshold is out of its range, ``loss`` is not a fastnet loss, or X / y are
        malformed.
    """
    from .nn.sequential import Sequential
    from .optim.base import check_optimizer_for

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    if optimizer is not None:
        check_optimizer_for(model, optimizer)
    thresholds = {
        "vanishing_rate": check_float(
            vanishing_rate, "vanishing_rate", low=0.0, high=1.0, low_open=True
        ),
        "exploding_rate": check_float(exploding_rate, "exploding_rate", low=1.0),
        "min_change": check_float(min_change, "min_change", low=1.0),
        "saturated_fraction": check_float(
            saturated_fraction, "saturated_fraction", low=0.0, high=1.0
        ),
        "dead_fraction": check_float(dead_fraction, "dead_fraction", low=0.0, high=1.0),
        "activation_ratio": check_float(activation_ratio, "activation_ratio", low=1.0),
    }
    spec = for_model(resolve_loss(loss), model)
    if spec.custom is not None:
        raise ValueError(f"loss {loss!r} is not a fastnet loss (a name or a fn.losses function)")
    X = as_batch(X, "X", model.in_features)
    target, labels = spec.prepare_target(y, X.shape[0], model.out_features)

    with model._preserved_state() as saved_params, np.errstate(all="ignore"):
        out = _engine.forward(model, X, True)
        activations = _layer_outputs(model)
        value, dout = _engine.loss_forward_backward(
            spec.name, out, target, labels, spec.delta, spec.from_logits, True
        )
        _engine.backward(model, np.ascontiguousarray(dout, dtype=np.float32), False)
        rows = []
        for i, (layer, act) in enumerate(zip(model.layers, activations)):
            kind = layer.activation_name
            row = {
                "index": i,
                "name": _layer_name(layer),
                "kind": layer.kind,
                "width": int(act.shape[1]),
                "act_mean": float(np.mean(act, dtype=np.float64)),
                "act_std": float(np.std(act, dtype=np.float64)),
                "dead_fraction": _dead_fraction(act) if kind in RELU_FAMILY else None,
                "saturated_fraction": (
                    _saturated_fraction(act, kind) if kind in SATURATING else None
                ),
                "params": {},
                "grad_norm": None,
                "update_ratio": None,
            }
            sq = 0.0
            for name, p in layer.named_parameters():
                gn = _norm(p.grad)
                row["params"][name] = {
                    "grad_norm": gn,
                    "weight_norm": _norm(p.data),
                    "update_ratio": None,
                }
                sq += gn * gn
            if row["params"]:
                row["grad_norm"] = math.sqrt(sq)
            rows.append(row)
        if optimizer is not None:
            _would_be_updates(model, optimizer, rows, saved_params)
    verdict, reason = _verdict(rows, float(value), float(np.std(X, dtype=np.float64)), thresholds)
    return DiagnosticsReport(rows, float(value), verdict, reason)


def _layer_outputs(model):
    """Each Python layer's output from the last forward. A ReLU fused into the BatchNorm
    before it (nn/_fusion.py) has no C++ layer of its own: both report the fused output."""
    outputs, last = [], None
    for core_index in model._core_index:
        if core_index is not None:
            last = _engine.activation(model, core_index)
        outputs.append(last)
    return outputs


def _would_be_updates(model, optimizer, rows, saved_params) -> None:
    """Take one real optimizer step from the current gradients, record ‖Δw‖/‖w‖ per tensor,
    then restore the optimizer (the caller restores the weights)."""
    state, last_grad_norm = optimizer.state_dict(), optimizer.last_grad_norm
    try:
        # A probe, not a training step: nothing is reported for a skipped step.
        gnorm = _engine.optimizer_step(optimizer, report=False)
        if not math.isfinite(gnorm):
            return  # skipped step: no update to measure
        for row, layer in zip(rows, model.layers):
            d_sq = w_sq = 0.0
            for name, p in layer.named_parameters():
                before = saved_params[p._offset : p._offset + p.size].reshape(p.shape)
                wn = row["params"][name]["weight_norm"]
                dn = _norm(p.data - before)
                # Undefined for an all-zero tensor (a fresh bias): None.
                row["params"][name]["update_ratio"] = dn / wn if wn > 0 else None
                d_sq += dn * dn
                w_sq += wn * wn
            if row["params"] and w_sq > 0:
                row["update_ratio"] = math.sqrt(d_sq / w_sq)
    finally:
        optimizer.load_state_dict(state)
        optimizer.last_grad_norm = last_grad_norm


class GradientMonitor(Callback):
    """Records per-layer gradient norms during ``fit`` every ``every`` steps.

    The norms come from the optimizer's own reduction of the step just taken (per-tensor Σg²
    in C++, ``fastnet._engine.last_sumsq``), so recording costs a Python call and a short
    list per record, no extra pass over the gradients. A record is taken when the within-epoch
    step count is a multiple of ``every`` (a shorter last chunk of an epoch is not recorded).

    After training: ``steps`` (global 0-based step index of each record), ``norms`` (records ×
    layers-with-parameters array; NaN for a layer whose parameters are all frozen),
    ``layer_names`` and ``layer_indices``; ``plot(path)`` draws them on a log axis.

    Parameters
    ----------
    every : int, default 10
        Steps between records (>= 1); fit returns to Python this often, so a larger value
        keeps more of the epoch in C++.

    Raises
    ------
    TypeError, ValueError
        If ``every`` is not an int >= 1.
    RuntimeError
        At the start of training, when used outside ``model.fit`` (no optimizer), or reused on
        a model with different layers.

    Examples
    --------
    >>> import fastnet as fn
    >>> X, y, _, _ = fn.datasets.load_digits()
    >>> model = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    >>> monitor = fn.diagnostics.GradientMonitor(every=5)
    >>> _ = model.fit(X, y, loss="sparse_categorical_crossentropy", verbose=0,
    ...               optimizer=fn.optim.Adam(model.parameters()), callbacks=[monitor])
    >>> monitor.norms.shape          # (records, layers with parameters)
    (8, 2)
    """

    def __init__(self, every: int = 10):
        super().__init__()
        self.every = check_int(every, "every", 1)
        self.batch_interval = self.every
        self.steps = []
        self._rows = []
        self.layer_names = []
        self.layer_indices = []
        self._groups = []

    @property
    def norms(self) -> np.ndarray:
        """The recorded L2 gradient norms, float64 (records, layers with parameters); NaN
        where a layer's parameters are all frozen."""
        if not self._rows:
            return np.zeros((0, len(self.layer_names)))
        return np.asarray(self._rows, dtype=np.float64)

    def on_train_begin(self, logs=None):
        """Find the optimizer fit trains with and group its tensors by layer."""
        optimizer = self._fit_optimizer()
        if optimizer is None:
            raise RuntimeError(
                "GradientMonitor needs the optimizer that fit uses "
                "(model.optimizer); use it as a callback of model.fit"
            )
        self._optimizer = optimizer
        slots = [p for g in optimizer.param_groups for p in g["params"]]
        layer_pos = {id(layer): i for i, layer in enumerate(self.model.layers)}
        by_layer = {}
        for k, p in enumerate(slots):
            by_layer.setdefault(layer_pos[id(p.layer)], []).append(k)
        order = sorted(by_layer)
        names = [f"{i}:{_layer_name(self.model.layers[i])}" for i in order]
        if self._rows and names != self.layer_names:
            raise RuntimeError("GradientMonitor reused on a model with different layers")
        self.layer_indices = order
        self.layer_names = names
        self._groups = [by_layer[i] for i in order]
        self._slots = slots

    def on_batch_end(self, step, logs=None):
        """Record the per-layer norms of the step just taken, on multiples of ``every``."""
        batch = (logs or {}).get("batch", step + 1)
        if batch % self.every:
            return
        sumsq = _engine.last_sumsq(self._optimizer)
        row = []
        for group in self._groups:
            if not any(self._slots[k].trainable for k in group):
                row.append(math.nan)
            else:
                row.append(math.sqrt(sum(sumsq[k] for k in group)))
        self.steps.append(int(step))
        self._rows.append(row)

    def plot(self, path):
        """Per-layer gradient norm against the training step (log scale)."""
        from .plotting import plot_gradient_norms

        return plot_gradient_norms(self, path)

    def __repr__(self) -> str:
        return f"GradientMonitor(every={self.every}, records={len(self.steps)})"
