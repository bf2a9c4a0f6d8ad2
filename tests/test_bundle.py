"""fastnet/bundle.py: a network with its preprocessing in one file, read as untrusted data."""

import json

import numpy as np
import pytest

import fastnet as fn
from fastnet import io as fio
from fastnet.bundle import Bundle, load_bundle, save_bundle
from fastnet.tabular import Preprocessor, table_from_columns


def _bundle(task="classify"):
    table = table_from_columns({"x": [1.0, 2.0, 4.0, None], "c": ["u", "v", "u", "w"]})
    pre = Preprocessor.fit(table, ["x", "c"])
    n_out = 2 if task == "classify" else 1
    model = fn.Sequential(fn.Dense(pre.width, 8), fn.ReLU(), fn.Dense(8, n_out), seed=0)
    if task == "classify":
        return Bundle(model, pre, task, "y", classes=["no", "yes"]), table
    return Bundle(model, pre, task, "y", target_mean=10.0, target_std=2.0), table


@pytest.mark.parametrize("task", ["classify", "regress"])
def test_round_trip_predicts_the_same(tmp_path, task):
    bundle, table = _bundle(task)
    path = tmp_path / "b.safetensors"
    save_bundle(bundle, path)
    again = load_bundle(path)
    assert again.task == task and again.feature_names == ["x", "c"]
    data = {"x": [1.0, None, 3.0], "c": ["u", "w", None]}
    out = bundle.model.predict(bundle.transform(data))
    if task == "classify":
        np.testing.assert_array_equal(again.predict(data), np.array(["no", "yes"])[out.argmax(1)])
        e = np.exp(out - out.max(1, keepdims=True))
        np.testing.assert_allclose(again.predict_proba(data), e / e.sum(1, keepdims=True), 1e-6)
    else:
        np.testing.assert_allclose(again.predict(data), out[:, 0] * 2.0 + 10.0, rtol=1e-6)
        with pytest.raises(RuntimeError, match="classification"):
            again.predict_proba(data)


def _tampered(tmp_path, change):
    bundle, _ = _bundle()
    meta = bundle._metadata()
    change(meta)
    path = tmp_path / "bad.safetensors"
    model = bundle.model
    fio._write(
        str(path),
        fio._model_tensors(model),
        {"kind": "bundle", "architecture": fio._architecture(model), "preprocessing": meta},
    )
    return path


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda m: m.update(bundle_version=9), "unsupported bundle version"),
        (lambda m: m.update(task="cluster"), "task must be"),
        (lambda m: m.update(classes=["a"]), "2\\+ unique"),
        (lambda m: m.update(classes=["a", "a"]), "2\\+ unique"),
        (lambda m: m.update(classes=["a", "b", "c"]), "3 outputs, expected|outputs"),
        (lambda m: m.update(extra=1), "fields must be"),
        (lambda m: m["columns"].pop(), "inputs but the network reads"),
        (lambda m: m["columns"][0].update(std=-1), "std must be positive"),
    ],
)
def test_malformed_bundles_are_refused(tmp_path, change, fragment):
    path = _tampered(tmp_path, change)
    with pytest.raises(ValueError, match=fragment):
        load_bundle(path)


def test_plain_model_and_bad_json_are_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    fn.save(fn.Sequential(fn.Dense(2, 2)), path)
    with pytest.raises(ValueError, match="not a bundle"):
        load_bundle(path)
    bundle, _ = _bundle()
    model = bundle.model
    arch = fio._architecture(model)
    fio._write(
        str(path),
        fio._model_tensors(model),
        {"kind": "bundle", "architecture": arch, "preprocessing": "{not json"},
    )
    with pytest.raises(ValueError, match="preprocessing"):
        load_bundle(path)
    assert json.loads(json.dumps(bundle._metadata()))  # plain JSON: no pickle anywhere


def test_raw_rows_errors():
    bundle, _ = _bundle()
    with pytest.raises(ValueError, match="expected 2 values"):
        bundle.predict([[1.0]])
    with pytest.raises(TypeError, match="CSV path"):
        bundle.predict(3)
    with pytest.raises(ValueError, match="row 2: column 'x': non-numeric value 'q'"):
        bundle.predict({"x": [1.0, "q"], "c": ["u", "u"]})
