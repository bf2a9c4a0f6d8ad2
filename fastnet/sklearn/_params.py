"""Checks of the estimators' constructor parameters, run at fit (scikit-learn's convention:
``__init__`` and ``set_params`` store values unchecked). The ranges are those of
``sklearn.neural_network``'s ``_parameter_constraints``; fastnet's error policy applies:
TypeError for a wrong type, ValueError for a bad value, each message naming the parameter."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
SOLVERS = ("adam", "sgd", "lbfgs")
LEARNING_RATES = ("constant", "invscaling", "adaptive")


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _int(est, name, low):
    value = getattr(est, name)
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _real(est, name, low, high=None, low_open=False, high_open=False):
    value = getattr(est, name)
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    bad = (
        not np.isfinite(value)
        or (value <= low if low_open else value < low)
        or (high is not None and (value >= high if high_open else value > high))
    )
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open or high is None else "]"
        raise ValueError(
            f"{name} must be in {lo}{low}, {'inf' if high is None else high}{hi}, got {value}"
        )
    return value


def _bool(est, name):
    value = getattr(est, name)
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def _choice(est, name, choices):
    value = getattr(est, name)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def hidden_sizes(value) -> list:
    """``hidden_layer_sizes`` as a list of ints (an int is one hidden layer, as sklearn)."""
    if _is_int(value):
        value = [value]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"hidden_layer_sizes must be an int or a sequence of ints, got {type(value).__name__}"
        )
    sizes = list(value)
    for s in sizes:
        if not _is_int(s):
            raise TypeError(f"hidden_layer_sizes must hold ints, got {s!r}")
        if s < 1:
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}")
    return [int(s) for s in sizes]


def check_params(est) -> dict:
    """Every constructor parameter of ``est`` checked; returns the values fit uses."""
    p = {"hidden": hidden_sizes(est.hidden_layer_sizes)}
    p["activation"] = ACTIVATIONS[_choice(est, "activation", tuple(ACTIVATIONS))]
    p["solver"] = _choice(est, "solver", SOLVERS)
    if p["solver"] == "lbfgs":
        # fastnet has no L-BFGS yet (issue 14 adds it); a silent stand-in would change results.
        raise ValueError(
            "solver='lbfgs' is not supported yet by fastnet.sklearn; use solver='adam' or 'sgd'"
        )
    p["alpha"] = _real(est, "alpha", 0.0)
    if isinstance(est.batch_size, str):
        if est.batch_size != "auto":
            raise ValueError(f"batch_size must be 'auto' or an int >= 1, got {est.batch_size!r}")
        p["batch_size"] = None
    else:
        p["batch_size"] = _int(est, "batch_size", 1)
    p["learning_rate"] = _choice(est, "learning_rate", LEARNING_RATES)
    p["learning_rate_init"] = _real(est, "learning_rate_init", 0.0, low_open=True)
    p["power_t"] = _real(est, "power_t", 0.0)
    p["max_iter"] = _int(est, "max_iter", 1)
    p["shuffle"] = _bool(est, "shuffle")
    p["tol"] = _real(est, "tol", 0.0)
    if not (_is_int(est.verbose) or isinstance(est.verbose, (bool, np.bool_))):
        raise TypeError(f"verbose must be a bool or an int, got {type(est.verbose).__name__}")
    p["verbose"] = int(est.verbose)
    p["warm_start"] = _bool(est, "warm_start")
    p["momentum"] = _real(est, "momentum", 0.0, 1.0)
    p["nesterovs_momentum"] = _bool(est, "nesterovs_momentum")
    p["early_stopping"] = _bool(est, "early_stopping")
    p["validation_fraction"] = _real(est, "validation_fraction", 0.0, 1.0, high_open=True)
    if p["early_stopping"] and p["validation_fraction"] == 0.0:
        raise ValueError("early_stopping=True needs validation_fraction > 0")
    p["beta_1"] = _real(est, "beta_1", 0.0, 1.0, high_open=True)
    p["beta_2"] = _real(est, "beta_2", 0.0, 1.0, high_open=True)
    p["epsilon"] = _real(est, "epsilon", 0.0, low_open=True)
    if _is_real(est.n_iter_no_change) and est.n_iter_no_change == np.inf:
        p["n_iter_no_change"] = np.inf
    else:
        p["n_iter_no_change"] = _int(est, "n_iter_no_change", 1)
    _int(est, "max_fun", 1)  # L-BFGS only; checked so a bad value is not silently kept
    p["batch_norm"] = _bool(est, "batch_norm")
    p["dropout"] = _real(est, "dropout", 0.0, 1.0, high_open=True)
    if est.clip_norm is None:
        p["clip_norm"] = None
    else:
        p["clip_norm"] = _real(est, "clip_norm", 0.0, low_open=True)
    if est.schedule is not None:
        if not callable(est.schedule):
            raise TypeError(
                f"schedule must be a fastnet schedule (step -> lr) or None, "
                f"got {type(est.schedule).__name__}"
            )
        if p["learning_rate"] != "constant":
            raise ValueError(
                f"schedule replaces learning_rate's rule: give learning_rate='constant' with a "
                f"schedule, got learning_rate={p['learning_rate']!r}"
            )
    p["schedule"] = est.schedule
    p["n_threads"] = None if est.n_threads is None else _int(est, "n_threads", 1)
    return p
