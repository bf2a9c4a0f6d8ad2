"""The component registries of the C++ core, read once through the engine (``_engine.registry()``): it describes every
activation, loss, optimizer and layer kind (name, aliases, doc, typed hyper-parameters with
defaults and ranges, capabilities). Python derives its public classes, accepted names and
checks from these entries instead of keeping lists of its own (csrc/core/spec.h)."""

from __future__ import annotations

from . import _engine

_REGISTRY = _engine.registry()
PY_TYPES = {"float": float, "int": int, "bool": bool, "str": str}


def entries(kind: str) -> list:
    """The entries of one kind: "activations", "losses", "optimizers" or "layers"."""
    return _REGISTRY[kind]


def _index(kind: str) -> dict:
    out = {}
    for e in _REGISTRY[kind]:
        out[e["name"]] = e
        for alias in e["aliases"]:
            out[alias] = e
    return out


_BY_NAME = {kind: _index(kind) for kind in _REGISTRY}


def lookup(kind: str, name: str):
    """The entry of ``kind`` named ``name`` (canonical or alias), or None."""
    return _BY_NAME[kind].get(name)


def optimizer_entry(name: str) -> dict:
    return _BY_NAME["optimizers"][name]


def layer_entry(name: str) -> dict:
    return _BY_NAME["layers"][name]


def check_param(spec: dict, value, name: str | None = None):
    """``value`` checked against one parameter spec of an entry (type, range, choices); the
    message names ``name`` (default: the spec's name). TypeError for a wrong type, ValueError for
    a bad value: the checks of fastnet/_validate.py, driven by the spec."""
    from ._validate import check_bool, check_float, check_int

    name = spec["name"] if name is None else name
    kind = spec["type"]
    if kind == "bool":
        return check_bool(value, name)
    if kind == "int":
        return check_int(value, name, spec["low"], spec["high"])
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
        if spec["choices"] and value not in spec["choices"]:
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, spec['choices']))}, got {value!r}"
            )
        return value
    return check_float(
        value,
        name,
        low=spec["low"],
        high=spec["high"],
        low_open=spec["low_open"],
        high_open=spec["high_open"],
    )


def check_params(entry: dict, values: dict, what: str) -> dict:
    """All of an entry's parameters from ``values`` (missing ones take their defaults), each
    checked; an unknown key is a TypeError naming it, as for an unexpected keyword argument."""
    specs = {p["name"]: p for p in entry["params"]}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise TypeError(
            f"{what}: unexpected argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(specs) or 'none'}"
        )
    return {n: check_param(p, values.get(n, p["default"])) for n, p in specs.items()}


def signature_doc(entry: dict, params=None, extra: str = "") -> str:
    """A NumPy-style docstring from an entry: its doc, then a Parameters section from the
    param docs (``params``: the (name, type, default, doc) rows shown, default: the entry's)."""
    rows = (
        params
        if params is not None
        else [(p["name"], p["type"], p["default"], p["doc"]) for p in entry["params"]]
    )
    text = entry["doc"]
    if rows:
        text += "\n\nParameters\n----------\n"
        text += "\n".join(
            f"{n} : {t}, default {d!r}\n    {doc}" if d is not None else f"{n} : {t}\n    {doc}"
            for n, t, d, doc in rows
        )
    return text + (f"\n\n{extra}" if extra else "")
