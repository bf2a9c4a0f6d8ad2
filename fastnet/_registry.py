"""The component registries of the C++ core, read once: ``_core.registry()`` describes every
activation, loss, optimizer and layer kind (name, aliases, doc, typed hyper-parameters with
defaults and ranges, capabilities). Python derives its public classes, accepted names and
checks from these entries instead of keeping lists of its own (csrc/core/spec.h)."""
from __future__ import annotations

from . import _core

_REGISTRY = _core.registry()


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
