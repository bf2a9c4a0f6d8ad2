"""The `optim` workload of BENCHMARKS.md: global-norm clip + Adam update over the ~10.5M
parameters of the `wide` model (Dense 1024→2048→2048→2048→10), update only.

Peers, interleaved (A B C A B C …), median of the repetitions after a warm-up:
  fastnet  Adam(lr=1e-3, clip_norm=1.0).step()      one reduction + one fused pass
  torch    clip_grad_norm_(params, 1.0) + Adam(fused=True).step()
  torch    clip_grad_norm_(params, 1.0) + Adam().step()   (default implementation)
and the bandwidth bound: 28 bytes a parameter (read p, g, m, v; write p, m, v) plus 4 for the
norm's read of g, at the stream bandwidth measured here with NumPy (see stream_bandwidth).

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/optim_bench.py
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastnet as fn  # noqa: E402

BYTES_PER_PARAM = 28 + 4


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def stream_bandwidth(threads: int, floats: int = 16 << 20, reps: int = 7) -> float:
    """Bytes/s of the faster of two NumPy streams over 64 MiB arrays, `threads` running at
    once (NumPy releases the GIL inside them): copy dst ← src (8 bytes an element counted) and
    in-place add a ← a + b (12 bytes; read-modify-write like the optimizer pass, so no
    write-allocate traffic goes uncounted). The faster one gives the stricter bound."""
    arrays = [(np.ones(floats, np.float32), np.ones(floats, np.float32)) for _ in range(threads)]
    kernels = [(lambda a, b: np.copyto(b, a), 8), (lambda a, b: np.add(a, b, out=a), 12)]
    best = 0.0
    for kernel, bytes_per in kernels:
        for pair in arrays:
            kernel(*pair)
        for _ in range(reps):
            barrier = threading.Barrier(threads + 1)

            def work(a, b):
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
    return best


def build_fastnet():
    model = fn.Sequential(fn.Dense(1024, 2048), fn.ReLU(), fn.Dense(2048, 2048), fn.ReLU(),
                          fn.Dense(2048, 2048), fn.ReLU(), fn.Dense(2048, 10), seed=0)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(p.shape).astype(np.float32) * 1e-3 for p in model.parameters()]
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    opt = fn.optim.Adam(model.parameters(), lr=1e-3, clip_norm=1.0)
    return model, opt, grads


def build_torch(model, grads, fused):
    import torch

    params = []
    for p, g in zip(model.parameters(), grads):
        t = torch.nn.Parameter(torch.tensor(p.data.copy()))
        t.grad = torch.tensor(g)
        params.append(t)
    opt = torch.optim.Adam(params, lr=1e-3, fused=fused)

    def step():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    return step


def time_once(fn_step) -> float:
    t0 = time.perf_counter()
    fn_step()
    return time.perf_counter() - t0


def run(threads: int, reps: int, warmup: int):
    fn.set_num_threads(threads)
    model, opt, grads = build_fastnet()
    n_params = model.count_params()
    peers = {"fastnet": opt.step}
    try:
        import torch

        torch.set_num_threads(threads)
        peers["torch fused"] = build_torch(model, grads, fused=True)
        peers["torch default"] = build_torch(model, grads, fused=None)
    except ImportError:
        pass
    times = {k: [] for k in peers}
    for r in range(warmup + reps):
        for name, step in peers.items():
            dt = time_once(step)
            if r >= warmup:
                times[name].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    bw = stream_bandwidth(threads)
    bound = BYTES_PER_PARAM * n_params / bw
    return n_params, med, bw, bound


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    args = ap.parse_args()

    info = fn.show_config(print_fn=None)
    print(f"machine: {cpu_model()}, {info['available_cores']} cores; OpenBLAS core "
          f"{info['openblas_corename']}; OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}")
    print(f"{args.reps} interleaved repetitions after {args.warmup} warm-up, medians\n")
    header = (f"{'threads':>7} {'params':>11} {'fastnet ms':>10} {'torch fused':>11} "
              f"{'torch dflt':>10} {'vs fused':>8} {'vs dflt':>8} {'strm GB/s':>9} "
              f"{'bound ms':>8} {'% bound':>7}")
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        n, med, bw, bound = run(threads, args.reps, args.warmup)
        ours = med["fastnet"]
        tf, td = med.get("torch fused"), med.get("torch default")
        fmt = lambda x: f"{x * 1e3:10.2f}" if x is not None else f"{'-':>10}"  # noqa: E731
        ratio = lambda x: f"{x / ours:7.2f}x" if x is not None else f"{'-':>8}"  # noqa: E731
        print(f"{threads:>7} {n:>11,} {fmt(ours)} {fmt(tf):>11} {fmt(td)} {ratio(tf)} "
              f"{ratio(td)} {bw / 1e9:9.1f} {bound * 1e3:8.2f} {100 * bound / ours:6.0f}%")


if __name__ == "__main__":
    main()
