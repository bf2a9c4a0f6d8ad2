"""Dense(64, 64, activation=...) forward and backward on 10k rows at one thread, per activation:
the cost of the activation kernels (core/fast_math.h against libm) with relu as the control.

Run: ``PYTHONPATH=. python bench/activation_kernels.py [--repeats 30]``; prints best-of-N
milliseconds (the machine is shared: the minimum is the least disturbed run)."""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastnet as fn

ACTIVATIONS = ("relu", "tanh", "sigmoid", "swish", "gelu_tanh", "gelu", "elu", "selu", "mish")


def best_ms(fn_call, repeats: int) -> float:
    """The fastest of `repeats` timed calls, in milliseconds (after one warm-up call)."""
    fn_call()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn_call()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    """Print a forward / backward table, one row per activation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    fn.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 64)).astype(np.float32)
    dY = rng.standard_normal((args.rows, 64)).astype(np.float32)
    print(f"{'activation':<12}{'forward ms':>12}{'backward ms':>13}")
    for name in ACTIVATIONS:
        model = fn.Sequential(fn.Dense(64, 64, activation=name), seed=0)
        fwd = best_ms(lambda m=model: m.forward(X, training=True), args.repeats)
        model.forward(X, training=True)
        bwd = best_ms(lambda m=model: m.backward(dY), args.repeats)
        print(f"{name:<12}{fwd:>12.2f}{bwd:>13.2f}")


if __name__ == "__main__":
    main()
