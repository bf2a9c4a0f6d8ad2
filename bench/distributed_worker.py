"""One process of the `distributed` section (bench/distributed.py); prints one JSON line.

    python distributed_worker.py fastnet --steps S            # 1 process, 1 thread
    mpirun -n 2 python distributed_worker.py fastnet --steps S --distributed
    mpirun -n 2 python distributed_worker.py allreduce --floats N --reps R
    python distributed_worker.py torch --world 2 --steps S    # DDP, gloo, spawned ranks

fastnet: the mnist workload (bench/workloads.py) trained with fit, batch 128 per rank, Adam
1e-3 with clip 1.0 (fastnet_runner.make_optimizer), 1 thread per process; the timed part is
one fit of `steps` steps after a warm-up fit. allreduce: a plain mpi4py Allreduce (sum,
in place) of N float32, the size of fastnet's gradient arena. torch: DistributedDataParallel
(gloo backend) of the same model, same per-rank batch and optimizer, torch.multiprocessing
spawn; the timed part is `steps` steps after a warm-up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(1, HERE)

import numpy as np  # noqa: E402
from workloads import make_workloads  # noqa: E402

WARMUP_STEPS = 5


def mnist():
    return make_workloads(True, True)["mnist"]


def data(rows: int, seed: int = 0):
    load = mnist()
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, load.in_features), dtype=np.float32)
    y = rng.integers(0, load.classes, size=rows)
    return X, y


def run_fastnet(steps: int, distributed: bool, sync_batchnorm: bool = True) -> dict:
    import fastnet_runner

    import fastnet as fn
    from fastnet import distributed as dist

    fn.set_num_threads(1)
    load = mnist()
    world = dist.world_size() if distributed else 1
    # shard="split": every rank holds the same rows and takes every world-th of them.
    X, y = data(load.batch * steps * world)
    model = fastnet_runner.build_model(load.spec, seed=0)
    opt = fastnet_runner.make_optimizer(model, "adam")
    kwargs = dict(loss="sparse_categorical_crossentropy", optimizer=opt, batch_size=load.batch,
                  verbose=0, shuffle=True, seed=0, distributed=distributed)  # fmt: skip
    if distributed:
        kwargs["sync_batchnorm"] = sync_batchnorm
    warm = load.batch * WARMUP_STEPS * world
    model.fit(X[:warm], y[:warm], epochs=1, **kwargs)
    t0 = time.perf_counter()
    model.fit(X, y, epochs=1, **kwargs)
    seconds = time.perf_counter() - t0
    out = {
        "rank": dist.rank(),
        "world": world,
        "steps": steps,
        "seconds": seconds,
        "step_ms": 1e3 * seconds / steps,
        "samples_per_s": load.batch * world * steps / seconds,
    }
    if distributed:
        out["arena_floats"] = dist.Session.last.floats
        calls, secs = dist.Session.last.allreduce_timing()
        out["allreduce_calls"] = calls
        out["allreduce_ms"] = 1e3 * secs / max(calls, 1)
        digest = hashlib.sha256()
        for a in model.state_arrays().values():
            digest.update(np.ascontiguousarray(a).tobytes())
        out["checksum"] = digest.hexdigest()
    return out


def run_allreduce(floats: int, reps: int) -> dict:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    buf = np.zeros(floats + 1, np.float32)  # + 1: fastnet's error flag rides along
    times = []
    for _ in range(reps + 3):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times[3:]))
    return {"rank": comm.Get_rank(), "floats": floats, "ms": 1e3 * t}


def _torch_rank(rank: int, world: int, steps: int, port: int, queue) -> None:
    import torch
    import torch.distributed as tdist
    import torch_peer

    torch_peer.available()  # imports torch into the peer module
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    tdist.init_process_group("gloo", rank=rank, world_size=world)
    load = mnist()
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(torch_peer.build_model(load.spec).train())
    opt = torch_peer.make_optimizer(list(model.parameters()), "adam")
    X, y = data(load.batch * (steps + WARMUP_STEPS) * world)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype("int64"))
    params = list(model.parameters())

    def step(k):
        lo = (k * world + rank) * load.batch
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            model(Xt[lo : lo + load.batch]), yt[lo : lo + load.batch]
        )
        loss.backward()  # DDP all-reduces the gradient buckets during backward
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    for k in range(WARMUP_STEPS):
        step(k)
    tdist.barrier()
    t0 = time.perf_counter()
    for k in range(steps):
        step(WARMUP_STEPS + k)
    seconds = time.perf_counter() - t0
    if rank == 0:
        queue.put(
            {
                "world": world,
                "steps": steps,
                "seconds": seconds,
                "step_ms": 1e3 * seconds / steps,
                "samples_per_s": load.batch * world * steps / seconds,
                "torch": torch.__version__,
            }
        )
    tdist.destroy_process_group()


def run_torch(world: int, steps: int) -> dict:
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_torch_rank, args=(world, steps, port, queue), nprocs=world, join=True,
                       start_method="spawn")  # fmt: skip
    return queue.get()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("fastnet", "allreduce", "torch"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--distributed", action="store_true")
    ap.add_argument("--local-batchnorm", action="store_true", help="sync_batchnorm=False")
    ap.add_argument("--floats", type=int, default=0)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--world", type=int, default=2)
    a = ap.parse_args()
    if a.what == "fastnet":
        out = run_fastnet(a.steps, a.distributed, not a.local_batchnorm)
    elif a.what == "allreduce":
        out = run_allreduce(a.floats, a.reps)
    else:
        out = run_torch(a.world, a.steps)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
