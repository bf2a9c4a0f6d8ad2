"""Learning-rate schedules: pure ``schedule(step) -> lr`` callables.

``step`` is the number of optimizer updates applied so far (``optimizer.steps``), starting at
0. Pass a schedule to ``Sequential.train_step(..., schedule=...)`` (or ``fit``), or set
``optimizer.lr = schedule(optimizer.steps)`` yourself. A schedule holds no state: calling it
twice with the same step gives the same lr, so resuming a run needs nothing but the step.

Closed forms (t = step):
  ExponentialDecay  lr0 · γ^⌊t/every⌋                        (Keras ExponentialDecay, staircase)
  PowerDecay        lr0 / (1 + t/s)^c                         (power scheduling, Géron ch. 11)
  StepDecay         lr0 · γ^⌊t/step_size⌋                      (torch StepLR)
  CosineDecay       min_lr + (lr0 − min_lr)·(1 + cos(π·t/T))/2, then min_lr  (torch CosineAnnealingLR)
  OneCycle          torch OneCycleLR (cos | linear, three_phase, cycle_momentum), then its final lr
  Warmup            schedule(t) · (f0 + (1 − f0)·min(t, W)/W)  (torch LinearLR(f0, 1.0, W) chained)
"""

from __future__ import annotations

import abc
import math

from ._validate import check_bool, check_float, check_int

__all__ = [
    "Schedule",
    "ExponentialDecay",
    "PowerDecay",
    "StepDecay",
    "CosineDecay",
    "OneCycle",
    "Warmup",
]


class Schedule(abc.ABC):
    """Base class of the schedules: validates the step and delegates to ``_lr(step)``.

    A subclass implements ``_lr(step) -> float``, the closed form at a checked step; schedules
    hold no state, so they pickle and copy as plain data.
    """

    def __call__(self, step) -> float:
        """The learning rate at ``step``.

        Parameters
        ----------
        step : int
            Optimizer updates applied so far (``optimizer.steps``), >= 0.

        Returns
        -------
        float

        Raises
        ------
        TypeError
            If ``step`` is not an int.
        ValueError
            If ``step`` is negative, or the rate at ``step`` is not finite (an overflow).
        """
        step = check_int(step, "step", 0)
        # gamma > 1 (or a huge lr0) overflows at a late step: Python's float ** raises
        # OverflowError, other forms give inf; both become a ValueError naming the step.
        try:
            lr = float(self._lr(step))
        except OverflowError:
            lr = math.inf
        if not math.isfinite(lr):
            raise ValueError(f"{self!r} gives a non-finite learning rate at step {step}")
        return lr

    @abc.abstractmethod
    def _lr(self, step: int) -> float:
        """The closed form of this schedule at a validated step."""

    def momentum(self, step):
        """The momentum (or Adam's β1) this schedule sets at ``step``; None: it leaves the
        optimizer's momentum alone (every schedule but a momentum-cycling OneCycle).

        Parameters
        ----------
        step : int
            Optimizer updates applied so far (>= 0).

        Returns
        -------
        float or None
        """
        check_int(step, "step", 0)
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _lr0(value, name="lr0") -> float:
    return check_float(value, name, low=0.0)


class ExponentialDecay(Schedule):
    """``lr0 · gamma^(step // every)`` (Keras ExponentialDecay with staircase=True).

    Parameters
    ----------
    lr0 : float
        The rate at step 0 (>= 0).
    gamma : float
        The factor per ``every`` steps (> 0).
    every : int, default 1
        Steps between factors: the steps per epoch with ``gamma=0.98`` is "×0.98 per epoch".

    Raises
    ------
    TypeError
        If a number argument is not a real number (an int where an int is asked).
    ValueError
        If an argument is out of its range.

    Examples
    --------
    >>> import fastnet as fn
    >>> fn.schedules.ExponentialDecay(0.1, 0.5, every=10)(25)
    0.025
    """

    def __init__(self, lr0, gamma, every=1):
        self.lr0 = _lr0(lr0)
        self.gamma = check_float(gamma, "gamma", low=0.0, low_open=True)
        self.every = check_int(every, "every", 1)

    def _lr(self, step):
        return self.lr0 * self.gamma ** (step // self.every)


class PowerDecay(Schedule):
    """``lr0 / (1 + step/decay_steps)^power`` (power scheduling).

    Parameters
    ----------
    lr0 : float
        The rate at step 0 (>= 0).
    decay_steps : float
        Steps over which the rate drops to ``lr0 / 2^power`` (> 0).
    power : float, default 1.0
        The exponent (>= 0).

    Raises
    ------
    TypeError
        If a number argument is not a real number (an int where an int is asked).
    ValueError
        If an argument is out of its range.
    """

    def __init__(self, lr0, decay_steps, power=1.0):
        self.lr0 = _lr0(lr0)
        self.decay_steps = check_float(decay_steps, "decay_steps", low=0.0, low_open=True)
        self.power = check_float(power, "power", low=0.0)

    def _lr(self, step):
        return self.lr0 / (1.0 + step / self.decay_steps) ** self.power


class StepDecay(Schedule):
    """``lr0 · gamma^(step // step_size)``, as torch.optim.lr_scheduler.StepLR.

    Parameters
    ----------
    lr0 : float
        The rate at step 0 (>= 0).
    step_size : int
        Steps between factors (>= 1).
    gamma : float, default 0.1
        The factor (> 0).

    Raises
    ------
    TypeError
        If a number argument is not a real number (an int where an int is asked).
    ValueError
        If an argument is out of its range.
    """

    def __init__(self, lr0, step_size, gamma=0.1):
        self.lr0 = _lr0(lr0)
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_float(gamma, "gamma", low=0.0, low_open=True)

    def _lr(self, step):
        return self.lr0 * self.gamma ** (step // self.step_size)


class CosineDecay(Schedule):
    """Half a cosine from lr0 down to min_lr over total_steps (torch CosineAnnealingLR's closed
    form with T_max=total_steps, eta_min=min_lr); min_lr from then on (no restart).

    Parameters
    ----------
    lr0 : float
        The rate at step 0 (>= 0).
    total_steps : int
        The length of the half cosine (>= 1).
    min_lr : float, default 0.0
        The final rate (0 <= min_lr <= lr0).

    Raises
    ------
    TypeError
        If a number argument is not a real number (an int where an int is asked).
    ValueError
        If an argument is out of its range.
    """

    def __init__(self, lr0, total_steps, min_lr=0.0):
        self.lr0 = _lr0(lr0)
        self.total_steps = check_int(total_steps, "total_steps", 1)
        self.min_lr = check_float(min_lr, "min_lr", low=0.0)
        if self.min_lr > self.lr0:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr0 ({self.lr0})")

    def _lr(self, step):
        t = min(step, self.total_steps)
        return (
            self.min_lr
            + (self.lr0 - self.min_lr) * (1.0 + math.cos(math.pi * t / self.total_steps)) / 2.0
        )


def _annealing_cos(start, end, pct):
    """torch.optim.lr_scheduler.OneCycleLR._annealing_cos."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _annealing_linear(start, end, pct):
    """torch.optim.lr_scheduler.OneCycleLR._annealing_linear."""
    return (end - start) * pct + start


_ANNEALING = {"cos": _annealing_cos, "linear": _annealing_linear}


class OneCycle(Schedule):
    """The 1cycle policy (Smith 2018, "A disciplined approach to neural network
    hyper-parameters"; Smith & Topin 2018) with exactly torch OneCycleLR's values.

    The rate rises from max_lr/div_factor to max_lr over the first ``pct_start`` of
    ``total_steps``, then falls to max_lr/(div_factor·final_div_factor) at step
    total_steps − 1; with ``three_phase`` it falls back to max_lr/div_factor symmetrically and
    the last phase annihilates it to the final rate. Each phase anneals by half a cosine or a
    straight line (``anneal_strategy``). With ``cycle_momentum`` the momentum moves inversely,
    max_momentum → base_momentum while the rate rises and back while it falls (the last phase
    of three keeps max_momentum): :meth:`momentum` gives it, and ``fit`` / ``train_step`` write
    it into the optimizer before every step — SGD's or RMSprop's ``momentum``, else β1 of the
    Adam family (torch's rule). Later steps than the cycle keep the final values (torch raises
    past total_steps).

    Parameters
    ----------
    max_lr : float
        The peak rate (> 0).
    total_steps : int
        Steps of the cycle (>= 2), usually ``epochs * steps_per_epoch``.
    pct_start : float, default 0.3
        The fraction of the cycle spent rising; every phase needs at least one step
        (``pct_start * total_steps`` in ``(1, total_steps)``, and below ``(total_steps + 1) / 2``
        with ``three_phase``).
    anneal_strategy : {"cos", "linear"}, default "cos"
        The shape of each phase.
    cycle_momentum : bool, default True
        Cycle the momentum inversely to the rate (needs an optimizer with momentum or β1;
        fastnet's SGD must be built with momentum > 0 for its buffer to exist).
    base_momentum : float, default 0.85
        The momentum at the peak rate (in [0, 1)).
    max_momentum : float, default 0.95
        The momentum at the low rates (in [base_momentum, 1)).
    div_factor : float, default 25.0
        The first rate is ``max_lr / div_factor``.
    final_div_factor : float, default 1e4
        The last rate is ``max_lr / (div_factor * final_div_factor)``.
    three_phase : bool, default False
        Rise, fall back to the first rate, then anneal to the last (torch's three_phase).

    Raises
    ------
    TypeError
        If a number argument is not a real number (an int where an int is asked) or a flag
        not a bool.
    ValueError
        If an argument is out of its range.

    Examples
    --------
    >>> import fastnet as fn
    >>> schedule = fn.schedules.OneCycle(1e-2, total_steps=100)
    >>> round(schedule(0), 6), round(schedule(29), 6), schedule(99) < 1e-6
    (0.0004, 0.01, True)
    >>> schedule.momentum(0), schedule.momentum(29), schedule.momentum(99)
    (0.95, 0.85, 0.95)
    """

    def __init__(
        self,
        max_lr,
        total_steps,
        pct_start=0.3,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
    ):
        self.max_lr = check_float(max_lr, "max_lr", low=0.0, low_open=True)
        self.total_steps = check_int(total_steps, "total_steps", 2)
        self.pct_start = check_float(pct_start, "pct_start", low=0.0, high=1.0)
        if anneal_strategy not in _ANNEALING:
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = check_bool(cycle_momentum, "cycle_momentum")
        self.base_momentum = check_float(
            base_momentum, "base_momentum", low=0.0, high=1.0, high_open=True
        )
        self.max_momentum = check_float(
            max_momentum, "max_momentum", low=0.0, high=1.0, high_open=True
        )
        if self.max_momentum < self.base_momentum:
            raise ValueError(
                f"max_momentum ({self.max_momentum}) must not be below base_momentum "
                f"({self.base_momentum})"
            )
        self.div_factor = check_float(div_factor, "div_factor", low=0.0, low_open=True)
        self.final_div_factor = check_float(
            final_div_factor, "final_div_factor", low=0.0, low_open=True
        )
        self.three_phase = check_bool(three_phase, "three_phase")
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        # torch's phases: (end step, start lr, end lr, start momentum, end momentum); a phase
        # ends at float(pct_start·total_steps) − 1, 2·pct_start·total_steps − 2, total_steps − 1.
        up_end = float(self.pct_start * self.total_steps) - 1.0
        end = float(self.total_steps - 1)
        hi, lo = self.max_momentum, self.base_momentum
        if self.three_phase:
            down_end = float(2.0 * self.pct_start * self.total_steps) - 2.0
            self._phases = (
                (up_end, self.initial_lr, self.max_lr, hi, lo),
                (down_end, self.max_lr, self.initial_lr, lo, hi),
                (end, self.initial_lr, self.min_lr, hi, hi),
            )
        else:
            self._phases = (
                (up_end, self.initial_lr, self.max_lr, hi, lo),
                (end, self.max_lr, self.min_lr, lo, hi),
            )
        ends = [0.0] + [phase[0] for phase in self._phases]
        if not all(a < b for a, b in zip(ends, ends[1:])):
            bound = "(1, total_steps)" + (
                ", below (total_steps + 1) / 2 for three_phase" if self.three_phase else ""
            )
            raise ValueError(
                f"pct_start·total_steps must leave every phase at least one step (in {bound}); "
                f"got pct_start={self.pct_start}, total_steps={self.total_steps}"
            )

    def _phase_at(self, step):
        """(start step, phase) holding ``step``, or None past the cycle (torch's get_lr loop)."""
        start = 0.0
        for phase in self._phases:
            if step <= phase[0]:
                return start, phase
            start = phase[0]
        return None

    def _lr(self, step):
        found = self._phase_at(step)
        if found is None:
            return self.min_lr
        start, (end, lr0, lr1, _, _) = found
        return _ANNEALING[self.anneal_strategy](lr0, lr1, (step - start) / (end - start))

    def momentum(self, step):
        """The momentum (or β1) at ``step``; None with ``cycle_momentum=False``.

        Parameters
        ----------
        step : int
            Optimizer updates applied so far (>= 0).

        Returns
        -------
        float or None
        """
        step = check_int(step, "step", 0)
        if not self.cycle_momentum:
            return None
        found = self._phase_at(step)
        if found is None:
            return self._phases[-1][4]
        start, (end, _, _, m0, m1) = found
        return _ANNEALING[self.anneal_strategy](m0, m1, (step - start) / (end - start))


class Warmup(Schedule):
    """Linear warm-up in front of a schedule (or a constant lr): for step < warmup_steps the lr is
    schedule(step) · (start_factor + (1 − start_factor)·step/warmup_steps), afterwards
    schedule(step) unchanged. This is torch's LinearLR(start_factor, end_factor=1.0,
    total_iters=warmup_steps) chained multiplicatively with the wrapped schedule; the wrapped
    schedule is not delayed. start_factor=0 starts from lr 0 (torch's LinearLR needs > 0).

    Parameters
    ----------
    schedule : callable or float
        A ``step -> lr`` callable (e.g. another schedule) or a constant rate (>= 0).
    warmup_steps : int
        The length of the ramp (>= 1).
    start_factor : float, default 0.0
        The factor at step 0, in [0, 1].

    Raises
    ------
    TypeError
        If ``schedule`` is neither callable nor a number, or another argument has the wrong
        type.
    ValueError
        If an argument is out of its range.

    Examples
    --------
    >>> import fastnet as fn
    >>> schedule = fn.schedules.Warmup(fn.schedules.CosineDecay(1e-2, 1000), warmup_steps=100)
    >>> schedule(0), round(schedule(50), 6)
    (0.0, 0.004969)
    """

    def __init__(self, schedule, warmup_steps, start_factor=0.0):
        if isinstance(schedule, bool) or not (
            callable(schedule) or isinstance(schedule, (int, float))
        ):
            raise TypeError(
                f"schedule must be a step -> lr callable or a constant lr, got "
                f"{type(schedule).__name__}"
            )
        self.schedule = schedule if callable(schedule) else _lr0(schedule, "schedule")
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", 1)
        self.start_factor = check_float(start_factor, "start_factor", low=0.0, high=1.0)

    def momentum(self, step):
        """The wrapped schedule's momentum at ``step`` (the warm-up scales only the rate).

        Parameters
        ----------
        step : int
            Optimizer updates applied so far (>= 0).

        Returns
        -------
        float or None
        """
        inner = getattr(self.schedule, "momentum", None)
        return inner(step) if callable(inner) else super().momentum(step)

    def _lr(self, step):
        base = self.schedule(step) if callable(self.schedule) else self.schedule
        if step >= self.warmup_steps:
            return base
        return base * (self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps)
