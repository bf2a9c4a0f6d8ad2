"""The C++ registries (_core.registry(), fastnet/_registry.py) against the rest of the tree:
every entry is well formed, has its test rows and golden references, and drives the public
classes and checks; the C++ boundary refuses misspelt, missing, out-of-range and mistyped
settings by name."""

from __future__ import annotations

import functools
import inspect
import os

import numpy as np
import pytest
import test_activations
import test_losses
import test_optim

import fastnet as fn
from fastnet import _registry

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
REGISTRY = fn._core.registry()
KINDS = ("activations", "losses", "optimizers", "layers")


def _golden(name):
    return set(np.load(os.path.join(GOLDEN, f"{name}.npz")).files)


# ---------------------------------------------------------------- well formed
@pytest.mark.parametrize("kind", KINDS)
def test_entries_are_well_formed(kind):
    names = set()
    for e in REGISTRY[kind]:
        assert e["name"] and e["doc"].strip(), e
        for n in (e["name"], *e["aliases"]):
            assert n not in names, f"{kind}: {n} registered twice"
            names.add(n)
        for p in e["params"]:
            assert p["type"] in ("float", "int", "bool", "str") and p["doc"], (e["name"], p)
            assert (p["choices"] is not None) == (p["type"] == "str"), (e["name"], p)
            if not p["required"]:  # every default passes its own spec
                assert _registry.check_param(p, p["default"]) == p["default"], (e["name"], p)


# ---------------------------------------------------------------- test rows and golden files
ACTIVATIONS = [e for e in REGISTRY["activations"] if not e.get("identity")]


@pytest.mark.parametrize("entry", ACTIVATIONS, ids=lambda e: e["name"])
def test_every_activation_has_test_rows_and_a_golden_reference(entry):
    name = entry["name"]
    assert name in test_activations.REFERENCE and name in test_activations.LAYERS
    assert name in fn.nn.ACTIVATION_LAYERS
    if not entry.get("random"):
        assert {f"{name}_Y", f"{name}_dZ"} <= _golden("torch_activations"), (
            f"{name}: regenerate tests/golden with tests/golden/make_golden.py"
        )


@pytest.mark.parametrize("entry", REGISTRY["losses"], ids=lambda e: e["name"])
def test_every_loss_has_test_rows_and_golden_references(entry):
    cases = [c for c in test_losses.CASES if c.name == entry["name"]]
    assert cases, f"{entry['name']}: add a row to tests/test_losses.py CASES"
    golden = _golden("torch_losses")
    for c in cases:
        if c.torch_fn is not None:
            assert f"{c.id}|small|value" in golden, f"{c.id}: regenerate tests/golden"


@pytest.mark.parametrize("entry", REGISTRY["optimizers"], ids=lambda e: e["name"])
def test_every_optimizer_has_test_rows_and_golden_references(entry):
    cases = [c for c in test_optim.CASES if c[0] == entry["class"]]
    assert cases, f"{entry['name']}: add a row to tests/test_optim.py CASES"
    golden = _golden("torch_optim")
    for c in cases:
        assert f"{test_optim.case_id(c)}|plain|final0" in golden, "regenerate tests/golden"


# ---------------------------------------------------------------- derived Python
def test_public_classes_come_from_the_registry():
    for e in ACTIVATIONS:
        if e.get("class"):
            cls = getattr(fn, e["class"])
            assert cls.act == e["name"] and cls.__doc__.startswith(e["doc"])
            assert all(p["doc"] in cls.__doc__ for p in e["params"])
            params = inspect.signature(cls).parameters
            assert [p["name"] for p in e["params"]] == [n for n in params if n != "features"]
    for e in REGISTRY["optimizers"]:
        cls = getattr(fn.optim, e["class"])
        assert cls.kind == e["name"] and cls.__doc__.startswith(e["doc"])
        assert "Parameters" in cls.__doc__
        sig = inspect.signature(cls).parameters
        assert sig["lr"].default == _registry.optimizer_entry(e["name"])["params"][0]["default"]
    # beta2 0.99, not torch's 0.999: trainable by default (tests/test_recipes.py, issue 14).
    assert inspect.signature(fn.optim.Adam).parameters["betas"].default == (0.9, 0.99)
    assert inspect.signature(fn.optim.AdamW).parameters["weight_decay"].default == 0.01
    assert fn.SiLU is fn.Swish
    names = {n for e in REGISTRY["activations"] for n in (e["name"], *e["aliases"])}
    assert {fn.init.auto_init_for(n) for n in names} <= {
        "glorot_uniform",
        "he_normal",
        "lecun_normal",
    }


def test_loss_aliases_work_in_train_step_and_checks_follow_the_specs():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2))
    values = []
    for loss in ("mse", "mean_squared_error", "MSE"):
        model = fn.Sequential(fn.Dense(3, 2), seed=1)
        values.append(model.train_step(X, y, loss, fn.optim.SGD(model.parameters(), lr=0.1)))
    assert values[0] == values[1] == values[2]
    model = fn.Sequential(fn.Dense(3, 2), seed=1)
    opt = fn.optim.SGD(model.parameters())
    with pytest.raises(ValueError, match="delta"):
        model.train_step(X, y, functools.partial(fn.losses.huber, delta=-1.0), opt)
    with pytest.raises(TypeError, match="from_logits"):
        model.train_step(X, y, functools.partial(fn.losses.mse, from_logits=True), opt)


# ---------------------------------------------------------------- the C++ boundary
MINIMAL = {
    "dense": {"in_features": 4, "out_features": 4},
    "activation": {"features": 4},
    "batchnorm": {"features": 4},
    "layernorm": {"features": 4},
    "dropout": {"features": 4},
    "alphadropout": {"features": 4},
    "residual": {"children": [{"kind": "dense", "in_features": 4, "out_features": 4}]},
}


@pytest.mark.parametrize("entry", REGISTRY["layers"], ids=lambda e: e["name"])
def test_layer_settings_are_checked_against_the_entry(entry):
    kind = entry["name"]
    base = {"kind": kind, **MINIMAL[kind]}
    fn._core.Model().add(base)  # every kind has its minimal configuration here
    with pytest.raises(ValueError, match=f"{kind}.*unknown setting 'momentun'"):
        fn._core.Model().add({**base, "momentun": 0.9})
    for p in entry["params"]:
        if p["required"]:
            cfg = dict(base)
            del cfg[p["name"]]
            with pytest.raises(ValueError, match=f"{kind}.*{p['name']} is required"):
                fn._core.Model().add(cfg)
        if p["type"] in ("float", "int") and p["low"] is not None:
            with pytest.raises(ValueError, match=f"{kind}.*{p['name']} must be in"):
                fn._core.Model().add({**base, p["name"]: p["low"] - 1})
        wrong = 1.0 if p["type"] == "str" else "x"
        with pytest.raises(TypeError, match=p["name"]):
            fn._core.Model().add({**base, p["name"]: wrong})


def test_batchnorm_typo_is_refused_through_the_public_api_too():
    with pytest.raises(ValueError, match="batchnorm layer: unknown setting 'momentun'"):
        fn._core.Model().add({"kind": "batchnorm", "features": 3, "momentun": 0.9})


def test_optimizer_hyper_parameters_are_checked_by_name_in_cpp():
    model = fn.Sequential(fn.Dense(3, 2))
    slots = [(p._offset, p.size, 0.1, 0.0, p._index) for p in model.parameters()]
    fn._core.Optimizer("sgd", {"momentum": 0.9}, model._core, slots, 0, 0.0)
    with pytest.raises(ValueError, match="sgd: unknown setting 'momentom'"):
        fn._core.Optimizer("sgd", {"momentom": 0.9}, model._core, slots, 0, 0.0)
    with pytest.raises(ValueError, match="unknown setting 'lr'"):  # lr lives on the slots
        fn._core.Optimizer("adam", {"lr": 0.1}, model._core, slots, 0, 0.0)
    with pytest.raises(ValueError, match=r"adam: beta1 must be in \[0, 1\)"):
        fn._core.Optimizer("adam", {"beta1": 1.0}, model._core, slots, 0, 0.0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fn._core.Optimizer("adamax", {}, model._core, slots, 0, 0.0)
