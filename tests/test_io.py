"""fn.save / fn.load and checkpoints: round trips of every layer class, atomic writes,
bad files, and a bit-identical resume of fit."""

import json
import os
import sys

import numpy as np
import pytest
from conftest import random_data

import fastnet as fn
from fastnet import io as fio
from fastnet.nn import ACTIVATION_LAYERS, Layer

pytest.importorskip("safetensors")
from safetensors.numpy import save_file  # noqa: E402

LOSS = "sparse_categorical_crossentropy"


def data(n=64, features=6, classes=3, seed=0):
    return random_data(n, features, classes, seed)


def custom_init(shape, fan_in, fan_out, rng):
    return np.full(shape, 0.01, dtype=np.float32)


# Every layer class of fastnet with non-default arguments, so the configs are really used.
NON_DEFAULT = {
    "LeakyReLU": lambda: fn.LeakyReLU(alpha=0.2),
    "PReLU": lambda: fn.PReLU(8, init=0.1),
    "RReLU": lambda: fn.RReLU(lower=0.05, upper=0.4),
    "ELU": lambda: fn.ELU(alpha=0.7),
    "GELU": lambda: fn.GELU(approximate="tanh"),
}


def activation_layers():
    out = []
    for name, make in ACTIVATION_LAYERS.items():
        layer = make() if name != "prelu" else fn.PReLU(8)
        out.append(NON_DEFAULT.get(type(layer).__name__, lambda layer=layer: layer)())
    return out


def test_round_trip_every_layer(tmp_path):
    layers = [fn.Dense(6, 8, init="he_uniform")]
    for act in activation_layers():
        layers += [act, fn.Dense(8, 8, activation="elu", alpha=0.5, bias=False)]
    layers += [
        fn.Dense(8, 8, activation="leaky_relu", alpha=0.3, init=custom_init),
        fn.Dense(8, 3, activation="softmax"),
    ]
    model = fn.Sequential(*layers, seed=4)
    model[0].freeze()
    model[3].freeze()
    path = tmp_path / "model.safetensors"
    fn.save(model, path)
    loaded = fn.load(str(path))

    X, _ = data()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.trainable for a in loaded.layers] == [b.trainable for b in model.layers]
    assert [p.trainable for p in loaded.parameters()] == [p.trainable for p in model.parameters()]
    for a, b in zip(loaded.layers, model.layers):
        got, want = a.get_config(), b.get_config()
        if want.get("init") is custom_init:  # callables are not stored: the default comes back
            assert got.pop("init") == "auto"
            want.pop("init")
        assert got == want
    assert loaded._core.seed == model._core.seed
    # Training forward (RReLU random slopes) also matches: same seed and step counter.
    np.testing.assert_array_equal(loaded.forward(X, training=True), model.forward(X, training=True))


def test_every_registered_fastnet_layer_has_a_config_round_trip():
    """Registry-driven: each fastnet layer class rebuilds from its own config."""
    samples = {type(layer): layer for layer in activation_layers()}
    samples[fn.Dense] = fn.Dense(5, 7, activation="gelu", bias=False)
    for cls in {c for c in Layer._registry.values() if c.__module__.startswith("fastnet.")}:
        layer = samples.get(cls)
        if layer is None:
            continue
        again = fio.layer_from_config(json.loads(json.dumps(fio.layer_to_config(layer))))
        assert type(again) is cls and again.get_config() == layer.get_config()


class Stack(Layer):
    """A test-only container layer (child layers + a keyword), never built into a model."""

    def __init__(self, *layers, scale=1.0):
        super().__init__()
        self.children, self.scale = list(layers), scale

    def _config(self, in_features):
        raise TypeError("Stack is a test-only container and is never built into a model")


def test_child_layers_serialize_recursively():
    inner = fn.Dense(4, 4, activation="relu").freeze()
    outer = Stack(Stack(inner, fn.Tanh()), fn.LeakyReLU(0.3), scale=0.5)
    entry = json.loads(json.dumps(fio.layer_to_config(outer)))
    assert entry["class"] == f"{__name__}.Stack" or entry["class"] == "Stack"
    again = fio.layer_from_config(entry)
    assert again.scale == 0.5 and isinstance(again.children[0], Stack)
    dense, tanh = again.children[0].children
    assert isinstance(dense, fn.Dense) and dense.activation == "relu" and not dense.trainable
    assert isinstance(tanh, fn.Tanh) and again.children[1].alpha == 0.3


def test_round_trip_residual_and_batchnorm_buffers(tmp_path):
    model = fn.Sequential(
        fn.Dense(6, 8),
        fn.BatchNorm(8),
        fn.ReLU(),
        fn.Residual(fn.Dense(8, 8, activation="relu"), fn.Dense(8, 8), scale=0.5),
        fn.Dense(8, 3),
        seed=0,
    )
    X, y = data()
    opt = fn.optim.SGD(model.parameters(), lr=0.05)
    model.fit(X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=16, verbose=0, seed=0)
    fn.save(model, tmp_path / "r.safetensors")
    loaded = fn.load(tmp_path / "r.safetensors")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))  # running stats too


def test_load_leaves_the_global_generator_alone(tmp_path):
    fn.save(fn.Sequential(fn.Dense(6, 32), fn.Dense(32, 3)), tmp_path / "m.safetensors")
    fn.manual_seed(11)
    expected = fn.init.rng_from_seed(None).random(3)
    fn.manual_seed(11)
    fn.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(fn.init.rng_from_seed(None).random(3), expected)


def test_save_is_atomic(tmp_path, monkeypatch):
    X, _ = data()
    path = tmp_path / "m.safetensors"
    first = fn.Sequential(fn.Dense(6, 3), seed=0)
    fn.save(first, path)
    original = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        fn.save(fn.Sequential(fn.Dense(6, 3), seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind
    np.testing.assert_array_equal(fn.load(path).predict(X), first.predict(X))


def test_bad_files_give_value_errors(tmp_path):
    model = fn.Sequential(fn.Dense(6, 3), seed=0)
    good = tmp_path / "good.safetensors"
    fn.save(model, good)
    cases = {
        "random.bin": np.random.default_rng(0).bytes(300),
        "empty.bin": b"",
        "data.json": json.dumps({"layers": [1, 2]}).encode(),
        "truncated.safetensors": good.read_bytes()[:-10],
        "header-cut.safetensors": good.read_bytes()[:40],
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    save_file({"w": np.zeros((2, 2), np.float32)}, str(tmp_path / "foreign.safetensors"))
    save_file(
        {"w": np.zeros((2, 2), np.float32)},
        str(tmp_path / "other.safetensors"),
        metadata={"producer": "someone else"},
    )
    for name in [*cases, "foreign.safetensors", "other.safetensors"]:
        path = str(tmp_path / name)
        with pytest.raises(ValueError) as err:
            fn.load(path)
        assert path in str(err.value)
        with pytest.raises(ValueError):
            fn.load_checkpoint(path)
    with pytest.raises(ValueError, match="not a checkpoint"):
        fn.load_checkpoint(good)
    with pytest.raises(FileNotFoundError):
        fn.load(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="path"):
        fn.load(3)
    with pytest.raises(TypeError, match="Sequential"):
        fn.save("model", good)


def test_missing_safetensors_gives_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"dependency of fastnet.*pip install safetensors"):
        fn.save(fn.Sequential(fn.Dense(2, 2)), tmp_path / "x.safetensors")


def test_safetensors_is_a_required_dependency():
    # Issue 12 part 4: `pip install .` alone must make fn.save work; the old `io` extra stays
    # as an alias so `pip install "fastnet[io]"` keeps working.
    tomllib = pytest.importorskip("tomllib")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    names = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert "safetensors" in names
    assert project["optional-dependencies"]["io"] == ["safetensors>=0.4"]


def test_weights_of_another_architecture_are_refused(tmp_path):
    small = fn.Sequential(fn.Dense(6, 3), seed=0)
    opt = fn.optim.SGD(small.parameters(), lr=0.1)
    fn.save_checkpoint(tmp_path / "c.safetensors", small, opt, epoch=1)
    other = fn.Sequential(fn.Dense(6, 4), fn.Dense(4, 3), seed=0)
    with pytest.raises(ValueError, match="does not match"):
        fn.load_checkpoint(tmp_path / "c.safetensors", other)
    with pytest.raises(ValueError, match="another model"):
        fn.load_checkpoint(
            tmp_path / "c.safetensors", small, fn.optim.SGD(other.parameters(), lr=0.1)
        )
    with pytest.raises(ValueError, match="another model"):
        fn.save_checkpoint(tmp_path / "d.safetensors", other, opt)
    with pytest.raises(TypeError, match="JSON"):
        fn.save_checkpoint(tmp_path / "d.safetensors", small, opt, extra={"a": object()})
    assert not (tmp_path / "d.safetensors").exists()


# --------------------------------------------------------------------------- resume


def resume_model(seed):
    # RReLU draws random slopes in training: the model's step counter must be restored too.
    return fn.Sequential(
        fn.Dense(6, 16), fn.RReLU(), fn.Dense(16, 16, activation="tanh"), fn.Dense(16, 3), seed=seed
    )


def fit_kwargs(X, y):
    Xv, yv = data(32, seed=5)
    return dict(
        loss=LOSS,
        batch_size=10,
        verbose=0,
        validation_data=(Xv, yv),
        schedule=lambda t: 0.05 * 0.98**t,
    )


def test_checkpoint_resume_is_bit_identical(tmp_path, one_thread):
    X, y = data(100)
    kw = fit_kwargs(X, y)

    straight = resume_model(0)
    opt = fn.optim.SGD(straight.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    hist_straight = straight.fit(X, y, optimizer=opt, epochs=4, seed=7, **kw)

    first = resume_model(0)
    opt1 = fn.optim.SGD(first.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    first.fit(X, y, optimizer=opt1, epochs=2, seed=7, **kw)
    path = tmp_path / "ckpt.safetensors"
    fn.save_checkpoint(path, first, opt1, epoch=2, extra={"note": "half way"})

    fresh = resume_model(123)  # different initial weights and seed: all overwritten
    opt2 = fn.optim.SGD(fresh.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    ckpt = fn.load_checkpoint(path, fresh, opt2)
    assert ckpt.epoch == 2 and ckpt.extra == {"note": "half way"} and ckpt.model is fresh
    hist_resumed = fresh.fit(
        X, y, optimizer=opt2, epochs=4, initial_epoch=ckpt.epoch, seed=999, **kw
    )

    for a, b in zip(fresh.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert hist_resumed.epoch == [2, 3]
    for key in ("loss", "val_loss", "lr"):
        assert hist_resumed.history[key] == hist_straight.history[key][2:]
    assert opt2.steps == opt.steps and fresh._core.step == straight._core.step

    # fn.load reads a checkpoint as a plain model file too.
    np.testing.assert_array_equal(fn.load(path).predict(X), first.predict(X))

    # Rebuilt from the file alone, with an optimizer given the saved state afterwards.
    ckpt2 = fn.load_checkpoint(path)
    rebuilt = ckpt2.model
    opt3 = fn.optim.SGD(rebuilt.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt3.load_state_dict(ckpt2.optimizer_state)
    rebuilt.fit(X, y, optimizer=opt3, epochs=4, initial_epoch=2, **kw)
    for a, b in zip(rebuilt.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_optimizer_class_mismatch(tmp_path):
    model = resume_model(0)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    fn.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=0)

    class OtherSGD(fn.optim.SGD):
        pass

    with pytest.raises(ValueError, match="SGD"):
        fn.load_checkpoint(tmp_path / "c.safetensors", model, OtherSGD(model.parameters(), lr=0.1))
