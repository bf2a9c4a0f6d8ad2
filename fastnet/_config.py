"""Process-wide settings: threads, seeds, and a report of the build."""

from __future__ import annotations

import math
import os
import sys
import warnings

from . import _engine
from . import init as _init
from ._validate import check_int

MAX_THREADS = 1024  # as kMaxThreads in csrc/common.h


def _cgroup_cpu_limit():
    """CPUs the process's cgroup may use (quota / period), or None when unlimited or unknown.
    cgroup v2 (cpu.max: "max 100000" or "200000 100000") and v1 (cpu.cfs_quota_us)."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max" and int(period) > 0:
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def available_cores() -> int:
    """Cores this process may use: its CPU affinity mask, capped by a cgroup CPU quota (a
    container limited to 2 CPUs on a 64-core host gets 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def set_num_threads(n: int) -> None:
    """Set the number of threads fastnet uses, for the whole process (every Python thread and
    every model): GEMMs and large loops are cut into that many shares on one shared pool.

    ``n`` must be >= 1. A value above the cores this process may use (``available_cores``:
    CPU affinity and cgroup quota) is clamped to them with a warning: more threads than cores
    only adds waiting.

    Parameters
    ----------
    n : int
        The thread count, the calling thread included (1 runs everything on the caller and
        gives bit-identical results for a seed).

    Raises
    ------
    TypeError
        If ``n`` is not an int.
    ValueError
        If ``n`` is below 1 or above 1024.

    Examples
    --------
    >>> import fastnet as fn
    >>> before = fn.get_num_threads()
    >>> fn.set_num_threads(1)
    >>> fn.get_num_threads()
    1
    >>> fn.set_num_threads(before)
    """
    n = check_int(n, "n", 1)
    if n > MAX_THREADS:
        raise ValueError(f"n must be in [1, {MAX_THREADS}], got {n}")
    cores = available_cores()
    if n > cores:
        warnings.warn(
            f"set_num_threads({n}): this process may use {cores} cores "
            f"(CPU affinity / cgroup quota); using {cores} threads",
            RuntimeWarning,
            stacklevel=2,
        )
        n = cores
    _engine.set_num_threads(n)


def get_num_threads() -> int:
    """The process-wide thread count set by ``set_num_threads`` (default: available cores)."""
    return _engine.get_num_threads()


def manual_seed(seed: int) -> None:
    """Seed the global generator used for initialization and shuffling when no seed is given.

    Models built with ``seed=None`` and ``fit`` calls without ``seed`` draw from this
    generator, so a script that calls ``manual_seed`` first is reproducible.

    Parameters
    ----------
    seed : int
        A non-negative int.

    Raises
    ------
    TypeError
        If ``seed`` is not an int.
    ValueError
        If ``seed`` is negative.
    """
    _init.manual_seed(seed)


def _init_thread_pool() -> None:
    """Default thread count at import: FASTNET_NUM_THREADS or OMP_NUM_THREADS if set, else the
    cores this process may use; never more than those cores."""
    n = min(_default_threads(), available_cores())
    _engine.set_num_threads(max(1, min(n, MAX_THREADS)))


def _default_threads() -> int:
    for var in ("FASTNET_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cores()


def show_config(print_fn=print) -> dict:
    """Versions, compiler, OpenBLAS core type and thread counts.

    Parameters
    ----------
    print_fn : callable or None, default print
        Called with the report, one ``key: value`` line each; None prints nothing.

    Returns
    -------
    dict
        The same entries: ``fastnet``, ``python``, ``numpy``, ``platform``, ``compiler``,
        ``openblas``, ``openblas_corename``, ``threads``, ``openblas_threads``,
        ``thread_pool``, ``available_cores``, ``OPENBLAS_CORETYPE``, ``kernels`` (the
        instruction set the inference kernels use, and the CPU's best: ``avx512_bf16``,
        ``avx512`` or ``generic``; the ``FASTNET_ISA`` environment variable caps it at load).
    """
    import platform

    import numpy as np

    from . import __version__

    build = _engine.build_info()
    info = {
        "fastnet": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "compiler": build["compiler"],
        "openblas": build["openblas"],
        "openblas_corename": build["openblas_corename"],
        "threads": build["threads"],
        "openblas_threads": build["openblas_threads"],
        "thread_pool": f"fastnet pool ({build['pool_workers']} workers started, spin "
        f"{build['spin_us']} us); OpenBLAS single-threaded",
        "available_cores": available_cores(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "kernels": f"{build['active_isa']} (CPU: {build['cpu_isa']})",
    }
    if print_fn is not None:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print_fn(f"{k.ljust(width)}  {v}")
    return info
