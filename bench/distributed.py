"""The `distributed` section (bench/README.md): data-parallel training of the mnist workload,
2 ranks x 1 thread (mpirun) against 1 process x 1 thread, with PyTorch
DistributedDataParallel (gloo backend, torch.multiprocessing spawn) as the peer, and the
gradient all-reduce's achieved bandwidth against a plain mpi4py Allreduce of the same size.

Every figure comes from its own processes (bench/distributed_worker.py): fastnet's fit of
`steps` steps after a warm-up fit, batch 128 per rank (global batch 256 at 2 ranks), Adam 1e-3
with clip 1.0, 1 thread per process; torch the same model, batch, optimizer and clip. The
all-reduce time is measured in C++ around fastnet's MPI_Allreduce call inside the step
(fastnet.distributed.Session.allreduce_timing); the plain one is the median of `reps` mpi4py
Allreduce calls (in place, sum) between barriers. Scaling efficiency = samples/s at 2 ranks /
(2 x samples/s of one process). The ranks of one run share this machine's cores (and its
memory bandwidth) with each other and with whatever else runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from report import Table, Target, fmt, ratio

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "distributed_worker.py")
WORLD = 2
TIMEOUT_S = 300


def _env() -> dict:
    env = dict(os.environ)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p),
    )
    return env


def _results(cmd) -> list:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


# Ranks share this machine's few cores with each other and with other processes: unbound, and
# yielding the core while they wait in a collective (Open MPI spins by default, which takes
# the core from the rank still computing). On dedicated cores leave both at Open MPI's default.
MPIRUN_OPTIONS = ("--oversubscribe", "--bind-to", "none", "--mca", "mpi_yield_when_idle", "1")


def _mpirun(*args) -> list:
    return [shutil.which("mpirun"), "-n", str(WORLD), *MPIRUN_OPTIONS, sys.executable, WORKER,
            *args]  # fmt: skip


def available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return shutil.which("mpirun") is not None


def run(quick: bool = False, log=None) -> dict:
    """Measure; returns the section's result dict (empty without mpirun)."""
    log = log or (lambda line: print(line, flush=True))
    if not available():
        return {}
    steps = 20 if quick else 100
    one = _results([sys.executable, WORKER, "fastnet", "--steps", str(steps)])[0]
    log(f"  distributed: 1 process {one['step_ms']:.2f} ms/step")
    ranks = _results(_mpirun("fastnet", "--steps", str(steps), "--distributed"))
    two = max(ranks, key=lambda r: r["seconds"])  # the job takes as long as its slowest rank
    log(f"  distributed: {WORLD} ranks {two['step_ms']:.2f} ms/step")
    # The same processes without the collective: what the cores give 2 processes at once.
    apart = _results(_mpirun("fastnet", "--steps", str(steps)))
    apart_ms = max(r["step_ms"] for r in apart)
    log(f"  distributed: {WORLD} independent processes {apart_ms:.2f} ms/step")
    plain = _results(_mpirun("allreduce", "--floats", str(two["arena_floats"]), "--reps", "30"))
    plain_ms = max(r["ms"] for r in plain)
    out = {
        "steps": steps,
        "world": WORLD,
        "one": one,
        "ranks": ranks,
        "identical": len({r["checksum"] for r in ranks}) == 1,
        "independent_step_ms": apart_ms,
        "plain_allreduce_ms": plain_ms,
        "torch": None,
    }
    try:
        import torch  # noqa: F401

        out["torch"] = _results([sys.executable, WORKER, "torch", "--world", str(WORLD),
                                 "--steps", str(steps)])[0]  # fmt: skip
        log(f"  distributed: torch DDP {out['torch']['step_ms']:.2f} ms/step")
    except ImportError:
        pass
    return out


def _summary(res) -> dict:
    one, ranks = res["one"], res["ranks"]
    two = max(ranks, key=lambda r: r["seconds"])
    arena_bytes = 4 * (two["arena_floats"] + 1)
    ours_ms = max(r["allreduce_ms"] for r in ranks)
    return {
        "one": one,
        "two": two,
        "efficiency": two["samples_per_s"] / (res["world"] * one["samples_per_s"]),
        # against 2 processes training apart at the same time: the collectives' own cost
        "efficiency_apart": res["independent_step_ms"] / two["step_ms"],
        "arena_mb": arena_bytes / 1e6,
        "ours_ms": ours_ms,
        "ours_gbs": arena_bytes / (ours_ms * 1e-3) / 1e9,
        "plain_gbs": arena_bytes / (res["plain_allreduce_ms"] * 1e-3) / 1e9,
        "torch": res.get("torch"),
    }


def table(res) -> Table:
    s = _summary(res)
    t = Table(
        f"distributed: mnist workload, batch 128 per rank, Adam + clip, 1 thread per process "
        f"({res['steps']} timed steps; weights identical on every rank: {res['identical']})",
        ["peer", "processes", "ms/step", "samples/s", "scaling eff.", "all-reduce ms", "GB/s"],
    )
    t.add("fastnet", 1, f"{s['one']['step_ms']:.2f}", f"{s['one']['samples_per_s']:,.0f}", "",
          "", "")  # fmt: skip
    t.add("fastnet", res["world"], f"{s['two']['step_ms']:.2f}",
          f"{s['two']['samples_per_s']:,.0f}", f"{s['efficiency']:.0%}", f"{s['ours_ms']:.3f}",
          f"{s['ours_gbs']:.2f}")  # fmt: skip
    t.add("fastnet, no collective", f"{res['world']} apart", f"{res['independent_step_ms']:.2f}",
          "", f"{s['efficiency_apart']:.0%} *", "", "")  # fmt: skip
    t.add("mpi4py Allreduce", res["world"], "", "", "", f"{res['plain_allreduce_ms']:.3f}",
          f"{s['plain_gbs']:.2f}")  # fmt: skip
    tr = s["torch"]
    if tr:
        t.add("torch DDP gloo", tr["world"], f"{tr['step_ms']:.2f}", f"{tr['samples_per_s']:,.0f}",
              "", "", "")  # fmt: skip
    return t


def targets(res) -> list:
    if not res:
        return []
    s = _summary(res)
    tr = s["torch"]
    return [
        Target(
            "distributed",
            "scaling efficiency at 2 ranks",
            100 * s["efficiency"],
            85,
            ">=",
            unit="%",
        ),  # fmt: skip
        Target(
            "distributed",
            "torch DDP step / fastnet step (2 ranks)",
            ratio(tr and tr["step_ms"], s["two"]["step_ms"]),
            1.6,
            ">=",
        ),
    ]


def notes(res) -> list:
    if not res:
        return ["distributed: mpi4py or mpirun missing (pip install 'fastnet[mpi]'): skipped"]
    s = _summary(res)
    return [
        f"distributed: gradient arena {s['arena_mb']:.2f} MB all-reduced once per step; "
        f"fastnet's all-reduce {s['ours_ms']:.3f} ms ({s['ours_gbs']:.2f} GB/s) vs a plain "
        f"mpi4py Allreduce of the same size {res['plain_allreduce_ms']:.3f} ms "
        f"({s['plain_gbs']:.2f} GB/s); torch {fmt(s['torch'] and s['torch'].get('torch'), '{}')}",
        "distributed: * scaling efficiency against 2 processes training apart at the same time "
        "(same core contention, no collective): the cost of the collectives themselves; the "
        "all-reduce time includes waiting for the slower rank",
    ]
