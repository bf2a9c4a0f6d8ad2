"""Sections of bench/run.py measured in fresh child processes: `import`, `memory`, and the
`predict` latencies (bench/latency.py; see there why).

import  wall time of a fresh `python -c 'import X'` for fastnet, torch and numpy (and of
        `python -c pass`, the interpreter alone), the runs interleaved, median of reps.
memory  peak resident memory while training the `mnist` workload, each peer in its own
        process (bench/memory_probe.py): the resident high-water mark (VmHWM, else ru_maxrss)
        after imports and data (baseline), the one after the steps (peak) and their
        difference (training).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMPORTS = {
    "python": "pass",
    "fastnet": "import fastnet",
    "torch": "import torch",
    "numpy": "import numpy",
}


def _run(code: str, env=None) -> float | None:
    """Seconds of one fresh interpreter running code from the repository root, None on error."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    dt = time.perf_counter() - t0
    return dt if done.returncode == 0 else None


def import_env(cache_dir: str) -> dict:
    """The environment of the import runs: bytecode caching on, into cache_dir.

    A user's interpreter imports from cached bytecode (pip compiles an install; Python writes
    __pycache__ on first import). Where PYTHONDONTWRITEBYTECODE is set (as on the benchmark
    VMs) a module whose .pyc is missing or stale is compiled again by every process, which
    timed the compiler (+30-40 ms for fastnet), not the import. PYTHONPYCACHEPREFIX keeps
    those caches out of the source tree; one untimed run of each import fills it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def import_times(reps: int = 5) -> dict:
    """name -> median seconds (None when the import fails, e.g. torch not installed)."""
    samples = {k: [] for k in IMPORTS}
    with tempfile.TemporaryDirectory(prefix="fastnet-bench-pycache-") as cache:
        env = import_env(cache)
        for code in IMPORTS.values():
            _run(code, env)
        for _ in range(reps):
            for name, code in IMPORTS.items():
                samples[name].append(_run(code, env))
    return {
        k: (None if any(t is None for t in v) else statistics.median(v)) for k, v in samples.items()
    }


def predict_latency(threads: int, calls: int, batches, agreement: bool = False) -> dict:
    """bench/latency.py in a fresh process: {"latency": {batch: {peer: {median_us, p99_us,
    calls}}}, "agreement": ... (only when asked; see latency.agreement)}."""
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "latency.py"),
            str(threads),
            str(calls),
            *map(str, batches),
            *(["--agreement"] if agreement else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError("bench/latency.py failed:\n" + done.stderr[-2000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["latency"] = {int(k): v for k, v in out["latency"].items()}
    return out


def peak_memory(peer: str, steps: int) -> dict:
    """The JSON line of bench/memory_probe.py for this peer ({"error": ...} on failure)."""
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "memory_probe.py"), peer, str(steps)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return {"peer": peer, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])
