"""Serving-grade files and pickles (issue 10): saved files honour the umask (and an overwritten
file's mode), no temporary file outlives a failed or killed write, loading treats a file as
untrusted (non-regular files, a malformed layout, an architecture that disagrees with the
tensors, non-finite values: ValueError before anything large is allocated), load_checkpoint
is all or nothing, and models, optimizers and schedules pickle and deep-copy bit for bit.

Anything that could hang (a FIFO, /dev/zero) or that needs its own umask runs in a child
process with a deadline (tests/child.py)."""

import copy
import inspect
import json
import os
import pickle
import re
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from child import run_child
from conftest import mlp, random_data

import fastnet as fn
import fastnet.schedules as schedules
from fastnet import _files
from fastnet import io as fio
from fastnet.optim.base import Optimizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
LOSS = "sparse_categorical_crossentropy"

try:
    import safetensors.numpy  # noqa: F401

    HAVE_SAFETENSORS = True
except ImportError:
    HAVE_SAFETENSORS = False
needs_safetensors = pytest.mark.skipif(not HAVE_SAFETENSORS, reason="fn.save needs safetensors")


def data(n=32, features=6, classes=3, seed=0):
    return random_data(n, features, classes, seed)


def small_model(seed=0):
    return mlp(6, 3, seed=seed)


def rich_model(seed=3):
    """Every kind of arena tensor: weight norm, a fused BatchNorm→ReLU (buffers), dropout and
    RReLU (random streams), a Residual with a BatchNorm inside, PReLU, LayerNorm."""
    return fn.Sequential(
        fn.Dense(6, 8, weight_norm=True),
        fn.BatchNorm(8),
        fn.ReLU(),
        fn.Dropout(0.2),
        fn.Residual(
            fn.Dense(8, 8, activation="relu"), fn.BatchNorm(8), fn.ReLU(), fn.Dense(8, 8), scale=0.5
        ),
        fn.PReLU(8),
        fn.LayerNorm(8),
        fn.RReLU(),
        fn.Dense(8, 3, activation="leaky_relu", alpha=0.2),
        seed=seed,
    )


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def split_file(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def join_file(path, header, data_section, header_text=None):
    text = (header_text if header_text is not None else json.dumps(header)).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data_section)


# =========================================================================== writes

CHILD_WRITES = """
import json, os, stat, sys
os.umask({umask})
import numpy as np
import fastnet as fn
from fastnet import callbacks, plotting
d = {directory!r}
m = fn.Sequential(fn.Dense(4, 2), seed=0)
o = fn.optim.SGD(m.parameters(), lr=0.1)
fn.save(m, os.path.join(d, "model.safetensors"))
fn.save_checkpoint(os.path.join(d, "ckpt.safetensors"), m, o, epoch=1)
X = np.zeros((8, 4), np.float32); y = np.zeros(8, np.int64)
h = m.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=o, epochs=1, verbose=0,
          callbacks=[callbacks.ModelCheckpoint(os.path.join(d, "mc-{{epoch}}.safetensors"),
                                               monitor="loss"),
                     callbacks.CSVLogger(os.path.join(d, "log.csv"))])
try:
    import matplotlib  # noqa: F401
    plotting.plot_history(h, os.path.join(d, "history.png"))
except ImportError:
    pass
print(json.dumps({{n: stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode) for n in os.listdir(d)}}))
"""


@needs_safetensors
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, umask, expected):
    out = run_child(CHILD_WRITES.format(umask=umask, directory=str(tmp_path)), timeout=60, cwd=ROOT)
    modes = json.loads(out.strip().splitlines()[-1])
    assert {"model.safetensors", "ckpt.safetensors", "mc-1.safetensors", "log.csv"} <= set(modes)
    assert {name: oct(m) for name, m in modes.items()} == {name: oct(expected) for name in modes}, (
        f"umask {oct(umask)}"
    )


@needs_safetensors
@pytest.mark.parametrize("existing", [0o640, 0o604, 0o444])
def test_overwrite_keeps_the_existing_mode(tmp_path, existing):
    model = small_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    for name, write in [
        ("m.safetensors", lambda p: fn.save(model, p)),
        ("c.safetensors", lambda p: fn.save_checkpoint(p, model, opt, epoch=0)),
    ]:
        path = tmp_path / name
        write(path)
        os.chmod(path, existing)
        write(path)  # replaces the file (a read-only mode is no obstacle: it is a new inode)
        assert mode_of(path) == existing
        np.testing.assert_array_equal(fn.load(path).get_weights()[0], model.get_weights()[0])
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors", "m.safetensors"]


def test_temporary_file_name_and_permissions(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.basename(src), os.path.dirname(src), mode_of(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    _files.atomic_write_bytes(tmp_path / "x.bin", b"abc")
    ((name, folder, _),) = seen
    assert folder == str(tmp_path)
    assert re.fullmatch(rf"\.x\.bin\.{os.getpid()}\.[0-9a-f]+\.fastnet-tmp", name)
    assert (tmp_path / "x.bin").read_bytes() == b"abc"


def _failing(monkeypatch, what):
    def boom(*args, **kwargs):
        raise OSError(f"{what} failed (simulated)")

    if what == "fchmod":
        monkeypatch.setattr(os, "fsync", boom)  # fchmod errors are tolerated; fail later
    else:
        monkeypatch.setattr(os, what, boom)


@needs_safetensors
@pytest.mark.parametrize("what", ["fsync", "replace"])
def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch, what):
    path = tmp_path / "m.safetensors"
    fn.save(small_model(0), path)
    original = path.read_bytes()
    _failing(monkeypatch, what)
    with pytest.raises(OSError, match="simulated"):
        fn.save(small_model(1), path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert path.read_bytes() == original


@needs_safetensors
def test_failed_serialization_writes_nothing(tmp_path):
    class Odd(fn.Dense):  # a constructor argument that cannot be stored
        def __init__(self, a, b, note=object()):  # noqa: B008 (unstorable on purpose)
            super().__init__(a, b)

    model = fn.Sequential(Odd(6, 3))
    with pytest.raises(TypeError, match="not serializable"):
        fn.save(model, tmp_path / "m.safetensors")
    with pytest.raises(TypeError):
        pickle.dumps(model)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError):
            _files.atomic_write_bytes(folder / "x.bin", b"abc")
        assert os.listdir(folder) == []
    finally:
        os.chmod(folder, 0o755)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = _dead_pid()
    live = os.getppid()
    names = {
        f".m.bin.{dead}.0123abcd.fastnet-tmp": False,  # dead writer, this file: removed
        f".m.bin.{live}.0123abcd.fastnet-tmp": True,  # writer alive: kept
        f".m.bin.{os.getpid()}.0123abcd.fastnet-tmp": True,  # this process (another thread)
        f".other.bin.{dead}.0123abcd.fastnet-tmp": True,  # another file's temporary
        f".m.bin.{dead}.0123abcd.tmp": True,  # not our pattern
        f".m.bin.{dead}.XYZ.fastnet-tmp": True,  # not our pattern
        f"m.bin.{dead}.0123abcd.fastnet-tmp": True,  # no leading dot
    }
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    _files.atomic_write_bytes(tmp_path / "m.bin", b"new")
    left = set(os.listdir(tmp_path))
    assert left == {n for n, keep in names.items() if keep} | {"m.bin"}


KILLED_WRITER = """
import os, time
import fastnet as fn
def stall(fd):
    time.sleep(120)
os.fsync = stall  # the temporary file is written and open when the parent kills us
fn.save(fn.Sequential(fn.Dense(6, 3), seed=1), {path!r})
"""


@needs_safetensors
def test_a_killed_writer_leaves_the_file_intact_and_its_temporary_is_removed_later(tmp_path):
    path = tmp_path / "m.safetensors"
    fn.save(small_model(0), path)
    original = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER.format(path=str(path))],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pattern = re.compile(rf"\.m\.safetensors\.{proc.pid}\.[0-9a-f]+\.fastnet-tmp")
    try:
        deadline = time.monotonic() + 60
        while not any(pattern.fullmatch(n) for n in os.listdir(tmp_path)):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    assert path.read_bytes() == original
    assert len(os.listdir(tmp_path)) == 2
    fn.save(small_model(2), path)
    assert os.listdir(tmp_path) == ["m.safetensors"]


# =========================================================================== non-regular files

CHILD_NON_REGULAR = """
import json, os, socket, sys
import fastnet as fn
d = {directory!r}
good = os.path.join(d, "good.safetensors")
fifo = os.path.join(d, "fifo"); os.mkfifo(fifo)
zero_link = os.path.join(d, "zero.safetensors"); os.symlink("/dev/zero", zero_link)
fifo_link = os.path.join(d, "fifo-link"); os.symlink(fifo, fifo_link)
folder = os.path.join(d, "folder"); os.mkdir(folder)
sock_dir = {sock_dir!r}
sock = os.path.join(sock_dir, "s"); server = socket.socket(socket.AF_UNIX); server.bind(sock)
out = {{}}
for name, path in [("fifo", fifo), ("zero_link", zero_link), ("zero", "/dev/zero"),
                   ("fifo_link", fifo_link), ("folder", folder), ("socket", sock)]:
    for fname in ("load", "load_checkpoint"):
        try:
            getattr(fn, fname)(path)
            out[name + "/" + fname] = "loaded"
        except ValueError as e:
            out[name + "/" + fname] = str(e)
        except Exception as e:
            out[name + "/" + fname] = "WRONG " + type(e).__name__ + ": " + str(e)
# A FIFO swapped in after the check: the open must not block and fstat must refuse it.
real_stat = os.stat
os.stat = lambda p, *a, **k: real_stat(good if p == fifo else p, *a, **k)
try:
    fn.load(fifo)
    out["swapped"] = "loaded"
except ValueError as e:
    out["swapped"] = str(e)
print(json.dumps(out))
"""


@needs_safetensors
def test_non_regular_files_are_refused(tmp_path):
    fn.save(small_model(), tmp_path / "good.safetensors")
    sock_dir = tempfile.mkdtemp(prefix="fn")  # AF_UNIX paths are short
    try:
        out = run_child(
            CHILD_NON_REGULAR.format(directory=str(tmp_path), sock_dir=sock_dir),
            timeout=30,
            cwd=ROOT,
        )
    finally:
        for name in os.listdir(sock_dir):
            os.unlink(os.path.join(sock_dir, name))
        os.rmdir(sock_dir)
    results = json.loads(out.strip().splitlines()[-1])
    kinds = {
        "fifo": "FIFO",
        "zero_link": "character device",
        "zero": "character device",
        "fifo_link": "FIFO",
        "folder": "directory",
        "socket": "socket",
    }
    for key, message in results.items():
        case = key.split("/")[0]
        if case == "swapped":
            assert "FIFO" in message and "fifo" in message, message
            continue
        assert not message.startswith(("WRONG", "loaded")), (key, message)
        assert kinds[case] in message and "not a regular file" in message, (key, message)
    assert str(tmp_path / "fifo") in results["fifo/load"]


def test_open_regular_directly(tmp_path):
    (tmp_path / "f").write_bytes(b"12345")
    fd, size = _files.open_regular(str(tmp_path / "f"))
    try:
        assert size == 5 and bytes(_files.read_exact(fd, 5, "f")) == b"12345"
        with pytest.raises(ValueError, match="ended"):
            _files.read_exact(fd, 1, "f")
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError):
        _files.open_regular(str(tmp_path / "missing"))


# =========================================================================== malformed layouts


def _last(header):
    return max(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0]
    )


def _first(header):
    return min(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0]
    )


def _edit(fn_):
    """A case that edits (header, data) and returns the new pair."""
    return fn_


def _shift_last(h, d):
    last = _last(h)
    b, e = h[last]["data_offsets"]
    h[last]["data_offsets"] = [b + 4, e + 4]
    return h, d[:b] + b"\0" * 4 + d[b:]


def _overlap(h, d):
    last = _last(h)
    size = h[last]["data_offsets"][1] - h[last]["data_offsets"][0]
    h[last]["data_offsets"] = [0, size]
    return h, d


def _meta_not_strings(h, d):
    h["__metadata__"]["architecture"] = json.loads(h["__metadata__"]["architecture"])
    return h, d


# name -> (edit of (header, data) or raw bytes builder, text the message must contain,
#          whether the message names a tensor)
LAYOUT_CASES = {
    "header length beyond the file": (
        lambda raw: struct.pack("<Q", len(raw)) + raw[8:],
        "header of",
        False,
    ),
    "header length zero": (lambda raw: struct.pack("<Q", 0) + raw[8:], "not a fastnet file", False),
    "offsets beyond the file (truncated)": (lambda h, d: (h, d[:-8]), "outside the data", True),
    "offsets far beyond the file": (
        lambda h, d: (
            h.__setitem__(
                _last(h), {**h[_last(h)], "data_offsets": [h[_last(h)]["data_offsets"][0], 10**12]}
            )
            or h,
            d,
        ),
        "outside the data",
        True,
    ),
    "offsets reversed": (
        lambda h, d: (
            h.__setitem__(
                _last(h),
                {**h[_last(h)], "data_offsets": list(reversed(h[_last(h)]["data_offsets"]))},
            )
            or h,
            d,
        ),
        "outside the data",
        True,
    ),
    "byte size disagrees with the shape": (
        lambda h, d: (h["0.weight"].__setitem__("shape", [6, 2]) or h, d),
        "needs 48 bytes",
        True,
    ),
    "byte size disagrees (bigger shape)": (
        lambda h, d: (h["0.weight"].__setitem__("shape", [6, 4]) or h, d),
        "needs 96 bytes",
        True,
    ),
    "overlapping tensors": (_overlap, "overlap", True),
    "gap between tensors": (_shift_last, "unused bytes", True),
    "bytes after the last tensor": (
        lambda h, d: (h, d + b"\0" * 8),
        "after the last tensor",
        False,
    ),
    "unsupported dtype": (
        lambda h, d: (h["0.weight"].__setitem__("dtype", "F64") or h, d),
        "dtype 'F64'",
        True,
    ),
    "object dtype": (
        lambda h, d: (h["0.weight"].__setitem__("dtype", "O") or h, d),
        "dtype 'O'",
        True,
    ),
    "negative dimension": (
        lambda h, d: (h["0.weight"].__setitem__("shape", [-6, -3]) or h, d),
        "non-negative",
        True,
    ),
    "shape not a list": (
        lambda h, d: (h["0.weight"].__setitem__("shape", "6x3") or h, d),
        "non-negative",
        True,
    ),
    "float offsets": (
        lambda h, d: (
            h["0.weight"].__setitem__(
                "data_offsets", [float(o) for o in h["0.weight"]["data_offsets"]]
            )
            or h,
            d,
        ),
        "data_offsets",
        True,
    ),
    "extra entry key": (lambda h, d: (h["0.weight"].__setitem__("x", 1) or h, d), "exactly", True),
    "header not an object": (
        lambda raw: _raw_header(raw, b"[1, 2, 3]"),
        "not a fastnet file",
        False,
    ),
    "header not UTF-8": (lambda raw: _raw_header(raw, b'{"\xff": 1}'), "not valid JSON", False),
    "header JSON nested too deeply": (
        lambda raw: _raw_header(raw, b"[" * 100000 + b"]" * 100000),
        "not valid JSON",
        False,
    ),
    "duplicate tensor name": (
        lambda raw: _raw_header(raw, _duplicated(raw)),
        "duplicate key",
        False,
    ),
    "metadata not strings": (_meta_not_strings, "strings to strings", False),
}


def _raw_header(raw, text):
    text += b" " * (-len(text) % 8)
    (n,) = struct.unpack("<Q", raw[:8])
    return struct.pack("<Q", len(text)) + text + raw[8 + n :]


def _duplicated(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    text = json.dumps(header)
    entry = json.dumps(header["0.bias"])
    return text[:-1].encode() + b', "0.bias": ' + entry.encode() + b"}"


@needs_safetensors
@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_malformed_layouts_give_value_errors(tmp_path, case):
    edit, text, names_tensor = LAYOUT_CASES[case]
    good = tmp_path / "good.safetensors"
    model = small_model()
    fn.save_checkpoint(good, model, fn.optim.SGD(model.parameters(), lr=0.1), epoch=0)
    bad = tmp_path / "bad.safetensors"
    if len(inspect.signature(edit).parameters) == 1:
        bad.write_bytes(edit(good.read_bytes()))
    else:
        header, section = split_file(good)
        header, section = edit(header, section)
        join_file(bad, header, section)
    for load in (fn.load, fn.load_checkpoint):
        with pytest.raises(ValueError) as err:
            load(bad)
        message = str(err.value)
        assert str(bad) in message and text in message, message
        if names_tensor:
            assert re.search(r"tensors? '[^']+'", message), message


@needs_safetensors
def test_header_length_over_100_mb_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge-header.safetensors"
    n = 100 * 1024 * 1024 + 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", n))
        f.truncate(8 + n)  # sparse: nothing is really written
    with pytest.raises(ValueError, match="more than the"):
        fn.load(path)


# =========================================================================== the architecture


def _model_file(tmp_path, layer_configs, tensors, name="declared.safetensors"):
    """A fastnet file whose metadata declares ``layer_configs`` but holds ``tensors``."""
    arch = {"model": "Sequential", "layers": layer_configs, "seed": 0, "core_seed": 1}
    header = {
        "__metadata__": {
            "format": "fastnet",
            "format_version": "1",
            "fastnet_version": fn.__version__,
            "kind": "model",
            "architecture": json.dumps(arch),
        }
    }
    section, offset = b"", 0
    for tname, (shape, nbytes) in tensors.items():
        header[tname] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    section = b"\0" * offset
    path = tmp_path / name
    join_file(path, header, section)
    return path


CHILD_HUGE = """
import json, resource, sys, time
import fastnet as fn


def peak_kb():
    # ru_maxrss survives execve on Linux: a child of a big pytest process would report the
    # parent's peak. VmHWM belongs to this process's own address space.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


t0 = time.perf_counter()
try:
    fn.load({path!r})
    result = "loaded"
except ValueError as e:
    result = str(e)
print(json.dumps({{"seconds": time.perf_counter() - t0, "result": result,
                  "maxrss_kb": peak_kb()}}))
"""


@pytest.mark.parametrize(
    "variant", ["small tensors", "full-size tensors, tiny file", "orthogonal 6000"]
)
def test_a_tiny_file_declaring_a_huge_model_fails_fast(tmp_path, variant):
    big = fio.layer_to_config(fn.Dense(20000, 20000, init="orthogonal"))
    if variant == "small tensors":
        path = _model_file(tmp_path, [big], {"0.weight": ((2, 2), 16), "0.bias": ((2,), 8)})
        expected = "shape (2, 2), the model's is (20000, 20000)"
    elif variant == "full-size tensors, tiny file":
        path = _model_file(tmp_path, [big], {"0.weight": ((2, 2), 16), "0.bias": ((2,), 8)})
        header, section = split_file(path)
        header["0.weight"] = {
            "dtype": "F32",
            "shape": [20000, 20000],
            "data_offsets": [0, 20000 * 20000 * 4],
        }
        join_file(path, header, section)
        expected = "outside the data section"
    else:
        ortho = fio.layer_to_config(fn.Dense(6000, 6000, init="orthogonal"))
        path = _model_file(tmp_path, [ortho], {"0.weight": ((3, 3), 36), "0.bias": ((3,), 12)})
        expected = "shape (3, 3), the model's is (6000, 6000)"
    assert os.path.getsize(path) < 1000
    out = json.loads(
        run_child(CHILD_HUGE.format(path=str(path)), timeout=60, cwd=ROOT).strip().splitlines()[-1]
    )
    assert expected in out["result"] and str(path) in out["result"], out
    assert out["seconds"] < 2.0, out
    assert out["maxrss_kb"] < 300 * 1024, out


@needs_safetensors
def test_loading_runs_no_initializer(tmp_path, monkeypatch):
    model = fn.Sequential(
        fn.Dense(6, 8, init="orthogonal"),
        fn.BatchNorm(8),
        fn.ReLU(),
        fn.PReLU(8),
        fn.LayerNorm(8),
        fn.Residual(fn.Dense(8, 8, weight_norm=True)),
        fn.Dense(8, 3),
        seed=0,
    )
    opt = fn.optim.Adam(model.parameters())
    fn.save(model, tmp_path / "m.safetensors")
    fn.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=1)
    blob = pickle.dumps(model)

    def refuse(*args, **kwargs):
        raise AssertionError("an initializer ran while loading")

    for cls in set(fn.nn.Layer._registry.values()):
        if "_initialize" in cls.__dict__:
            monkeypatch.setattr(cls, "_initialize", refuse)
    with pytest.raises(AssertionError):
        fn.Sequential(fn.Dense(2, 2))  # the patch works: a new model initializes
    X, _ = data()
    for loaded in (
        fn.load(tmp_path / "m.safetensors"),
        fn.load_checkpoint(tmp_path / "c.safetensors").model,
        pickle.loads(blob),
    ):
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@needs_safetensors
def test_tensors_must_match_the_declared_architecture(tmp_path):
    dense = fio.layer_to_config(fn.Dense(6, 3))
    cases = {
        "missing": ({"0.weight": ((6, 3), 72)}, "missing tensors ['0.bias']"),
        "unexpected": (
            {"0.weight": ((6, 3), 72), "0.bias": ((3,), 12), "1.weight": ((1,), 4)},
            "unexpected ['1.weight']",
        ),
        "shape": ({"0.weight": ((3, 6), 72), "0.bias": ((3,), 12)}, "shape (3, 6)"),
    }
    for name, (tensors, text) in cases.items():
        path = _model_file(tmp_path, [dense], tensors, name=f"{name}.safetensors")
        with pytest.raises(ValueError, match=re.escape(text)):
            fn.load(path)
    ok = _model_file(tmp_path, [dense], {"0.weight": ((6, 3), 72), "0.bias": ((3,), 12)})
    assert fn.load(ok).get_weights()[0].shape == (6, 3)


@needs_safetensors
@pytest.mark.parametrize(
    "edit, text",
    [
        (lambda a: a["layers"][0]["config"].__setitem__("in_features", "six"), "in_features"),
        (lambda a: a["layers"][0]["config"].__setitem__("in_features", -1), "in_features"),
        (lambda a: a["layers"][0]["config"].__setitem__("init", "no_such_init"), "no_such_init"),
        (lambda a: a["layers"][0].__setitem__("class", "os.system"), "unknown layer class"),
        (lambda a: a["layers"][0]["config"].__setitem__("bogus", 1), "bogus"),
        (lambda a: a.__setitem__("seed", "zero"), "seed"),
        (lambda a: a.__setitem__("core_seed", -1), "core_seed"),
        (lambda a: a.__setitem__("core_seed", 2**64), "core_seed"),
        (lambda a: a.__setitem__("layers", []), "at least one layer"),
        (lambda a: a.__setitem__("model", "Functional"), "not a fastnet Sequential"),
    ],
)
def test_bad_architecture_metadata_gives_value_errors(tmp_path, edit, text):
    path = tmp_path / "m.safetensors"
    fn.save(small_model(), path)
    header, section = split_file(path)
    arch = json.loads(header["__metadata__"]["architecture"])
    edit(arch)
    header["__metadata__"]["architecture"] = json.dumps(arch)
    join_file(path, header, section)
    with pytest.raises(ValueError) as err:
        fn.load(path)
    assert str(path) in str(err.value) and text in str(err.value), str(err.value)


# =========================================================================== values


def _poison(model, name, index, value):
    model.state_arrays()[name].reshape(-1)[index] = value  # the raw view: no setter checks


@needs_safetensors
@pytest.mark.parametrize(
    "name, value, text",
    [
        ("0.weight_v", np.nan, "NaN or Inf"),
        ("0.weight_g", np.inf, "NaN or Inf"),
        ("1.running_mean", -np.inf, "NaN or Inf"),
        ("1.running_var", np.nan, "NaN or Inf"),
        ("1.running_var", -0.5, "negative"),
        ("4.1.running_var", -1e-3, "negative"),
        ("8.bias", np.nan, "NaN or Inf"),
    ],
)
def test_bad_values_are_refused(tmp_path, name, value, text):
    model = rich_model()
    _poison(model, name, 1, value)
    opt = fn.optim.SGD(model.parameters(), lr=0.1)
    fn.save(model, tmp_path / "m.safetensors")
    fn.save_checkpoint(tmp_path / "c.safetensors", model, opt)
    target = rich_model(seed=9)
    before = target.get_weights()
    cases = [
        (fn.load, "m.safetensors"),
        (fn.load, "c.safetensors"),
        (fn.load_checkpoint, "c.safetensors"),
        (lambda p: fn.load_checkpoint(p, target), "c.safetensors"),
    ]
    for load, file in cases:
        path = tmp_path / file
        with pytest.raises(ValueError) as err:
            load(path)
        message = str(err.value)
        assert f"tensor '{name}'" in message and text in message and str(path) in message, message
    for a, b in zip(before, target.get_weights()):
        np.testing.assert_array_equal(a, b)


@needs_safetensors
def test_a_non_finite_optimizer_state_is_refused(tmp_path):
    model = small_model()
    opt = fn.optim.Adam(model.parameters())
    X, y = data()
    model.train_step(X, y, LOSS, opt)
    opt._core.state_view(0)[0] = np.inf
    fn.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=1)
    with pytest.raises(ValueError, match=r"tensor 'optimizer/state\.0' contains NaN or Inf"):
        fn.load_checkpoint(tmp_path / "c.safetensors")


# =========================================================================== all or nothing


def _edit_checkpoint(path, change):
    header, section = split_file(path)
    ckpt = json.loads(header["__metadata__"]["checkpoint"])
    result = change(ckpt, header, section)
    if result is not None:
        header, section = result
    header["__metadata__"]["checkpoint"] = json.dumps(ckpt)
    join_file(path, header, section)


def _nan_in_state(ckpt, header, section):
    begin, _ = header["optimizer/state.0"]["data_offsets"]
    section = bytearray(section)
    section[begin : begin + 4] = np.array([np.nan], np.float32).tobytes()
    return header, bytes(section)


def _drop_state_tensor(ckpt, header, section):
    ckpt["optimizer"]["state"] = ckpt["optimizer"]["state"][:1]
    return header, section


CHECKPOINT_CORRUPTIONS = {
    "optimizer hyper-parameters": lambda c, h, s: c["optimizer"]["hparams"].__setitem__(0, 0.5),
    "negative slot step": lambda c, h, s: c["optimizer"]["slot_steps"].__setitem__(0, -1),
    "optimizer step count": lambda c, h, s: c["optimizer"].__setitem__("steps", "three"),
    "optimizer parameter sizes": lambda c, h, s: c["optimizer"]["param_groups"][0].__setitem__(
        "sizes", [1, 2]
    ),
    "optimizer lr NaN": lambda c, h, s: c["optimizer"]["param_groups"][0].__setitem__(
        "lr", float("nan")
    ),
    "optimizer kind": lambda c, h, s: c["optimizer"].__setitem__("kind", "sgd"),
    "optimizer class": lambda c, h, s: c.__setitem__("optimizer_class", "SGD"),
    "optimizer state NaN": _nan_in_state,
    "unreferenced optimizer tensor": _drop_state_tensor,
    "missing optimizer tensor": lambda c, h, s: c["optimizer"]["state"].append(
        {"__tensor__": "optimizer/state.9"}
    ),
    "fit generator": lambda c, h, s: c["fit_rng"].__setitem__("bit_generator", "Evil"),
    "fit generator state": lambda c, h, s: c["fit_rng"]["state"].__setitem__("state", "x"),
    "model step negative": lambda c, h, s: c["model_rng"].__setitem__("step", -1),
    "model seed too large": lambda c, h, s: c["model_rng"].__setitem__("seed", 2**64),
    "epoch negative": lambda c, h, s: c.__setitem__("epoch", -1),
    "epoch text": lambda c, h, s: c.__setitem__("epoch", "2"),
}


def _snapshot(model, opt):
    state = opt.state_dict()
    return (
        model.get_weights(),
        [a.copy() for a in state["state"]],
        {k: v for k, v in state.items() if k != "state"},
        model._core.step,
        model._core.seed,
        None if model._training is None else model._training.shuffle_rng.bit_generator.state,
    )


@needs_safetensors
@pytest.mark.parametrize("corruption", sorted(CHECKPOINT_CORRUPTIONS))
def test_load_checkpoint_is_all_or_nothing(tmp_path, corruption):
    X, y = data()
    model = rich_model(seed=1)
    opt = fn.optim.Adam(model.parameters(), lr=0.01)
    model.fit(X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=8, verbose=0, seed=1)
    path = tmp_path / "c.safetensors"
    fn.save_checkpoint(path, model, opt, epoch=2)
    fn.load_checkpoint(path)  # the file is good before the corruption
    _edit_checkpoint(path, CHECKPOINT_CORRUPTIONS[corruption])

    other = rich_model(seed=2)
    other_opt = fn.optim.Adam(other.parameters(), lr=0.01)
    other.fit(X, y, loss=LOSS, optimizer=other_opt, epochs=1, batch_size=16, verbose=0, seed=5)
    before = _snapshot(other, other_opt)
    with pytest.raises(ValueError) as err:
        fn.load_checkpoint(path, other, other_opt)
    assert str(path) in str(err.value)
    after = _snapshot(other, other_opt)
    for a, b in zip(before[0] + before[1], after[0] + after[1]):
        np.testing.assert_array_equal(a, b)
    assert before[2:] == after[2:]
    if corruption not in ("optimizer class", "optimizer kind"):
        with pytest.raises(ValueError):  # rebuilt from the file: refused as well
            fn.load_checkpoint(path, optimizer=other_opt)


# =========================================================================== pickle and copy


def _train(model, opt, steps, seed=0):
    for k in range(steps):
        X, y = data(16, seed=seed + k)
        model.train_step(X, y, LOSS, opt)


def assert_same_model(a, b):
    assert a is not b and a._core is not b._core
    wa, wb = a.state_arrays(), b.state_arrays()
    assert list(wa) == list(wb)
    for name in wa:
        assert wa[name].tobytes() == wb[name].tobytes(), name
        assert not np.shares_memory(wa[name], wb[name])
    assert [layer.trainable for layer in a.layers] == [layer.trainable for layer in b.layers]
    assert [p.trainable for p in a.parameters()] == [p.trainable for p in b.parameters()]
    assert [p.name for p in a.parameters()] == [p.name for p in b.parameters()]
    assert (a._seed, a._core.seed, a._core.step) == (b._seed, b._core.seed, b._core.step)
    assert [repr(x) for x in a.layers] == [repr(x) for x in b.layers]
    for pa in a.parameters():
        assert pa._owner is a


def assert_same_state(oa, ob):
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        if key == "state":
            assert len(sa[key]) == len(sb[key])
            for x, y in zip(sa[key], sb[key]):
                assert x.tobytes() == y.tobytes()
        else:
            assert sa[key] == sb[key], key
    assert type(oa) is type(ob) and oa.lr == ob.lr and oa.clip_mode == ob.clip_mode


COPIES = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "pickle protocol 2": lambda obj: pickle.loads(pickle.dumps(obj, protocol=2)),
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", sorted(COPIES))
def test_model_round_trip(how, one_thread):
    model = rich_model()
    opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    _train(model, opt, 3)
    model[0].freeze()
    model[4].layers[3].parameters()[1].trainable = False  # one parameter, not its layer
    twin = COPIES[how](model)
    assert_same_model(model, twin)
    X, _ = data()
    np.testing.assert_array_equal(model.predict(X), twin.predict(X))
    # The random streams (Dropout, RReLU) continue identically: same seed and step.
    np.testing.assert_array_equal(model.forward(X, training=True), twin.forward(X, training=True))
    assert model._core.step == twin._core.step
    shallow = copy.copy(model)
    assert_same_model(model, shallow)


def _optimizer_classes():
    classes = [getattr(fn.optim, n) for n in fn.optim.__all__]
    return sorted(
        (
            c
            for c in classes
            if isinstance(c, type) and issubclass(c, Optimizer) and not inspect.isabstract(c)
        ),
        key=lambda c: c.__name__,
    )


# Non-default options, so that hyper-parameters and their state really travel.
OPTIMIZER_OPTIONS = {
    "SGD": dict(momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": dict(amsgrad=True, clip_norm=1.0),
    "RMSprop": dict(momentum=0.5, centered=True),
    "Adagrad": dict(clip_value=0.5),
}


def test_the_optimizer_list_is_complete():
    assert {c.__name__ for c in _optimizer_classes()} >= {
        "SGD",
        "Adam",
        "AdamW",
        "Nadam",
        "RMSprop",
        "Adagrad",
        "Adadelta",
    }


def _make_optimizer(cls, model):
    params = model.parameters()
    groups = [{"params": params[:3], "lr": 0.02}, {"params": params[3:]}]
    return cls(groups, lr=0.01, **OPTIMIZER_OPTIONS.get(cls.__name__, {}))


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("cls", _optimizer_classes(), ids=lambda c: c.__name__)
def test_model_and_optimizer_continue_bit_identically(cls, how, one_thread):
    model = rich_model()
    opt = _make_optimizer(cls, model)
    model.parameters()[2].trainable = False
    _train(model, opt, 3)
    opt.lr = 0.015  # a changed lr travels (kept group ratios)
    model2, opt2 = COPIES[how]((model, opt))
    assert opt2._model is model2 and all(
        p._owner is model2 for g in opt2.param_groups for p in g["params"]
    )
    assert_same_model(model, model2)
    assert_same_state(opt, opt2)
    assert [[p.name for p in g["params"]] for g in opt.param_groups] == [
        [p.name for p in g["params"]] for g in opt2.param_groups
    ]
    _train(model, opt, 3, seed=10)
    _train(model2, opt2, 3, seed=10)
    assert_same_model(model, model2)
    assert_same_state(opt, opt2)


@pytest.mark.parametrize("cls", _optimizer_classes(), ids=lambda c: c.__name__)
def test_an_optimizer_alone_brings_its_model(cls, one_thread):
    model = rich_model()
    opt = _make_optimizer(cls, model)
    _train(model, opt, 2)
    for twin in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert twin._model is not model
        assert_same_model(model, twin._model)
        assert_same_state(opt, twin)
    # copy.copy: a second optimizer over the same model, with a copy of the state.
    twin = copy.copy(opt)
    assert twin._model is model and twin._core is not opt._core
    assert_same_state(opt, twin)
    _train(model, twin, 1)
    assert twin.steps == opt.steps + 1


def test_a_fitted_model_keeps_its_optimizer_history_and_shuffle_generator(one_thread):
    X, y = data(40)
    model = rich_model()
    opt = fn.optim.Adam(model.parameters(), lr=0.01)
    model.fit(X, y, loss=LOSS, optimizer=opt, epochs=2, batch_size=8, verbose=0, seed=4)
    model.note = {"owner": "me"}
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert twin.optimizer._model is twin and twin.optimizer is not opt
        assert_same_state(opt, twin.optimizer)
        assert twin.history.history == model.history.history and twin.note == model.note
        assert (
            twin._training.shuffle_rng.bit_generator.state
            == model._training.shuffle_rng.bit_generator.state
        )
    lone = copy.deepcopy(opt)  # the model's copy copies the optimizer: still one of each
    assert lone._model.optimizer is lone
    m2, o2 = pickle.loads(pickle.dumps((model, opt)))
    assert m2.optimizer is o2 and o2._model is m2
    # Resumed fits continue identically (shuffle order, dropout stream, optimizer state).
    h1 = model.fit(
        X, y, loss=LOSS, optimizer=opt, epochs=4, initial_epoch=2, batch_size=8, verbose=0
    )
    h2 = m2.fit(X, y, loss=LOSS, optimizer=o2, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    assert h1.history == h2.history
    assert_same_model(model, m2)


def test_pickling_works_without_safetensors(monkeypatch, one_thread):
    model = rich_model()
    opt = fn.optim.Nadam(model.parameters())
    _train(model, opt, 2)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    assert isinstance(fio.model_payload(model)["tensors"], dict)
    m2, o2 = pickle.loads(pickle.dumps((model, opt)))
    assert_same_model(model, m2)
    assert_same_state(opt, o2)


@needs_safetensors
def test_pickled_tensors_are_safetensors_bytes_and_checked():
    model = small_model()
    payload = fio.model_payload(model)
    assert isinstance(payload["tensors"], bytes)
    for change, text in [
        (lambda p: p.__setitem__("tensors", p["tensors"][:-4]), "outside"),
        (lambda p: p.__setitem__("version", 99), "fastnet version"),
        (lambda p: p.__setitem__("trainable", [True]), "trainable"),
        (lambda p: p.__setitem__("tensors", {}), "missing tensors"),
    ]:
        bad = dict(payload)
        change(bad)
        with pytest.raises(ValueError, match=text):
            fio.model_from_payload(bad)


class ScaledDense(fn.Dense):
    """A user layer class: found by its module when unpickled in a fresh process."""


CHILD_UNPICKLE = """
import pickle, sys
import numpy as np
model = pickle.loads(open({path!r}, "rb").read())
print(type(model.layers[0]).__name__, type(model.layers[0]).__module__,
      model.predict(np.ones((1, 6), np.float32)).tobytes().hex())
"""


def test_user_layer_classes_unpickle_in_a_fresh_process(tmp_path):
    model = fn.Sequential(ScaledDense(6, 3), seed=0)
    path = tmp_path / "m.pickle"
    path.write_bytes(pickle.dumps(model))
    out = run_child(
        CHILD_UNPICKLE.format(path=str(path)),
        timeout=60,
        cwd=ROOT,
        env={"PYTHONPATH": os.pathsep.join([ROOT, TESTS])},
    ).split()
    assert out[:2] == ["ScaledDense", ScaledDense.__module__]
    assert out[2] == model.predict(np.ones((1, 6), np.float32)).tobytes().hex()


def test_public_constructor_is_unchanged():
    params = inspect.signature(fn.Sequential).parameters
    # input_dim (issue 14 item 5: a model starting with Dropout) is the one keyword added.
    assert list(params) == ["layers", "seed", "input_dim"] and params["seed"].default is None
    assert params["input_dim"].default is None
    a = fn.Sequential(fn.Dense(6, 4), fn.BatchNorm(4), fn.ReLU(), fn.Dense(4, 3), seed=5)
    b = fn.Sequential([fn.Dense(6, 4), fn.BatchNorm(4), fn.ReLU(), fn.Dense(4, 3)], seed=5)
    for x, z in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, z)
    assert not hasattr(a, "_init_rng")
    assert a._declared_tensors() == [(n, v.shape) for n, v in a.state_arrays().items()]


# --------------------------------------------------------------------------- schedules

# Constructor arguments per schedule class; the test below fails when a class is missing.
SCHEDULE_ARGS = {
    "ExponentialDecay": dict(lr0=0.1, gamma=0.9, every=3),
    "PowerDecay": dict(lr0=0.1, decay_steps=7.0, power=0.5),
    "StepDecay": dict(lr0=0.1, step_size=4, gamma=0.5),
    "CosineDecay": dict(lr0=0.1, total_steps=20, min_lr=0.001),
    "OneCycle": dict(max_lr=0.1, total_steps=30, pct_start=0.25),
    "Warmup": dict(schedule=schedules.CosineDecay(0.1, 20), warmup_steps=5, start_factor=0.1),
}


def _schedule_classes():
    return sorted(
        (
            c
            for c in vars(schedules).values()
            if isinstance(c, type)
            and issubclass(c, schedules.Schedule)
            and not inspect.isabstract(c)
        ),
        key=lambda c: c.__name__,
    )


def test_every_schedule_class_has_arguments_here():
    assert {c.__name__ for c in _schedule_classes()} <= set(SCHEDULE_ARGS)


@pytest.mark.parametrize("how", [*sorted(COPIES), "copy"])
@pytest.mark.parametrize("cls", _schedule_classes(), ids=lambda c: c.__name__)
def test_schedules_round_trip(cls, how):
    schedule = cls(**SCHEDULE_ARGS[cls.__name__])
    twin = copy.copy(schedule) if how == "copy" else COPIES[how](schedule)
    assert type(twin) is cls and twin is not schedule and repr(twin) == repr(schedule)
    assert [twin(t) for t in range(40)] == [schedule(t) for t in range(40)]
