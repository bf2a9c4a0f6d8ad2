"""The one seam between Python and the C++ extension ``fastnet._core``.

No other fastnet module imports ``_core`` or touches a C++ object (tests/test_engine.py checks
it). The C++ objects live on their Python owners as ``model._core`` and ``optimizer._core``;
only the functions here create them or call them. Every function takes inputs that the
caller has already validated (fastnet/_validate.py): shapes, dtypes, ranges.

Groups:

- model: ``build_model_core``, ``allocate``, ``layer_params``, ``params_view``,
  ``grads_view``, ``arena_floats``, ``rng_state`` / ``set_rng_state``, ``param_trainable`` /
  ``set_param_trainable``;
- computation: ``forward``, ``backward``, ``last_train_batch``, ``activation``, ``predict``,
  ``evaluate``, ``eval_loss``;
- inference: ``inference_plan``, ``freeze_bf16``, ``bf16_bytes``, ``bf16_weight``,
  ``cpu_isa``, ``active_isa``, ``set_isa_limit``;
- steps (one bookkeeping path: ``record_step``): ``train_step``, ``fit_batches``,
  ``epoch_batches``, ``optimizer_step``;
- optimizer state: ``build_optimizer_core``, ``slot_lr`` / ``set_slot_lr``,
  ``slot_weight_decay`` / ``set_slot_weight_decay``, ``step_counts`` / ``set_step_counts``,
  ``state_views``, ``last_sumsq``;
- kernels: ``clip_grad_norm``, ``clip_grad_value``, ``loss_forward_backward``, ``all_finite``,
  ``int_labels``, ``activation_kernel``;
- process: ``set_num_threads``, ``get_num_threads``, ``build_info``.
"""

from __future__ import annotations

import math
import warnings

from . import _core

# The attribute that holds a model's or an optimizer's C++ object (pickling leaves it out).
NATIVE_ATTR = "_core"
# ----------------------------------------------------------------------------- model


def build_model_core(model, configs, seed: int) -> None:
    """Create ``model._core``: the C++ layer objects for ``configs`` (no arena yet) with the
    random-stream key ``seed`` (dropout, RReLU)."""
    core = _core.Model()
    core.seed = seed
    for cfg in configs:
        core.add(cfg)
    model._core = core


def allocate(model) -> None:
    """Allocate the parameter and gradient arenas (zero-filled)."""
    model._core.build()


def layer_params(model, core_index: int) -> list:
    """[(name, shape, offset)] of the tensors C++ layer ``core_index`` declares."""
    return model._core.layer_params(core_index)


def params_view(model, offset: int, shape) -> np.ndarray:  # noqa: F821
    """A writable view of ``shape`` into the parameter arena at ``offset`` (floats)."""
    return model._core.params_view(offset, shape)


def grads_view(model, offset: int, shape) -> np.ndarray:  # noqa: F821
    """A writable view of ``shape`` into the gradient arena at ``offset`` (floats)."""
    return model._core.grads_view(offset, shape)


def arena_floats(model) -> int:
    return model._core.arena_floats


def rng_state(model) -> tuple:
    """(seed, step) of the model's counter-based random streams."""
    return int(model._core.seed), int(model._core.step)


def set_rng_state(model, seed=None, step=None) -> None:
    if seed is not None:
        model._core.seed = seed
    if step is not None:
        model._core.step = step


def param_trainable(model, index: int) -> bool:
    """The trainable flag of parameter tensor ``index`` (arena order), which the C++
    optimizers read at every step."""
    return model._core.param_trainable(index)


def set_param_trainable(model, index: int, flag: bool) -> None:
    model._core.set_param_trainable(index, flag)


# ----------------------------------------------------------------------------- computation


def forward(model, X, training: bool):
    """Training-mode forward (kept for ``backward``) when ``training``; a new output array."""
    return model._core.forward(X, training)


def last_train_batch(model) -> int:
    """Rows of the last training forward; -1 before any."""
    return model._core.last_train_batch


def backward(model, dY, want_dx: bool = True):
    """Back-propagate dY after a training forward (RuntimeError before one); dX or None."""
    return model._core.backward(dY, want_dx)


def activation(model, core_index: int):
    """A copy of C++ layer ``core_index``'s output from the last forward (RuntimeError before
    any forward)."""
    return model._core.activation(core_index)


def predict(model, X, rows: int):
    """Inference in chunks of at most ``rows`` rows, in a borrowed workspace."""
    return model._core.predict(X, rows)


def predict_mc(model, X, rows: int, samples: int, seed: int) -> tuple:
    """(mean, std) of ``samples`` MC dropout passes (csrc/engine/mc_dropout.cpp), in chunks of
    at most ``rows`` rows; ``seed`` keys the masks (the training stream is not touched)."""
    return model._core.predict_mc(X, rows, samples, seed)


def inference_plan(model) -> list:
    """One line per inference step: which layers run fused (``"0-2 dense+batchnorm+activation"``)."""
    return list(model._core.plan_summary())


def freeze_bf16(model) -> None:
    """Pack every fused Dense's weight as bf16 (the model becomes an inference copy)."""
    model._core.freeze_bf16()


def bf16_bytes(model) -> int:
    return int(model._core.bf16_bytes)


def bf16_weight(model, step: int):
    """The bf16 weight of inference step ``step`` as float32, flat (in * out)."""
    return model._core.bf16_weight(step)


def evaluate(model, X, target, labels, batch_size: int, spec, weights=None) -> tuple:
    """(mean loss, accuracy hits) over X in inference mode, batched; with ``weights`` (one
    per row, checked) the weighted mean loss."""
    return model._core.evaluate(
        X, target, labels, batch_size, spec.name, spec.delta, spec.from_logits, weights
    )


def eval_loss(model, X, target, labels, spec) -> float:
    return model._core.eval_loss(X, target, labels, spec.name, spec.delta, spec.from_logits)


# ----------------------------------------------------------------------------- steps


def record_step(optimizer, gnorm: float, report: bool = True, stacklevel: int = 4) -> None:
    """The bookkeeping after every step, whoever took it: the gradient norm on the optimizer
    and, for a non-finite norm (the step was skipped), a warning or, with
    ``on_nonfinite="raise"``, a FloatingPointError. ``report=False`` only records (lr_find
    stops on a blow-up itself). ``stacklevel`` counts the frames from here to the user's call,
    where the warning points."""
    optimizer.last_grad_norm = gnorm
    if report and not math.isfinite(gnorm):
        if optimizer.on_nonfinite == "raise":
            raise FloatingPointError(
                f"non-finite gradient norm ({gnorm}); the step was not applied"
            )
        warnings.warn(
            f"non-finite gradient norm ({gnorm}); step skipped ({optimizer.skipped_steps} so far)",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def train_step(
    model, X, target, labels, spec, optimizer, report: bool = True, weights=None, collective=None
) -> tuple:
    """Forward, loss, backward and optimizer update in one C++ call; returns (loss, gnorm).
    ``collective`` (make_collective): a data-parallel step (gradient mean over the ranks)."""
    with _peer_errors():
        value, gnorm = model._core.train_step(
            X,
            target,
            labels,
            spec.name,
            spec.delta,
            spec.from_logits,
            optimizer._core,
            weights,
            collective,
        )
    record_step(optimizer, gnorm, report)  # user -> Sequential.train_step -> here
    return value, gnorm


def optimizer_step(optimizer, reference: bool = False, report: bool = True) -> float:
    """One update from the current gradients (``reference``: the scalar twin loops)."""
    gnorm = optimizer._core.step(reference)
    record_step(optimizer, gnorm, report)  # user -> Optimizer.step -> here
    return gnorm


def epoch_batches(n: int, batch_size: int, absorb_single: bool) -> int:
    """Batches per epoch of n rows (a lone leftover row joins the last batch when
    ``absorb_single``: batch statistics need two rows)."""
    return _core.Model.epoch_batches(n, batch_size, absorb_single)


def fit_batches(
    model,
    X,
    target,
    labels,
    order,
    batch_size,
    first_batch,
    count,
    spec,
    optimizer,
    slot_base_lrs=None,
    lr_factors=None,
    absorb_single=False,
    weights=None,
    collective=None,
) -> dict:
    """Batches ``first_batch .. first_batch+count-1`` of an epoch in C++ (gather, step,
    running sums); with ``lr_factors`` C++ sets each slot's lr to base × factor per batch.
    Returns the C++ statistics dict; the step bookkeeping (``record_step``) is done here.
    A pending signal's exception is in ``stats["interrupt"]`` for the caller to raise.
    ``collective``: data-parallel steps; ``order`` may then pick a shard of X's rows."""
    with _peer_errors():
        st = _fit_batches_call(
            model, X, target, labels, order, batch_size, first_batch, count, spec, optimizer,
            slot_base_lrs, lr_factors, absorb_single, weights, collective,
        )  # fmt: skip
    optimizer.last_grad_norm = st["last_gnorm"]
    if st["interrupt"] is None and st["nonfinite"]:
        record_step(optimizer, float("nan"), stacklevel=6)  # user, fit, training.fit, _fit
    return st


def _fit_batches_call(
    model, X, target, labels, order, batch_size, first_batch, count, spec, optimizer,
    slot_base_lrs, lr_factors, absorb_single, weights, collective,
) -> dict:  # fmt: skip
    return model._core.fit_batches(
        X,
        target,
        labels,
        order,
        batch_size,
        first_batch,
        count,
        spec.name,
        spec.delta,
        spec.from_logits,
        optimizer._core,
        slot_base_lrs,
        lr_factors,
        optimizer.on_nonfinite == "raise",
        absorb_single,
        weights,
        collective,
    )


# ----------------------------------------------------------------------------- data parallel


class _peer_errors:
    """Context manager: the C++ PeerFailure (another rank failed in this step's round) as
    fastnet.distributed.PeerError."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None and issubclass(kind, _core.PeerFailure):
            from .distributed import PeerError

            raise PeerError(str(value)) from None
        return False


def make_collective(model, abi: str, addresses: dict, rank: int, world: int, sync_bn: bool):
    """The C++ Collective of one distributed run on ``model`` (fastnet/distributed.py)."""
    return _core.Collective(
        abi,
        addresses["allreduce"],
        addresses["comm"],
        addresses["float32"],
        addresses["float64"],
        addresses["sum"],
        rank,
        world,
        model._core,
        sync_bn,
    )


def collective_exchange(collective, payload, final_floats: int, error: bool) -> tuple:
    """(ok, summed payload) of one round between steps."""
    return collective.exchange(payload, final_floats, error)


def collective_fail_round(collective, final_floats: int) -> None:
    """Complete the current round with the error flag set."""
    collective.fail_round(final_floats)


def collective_last_round_failed(collective) -> bool:
    return collective.last_round_failed


def collective_timing(collective) -> tuple:
    """(final all-reduces so far, seconds spent in them)."""
    return collective.final_calls, collective.final_seconds


# ----------------------------------------------------------------------------- optimizer state


def build_optimizer_core(
    optimizer, model, kind: str, hparams, slots, clip_mode: int, clip: float
) -> None:
    """Create ``optimizer._core`` over ``model``'s arena. ``hparams``: the update rule's
    hyper-parameters by name (its registry entry's, checked in C++); ``slots``: one (offset,
    size, lr, weight_decay, parameter index, layer, l1, max_norm, columns) per tensor; the
    index names the model tensor whose trainable flag the optimizer reads, layer groups the
    tensors of one layer, l1 / max_norm (0: off) are its kernel penalty and constraint."""
    optimizer._core = _core.Optimizer(kind, dict(hparams), model._core, slots, clip_mode, clip)


def slot_lr(optimizer, slot: int) -> float:
    return optimizer._core.slot_lr(slot)


def set_slot_lr(optimizer, slot: int, value: float) -> None:
    optimizer._core.set_slot_lr(slot, value)


def scheduled_hparam(optimizer, name: str):
    """The live value of a hyper-parameter a schedule may change (momentum, beta1, ...), or
    None when the update rule cannot change it between steps."""
    try:
        return optimizer._core.scheduled_hparam(name)
    except KeyError:
        return None


def set_scheduled_hparam(optimizer, name: str, value: float) -> None:
    """Write such a hyper-parameter; it takes effect at the next step."""
    optimizer._core.set_scheduled_hparam(name, float(value))


def slot_weight_decay(optimizer, slot: int) -> float:
    return optimizer._core.slot_weight_decay(slot)


def set_slot_weight_decay(optimizer, slot: int, value: float) -> None:
    optimizer._core.set_slot_weight_decay(slot, value)


def steps(optimizer) -> int:
    """Updates applied so far."""
    return optimizer._core.steps


def skipped_steps(optimizer) -> int:
    """Steps skipped for a non-finite gradient norm."""
    return optimizer._core.skipped_steps


def step_counts(optimizer) -> dict:
    """steps, skipped_steps, slot_steps (per tensor) and slot_state (per-tensor scalars)."""
    core = optimizer._core
    return {
        "steps": core.steps,
        "skipped_steps": core.skipped_steps,
        "slot_steps": list(core.slot_steps),
        "slot_state": list(core.slot_state),
    }


def set_step_counts(optimizer, steps, skipped_steps, slot_steps, slot_state) -> None:
    core = optimizer._core
    core.steps = steps
    core.skipped_steps = skipped_steps
    core.slot_steps = slot_steps
    core.slot_state = slot_state


def state_views(optimizer) -> list:
    """Live views of the optimizer's per-parameter state arenas (moments, ...)."""
    core = optimizer._core
    return [core.state_view(k) for k in range(core.num_state)]


def set_average(optimizer, mode: int, decay: float) -> None:
    """Start the optimizer's parameter average (0 none, 1 EMA, 2 Polyak) from the current
    weights."""
    optimizer._core.set_average(mode, decay)


def swap_average(optimizer) -> None:
    """Exchange the model's parameters and the optimizer's average (twice restores both)."""
    optimizer._core.swap_average()


def average_swapped(optimizer) -> bool:
    return optimizer._core.average_swapped


def average_view(optimizer):
    """Live view of the averaged parameters, in the model arena's layout."""
    return optimizer._core.average_view()


def averaged_steps(optimizer) -> int:
    return optimizer._core.averaged_steps


def set_averaged_steps(optimizer, value: int) -> None:
    optimizer._core.averaged_steps = value


def last_sumsq(optimizer) -> list:
    """Per-slot Σg² of the last step (its own gradient-norm reduction)."""
    return optimizer._core.last_sumsq


# ----------------------------------------------------------------------------- kernels


def clip_grad_norm(model, segments, max_norm: float) -> float:
    return _core.clip_grad_norm(model._core, segments, max_norm)


def clip_grad_value(model, segments, clip_value: float) -> None:
    _core.clip_grad_value(model._core, segments, clip_value)


def activation_kernel(
    name: str, Z, dY, alpha: float = 0.01, beta: float = 1.0, reference: bool = False
) -> tuple:
    """(act(Z), dY ⊙ act'(Z)) from the C++ kernels on a bare float32 batch, at inference
    settings: the vectorized row kernels, or their libm reference twin (``reference``)."""
    return _core.activation_kernel(name, Z, dY, float(alpha), float(beta), bool(reference))


def registry() -> dict:
    """The C++ component registries (csrc/core/spec.h): {kind: [entry, ...]} for activations,
    losses, optimizers and layers; fastnet/_registry.py reads it once."""
    return _core.registry()


def loss_forward_backward(
    name, pred, target, labels, delta, from_logits, want_grad=True, weights=None
):
    """(mean loss, gradient) of a loss kernel; inputs already validated by the caller."""
    return _core.loss_forward_backward(
        name, pred, target, labels, delta, from_logits, want_grad, weights
    )


def all_finite(arr) -> bool:
    """One vectorized scan of a C-contiguous float32 array."""
    return _core.all_finite(arr)


def int_labels(y) -> tuple:
    """(int32 copy, min, max) of an int32/int64 C-contiguous label vector, in one pass."""
    return _core.int_labels(y)


# ----------------------------------------------------------------------------- process


def set_num_threads(n: int) -> None:
    _core.set_num_threads(n)


def get_num_threads() -> int:
    return _core.get_num_threads()


def cpu_isa() -> str:
    """The best instruction set this CPU has for fastnet's kernels (generic, avx512,
    avx512_bf16)."""
    return _core.cpu_isa()


def active_isa() -> str:
    """The instruction set the kernels use now (cpu_isa capped by set_isa_limit)."""
    return _core.active_isa()


def set_isa_limit(name: str) -> None:
    """Cap the kernels' instruction set (process-wide): tests run the fallback paths with it."""
    _core.set_isa_limit(name)


def build_info() -> dict:
    """Compiler, OpenBLAS and thread-pool facts for show_config."""
    return {
        "cpu_isa": _core.cpu_isa(),
        "active_isa": _core.active_isa(),
        "compiler": _core.compiler(),
        "openblas": _core.openblas_config(),
        "openblas_corename": _core.openblas_corename(),
        "threads": _core.get_num_threads(),
        "openblas_threads": _core.openblas_num_threads(),
        "pool_workers": _core.pool_workers(),
        "spin_us": _core.spin_us(),
    }
