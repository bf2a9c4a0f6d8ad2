"""Gradient clipping on a model's gradients, for hand-written loops (forward, backward, clip,
step), as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``. The optimizers' clip keywords
(clip_norm, clip_layer_norm per layer, clip_tensor_norm per tensor, clip_value) do the same inside
their update pass without writing the gradients back; use these functions when the clipped
gradients themselves are wanted (clip_grad_norm over one layer's parameters,
``layer.parameters()``, clips that layer's [W, b] together).
Kernels: csrc/optim/clip.cpp (one segment_sumsq reduction, one in-place pass)."""

from __future__ import annotations

import math

from .. import _engine
from .._validate import check_float
from ..nn.parameter import Parameter


def _segments(model, name: str):
    """(model, [(offset, size)]) of the trainable parameters of a Sequential or of an
    iterable of Parameters of one model. Frozen parameters are left out, as torch leaves out
    tensors without gradients."""
    from ..nn.sequential import Sequential

    if isinstance(model, Sequential):
        params = model.parameters()
    elif isinstance(model, Parameter):
        params = [model]
    else:
        try:
            params = list(model)
        except TypeError:
            raise TypeError(
                f"{name} must be a fastnet Sequential or an iterable of Parameters, "
                f"got {type(model).__name__}"
            ) from None
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{name} must hold fastnet Parameters, got {type(p).__name__}")
    if not params:
        raise ValueError(f"{name} has no parameters")
    owners = {id(p._owner): p._owner for p in params}
    if len(owners) != 1:
        raise ValueError(f"all parameters in {name} must belong to one model")
    owner = next(iter(owners.values()))
    return owner, [(p._offset, p.size) for p in params if p.trainable]


def clip_grad_norm(model, max_norm, error_if_nonfinite: bool = False) -> float:
    """Scale the gradients in place so their global L2 norm is at most ``max_norm``:
    g ← g·min(1, max_norm/(norm + 1e-6)) (``torch.nn.utils.clip_grad_norm_``). Returns the norm
    before clipping. A non-finite norm leaves the gradients untouched (torch would multiply
    them by NaN) and raises FloatingPointError when ``error_if_nonfinite``."""
    max_norm = check_float(max_norm, "max_norm", low=0.0, low_open=True)
    owner, segs = _segments(model, "model")
    norm = _engine.clip_grad_norm(owner, segs, max_norm) if segs else 0.0
    if error_if_nonfinite and not math.isfinite(norm):
        raise FloatingPointError(
            f"the total gradient norm is non-finite ({norm}); gradients were left unchanged"
        )
    return float(norm)


def clip_grad_value(model, clip_value) -> None:
    """Clamp every gradient element to [−clip_value, clip_value] in place
    (``torch.nn.utils.clip_grad_value_``)."""
    clip_value = check_float(clip_value, "clip_value", low=0.0, low_open=True)
    owner, segs = _segments(model, "model")
    if segs:
        _engine.clip_grad_value(owner, segs, clip_value)
