"""Optimizers: one fused C++ pass over the arena per step, torch.optim formulas and defaults.

The classes (SGD, Adam, AdamW, ...) are generated from the C++ optimizer registry
(csrc/optim/<rule>.cpp: each update rule registers its name, class, doc and hyper-parameters
with types, defaults and ranges): a new update rule needs no Python file. Their signatures
follow torch.optim: ``Cls(params, lr=..., <hyper-parameters>, weight_decay=..., *, clip_norm=None,
clip_layer_norm=None, clip_tensor_norm=None, clip_value=None, on_nonfinite="skip", average=None,
ema_decay=0.999)``, with Adam's beta1/beta2 taken as the pair ``betas=(beta1, beta2)``.

``clip_layer_norm`` clips each layer's whole gradient vector [W, b] (its tensors together);
``clip_tensor_norm`` clips each parameter tensor apart (Keras' per-variable ``clipnorm``; this
is what ``clip_layer_norm`` meant before it was corrected).

LBFGS, ConjugateGradient and NewtonCG are full-batch methods stepped with a closure
(``step(closure)``, as torch.optim.LBFGS), in Python over the model's flat arena
(fastnet/optim/lbfgs.py, conjugate_gradient.py, newton_cg.py); ``loss_closure`` makes the
closure for a model, a batch and a fastnet loss."""

import inspect

from .. import _registry
from .base import CLIP_KEYWORDS as _CLIP_KEYWORDS
from .base import Optimizer
from .clip import clip_grad_norm, clip_grad_value
from .closure import loss_closure
from .closure_optimizer import ClosureOptimizer
from .conjugate_gradient import ConjugateGradient
from .lbfgs import LBFGS
from .newton_cg import NewtonCG

# Hyper-parameters the registry stores one by one that torch.optim takes as one tuple.
_PAIRS = {("beta1", "beta2"): "betas"}


def _arguments(entry):
    """The Python arguments of an entry, in order: (name, [spec, ...]) with pairs merged."""
    specs, out, i = entry["params"], [], 0
    while i < len(specs):
        pair = tuple(s["name"] for s in specs[i : i + 2])
        if pair in _PAIRS:
            out.append((_PAIRS[pair], specs[i : i + 2]))
            i += 2
        else:
            out.append((specs[i]["name"], [specs[i]]))
            i += 1
    return out


def _check_pair(name, specs, value) -> tuple:
    """A pair such as betas=(beta1, beta2), each checked against its spec (torch checks them so)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(
            f"{name} must be a pair ({specs[0]['name']}, {specs[1]['name']}), got {value!r}"
        )
    return tuple(
        _registry.check_param(s, v, f"{name}[{i}]") for i, (s, v) in enumerate(zip(specs, value))
    )


def _optimizer_class(entry):
    """The optimizer class of one registry entry, with a real signature, a NumPy docstring
    and every hyper-parameter checked against its spec before the C++ rule is built."""
    arguments = _arguments(entry)
    P = inspect.Parameter
    sig = [P("self", P.POSITIONAL_OR_KEYWORD), P("params", P.POSITIONAL_OR_KEYWORD)]
    rows = [
        (
            "params",
            "iterable",
            None,
            "Parameters (model.parameters()) or parameter-group "
            "dicts with their own 'lr' / 'weight_decay'.",
        )
    ]
    for name, specs in arguments:
        if len(specs) == 1:
            default = specs[0]["default"]
            doc = specs[0]["doc"]
        else:
            default = tuple(s["default"] for s in specs)
            doc = " / ".join(f"{s['name']}: {s['doc']}" for s in specs)
        sig.append(P(name, P.POSITIONAL_OR_KEYWORD, default=default))
        rows.append((name, "float pair" if len(specs) == 2 else specs[0]["type"], default, doc))
    for k in _CLIP_KEYWORDS:
        sig.append(P(k, P.KEYWORD_ONLY, default=None))
    sig.append(P("on_nonfinite", P.KEYWORD_ONLY, default="skip"))
    sig.append(P("average", P.KEYWORD_ONLY, default=None))
    sig.append(P("ema_decay", P.KEYWORD_ONLY, default=0.999))
    signature = inspect.Signature(sig)
    rule = [(name, specs) for name, specs in arguments if not specs[0]["per_group"]]

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        for name, specs in rule:
            value = (
                _check_pair(name, specs, a[name])
                if len(specs) == 2
                else _registry.check_param(specs[0], a[name])
            )
            setattr(self, name, value)
        Optimizer.__init__(
            self,
            a["params"],
            {"lr": a["lr"], "weight_decay": a["weight_decay"]},
            **{k: a[k] for k in _CLIP_KEYWORDS},
            on_nonfinite=a["on_nonfinite"],
            average=a["average"],
            ema_decay=a["ema_decay"],
        )

    def _hparams(self):
        """The update rule's hyper-parameters in registry order (state_dict "hparams")."""
        values = []
        for name, specs in rule:
            value = getattr(self, name)
            values.extend(value if len(specs) == 2 else (value,))
        return [float(v) for v in values]

    __init__.__signature__ = signature
    clip_doc = (
        "clip_norm, clip_layer_norm, clip_tensor_norm, clip_value : float, optional\n    At "
        "most one, inside the update pass: clip the global gradient norm, each layer's "
        "gradient norm ([W, b] together), each tensor's norm (W and b apart; Keras' "
        "per-variable clipnorm), or each element.\non_nonfinite : {'skip', 'raise'}, default "
        "'skip'\n    A step with a non-finite gradient norm is skipped (with a warning) or "
        "raises.\naverage : {None, 'ema', 'polyak'}, default None\n    Keep a running average "
        "of the parameters, updated after every applied update (torch.optim.swa_utils."
        "AveragedModel: the first update copies, then lerp with 1 - ema_decay, or the mean "
        "of the iterates): see averaged(), swap_average(), averaged_weights(); fit "
        "validates on it.\nema_decay : float, default 0.999\n    The EMA's decay."
    )
    cls = type(
        entry["class"],
        (Optimizer,),
        {
            "__init__": __init__,
            "_hparams": _hparams,
            "kind": entry["name"],
            "__module__": __name__,
            "__doc__": _registry.signature_doc(entry, rows, extra=clip_doc),
        },
    )
    # The docstring's Parameters section ends with the clip keywords.
    cls.__doc__ = cls.__doc__.replace("\n\nclip_norm,", "\nclip_norm,")
    cls.__init__.__qualname__ = f"{cls.__name__}.__init__"
    return cls


OPTIMIZERS = {e["name"]: _optimizer_class(e) for e in _registry.entries("optimizers")}
globals().update({cls.__name__: cls for cls in OPTIMIZERS.values()})

__all__ = sorted(cls.__name__ for cls in OPTIMIZERS.values()) + [
    "OPTIMIZERS",
    "Optimizer",
    "clip_grad_norm",
    "clip_grad_value",
    # Full-batch methods stepped with a closure (step(closure), as torch.optim.LBFGS).
    "ClosureOptimizer",
    "LBFGS",
    "ConjugateGradient",
    "NewtonCG",
    "loss_closure",
]
