#!/usr/bin/env python
"""fastnet benchmark driver (BENCHMARKS.md): fastnet vs PyTorch eager vs a NumPy baseline.

    python bench/run.py                    # every workload fastnet supports, 1 and 2 threads
    python bench/run.py --quick            # tiny and mnist, fewer repetitions (< 1 minute)
    python bench/run.py --threads 1 --workloads tiny,mnist

Peers run interleaved in one process (A B C A B C ...); each figure is the median over
repetitions of the mean time per step of a block of steps, after a warm-up. Prints one table,
writes bench/results/latest.json and, when matplotlib is installed, bench/results/latest.png.
"""
import os
import sys

# OpenBLAS reads these once, when the library loads: they force AVX2 kernels on AVX-512
# machines. A user's machine does not set them, so this process drops them and starts again
# before numpy, fastnet or torch are imported.
_FORCED_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_MARK = "FASTNET_BENCH_UNSET"

if __name__ == "__main__" and any(k in os.environ for k in _FORCED_BLAS_ENV):
    _env = {k: v for k, v in os.environ.items() if k not in _FORCED_BLAS_ENV}
    _env[_UNSET_MARK] = " ".join(f"{k}={os.environ[k]}" for k in _FORCED_BLAS_ENV
                                 if k in os.environ)
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], _env)

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))     # the repository root: fastnet as built in place
sys.path.insert(1, HERE)

import numpy as np  # noqa: E402

import fastnet as fn  # noqa: E402
import fastnet_runner  # noqa: E402
import numpy_baseline  # noqa: E402
import torch_peer  # noqa: E402
from workloads import describe, make_workloads  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # numpy's BLAS then keeps its own thread count (reported)
    threadpool_info = threadpool_limits = None

# Targets (BENCHMARKS.md, "Targets"): (workload, peer column, factor).
TARGETS = [("tiny", "torch", 10.0), ("tiny-bn", "torch", 10.0), ("mnist", "torch", 3.0),
           ("mnist", "numpy", 5.0), ("wide", "torch", 2.0)]


# ----- measurement -----
def warm_and_size(step, block_s: float, warm_s: float) -> int:
    """Run warm-up steps; return how many steps make a block of about block_s seconds."""
    step()
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < warm_s:
        step()
        n += 1
    per_step = (time.perf_counter() - t0) / n
    return max(1, round(block_s / per_step))


def time_block(step, steps: int) -> float:
    """Mean seconds per step over one block."""
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


# Idle time before each timed block. Thread pools spin-wait after their work before they
# sleep (OpenBLAS's pthreads for 2^28 cycles, about 0.1 s; libgomp for a shorter while): a
# block started right after another peer's would share the cores with that peer's spinning
# threads. Only multi-threaded runs need it.
SETTLE_S = 0.25


def interleaved(peers: dict, reps: int, block_s: float, warm_s: float, settle_s: float = 0.0) -> dict:
    """Median µs/step per peer, the peers timed in turn (A B C A B C ...)."""
    live = {name: step for name, step in peers.items() if step is not None}
    sizes = {name: warm_and_size(step, block_s, warm_s) for name, step in live.items()}
    samples = {name: [] for name in live}
    for _ in range(reps):
        for name, step in live.items():
            if settle_s:
                time.sleep(settle_s)
            samples[name].append(time_block(step, sizes[name]))
    return {name: (statistics.median(samples[name]) * 1e6 if name in samples else None)
            for name in peers}


def sgemm_gflops(threads: int, n: int = 2048, reps: int = 5) -> float:
    """Single-precision GEMM rate of numpy's BLAS (n×n float32 matmul) at this thread count."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    C = np.empty((n, n), np.float32)
    np.matmul(A, B, out=C)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(A, B, out=C)
        times.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / statistics.median(times) / 1e9


class Threads:
    """Sets fastnet's, torch's and numpy's BLAS threads together for a with-block."""

    def __init__(self, n: int):
        self.n = n
        self._limits = None

    def __enter__(self):
        if threadpool_limits is not None:
            self._limits = threadpool_limits(limits=self.n, user_api="blas")
        fastnet_runner.set_threads(self.n)   # after threadpoolctl: sets ours and our OpenBLAS
        torch_peer.set_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()


# ----- reporting -----
def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cfg = fn.show_config(print_fn=None)
    numpy_blas = []
    if threadpool_info is not None:
        numpy_blas = [{k: d.get(k) for k in ("internal_api", "prefix", "version", "architecture",
                                               "num_threads", "filepath")}
                      for d in threadpool_info() if d.get("user_api") == "blas"]
    return {
        "cpu": cpu,
        "cores": cfg["available_cores"],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_peer.version(),
        "fastnet": fn.__version__,
        "fastnet_openblas_corename": cfg["openblas_corename"],
        "fastnet_openblas": cfg["openblas"],
        "blas_libraries": numpy_blas,
        "unset_env": os.environ.get(_UNSET_MARK, ""),
        "loadavg_start": load_average(),
    }


def load_average():
    """1-minute load average (other processes on a shared machine skew multi-thread figures)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def fmt(x, spec="{:,.0f}"):
    return "n/a" if x is None else spec.format(x)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def render_table(rows) -> str:
    head = ["workload", "thr", "opt", "fastnet µs", "torch µs", "torch/fn", "numpy µs", "numpy/fn",
            "torch-foreach µs", "GFLOP/s", "% sgemm"]
    body = []
    for r in rows:
        body.append([r["workload"], str(r["threads"]), r["optimizer"], fmt(r["fastnet_us"]),
                     fmt(r["torch_us"]), fmt(r["torch_over_fastnet"], "{:.2f}x"),
                     fmt(r["numpy_us"]), fmt(r["numpy_over_fastnet"], "{:.2f}x"),
                     fmt(r.get("torch_foreach_us")) if r["optimizer"] == "adam" else "-",
                     fmt(r["fastnet_gflops"], "{:.1f}"), fmt(r["pct_sgemm"], "{:.0f}%")])
    widths = [max(len(x[c]) for x in [head] + body) for c in range(len(head))]
    lines = ["  ".join(h.rjust(w) if c > 2 else h.ljust(w) for c, (h, w) in enumerate(zip(head, widths)))]
    lines.append("-" * len(lines[0]))
    for b in body:
        lines.append("  ".join(x.rjust(w) if c > 2 else x.ljust(w)
                               for c, (x, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)


def target_lines(rows) -> list:
    out = []
    for wl, peer, factor in TARGETS:
        for r in rows:
            if r["workload"] != wl or r["optimizer"] != ("adam" if any(
                    x["workload"] == wl and x["optimizer"] == "adam" for x in rows) else "sgd"):
                continue
            got = r[f"{peer}_over_fastnet"]
            verdict = "n/a" if got is None else ("met" if got >= factor else "missed")
            out.append(f"{wl} {r['threads']} thr ({r['optimizer']}): fastnet vs {peer} "
                       f"{fmt(got, '{:.2f}x')} (target >= {factor:g}x): {verdict}")
    return out


def plot(rows, path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels = [f"{r['workload']}\n{r['threads']}t {r['optimizer']}" for r in rows]
    series = [("fastnet", "fastnet_us"), ("torch", "torch_us"), ("numpy", "numpy_us")]
    x = np.arange(len(rows))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4.5))
    for k, (name, key) in enumerate(series):
        vals = [r[key] or 0 for r in rows]
        ax.bar(x + (k - 1) * width, vals, width, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("µs per training step (log scale, lower is better)")
    ax.set_title("fastnet vs PyTorch eager vs NumPy (torch: SGD / fused Adam)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ----- driver -----
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny and mnist only, fewer repetitions")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--workloads", default=None, help="comma-separated workload ids")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per figure")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results folder")
    args = ap.parse_args(argv)

    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if not threads or min(threads) < 1:
        ap.error("--threads needs positive integers")
    loads = make_workloads(fastnet_runner.has_batchnorm(), fastnet_runner.has_dropout())
    if args.workloads:
        names = [w.strip() for w in args.workloads.split(",") if w.strip()]
        unknown = [w for w in names if w not in loads]
        if unknown:
            ap.error(f"unknown or unavailable workload(s) {', '.join(unknown)}; "
                     f"available: {', '.join(loads)}")
    else:
        names = ["tiny", "mnist"] if args.quick else list(loads)
    reps = args.reps or (5 if args.quick else 9)
    block_s, warm_s = (0.02, 0.05) if args.quick else (0.05, 0.2)
    optimizers = ["sgd"] + (["adam"] if fastnet_runner.has_adam() else [])

    notes = []
    if not fastnet_runner.has_adam():
        notes.append("fn.optim.Adam missing: SGD(momentum 0.9, clip_norm 1.0) rows only")
    if not fastnet_runner.has_batchnorm():
        notes.append("fn.BatchNorm missing: tiny-bn and wide skipped")
    notes += [f"{w.name}: {w.note}" for w in loads.values() if w.note and w.name in names]
    if not torch_peer.available():
        notes.append("torch not installed: the torch columns read n/a")

    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores; python {info['python']}, "
          f"numpy {info['numpy']}, torch {info['torch']}, fastnet {info['fastnet']}")
    print(f"removed from this process's environment: {info['unset_env'] or '(none were set)'}")
    print(f"fastnet OpenBLAS core: {info['fastnet_openblas_corename']}; "
          f"load average {info['loadavg_start']}")
    for lib in info["blas_libraries"]:
        print(f"threadpoolctl BLAS: {lib['internal_api']} {lib['version']} "
              f"core {lib['architecture']} ({os.path.basename(lib['filepath'] or '')})")
    for w in names:
        wl = loads[w]
        print(f"workload {w}: {describe(wl.spec)}, batch {wl.batch}, "
              f"{wl.flops_per_step() / 1e6:.1f} MFLOP/step")

    rows, sgemm = [], {}
    t_start = time.perf_counter()
    for n in threads:
        with Threads(n):
            sgemm[n] = sgemm_gflops(n)
            print(f"sgemm 2048x2048 float32 (numpy BLAS), {n} thread(s): {sgemm[n]:.0f} GFLOP/s",
                  flush=True)
            for w in names:
                wl = loads[w]
                X, y = wl.data(seed=0)
                for opt in optimizers:
                    peers = {"fastnet": fastnet_runner.make_step(wl.spec, opt, X, y)}
                    if opt == "sgd":
                        peers["torch"] = torch_peer.make_step(wl.spec, "sgd", X, y)
                    else:
                        peers["torch"] = torch_peer.make_step(wl.spec, "adam-fused", X, y)
                        peers["torch_foreach"] = torch_peer.make_step(wl.spec, "adam", X, y)
                    peers["numpy"] = numpy_baseline.make_step(wl.spec, opt, X, y)
                    r = 5 if w == "wide" and not args.reps else reps
                    us = interleaved(peers, r, block_s, warm_s, SETTLE_S if n > 1 else 0.0)
                    gflops = None if us["fastnet"] is None else wl.flops_per_step() / (us["fastnet"] * 1e3)
                    row = {"workload": w, "threads": n, "optimizer": opt,
                           "model": describe(wl.spec), "batch": wl.batch,
                           "flops_per_step": wl.flops_per_step(),
                           "fastnet_us": us["fastnet"], "torch_us": us["torch"],
                           "torch_foreach_us": us.get("torch_foreach"), "numpy_us": us["numpy"],
                           "torch_over_fastnet": ratio(us["torch"], us["fastnet"]),
                           "numpy_over_fastnet": ratio(us["numpy"], us["fastnet"]),
                           "fastnet_gflops": gflops,
                           "pct_sgemm": None if gflops is None else 100.0 * gflops / sgemm[n],
                           "reps": r}
                    rows.append(row)
                    print(f"  {w:8s} {n} thr {opt:4s}: fastnet {fmt(row['fastnet_us'])} µs, "
                          f"torch {fmt(row['torch_us'])} µs, numpy {fmt(row['numpy_us'])} µs",
                          flush=True)
    elapsed = time.perf_counter() - t_start
    info["loadavg_end"] = load_average()
    busy = max(info["loadavg_start"] or 0, info["loadavg_end"] or 0)
    if busy > info["cores"] - 1:
        notes.append(f"machine busy: load average {info['loadavg_start']} at start, "
                     f"{info['loadavg_end']} at end on {info['cores']} cores; other processes "
                     "compete for the cores, multi-thread figures are unreliable")

    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print()
    print(f"fastnet benchmark, {date}, {info['cpu']} ({info['cores']} cores), OpenBLAS core "
          f"{info['fastnet_openblas_corename']}; torch column: SGD for sgd rows, Adam(fused=True) "
          f"for adam rows; all with clip_grad_norm 1.0")
    print(render_table(rows))
    print("sgemm peak (numpy float32 2048²): " +
          ", ".join(f"{n} thr {g:.0f} GFLOP/s" for n, g in sgemm.items()))
    for line in target_lines(rows):
        print("target: " + line)
    for note in notes:
        print("note: " + note)
    print(f"({elapsed:.0f} s)")

    os.makedirs(args.out, exist_ok=True)
    result = {"date": date, "machine": info, "sgemm_gflops": {str(k): v for k, v in sgemm.items()},
              "method": {"reps": reps, "block_s": block_s, "warm_s": warm_s,
                         "flops": "6*batch*sum(in*out) - 2*batch*in0*out0 (Dense GEMMs only)"},
              "notes": notes, "rows": rows}
    json_path = os.path.join(args.out, "latest.json")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
    png_path = os.path.join(args.out, "latest.png")
    print(f"wrote {json_path}" + (f" and {png_path}" if plot(rows, png_path) else
                                  " (matplotlib missing: no chart)"))
    return result


if __name__ == "__main__":
    main()
