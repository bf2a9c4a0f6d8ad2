"""Weight initializers and the global random generator.

Every initializer has the signature ``init(shape, fan_in=None, fan_out=None, rng=None)``
and returns a new C-contiguous float32 array of ``shape``. ``fan_in`` / ``fan_out``
default to the Keras convention for ``shape`` (a Dense kernel is (in, out)); ``rng``
(a ``np.random.Generator``) defaults to the global generator set by
:func:`manual_seed`. Look one up by name with :func:`get`, or pass any callable with
that signature wherever an initializer is accepted.

Variance-scaling rules (Keras ``VarianceScaling`` / PyTorch ``torch.nn.init``):

============== ===================== ======================================
family         variance              reference
============== ===================== ======================================
Glorot/Xavier  2 / (fan_in+fan_out)  Glorot & Bengio, AISTATS 2010
He/Kaiming     2 / fan_in            He et al., "Delving Deep into
                                     Rectifiers", ICCV 2015
LeCun          1 / fan_in            LeCun et al., "Efficient BackProp" 1998;
                                     Klambauer et al. 2017 (SELU)
============== ===================== ======================================

A ``*_uniform`` variant draws U(-limit, limit) with limit = sqrt(3 * variance); a
``*_normal`` variant draws a plain, untruncated N(0, variance) (as PyTorch does;
note Keras truncates its normal variants). :func:`variance_scaling` builds the general rule
(scale / fan_in, fan_out or fan_avg; truncated, untruncated normal or uniform), Keras
``VarianceScaling``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

__all__ = [
    "INITIALIZERS",
    "get",
    "initialize",
    "auto_init_for",
    "compute_fans",
    "manual_seed",
    "default_rng",
    "rng_from_seed",
    "zeros",
    "ones",
    "uniform",
    "normal",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "variance_scaling",
]

Initializer = Callable[..., np.ndarray]

# --------------------------------------------------------------------------- global RNG

# Created on first use: numpy.random costs ~10 ms of `import fastnet`.
_global_rng = None


def _check_seed(seed) -> int:
    """A seed is a non-negative Python/NumPy integer (bool is rejected)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative int, got {type(seed).__name__}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return seed


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the global generator to ``Generator(PCG64(seed))`` so that model
    construction (and anything else drawing from :func:`default_rng`) is
    reproducible, like ``torch.manual_seed``. Returns the new generator."""
    global _global_rng
    _global_rng = np.random.Generator(np.random.PCG64(_check_seed(seed)))
    return _global_rng


def default_rng() -> np.random.Generator:
    """The global generator (unseeded until :func:`manual_seed` is called)."""
    global _global_rng
    if _global_rng is None:
        _global_rng = np.random.Generator(np.random.PCG64())
    return _global_rng


def rng_from_seed(seed=None) -> np.random.Generator:
    """``None`` -> the global generator; an int -> a fresh ``Generator(PCG64(seed))``;
    a ``np.random.Generator`` is returned unchanged."""
    if seed is None:
        return default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(_check_seed(seed)))


# --------------------------------------------------------------------------- argument handling


def _check_shape(shape) -> tuple:
    if isinstance(shape, (bool, np.bool_)):
        raise TypeError("shape must be an int or a sequence of ints, got bool")
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"shape must be an int or a sequence of ints, got {type(shape).__name__}"
        ) from None
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral):
            raise TypeError(f"shape entries must be ints, got {shape!r}")
        if d < 0:
            raise ValueError(f"shape entries must be non-negative, got {shape!r}")
    return tuple(int(d) for d in dims)


def compute_fans(shape) -> tuple:
    """(fan_in, fan_out) for ``shape`` with the Keras convention: a 2-D kernel is
    (in, out); a 1-D vector has fan_in = fan_out = its length; for >2-D the leading
    dims are a receptive field: fan_in = prod(shape[:-1]) ... (shape[-2]*rf, shape[-1]*rf)."""
    shape = _check_shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = math.prod(shape[:-2])
    return shape[-2] * rf, shape[-1] * rf


def _check_fan(value, name) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _resolve_rng(rng):
    if rng is None:
        return default_rng()  # created on first use: _global_rng may still be None here
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _resolve(shape, fan_in, fan_out, rng):
    shape = _check_shape(shape)
    dflt_in, dflt_out = compute_fans(shape)
    fan_in = _check_fan(dflt_in if fan_in is None else fan_in, "fan_in")
    fan_out = _check_fan(dflt_out if fan_out is None else fan_out, "fan_out")
    return shape, fan_in, fan_out, _resolve_rng(rng)


def _uniform(shape, limit, rng) -> np.ndarray:
    return np.ascontiguousarray(rng.uniform(-limit, limit, size=shape), dtype=np.float32)


def _normal(shape, std, rng) -> np.ndarray:
    return np.ascontiguousarray(rng.normal(0.0, std, size=shape), dtype=np.float32)


# --------------------------------------------------------------------------- initializers


def zeros(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """All zeros (the usual bias initializer)."""
    shape = _check_shape(shape)
    return np.zeros(shape, dtype=np.float32)


def ones(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """All ones (e.g. a normalization scale)."""
    shape = _check_shape(shape)
    return np.ones(shape, dtype=np.float32)


def uniform(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """U(-0.05, 0.05), the Keras ``RandomUniform`` default; ignores the fans."""
    shape = _check_shape(shape)
    return _uniform(shape, 0.05, _resolve_rng(rng))


def normal(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """N(0, 0.05^2) (standard deviation 0.05), the Keras ``RandomNormal`` default."""
    shape = _check_shape(shape)
    return _normal(shape, 0.05, _resolve_rng(rng))


def glorot_uniform(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """Glorot/Xavier uniform (Glorot & Bengio 2010): limit = sqrt(6 / (fan_in + fan_out))."""
    shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
    return _uniform(shape, math.sqrt(3.0 * 2.0 / (fi + fo)), rng)


def glorot_normal(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """Glorot/Xavier normal (Glorot & Bengio 2010): std = sqrt(2 / (fan_in + fan_out))."""
    shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
    return _normal(shape, math.sqrt(2.0 / (fi + fo)), rng)


def he_uniform(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """He/Kaiming uniform (He et al. 2015): limit = sqrt(6 / fan_in)."""
    shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
    return _uniform(shape, math.sqrt(3.0 * 2.0 / fi), rng)


def he_normal(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """He/Kaiming normal (He et al. 2015): std = sqrt(2 / fan_in)."""
    shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
    return _normal(shape, math.sqrt(2.0 / fi), rng)


def lecun_uniform(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """LeCun uniform (LeCun et al. 1998): limit = sqrt(3 / fan_in)."""
    shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
    return _uniform(shape, math.sqrt(3.0 * 1.0 / fi), rng)


def lecun_normal(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """LeCun normal (LeCun et al. 1998; the SELU init of Klambauer et al. 2017): std = sqrt(1 / fan_in)."""
    shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
    return _normal(shape, math.sqrt(1.0 / fi), rng)


def orthogonal(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """Random (semi-)orthogonal matrix, gain 1 (Saxe et al. 2014), as Keras
    ``Orthogonal`` / ``torch.nn.init.orthogonal_``: QR of a standard normal
    matrix with the signs of diag(R) folded into Q so the result is uniformly
    (Haar) distributed. The array is viewed as (prod(shape[:-1]), shape[-1]);
    a tall result has orthonormal columns (W^T W = I), a wide one orthonormal
    rows (W W^T = I). Requires at least 2 dimensions."""
    shape = _check_shape(shape)
    rng = _resolve_rng(rng)
    if len(shape) < 2:
        raise ValueError(f"orthogonal initializer needs a shape with at least 2 dims, got {shape}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    if rows == 0 or cols == 0:
        return np.zeros(shape, dtype=np.float32)
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)  # q: (max, min) with orthonormal columns
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    q *= d  # sign correction (Mezzadri 2007)
    if rows < cols:
        q = q.T
    return np.ascontiguousarray(q.reshape(shape), dtype=np.float32)


# Keras VarianceScaling: the truncated normal's std is divided by the standard deviation of a
# unit normal truncated to [-2, 2] (keras/src/initializers/random_initializers.py), so the
# truncated draw has exactly variance scale / n.
_TRUNCATED_STD = 0.87962566103423978
_VS_MODES = ("fan_in", "fan_out", "fan_avg")
_VS_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def _truncated_normal(shape, std, rng) -> np.ndarray:
    """N(0, std^2) redrawn where |x| > 2 std (Keras / TensorFlow ``truncated_normal``)."""
    out = rng.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2.0 * std
    while np.any(bad):  # each pass keeps 95.4% of the redraws: a few passes suffice
        out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2.0 * std
    return np.ascontiguousarray(out, dtype=np.float32)


def variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"
) -> Initializer:
    """An initializer with variance ``scale / n``, Keras ``VarianceScaling``.

    ``n`` is fan_in, fan_out or (fan_in + fan_out) / 2 by ``mode`` (``torch.nn.init.kaiming_*``'s
    ``mode=`` with ``scale=2`` is He's rule computed on either fan).

    Parameters
    ----------
    scale : float, default 1.0
        Positive scaling factor of the variance (2.0 for He, 1.0 for LeCun, 1.0 with
        ``mode="fan_avg"`` for Glorot).
    mode : {"fan_in", "fan_out", "fan_avg"}, default "fan_in"
        Which fan ``n`` is.
    distribution : {"truncated_normal", "untruncated_normal", "uniform"}, default "truncated_normal"
        ``truncated_normal`` draws N(0, s^2) with s = sqrt(scale / n) / 0.87962566103423978
        and redraws values beyond 2 s (Keras' rule: the truncation divides the variance by
        0.8796^2, so the correction restores scale / n); ``untruncated_normal`` draws
        N(0, scale / n); ``uniform`` draws U(-limit, limit), limit = sqrt(3 scale / n).

    Returns
    -------
    callable
        An initializer ``init(shape, fan_in=None, fan_out=None, rng=None)``, accepted as
        ``Dense(init=...)`` (a callable is not stored in a saved model; the weights are).

    Raises
    ------
    TypeError
        ``scale`` not a real number, ``mode`` or ``distribution`` not a str.
    ValueError
        ``scale`` not positive and finite, an unknown ``mode`` or ``distribution``.

    Examples
    --------
    >>> import fastnet as fn
    >>> he_fan_out = fn.init.variance_scaling(2.0, mode="fan_out", distribution="untruncated_normal")
    >>> fn.init.initialize(he_fan_out, (4, 3)).shape
    (4, 3)
    """
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a positive float, got {type(scale).__name__}")
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0.0):
        raise ValueError(f"scale must be a positive finite float, got {scale}")
    for name, value, choices in (
        ("mode", mode, _VS_MODES),
        ("distribution", distribution, _VS_DISTRIBUTIONS),
    ):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

    def init(shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
        shape, fi, fo, rng = _resolve(shape, fan_in, fan_out, rng)
        n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2.0}[mode]
        variance = scale / n
        if distribution == "uniform":
            return _uniform(shape, math.sqrt(3.0 * variance), rng)
        if distribution == "untruncated_normal":
            return _normal(shape, math.sqrt(variance), rng)
        return _truncated_normal(shape, math.sqrt(variance) / _TRUNCATED_STD, rng)

    init.__name__ = init.__qualname__ = (
        f"variance_scaling(scale={scale!r}, mode={mode!r}, distribution={distribution!r})"
    )
    init.__doc__ = f"Variance scale/n initializer: {init.__name__}."
    return init


INITIALIZERS: dict = {
    "zeros": zeros,
    "ones": ones,
    "uniform": uniform,
    "normal": normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
}

# PyTorch / Keras spellings accepted by get(); INITIALIZERS keeps one name each.
_ALIASES = {
    "zero": "zeros",
    "one": "ones",
    "random_uniform": "uniform",
    "random_normal": "normal",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_normal": "he_normal",
}


def get(init: str | Initializer) -> Initializer:
    """Resolve an initializer given by name (case-insensitive; the names of
    INITIALIZERS plus xavier_*/kaiming_* aliases) or return a callable unchanged.

    ValueError for an unknown name (listing the valid ones), TypeError for
    anything that is neither a str nor callable."""
    if isinstance(init, str):
        key = init.strip().lower()
        key = _ALIASES.get(key, key)
        if key in INITIALIZERS:
            return INITIALIZERS[key]
        hint = (
            " ('auto' is resolved per layer by the model; see auto_init_for)"
            if key == "auto"
            else ""
        )
        raise ValueError(
            f"unknown initializer {init!r}{hint}; valid names: {', '.join(sorted(INITIALIZERS))}"
        )
    if callable(init):
        return init
    raise TypeError(f"initializer must be a name (str) or a callable, got {type(init).__name__}")


def initialize(init, shape, fan_in=None, fan_out=None, rng=None) -> np.ndarray:
    """Call ``get(init)`` and check its result: a C-contiguous float32 array of
    exactly ``shape`` with finite values (ValueError otherwise). A user callable's
    float64 or non-contiguous output is converted."""
    fn = get(init)
    shape = _check_shape(shape)
    if fan_in is None or fan_out is None:
        dflt_in, dflt_out = compute_fans(shape)
        fan_in = dflt_in if fan_in is None else fan_in
        fan_out = dflt_out if fan_out is None else fan_out
    out = fn(shape, fan_in, fan_out, _resolve_rng(rng))
    try:
        out = np.asarray(out)
    except Exception as e:
        raise TypeError(
            f"initializer {getattr(fn, '__name__', fn)!r} returned a non-array: {e}"
        ) from None
    if out.dtype.kind not in "fiub":
        raise TypeError(f"initializer {getattr(fn, '__name__', fn)!r} returned dtype {out.dtype}")
    if out.shape != shape:
        raise ValueError(
            f"initializer {getattr(fn, '__name__', fn)!r} returned shape {out.shape}, expected {shape}"
        )
    out = np.ascontiguousarray(out, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"initializer {getattr(fn, '__name__', fn)!r} returned non-finite values")
    return out


# --------------------------------------------------------------------------- init="auto"


def _norm_act(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


# The "init" rule of each activation (csrc/activations/registry.cpp: glorot | he | lecun) and the
# variant init="auto" uses for it (Géron, Hands-On ML, table 11-1; Keras/PyTorch practice).
_RULE_INIT = {"glorot": "glorot_uniform", "he": "he_normal", "lecun": "lecun_normal"}


def _auto_table() -> dict:
    from . import _registry

    return {
        _norm_act(n): _RULE_INIT[e["init"]]
        for e in _registry.entries("activations")
        for n in (e["name"], *e["aliases"])
    }


_AUTO = _auto_table()


def auto_init_for(activation_name: str | None) -> str:
    """The initializer name ``init="auto"`` picks for a Dense followed by
    ``activation_name``, from the "init" rule of the activation's registry entry:
    "glorot_uniform" for None / linear / sigmoid / tanh / softmax, "he_normal" for
    the ReLU family (relu, leaky_relu, prelu, rrelu), elu, gelu (either
    approximation, "gelu_tanh"), swish/silu and mish, "lecun_normal" for selu.

    Matching ignores case, "_", "-" and spaces, so layer class names
    ("LeakyReLU", "SiLU") work too. ValueError for an unknown activation,
    TypeError for a non-str."""
    if activation_name is None:
        return "glorot_uniform"
    if not isinstance(activation_name, str):
        raise TypeError(
            f"activation_name must be a str or None, got {type(activation_name).__name__}"
        )
    key = _norm_act(activation_name)
    if key == "":
        return "glorot_uniform"
    try:
        return _AUTO[key]
    except KeyError:
        from . import _registry

        known = ", ".join(
            n for e in _registry.entries("activations") for n in (e["name"], *e["aliases"])
        )
        raise ValueError(
            f"auto_init_for: unknown activation {activation_name!r}; known: {known}"
        ) from None
