"""Process-wide settings: threads, seeds, and a report of the build."""
from __future__ import annotations

import os
import sys

from . import _core
from . import init as _init
from ._validate import check_int


MAX_THREADS = 1024  # as kMaxThreads in csrc/common.h


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Set fastnet's OpenMP threads and OpenBLAS's threads together (no oversubscription:
    our elementwise kernels and the GEMMs never run at the same time)."""
    n = check_int(n, "n", 1)
    if n > MAX_THREADS:
        raise ValueError(f"n must be in [1, {MAX_THREADS}], got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    return _core.get_num_threads()


def manual_seed(seed: int) -> None:
    """Seed the global generator used for initialization and shuffling when no seed is given."""
    _init.manual_seed(seed)


def _init_thread_pool() -> None:
    """One pool: OpenBLAS runs its GEMM jobs on our OpenMP team unless
    FASTNET_BLAS_POOL=openblas asks for OpenBLAS's own threads (two pools that spin against
    each other cost 2-40x on a 2-core machine, see bench/README.md)."""
    _core.set_blas_uses_openmp(os.environ.get("FASTNET_BLAS_POOL", "openmp") != "openblas")
    set_num_threads(_default_threads())


def _default_threads() -> int:
    for var in ("FASTNET_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cores()


def show_config(print_fn=print) -> dict:
    """Versions, compiler, OpenBLAS core type and thread counts."""
    import platform

    import numpy as np

    from . import __version__

    info = {
        "fastnet": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "compiler": _core.compiler(),
        "openmp": _core.openmp(),
        "openblas": _core.openblas_config(),
        "openblas_corename": _core.openblas_corename(),
        "threads": _core.get_num_threads(),
        "openblas_threads": _core.openblas_num_threads(),
        "thread_pool": "one OpenMP pool (OpenBLAS jobs on it)" if _core.blas_uses_openmp()
                       else "OpenMP + OpenBLAS's own pool",
        "available_cores": available_cores(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
    }
    if print_fn is not None:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print_fn(f"{k.ljust(width)}  {v}")
    return info
