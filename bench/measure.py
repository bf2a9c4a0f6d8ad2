"""Timing primitives shared by every section of bench/run.py.

Peers run interleaved (A B C A B C ...) after a warm-up; a figure is the median over
repetitions of the mean time per call of a block of calls. Thread counts are set for fastnet,
torch and numpy's BLAS together.
"""

from __future__ import annotations

import statistics
import time

import fastnet_runner
import torch_peer

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # numpy's BLAS then keeps its own thread count (reported)
    threadpool_info = threadpool_limits = None

# Idle time before each timed block. Thread pools spin-wait after their work before they
# sleep (OpenBLAS's pthreads for 2^28 cycles, about 0.1 s; libgomp for a shorter while): a
# block started right after another peer's would share the cores with that peer's spinning
# threads. Only multi-threaded runs need it.
SETTLE_S = 0.25


def warm_and_size(step, block_s: float, warm_s: float) -> int:
    """Run warm-up calls; return how many calls make a block of about block_s seconds."""
    step()
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < warm_s:
        step()
        n += 1
    per_step = (time.perf_counter() - t0) / n
    return max(1, round(block_s / per_step))


def time_block(step, steps: int) -> float:
    """Mean seconds per call over one block."""
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def interleaved(
    peers: dict, reps: int, block_s: float, warm_s: float, settle_s: float = 0.0
) -> dict:
    """Median µs per call for each peer (None stays None), the peers timed in turn."""
    live = {name: step for name, step in peers.items() if step is not None}
    sizes = {name: warm_and_size(step, block_s, warm_s) for name, step in live.items()}
    samples = {name: [] for name in live}
    for _ in range(reps):
        for name, step in live.items():
            if settle_s:
                time.sleep(settle_s)
            samples[name].append(time_block(step, sizes[name]))
    return {
        name: (statistics.median(samples[name]) * 1e6 if name in samples else None)
        for name in peers
    }


def interleaved_runs(peers: dict, reps: int, settle_s: float = 0.0) -> dict:
    """For long runs (whole trainings): each peer's callable returns a dict of results and is
    timed whole, in turn, reps times. Returns name -> (median seconds, last result)."""
    live = {name: run for name, run in peers.items() if run is not None}
    times = {name: [] for name in live}
    last = {}
    for _ in range(reps):
        for name, run in live.items():
            if settle_s:
                time.sleep(settle_s)
            t0 = time.perf_counter()
            last[name] = run()
            times[name].append(time.perf_counter() - t0)
    return {
        name: ((statistics.median(times[name]), last[name]) if name in live else (None, None))
        for name in peers
    }


def percentile(values, q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy.percentile's default."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class Threads:
    """Sets fastnet's, torch's and numpy's BLAS threads together for a with-block."""

    def __init__(self, n: int):
        self.n = n
        self._limits = None

    def __enter__(self):
        if threadpool_limits is not None:
            self._limits = threadpool_limits(limits=self.n, user_api="blas")
        fastnet_runner.set_threads(self.n)  # threadpoolctl also raised our OpenBLAS: fastnet
        # sets it back to one thread on its next GEMM
        torch_peer.set_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
