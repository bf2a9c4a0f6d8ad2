"""Training-step benchmark of networks with BatchNorm, ReLU and Dropout: fastnet vs PyTorch eager.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/layers_bench.py [--reps N]

Each case times one training step (forward, loss, backward, optimizer update) on a fixed
batch: fastnet's ``model.train_step`` against ``torch.nn.Sequential`` with the same layers and
the matching torch optimizer, at 1 and 2 threads (``fn.set_num_threads`` and
``torch.set_num_threads`` equal). Repetitions of the two engines are interleaved; each cell is
the median after warm-up. ratio = torch time / fastnet time (> 1: fastnet faster).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fastnet as fn  # noqa: E402

import torch  # noqa: E402

# name: (widths, dropout rate, batch)
CASES = {
    "tiny-bn": ([64, 128, 128, 10], 0.1, 32),
    "mnist": ([784, 512, 512, 10], 0.2, 128),
    "wide": ([1024, 2048, 2048, 2048, 10], 0.0, 256),
}


def fastnet_model(widths, rate):
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [fn.Dense(a, b), fn.BatchNorm(b), fn.ReLU()]
        if rate:
            layers.append(fn.Dropout(rate))
    layers.append(fn.Dense(widths[-2], widths[-1]))
    return fn.Sequential(*layers, seed=0)


def torch_model(widths, rate):
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [torch.nn.Linear(a, b), torch.nn.BatchNorm1d(b), torch.nn.ReLU()]
        if rate:
            layers.append(torch.nn.Dropout(rate))
    layers.append(torch.nn.Linear(widths[-2], widths[-1]))
    return torch.nn.Sequential(*layers)


def optimizers():
    """(label, fastnet factory, torch factory) pairs available in this build."""
    out = [("SGD", lambda ps: fn.optim.SGD(ps, lr=0.01), lambda ps: torch.optim.SGD(ps, lr=0.01))]
    if hasattr(fn.optim, "Adam"):
        out.append(("Adam", lambda ps: fn.optim.Adam(ps), lambda ps: torch.optim.Adam(ps)))
        out.append(("Adam/fused", lambda ps: fn.optim.Adam(ps),
                    lambda ps: torch.optim.Adam(ps, fused=True)))
    return out


def bench_case(widths, rate, batch, threads, opt_pair, reps, warmup):
    _, fn_opt, torch_opt = opt_pair
    rng = np.random.default_rng(0)
    X = rng.normal(size=(batch, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], batch).astype(np.int32)
    fn.set_num_threads(threads)
    torch.set_num_threads(threads)

    model = fastnet_model(widths, rate)
    opt = fn_opt(model.parameters())
    tmodel = torch_model(widths, rate).train()
    topt = torch_opt(tmodel.parameters())
    tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step_fastnet():
        model.train_step(X, y, "sparse_categorical_crossentropy", opt)

    def step_torch():
        topt.zero_grad(set_to_none=True)
        loss = loss_fn(tmodel(tX), ty)
        loss.backward()
        topt.step()

    times = {"fastnet": [], "torch": []}
    for i in range(warmup + reps):
        for name, step in (("fastnet", step_fastnet), ("torch", step_torch)):
            t0 = time.perf_counter()
            step()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[name].append(dt)
    return float(np.median(times["fastnet"])), float(np.median(times["torch"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (default: by size)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()

    print(f"fastnet {fn.__version__} (OpenBLAS core {fn._core.openblas_corename()}), "
          f"torch {torch.__version__}")
    header = f"{'case':<9} {'optimizer':<11} {'threads':>7} {'fastnet ms':>11} {'torch ms':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name in args.cases:
        widths, rate, batch = CASES[name]
        flops = sum(a * b for a, b in zip(widths[:-1], widths[1:])) * batch * 6
        reps = args.reps or max(10, min(200, int(2e10 / flops)))
        warmup = max(3, reps // 10)
        for opt_pair in optimizers():
            for threads in args.threads:
                t_fn, t_torch = bench_case(widths, rate, batch, threads, opt_pair, reps, warmup)
                print(f"{name:<9} {opt_pair[0]:<11} {threads:>7} {t_fn * 1e3:>11.3f} "
                      f"{t_torch * 1e3:>10.3f} {t_torch / t_fn:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
