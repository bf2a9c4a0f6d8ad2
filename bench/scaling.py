"""The cost curve: fastnet's `mnist` training step (Adam 1e-3, clip 1.0) as the batch size
and the hidden width grow, with the Dense-GEMM FLOP rate (workloads.Workload.flops_per_step).

batch sweep  784→512→512→10 (BatchNorm + ReLU + Dropout 0.2) at batch 32 … 1024
width sweep  784→w→w→10, same layers, batch 128, w = 128 … 2048
"""

from __future__ import annotations

import fastnet_runner
from measure import interleaved
from workloads import Workload, mlp

BATCHES = (32, 64, 128, 256, 512, 1024)
WIDTHS = (128, 256, 512, 1024, 2048)


def configurations():
    """(sweep, value, Workload) for every point of both sweeps."""
    for b in BATCHES:
        yield (
            "batch",
            b,
            Workload(f"mnist-b{b}", mlp([784, 512, 512, 10], batchnorm=True, dropout=0.2), b),
        )
    for w in WIDTHS:
        yield (
            "width",
            w,
            Workload(f"mnist-w{w}", mlp([784, w, w, 10], batchnorm=True, dropout=0.2), 128),
        )


def run(threads: int, peak_gflops: float, reps: int, block_s: float, warm_s: float) -> list:
    rows = []
    for sweep, value, wl in configurations():
        X, y = wl.data(seed=0)
        step = fastnet_runner.make_step(wl.spec, "adam", X, y)
        us = interleaved({"fastnet": step}, reps, block_s, warm_s)["fastnet"]
        gflops = wl.flops_per_step() / (us * 1e3)
        rows.append(
            {
                "sweep": sweep,
                "value": value,
                "threads": threads,
                "batch": wl.batch,
                "model": wl.name,
                "fastnet_us": us,
                "us_per_sample": us / wl.batch,
                "fastnet_gflops": gflops,
                "pct_sgemm": 100.0 * gflops / peak_gflops,
            }
        )
    return rows
