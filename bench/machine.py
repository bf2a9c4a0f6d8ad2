"""The machine a benchmark ran on, and the peak rates its figures are judged against.

- machine_info: CPU model, cores, versions, the core type each OpenBLAS chose (fastnet's from
  fn.show_config, numpy's from threadpoolctl), the load average.
- sgemm_gflops_numpy / sgemm_gflops_fastnet: single-precision GEMM rate, row-major 2048³, of
  numpy's BLAS and of fastnet's own OpenBLAS (scipy_cblas_sgemm called through ctypes on
  fn._openblas.LIBRARY_PATH). "% of sgemm" uses the higher one. sgemm_gflops_torch: torch.mm,
  for reference (the rate the PyTorch peer's Linear layers can reach).
- stream_bandwidth: a STREAM-like memory bandwidth (McCalpin's copy and add kernels) in NumPy.
"""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import threading
import time

import numpy as np
import torch_peer
from measure import threadpool_info

import fastnet as fn


def cpu_model() -> str:
    """The model name with the x86 family/model numbers (a VM often reports a bare
    "AMD EPYC": family 25 model 17 is Zen 4, whose AVX-512 runs on 256-bit units)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip():
                    break
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


class CpuShare:
    """CPU time other processes took while a run lasted, from /proc/stat (all CPUs, busy =
    everything but idle and iowait) minus this process's own time and its children's
    (os.times). The load average counts the benchmark itself; this does not."""

    def __init__(self):
        self._start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        return time.perf_counter(), busy, t.user + t.system + t.children_user + t.children_system

    def others(self):
        """Mean number of cores kept busy by other processes since construction (or None)."""
        end = self._sample()
        if end is None or self._start is None:
            return None
        wall = end[0] - self._start[0]
        return max(0.0, ((end[1] - self._start[1]) - (end[2] - self._start[2])) / wall)


def load_average():
    """1-minute load average (other processes on a shared machine skew multi-thread figures)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def numpy_blas() -> list:
    """numpy's BLAS libraries as threadpoolctl reports them (empty without threadpoolctl)."""
    if threadpool_info is None:
        return []
    return [
        {
            k: d.get(k)
            for k in (
                "internal_api",
                "prefix",
                "version",
                "architecture",
                "num_threads",
                "filepath",
            )
        }
        for d in threadpool_info()
        if d.get("user_api") == "blas"
        and os.path.realpath(d.get("filepath") or "") != os.path.realpath(fn._openblas.LIBRARY_PATH)
    ]


def machine_info(unset_env: str) -> dict:
    cfg = fn.show_config(print_fn=None)
    blas = numpy_blas()
    return {
        "cpu": cpu_model(),
        "cores": cfg["available_cores"],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_peer.version(),
        "fastnet": fn.__version__,
        "fastnet_openblas_corename": cfg["openblas_corename"],
        "fastnet_openblas": cfg["openblas"],
        "numpy_openblas_corename": next(
            (str(b["architecture"]) for b in blas if "numpy" in (b["filepath"] or "")), "n/a"
        ),
        "blas_libraries": blas,
        "unset_env": unset_env,
        "loadavg_start": load_average(),
    }


def _square_operands(n: int):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    return A, B, np.empty((n, n), np.float32)


def _rate(call, n: int, reps: int) -> float:
    call()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def sgemm_gflops_numpy(n: int = 2048, reps: int = 5) -> float:
    """numpy's float32 n×n matmul, GFLOP/s (median of reps), at the current thread count."""
    A, B, C = _square_operands(n)
    return _rate(lambda: np.matmul(A, B, out=C), n, reps)


def sgemm_gflops_torch(n: int = 2048, reps: int = 5):
    """torch.mm of float32 n×n tensors, GFLOP/s (median of reps), None without torch."""
    if not torch_peer.available():
        return None
    torch = torch_peer._torch
    A, B, C = (torch.from_numpy(x) for x in _square_operands(n))
    return _rate(lambda: torch.mm(A, B, out=C), n, reps)


_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS = 101, 111


def sgemm_gflops_fastnet(n: int = 2048, reps: int = 5) -> float:
    """fastnet's OpenBLAS (scipy_cblas_sgemm, row-major, no transposes, as csrc/blas.h calls
    it), GFLOP/s (median of reps), at the thread count fn.set_num_threads gave it."""
    lib = ctypes.CDLL(fn._openblas.LIBRARY_PATH)
    sgemm = lib.scipy_cblas_sgemm
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    sgemm.restype = None
    A, B, C = _square_operands(n)
    pa, pb, pc = (x.ctypes.data for x in (A, B, C))
    return _rate(
        lambda: sgemm(
            _CBLAS_ROW_MAJOR,
            _CBLAS_NO_TRANS,
            _CBLAS_NO_TRANS,
            n,
            n,
            n,
            1.0,
            pa,
            n,
            pb,
            n,
            0.0,
            pc,
            n,
        ),
        n,
        reps,
    )


def stream_bandwidth(threads: int, floats: int = 16 << 20, reps: int = 7) -> dict:
    """Bytes/s of two NumPy streams over 64 MiB arrays (far beyond the caches), `threads`
    running at once (NumPy releases the GIL inside them): copy b ← a (8 bytes an element
    counted) and in-place add a ← a + b (12 bytes; read-modify-write like an optimizer pass,
    so no write-allocate traffic goes uncounted). Best of reps for each; "best" is the faster
    kernel, which gives the stricter bound."""
    arrays = [(np.ones(floats, np.float32), np.ones(floats, np.float32)) for _ in range(threads)]
    kernels = {
        "copy": (lambda a, b: np.copyto(b, a), 8),
        "add": (lambda a, b: np.add(a, b, out=a), 12),
    }
    out = {}
    for name, (kernel, bytes_per) in kernels.items():
        for pair in arrays:
            kernel(*pair)
        best = 0.0
        for _ in range(reps):
            barrier = threading.Barrier(threads + 1)

            def work(a, b, barrier=barrier, kernel=kernel):  # this round's, bound now
                barrier.wait()
                kernel(a, b)

            ts = [threading.Thread(target=work, args=pair) for pair in arrays]
            for t in ts:
                t.start()
            barrier.wait()
            t0 = time.perf_counter()
            for t in ts:
                t.join()
            best = max(best, threads * bytes_per * floats / (time.perf_counter() - t0))
        out[name] = best
    out["best"] = max(out.values())
    return out
