"""Saving and loading models and training checkpoints: safetensors files, no pickle.

A file holds every arena tensor of the model under its name ("<layer>.<param>", e.g.
"0.weight"; buffers such as running statistics included) and, in the safetensors metadata
(string -> string), a JSON description:

- ``format``: "fastnet", ``format_version``, ``fastnet_version``, ``kind`` ("model" or
  "checkpoint");
- ``architecture``: the layers as {"class", "config", "trainable"}; the config is each
  layer's constructor arguments (``Layer.get_config``), child layers nested the same way;
- ``checkpoint`` (checkpoints only): epoch, extra, the optimizer's ``state_dict()`` with its
  arrays stored as tensors "optimizer/...", the model's random-stream counters and the fit
  shuffle generator's state, so a resumed fit continues exactly.

Writes are atomic: a temporary file in the target's directory, fsync, then ``os.replace``;
a failed write leaves any existing file untouched.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

from ._files import atomic_write_bytes, check_path as _check_path

from ._validate import check_int

FORMAT = "fastnet"
FORMAT_VERSION = 1
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _safetensors_numpy():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError("fastnet.save/load need the 'safetensors' package: "
                          "pip install 'fastnet[io]' (or pip install safetensors)") from None
    return st


# --------------------------------------------------------------------------- architecture

def _encode_value(value, where: str):
    """A constructor argument as JSON; child layers nested; callables marked (not stored)."""
    from .nn.layers import Layer

    if isinstance(value, Layer):
        return {"__layer__": layer_to_config(value)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _encode_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    if callable(value):
        # A callable (e.g. a custom initializer) cannot be stored as data; the weights are
        # saved anyway, so loading rebuilds the layer with the parameter's default.
        return {"__callable__": getattr(value, "__qualname__", type(value).__name__)}
    raise TypeError(f"cannot save {where}: values of type {type(value).__name__} are not "
                    "serializable (use numbers, strings, lists or layers)")


def layer_to_config(layer) -> dict:
    """{"class": registered name, "config": JSON constructor arguments, "trainable": bool}."""
    from .nn.layers import Layer

    cls = type(layer)
    name = cls.__name__
    if Layer._registry.get(name) is not cls:
        name = f"{cls.__module__}.{cls.__qualname__}"
    config = {k: _encode_value(v, f"{cls.__name__}.{k}") for k, v in layer.get_config().items()}
    return {"class": name, "config": config, "trainable": bool(layer.trainable)}


def _decode_value(value, where: str):
    if isinstance(value, list):
        return [_decode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if "__layer__" in value:
            return layer_from_config(value["__layer__"])
        if "__callable__" in value:
            raise ValueError(f"{where} was a callable ({value['__callable__']}) that cannot be "
                             "restored")
        return {k: _decode_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    return value


def layer_from_config(entry: dict):
    """Rebuild a layer from ``layer_to_config`` output (only registered Layer classes)."""
    from .nn.layers import Layer

    if not isinstance(entry, dict) or not isinstance(entry.get("class"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ValueError(f"bad layer entry in the architecture: {entry!r:.200}")
    cls = Layer._registry.get(entry["class"])
    if cls is None:
        raise ValueError(f"unknown layer class {entry['class']!r} (import the module that "
                         "defines it before loading)")
    config = {}
    for k, v in entry["config"].items():
        if isinstance(v, dict) and "__callable__" in v:
            continue  # not stored: from_config falls back to the parameter's default
        config[k] = _decode_value(v, f"{entry['class']}.{k}")
    layer = cls.from_config(config)
    if entry.get("trainable") is False:
        layer.freeze()
    return layer


def _architecture(model) -> dict:
    seed = model._seed if isinstance(model._seed, (int, np.integer)) else None
    return {"model": "Sequential", "layers": [layer_to_config(layer) for layer in model.layers],
            "seed": None if seed is None else int(seed), "core_seed": int(model._core.seed)}


def _build(arch: dict, where: str):
    from .nn.sequential import Sequential

    if not isinstance(arch, dict) or arch.get("model") != "Sequential" \
            or not isinstance(arch.get("layers"), list):
        raise ValueError(f"{where}: the architecture metadata is not a fastnet Sequential")
    layers = [layer_from_config(entry) for entry in arch["layers"]]
    seed = arch.get("seed")
    # Seed 0 when none was given: the initial weights are overwritten by the file's, and
    # loading must not draw from the global generator.
    model = Sequential(*layers, seed=0 if seed is None else int(seed))
    model._seed = seed
    model._core.seed = int(arch.get("core_seed", model._core.seed))
    return model


# --------------------------------------------------------------------------- file format

def _model_tensors(model) -> dict:
    return {name: np.ascontiguousarray(view) for name, view in model.state_arrays().items()}


def _write(path, tensors: dict, meta: dict) -> None:
    from . import __version__

    st = _safetensors_numpy()
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "fastnet_version": __version__}
    metadata.update({k: json.dumps(v, allow_nan=True) if not isinstance(v, str) else v
                     for k, v in meta.items()})
    atomic_write_bytes(path, st.save(tensors, metadata=metadata))


def _read_header(data: bytes, path: str) -> dict:
    """The JSON header of a safetensors file, checked enough to give a clear error."""
    if len(data) < 8:
        raise ValueError(f"{path} is not a fastnet file: only {len(data)} bytes")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size == 0:
        raise ValueError(f"{path} is not a fastnet file (not safetensors, or truncated: "
                         f"header of {size} bytes in a file of {len(data)})")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path} is not a fastnet file: unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a fastnet file: unreadable safetensors header")
    return header


def _read(path):
    """(metadata with JSON fields decoded, tensors) of a fastnet file, or a ValueError."""
    path = _check_path(path)
    st = _safetensors_numpy()
    with open(path, "rb") as f:
        data = f.read()
    header = _read_header(data, path)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is a safetensors file without fastnet metadata (not written "
                         "by fastnet.save / save_checkpoint)")
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        version = -1
    if not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported fastnet file format version "
                         f"{meta.get('format_version')!r} (this fastnet reads up to "
                         f"{FORMAT_VERSION})")
    try:
        tensors = st.load(data)
    except Exception as e:  # safetensors raises its own error type for corrupt data
        raise ValueError(f"{path} is corrupt or truncated: {e}") from None
    decoded = dict(meta)
    for key in ("architecture", "checkpoint"):
        if key in meta:
            try:
                decoded[key] = json.loads(meta[key])
            except json.JSONDecodeError:
                raise ValueError(f"{path}: the {key} metadata is not valid JSON") from None
    if "architecture" not in decoded:
        raise ValueError(f"{path}: the file has no architecture metadata")
    return decoded, tensors


def _copy_weights(model, tensors: dict, path: str) -> None:
    views = model.state_arrays()
    names = set(tensors) - {k for k in tensors if k.startswith("optimizer/")}
    if names != set(views):
        missing, unexpected = sorted(set(views) - names), sorted(names - set(views))
        raise ValueError(f"{path} does not match the model: missing tensors {missing}, "
                         f"unexpected {unexpected}")
    for name, view in views.items():
        arr = tensors[name]
        if arr.shape != view.shape:
            raise ValueError(f"{path}: tensor {name} has shape {arr.shape}, the model's is "
                             f"{view.shape}")
        if arr.dtype != np.float32:
            raise ValueError(f"{path}: tensor {name} has dtype {arr.dtype}, expected float32")
    for name, view in views.items():
        view[...] = tensors[name]


# --------------------------------------------------------------------------- public API

def save(model, path) -> None:
    """Save the architecture and all weights of a Sequential to ``path`` (safetensors).

    Frozen flags are kept. A layer argument given as a callable (a custom initializer) is not
    stored: it only mattered for the initial weights, and the weights are saved.
    """
    from .nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    path = _check_path(path)
    _write(path, _model_tensors(model), {"kind": "model", "architecture": _architecture(model)})


def load(path):
    """Rebuild the Sequential saved by ``save`` (or ``save_checkpoint``) and its weights."""
    path = _check_path(path)
    meta, tensors = _read(path)
    model = _build(meta["architecture"], path)
    _copy_weights(model, tensors, path)
    return model


def _join(prefix: str, key) -> str:
    return f"{prefix}{key}" if prefix.endswith("/") else f"{prefix}.{key}"


def _split_arrays(value, prefix: str, tensors: dict):
    """Replace the arrays inside a nested dict/list by {"__tensor__": name}, collecting them."""
    if isinstance(value, np.ndarray):
        name = prefix
        tensors[name] = np.ascontiguousarray(value)
        return {"__tensor__": name}
    if isinstance(value, dict):
        return {str(k): _split_arrays(v, _join(prefix, k), tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split_arrays(v, _join(prefix, i), tensors) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join_arrays(value, tensors: dict, path: str):
    if isinstance(value, dict):
        if "__tensor__" in value:
            try:
                return tensors[value["__tensor__"]].copy()
            except KeyError:
                raise ValueError(f"{path}: missing tensor {value['__tensor__']}") from None
        return {k: _join_arrays(v, tensors, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, tensors, path) for v in value]
    return value


def _rng_state(rng):
    """The generator's bit_generator.state as JSON (MT19937's key array as a list)."""
    return None if rng is None else _arrays_to_lists(rng.bit_generator.state)


def _arrays_to_lists(value):
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {k: _arrays_to_lists(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _lists_to_arrays(value):
    if isinstance(value, dict):
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        return {k: _lists_to_arrays(v) for k, v in value.items()}
    return value


def _rng_from_state(state, path):
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"{path}: unknown random generator state {name!r}")
    bitgen = getattr(np.random, name)()
    bitgen.state = _lists_to_arrays(state)
    return np.random.Generator(bitgen)


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` restored: ``model`` and ``optimizer`` (None when not given),
    ``epoch`` (completed epochs: pass it to fit as ``initial_epoch``), ``extra`` (your JSON
    data) and ``optimizer_state`` (the state_dict, for an optimizer you build later)."""

    model: object
    optimizer: object
    epoch: int | None
    extra: object = None
    optimizer_state: dict = field(default_factory=dict)


def save_checkpoint(path, model, optimizer, epoch=None, extra=None) -> None:
    """Save everything a resumed ``fit`` needs: architecture and weights, the optimizer's
    state_dict, ``epoch`` (the number of completed epochs), the model's random-stream counters
    (dropout, RReLU) and the fit shuffle generator; ``extra`` is any JSON-serializable data."""
    from .nn.sequential import Sequential
    from .optim.base import check_optimizer_for

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    check_optimizer_for(model, optimizer)
    if epoch is not None:
        epoch = check_int(epoch, "epoch", 0)
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as e:
        raise TypeError(f"extra must be JSON-serializable: {e}") from None
    path = _check_path(path)
    tensors = _model_tensors(model)
    opt_state = _split_arrays(optimizer.state_dict(), "optimizer/", tensors)
    checkpoint = {
        "epoch": epoch,
        "extra": extra,
        "optimizer": opt_state,
        "optimizer_class": type(optimizer).__name__,
        "model_rng": {"seed": int(model._core.seed), "step": int(model._core.step)},
        "fit_rng": _rng_state(getattr(model, "_fit_rng", None)),
    }
    _write(path, tensors, {"kind": "checkpoint", "architecture": _architecture(model),
                           "checkpoint": checkpoint})


def load_checkpoint(path, model=None, optimizer=None) -> Checkpoint:
    """Restore a checkpoint written by ``save_checkpoint``.

    ``model=None`` rebuilds the model from the file (or takes the optimizer's model); a given
    model must have the same tensors. A given ``optimizer`` (built on that model, same class)
    gets the saved state; otherwise ``optimizer_state`` holds it. Random-stream counters and
    the shuffle generator are restored on the model, so ``fit(..., initial_epoch=ckpt.epoch)``
    continues the interrupted run exactly.
    """
    from .nn.sequential import Sequential
    from .optim.base import Optimizer

    path = _check_path(path)
    if model is not None and not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential or None, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnet optimizer or None, got "
                        f"{type(optimizer).__name__}")
    meta, tensors = _read(path)
    ckpt = meta.get("checkpoint")
    if meta.get("kind") != "checkpoint" or not isinstance(ckpt, dict):
        raise ValueError(f"{path} is a model file, not a checkpoint (use fastnet.load)")
    if model is None:
        model = optimizer._model if optimizer is not None else _build(meta["architecture"], path)
    if optimizer is not None and optimizer._model is not model:
        raise ValueError("optimizer was built on the parameters of another model")
    opt_state = _join_arrays(ckpt.get("optimizer", {}), tensors, path)
    if optimizer is not None and type(optimizer).__name__ != ckpt.get("optimizer_class"):
        raise ValueError(f"{path} holds the state of a {ckpt.get('optimizer_class')} "
                         f"optimizer, not of a {type(optimizer).__name__}")
    _copy_weights(model, tensors, path)
    if optimizer is not None:
        optimizer.load_state_dict(opt_state)
    rng = ckpt.get("model_rng") or {}
    model._core.seed = int(rng.get("seed", model._core.seed))
    model._core.step = int(rng.get("step", 0))
    fit_rng = _rng_from_state(ckpt.get("fit_rng"), path)
    if fit_rng is not None:
        model._fit_rng = fit_rng
    epoch = ckpt.get("epoch")
    return Checkpoint(model=model, optimizer=optimizer,
                      epoch=None if epoch is None else int(epoch), extra=ckpt.get("extra"),
                      optimizer_state=opt_state)
