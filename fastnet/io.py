"""Saving and loading models and training checkpoints: safetensors files, no pickle.

A file holds every arena tensor of the model under its name ("<layer>.<param>", e.g.
"0.weight"; buffers such as running statistics included) and, in the safetensors metadata
(string -> string), a JSON description:

- ``format``: "fastnet", ``format_version``, ``fastnet_version``, ``kind`` ("model",
  "checkpoint", or "bundle": a model with its preprocessing, fastnet/bundle.py);
- ``architecture``: the layers as {"class", "config", "trainable"}; the config is each
  layer's constructor arguments (``Layer.get_config``), child layers nested the same way;
- ``checkpoint`` (checkpoints only): epoch, extra, the optimizer's ``state_dict()`` with its
  arrays stored as tensors "optimizer/...", the model's random-stream counters and the fit
  shuffle generator's state, so a resumed fit continues exactly.

Writes are atomic: a temporary file in the target's directory, fsync, then ``os.replace``;
a failed write leaves any existing file untouched, and the new file's mode follows the umask
(or the mode of the file it replaces), see fastnet/_files.py.

Reads treat the file as untrusted input and check it before allocating anything in
proportion to what it declares: only a regular file is read (a FIFO, a device or a
directory is refused), the safetensors layout is parsed here (header length, JSON header,
dtype, shape and byte range of every tensor, no overlaps, no gaps), the declared
architecture's tensor names and shapes are compared with the file's *before* the model is
allocated (its initializers never run: the file's weights overwrite them), and tensor values
must be finite (a BatchNorm running variance also non-negative). ``load_checkpoint`` into an
existing model and optimizer validates everything before it assigns anything.

A pickled Sequential (``pickle`` / ``copy.deepcopy``) carries the same architecture and its
tensors as safetensors bytes (a dict of arrays without safetensors): ``model_payload`` and
``model_from_payload`` below.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import struct
import warnings
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

from . import _engine
from ._files import atomic_write_bytes, open_regular, read_exact
from ._files import check_path as _check_path
from ._validate import check_finite, check_int
from .training import set_shuffle_rng, shuffle_rng

FORMAT = "fastnet"
FORMAT_VERSION = 1
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
# The safetensors dtypes fastnet writes (arena tensors and optimizer state are float32).
_DTYPES = {"F32": np.dtype("<f4")}
_DTYPE_NAMES = {dt: name for name, dt in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # bytes of JSON header; fastnet's own are a few KB
_OPTIMIZER_PREFIX = "optimizer/"


def _safetensors_numpy():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError(
            "fastnet.save and save_checkpoint need the 'safetensors' package, a dependency "
            "of fastnet that is missing from this environment: pip install safetensors"
        ) from None
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
    raise TypeError(
        f"cannot save {where}: values of type {type(value).__name__} are not "
        "serializable (use numbers, strings, lists or layers)"
    )


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
            raise ValueError(
                f"{where} was a callable ({value['__callable__']}) that cannot be restored"
            )
        return {k: _decode_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    return value


def layer_from_config(entry: dict):
    """Rebuild a layer from ``layer_to_config`` output (only registered Layer classes)."""
    from .nn.layers import Layer

    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("class"), str)
        or not isinstance(entry.get("config"), dict)
    ):
        raise ValueError(f"bad layer entry in the architecture: {entry!r:.200}")
    cls = Layer._registry.get(entry["class"])
    if cls is None:
        raise ValueError(
            f"unknown layer class {entry['class']!r} (import the module that "
            "defines it before loading)"
        )
    accepted = list(inspect.signature(cls.__init__).parameters)[1:]
    unknown = sorted(set(entry["config"]) - set(accepted))
    if unknown:  # a file from another version, or edited: it would not be the saved layer
        raise ValueError(
            f"{entry['class']} has no constructor argument {', '.join(unknown)} "
            f"(it takes {', '.join(accepted) or 'none'})"
        )
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
    arch = {
        "model": "Sequential",
        "layers": [layer_to_config(layer) for layer in model.layers],
        "seed": None if seed is None else int(seed),
        "core_seed": _engine.rng_state(model)[0],
    }
    # Only a model whose layers all adapt to their input (Sequential(..., input_dim=)) needs
    # its width stored; other files stay as before.
    if all(layer.input_features() is None for layer in model.layers):
        arch["input_dim"] = int(model.in_features)
    return arch


def _check_seed(value, what: str, where: str, allow_none: bool):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise ValueError(f"{where}: {what} must be an integer in [0, 2**64), got {value!r:.80}")
    return value


def _unbuilt_model(arch, where: str):
    """The Sequential the architecture metadata declares, compiled into C++ layer objects but
    with no arena yet (Sequential._unbuilt): cheap whatever sizes it declares. The caller
    compares ``_declared_tensors()`` with the tensors it has, then ``_allocate``s."""
    from .nn.sequential import Sequential

    if (
        not isinstance(arch, dict)
        or arch.get("model") != "Sequential"
        or not isinstance(arch.get("layers"), list)
    ):
        raise ValueError(f"{where}: the architecture metadata is not a fastnet Sequential")
    seed = _check_seed(arch.get("seed"), "the architecture's seed", where, allow_none=True)
    core_seed = _check_seed(
        arch.get("core_seed", 0 if seed is None else seed),
        "the architecture's core_seed",
        where,
        allow_none=False,
    )
    try:
        layers = [layer_from_config(entry) for entry in arch["layers"]]
        # Seed 0 when none was given: loading must not draw from the global generator (the
        # initializers do not run: every tensor comes from the file).
        input_dim = arch.get("input_dim")
        if input_dim is not None and (
            isinstance(input_dim, bool) or not isinstance(input_dim, int)
        ):
            raise ValueError(f"input_dim must be an integer, got {input_dim!r:.80}")
        model = Sequential._unbuilt(layers, seed=0 if seed is None else seed, input_dim=input_dim)
    except (TypeError, ValueError, OverflowError, RecursionError, RuntimeError) as e:
        text = str(e) if not isinstance(e, RecursionError) else "nested too deeply"
        if where in text:
            raise ValueError(text) from None
        raise ValueError(f"{where}: the architecture cannot be rebuilt: {text}") from None
    model._seed = seed
    _engine.set_rng_state(model, seed=core_seed)
    return model


# --------------------------------------------------------------------------- file format

# One tensor of a safetensors header: dtype name, shape (tuple), byte range in the data section.
_Entry = namedtuple("_Entry", "dtype shape begin end")


def _model_tensors(model) -> dict:
    return {name: np.ascontiguousarray(view) for name, view in model.state_arrays().items()}


def _write(path, tensors: dict, meta: dict) -> None:
    from . import __version__
    from .distributed import is_main

    if not is_main():  # under mpirun the ranks hold the same model: rank 0 writes it
        return

    st = _safetensors_numpy()
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "fastnet_version": __version__,
    }
    metadata.update(
        {k: json.dumps(v, allow_nan=True) if not isinstance(v, str) else v for k, v in meta.items()}
    )
    atomic_write_bytes(path, st.save(tensors, metadata=metadata))


def _header_length(first8, size: int, where: str) -> int:
    """N of a safetensors file of ``size`` bytes starting with ``first8``: 8 + N <= size."""
    if size < 8:
        raise ValueError(f"{where} is not a fastnet file: only {size} bytes")
    (n,) = struct.unpack("<Q", bytes(first8[:8]))
    if n == 0 or n > size - 8:
        raise ValueError(
            f"{where} is not a fastnet file (not safetensors, or truncated: "
            f"header of {n} bytes in a file of {size})"
        )
    if n > _MAX_HEADER:
        raise ValueError(
            f"{where}: the safetensors header declares {n} bytes, more than the "
            f"{_MAX_HEADER} fastnet accepts"
        )
    return n


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _parse_json(text, where: str, what: str):
    try:
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{where}: {what} is not valid JSON ({str(e)[:200]})") from None


def _header(raw, where: str) -> dict:
    header = _parse_json(raw, where, "the safetensors header")
    if not isinstance(header, dict):
        raise ValueError(f"{where} is not a fastnet file: unreadable safetensors header")
    return header


def _entries(header: dict, data_size: int, where: str) -> dict:
    """name -> _Entry for every tensor of a safetensors header, each checked: a dtype fastnet
    writes, a shape of non-negative integers, a byte range [begin, end) inside the data
    section of ``data_size`` bytes with end - begin = prod(shape) * itemsize; together the
    ranges tile the data section exactly (no overlap, no gap, nothing after the last)."""
    entries = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(
                f"{where}: tensor {name!r}: the header entry must hold exactly "
                f"dtype, shape and data_offsets, got {spec!r:.200}"
            )
        dtype = spec["dtype"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise ValueError(
                f"{where}: tensor {name!r} has dtype {dtype!r:.40}; fastnet files "
                f"hold {', '.join(_DTYPES)} only"
            )
        shape = spec["shape"]
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ValueError(
                f"{where}: tensor {name!r} has shape {shape!r:.200}; a shape is a "
                "list of non-negative integers"
            )
        offsets = spec["data_offsets"]
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise ValueError(
                f"{where}: tensor {name!r} has data_offsets {offsets!r:.200}; "
                "expected [begin, end] byte offsets"
            )
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise ValueError(
                f"{where}: tensor {name!r} has data_offsets [{begin}, {end}] "
                f"outside the data section of {data_size} bytes (truncated or "
                "corrupt file)"
            )
        nbytes = math.prod(shape) * _DTYPES[dtype].itemsize
        if end - begin != nbytes:
            raise ValueError(
                f"{where}: tensor {name!r} of shape {tuple(shape)} and dtype "
                f"{dtype} needs {nbytes} bytes but its data_offsets span "
                f"{end - begin}"
            )
        entries[name] = _Entry(dtype, tuple(shape), begin, end)
    position, previous = 0, None
    for name, e in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if e.begin < position:
            raise ValueError(f"{where}: tensors {previous!r} and {name!r} overlap in the file")
        if e.begin > position:
            raise ValueError(
                f"{where}: {e.begin - position} unused bytes before tensor {name!r} (corrupt file)"
            )
        position, previous = e.end, name
    if position != data_size:
        raise ValueError(
            f"{where}: {data_size - position} bytes after the last tensor (corrupt file)"
        )
    return entries


def _fastnet_meta(header: dict, where: str) -> dict:
    """The fastnet metadata of a header, its JSON fields decoded, or a ValueError."""
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"{where} is a safetensors file without fastnet metadata (not written "
            "by fastnet.save / save_checkpoint)"
        )
    if not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{where}: the safetensors metadata must map strings to strings")
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        version = -1
    if not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{where}: unsupported fastnet file format version "
            f"{meta.get('format_version')!r:.40} (this fastnet reads up to "
            f"{FORMAT_VERSION})"
        )
    decoded = dict(meta)
    for key in ("architecture", "checkpoint"):
        if key in meta:
            decoded[key] = _parse_json(meta[key], where, f"the {key} metadata")
    if "architecture" not in decoded:
        raise ValueError(f"{where}: the file has no architecture metadata")
    return decoded


def _tensors(data, entries: dict) -> dict:
    """The arrays of a checked data section (views where aligned, read-only for bytes)."""
    out = {}
    for name, e in entries.items():
        dtype = _DTYPES[e.dtype]
        arr = np.frombuffer(
            data, dtype=dtype, count=(e.end - e.begin) // dtype.itemsize, offset=e.begin
        ).reshape(e.shape)
        if not arr.flags.aligned:
            arr = arr.copy()
        out[name] = arr
    return out


def _check_values(tensors: dict, where: str) -> None:
    """Float tensors finite, BatchNorm running variances non-negative, batch counts whole."""
    for name, arr in tensors.items():
        if arr.dtype.kind == "f":
            check_finite(arr, f"{where}: tensor {name!r}")
        if (
            name.rsplit(".", 1)[-1] == "running_var"
            and not name.startswith(_OPTIMIZER_PREFIX)
            and arr.size
            and float(arr.min()) < 0.0
        ):
            raise ValueError(
                f"{where}: tensor {name!r} (a BatchNorm running variance) has a "
                f"negative entry ({float(arr.min())})"
            )
        if (
            name.rsplit(".", 1)[-1] == "num_batches_tracked"
            and not name.startswith(_OPTIMIZER_PREFIX)
            and arr.size
            and not np.all((arr >= 0) & (arr == np.floor(arr)))
        ):
            raise ValueError(
                f"{where}: tensor {name!r} (a BatchNorm batch count) must hold a "
                f"non-negative integer, got {arr.ravel()[:1]}"
            )


def _read(path: str, before_data=None):
    """(metadata with JSON fields decoded, tensors, before_data's result) of a fastnet file,
    or a ValueError naming the file.

    The header is read and checked first; ``before_data(meta, entries)`` then checks what the
    file declares (the architecture against the tensors) before the data section is read."""
    fd, size = open_regular(path)
    try:
        n = _header_length(read_exact(fd, min(size, 8), path, "header length"), size, path)
        header = _header(read_exact(fd, n, path, "header"), path)
        meta = _fastnet_meta(header, path)
        entries = _entries(header, size - 8 - n, path)
        planned = before_data(meta, entries) if before_data is not None else None
        data = read_exact(fd, size - 8 - n, path, "tensor data")
    finally:
        os.close(fd)
    tensors = _tensors(data, entries)
    _check_values(tensors, path)
    return meta, tensors, planned


def _parse_safetensors(blob, where: str) -> dict:
    """The tensors of safetensors bytes held in memory (a pickled model), checked as a file."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ValueError(f"{where}: the tensors must be safetensors bytes or a dict of arrays")
    blob = memoryview(blob).cast("B")
    n = _header_length(blob[:8], len(blob), where)
    header = _header(blob[8 : 8 + n], where)
    entries = _entries(header, len(blob) - 8 - n, where)
    return _tensors(blob[8 + n :], entries)


def _short(names) -> str:
    names = sorted(names)
    return str(names) if len(names) <= 10 else f"{names[:10]} and {len(names) - 10} more"


def _match(declared, entries: dict, where: str) -> None:
    """The file's model tensors (all but "optimizer/...") must be exactly the declared ones:
    same names, shapes, and float32. ``entries`` maps names to anything with .dtype and
    .shape (an _Entry, or an array)."""
    have = {name for name in entries if not name.startswith(_OPTIMIZER_PREFIX)}
    want = {name for name, _ in declared}
    if have != want:
        raise ValueError(
            f"{where} does not match the model: missing tensors "
            f"{_short(want - have)}, unexpected {_short(have - want)}"
        )
    for name, shape in declared:
        e = entries[name]
        dtype = e.dtype if isinstance(e.dtype, str) else _DTYPE_NAMES.get(e.dtype, str(e.dtype))
        if tuple(e.shape) != tuple(shape):
            raise ValueError(
                f"{where}: tensor {name} has shape {tuple(e.shape)}, the model's is {tuple(shape)}"
            )
        if dtype != "F32":
            raise ValueError(f"{where}: tensor {name} has dtype {dtype}, expected float32 (F32)")


def _assign_weights(model, tensors: dict) -> None:
    """Copy checked tensors (names and shapes already matched) into the model's arena."""
    for name, view in model.state_arrays().items():
        view[...] = tensors[name]


# --------------------------------------------------------------------------- pickle

_PAYLOAD_VERSION = 1


def model_payload(model) -> dict:
    """What a pickled Sequential holds: the architecture (the JSON structure ``save`` writes),
    every arena tensor (safetensors bytes, or a dict of arrays when safetensors is not
    installed), the trainable flag of each parameter, the seed and the random-stream step."""
    tensors = _model_tensors(model)
    try:
        import safetensors.numpy as st
    except ImportError:
        blob = {name: arr.copy() for name, arr in tensors.items()}
    else:
        blob = st.save(tensors)
    return {
        "version": _PAYLOAD_VERSION,
        "architecture": _architecture(model),
        "tensors": blob,
        "trainable": [bool(p.trainable) for p in model.parameters()],
        "seed": model._seed,
        "step": _engine.rng_state(model)[1],
        # Unpickling imports them first, so a user's layer classes are registered in a
        # fresh process as pickle would find any class (files read by load never import).
        "modules": sorted(
            m
            for m in _layer_modules(model.layers, set())
            if m != "fastnet" and not m.startswith("fastnet.")
        ),
    }


def _layer_modules(layers, out: set) -> set:
    """The modules defining these layer classes and those of their child layers."""
    from .nn.layers import Layer

    def visit(value):
        if isinstance(value, Layer):
            out.add(type(value).__module__)
            for v in value.get_config().values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)

    visit(list(layers))
    return out


def model_from_payload(payload):
    """The Sequential of a ``model_payload`` (unpickling), bit for bit."""
    where = "pickled fastnet Sequential"
    if not isinstance(payload, dict) or payload.get("version") != _PAYLOAD_VERSION:
        raise ValueError(f"not a {where} of this fastnet version")
    arch = payload.get("architecture")
    for module in payload.get("modules", ()):
        importlib.import_module(module)
    model = _unbuilt_model(arch, where)
    blob = payload.get("tensors")
    if isinstance(blob, dict):
        if not all(isinstance(a, np.ndarray) for a in blob.values()):
            raise ValueError(f"{where}: the tensors must be numpy arrays")
        tensors = blob
    else:
        tensors = _parse_safetensors(blob, where)
    _match(model._declared_tensors(), tensors, where)
    model._allocate(initialize=False)
    _assign_weights(model, tensors)
    flags = payload.get("trainable")
    params = model.parameters()
    if not isinstance(flags, list) or len(flags) != len(params):
        raise ValueError(f"{where}: one trainable flag per parameter expected")
    for p, flag in zip(params, flags):
        if p.trainable != flag:
            p.trainable = flag
    model._seed = payload.get("seed")
    _engine.set_rng_state(model, step=check_int(payload.get("step"), "step", 0, 2**64 - 1))
    return model


# --------------------------------------------------------------------------- public API


def save(model, path) -> None:
    """Save the architecture and all weights of a Sequential to ``path`` (safetensors).

    Frozen flags are kept. A layer argument given as a callable (a custom initializer) is not
    stored: it only mattered for the initial weights, and the weights are saved. The file is
    written to a temporary file and then renamed over ``path`` (atomic); no pickle, no code.
    Under ``mpirun`` (fastnet.distributed) only rank 0 writes.

    Parameters
    ----------
    model : Sequential
    path : str or os.PathLike
        The file to write (``.safetensors`` by convention).

    Raises
    ------
    TypeError
        If ``model`` is not a Sequential or ``path`` not a path.
    ImportError
        If the ``safetensors`` package (a dependency of fastnet) is missing.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastnet as fn
    >>> model = fn.Sequential(fn.Dense(4, 3), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> fn.save(model, path)
    >>> bool((fn.load(path).parameters()[0].data == model.parameters()[0].data).all())
    True
    """
    from .nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    path = _check_path(path)
    _write(path, _model_tensors(model), {"kind": "model", "architecture": _architecture(model)})


def load(path):
    """Rebuild the Sequential saved by ``save`` (or ``save_checkpoint``) and its weights.

    The file is checked before anything is allocated for it: a regular file, a well-formed
    safetensors layout, and exactly the tensors (names, shapes, float32) of the architecture
    it declares; the model is then built without running its initializers and filled from
    the file. Values must be finite. A bad file gives a ValueError naming it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Sequential
        The saved model with its weights and frozen flags.

    Raises
    ------
    TypeError
        If ``path`` is not a path.
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a regular file, not a fastnet safetensors file, or its tensors do
        not match its architecture or are not finite.
    """
    path = _check_path(path)

    def plan(meta, entries):
        if meta.get("kind") == "bundle":
            # The network alone predicts wrongly on raw rows (issue 12): say so.
            warnings.warn(
                f"{path} is a bundle: fn.load returns its network without the preprocessing "
                "(imputation, one-hot, standardisation, class labels); "
                "fn.load_bundle(path).predict(raw rows) applies it",
                stacklevel=4,  # plan <- _read <- load <- the caller
            )
        model = _unbuilt_model(meta["architecture"], path)
        _match(model._declared_tensors(), entries, path)
        return model

    _, tensors, model = _read(path, plan)
    model._allocate(initialize=False)
    _assign_weights(model, tensors)
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
            name = value["__tensor__"]
            if not isinstance(name, str) or name not in tensors:
                raise ValueError(f"{path}: missing tensor {name!r:.100}")
            return tensors[name].copy()
        return {k: _join_arrays(v, tensors, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, tensors, path) for v in value]
    return value


def _tensor_refs(value, out: set) -> set:
    """The tensor names a checkpoint's optimizer JSON refers to ({"__tensor__": name})."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            out.add(value["__tensor__"] if isinstance(value["__tensor__"], str) else None)
        else:
            for v in value.values():
                _tensor_refs(v, out)
    elif isinstance(value, list):
        for v in value:
            _tensor_refs(v, out)
    return out


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
            dtype = np.dtype(value["dtype"])
            if dtype.kind not in "iu":
                raise ValueError(f"an integer array was expected, got dtype {dtype}")
            return np.asarray(value["__array__"], dtype=dtype)
        return {k: _lists_to_arrays(v) for k, v in value.items()}
    return value


def _rng_from_state(state, path):
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"{path}: unknown random generator state {name!r}")
    bitgen = getattr(np.random, name)()
    try:
        bitgen.state = _lists_to_arrays(state)
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ValueError(
            f"{path}: the saved {name} random generator state is invalid: {str(e)[:200]}"
        ) from None
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
    (dropout, RReLU) and the fit shuffle generator; ``extra`` is any JSON-serializable data.
    Under ``mpirun`` (fastnet.distributed) only rank 0 writes."""
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
        "model_rng": dict(zip(("seed", "step"), _engine.rng_state(model))),
        "fit_rng": _rng_state(shuffle_rng(model)),
    }
    _write(
        path,
        tensors,
        {"kind": "checkpoint", "architecture": _architecture(model), "checkpoint": checkpoint},
    )


def load_checkpoint(path, model=None, optimizer=None) -> Checkpoint:
    """Restore a checkpoint written by ``save_checkpoint``.

    ``model=None`` rebuilds the model from the file (or takes the optimizer's model); a given
    model must have the same tensors. A given ``optimizer`` (built on that model, same class)
    gets the saved state; otherwise ``optimizer_state`` holds it. Random-stream counters and
    the shuffle generator are restored on the model, so ``fit(..., initial_epoch=ckpt.epoch)``
    continues the interrupted run exactly.

    All or nothing: the file (see ``load``), the weights, the optimizer state, the random
    states and the epoch are all checked before the model or optimizer is changed; after a
    ValueError both are as they were.
    """
    from .nn.sequential import Sequential
    from .optim.base import Optimizer

    path = _check_path(path)
    if model is not None and not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential or None, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a fastnet optimizer or None, got {type(optimizer).__name__}"
        )
    if optimizer is not None and model is not None and optimizer._model is not model:
        raise ValueError("optimizer was built on the parameters of another model")
    given = model if model is not None else (optimizer._model if optimizer is not None else None)

    def plan(meta, entries):
        ckpt = meta.get("checkpoint")
        if meta.get("kind") != "checkpoint" or not isinstance(ckpt, dict):
            raise ValueError(f"{path} is a model file, not a checkpoint (use fastnet.load)")
        if optimizer is not None and type(optimizer).__name__ != ckpt.get("optimizer_class"):
            raise ValueError(
                f"{path} holds the state of a {ckpt.get('optimizer_class')!r:.60} "
                f"optimizer, not of a {type(optimizer).__name__}"
            )
        target = given if given is not None else _unbuilt_model(meta["architecture"], path)
        _match(target._declared_tensors(), entries, path)
        refs = _tensor_refs(ckpt.get("optimizer", {}), set())
        stored = {name for name in entries if name.startswith(_OPTIMIZER_PREFIX)}
        if refs != stored:
            raise ValueError(
                f"{path}: the optimizer state refers to tensors "
                f"{_short(n for n in refs - stored if n is not None)}"
                f"{' (and a non-string name)' if None in refs else ''} that are not "
                f"in the file, and the file has {_short(stored - refs)} it does "
                "not use"
            )
        return target

    meta, tensors, target = _read(path, plan)
    ckpt = meta["checkpoint"]

    # ----- check everything -----
    opt_state = _join_arrays(ckpt.get("optimizer", {}), tensors, path)
    checked_state = None
    if optimizer is not None:
        try:
            checked_state = optimizer._check_state(opt_state)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"{path}: the optimizer state does not fit this {type(optimizer).__name__}: {e}"
            ) from None
    rng = ckpt.get("model_rng", {})
    if not isinstance(rng, dict):
        raise ValueError(f"{path}: model_rng must be a dict, got {rng!r:.80}")
    seed = _check_seed(rng.get("seed", _engine.rng_state(target)[0]), "model_rng seed", path, False)
    step = _check_seed(rng.get("step", 0), "model_rng step", path, False)
    fit_rng = _rng_from_state(ckpt.get("fit_rng"), path)
    epoch = ckpt.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
        raise ValueError(f"{path}: epoch must be a non-negative integer or null, got {epoch!r:.80}")

    # ----- then assign (nothing below fails on the file's contents) -----
    if given is None:
        target._allocate(initialize=False)
    _assign_weights(target, tensors)
    if optimizer is not None:
        optimizer._apply_state(checked_state)
    _engine.set_rng_state(target, seed=seed, step=step)
    if fit_rng is not None:
        set_shuffle_rng(target, fit_rng, optimizer)
    return Checkpoint(
        model=target,
        optimizer=optimizer,
        epoch=epoch,
        extra=ckpt.get("extra"),
        optimizer_state=opt_state,
    )
