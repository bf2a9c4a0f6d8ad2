#!/usr/bin/env python
"""fastnet benchmark driver (BENCHMARKS.md): every workload, fastnet vs its peers, one run.

    python bench/run.py                    # every workload, 1 and 2 threads (about 8 minutes)
    python bench/run.py --quick            # a subset with fewer repetitions (under a minute):
                                           # tiny and mnist steps at 1 and 2 threads; optim,
                                           # digits, predict at the first count; import
    python bench/run.py --threads 1 --workloads tiny,optim,predict

Workloads: the training steps tiny, tiny-bn, mnist, wide (fastnet vs PyTorch SGD / fused Adam /
foreach Adam vs the NumPy baseline), optim (clip + Adam update only), digits and mnist10k (real
data, whole trainings with accuracy), predict (inference latency), import (fresh process),
memory (peak RSS while training), scaling (the cost curve of the mnist step), sklearn
(fastnet.sklearn.MLPClassifier vs scikit-learn's on digits, breast cancer and mnist10k:
bench/sklearn_mlp.py), serving (latency at default threads, alone and beside a busy
process, one process per peer: bench/serving.py), trainability (a 20-layer ReLU MLP on digits:
failures of plain Adam over 5 rates x 5 seeds and fn.fit_auto's accuracy per seed, beside
PyTorch's defaults, at one thread: bench/trainability.py), distributed (2 ranks under mpirun vs
1 process, torch DDP gloo as the peer: bench/distributed.py). Peers run interleaved in one process (A B C A B C ...); a figure is the
median over repetitions after a warm-up. Prints the tables and the targets, writes
bench/results/latest.json, latest.png (with matplotlib) and, after a full default run,
bench/results/README_TABLE.md.
"""

import os
import sys

# OpenBLAS reads these once, when the library loads: they force AVX2 kernels on AVX-512
# machines. A user's machine does not set them, so this process drops them and starts again
# before numpy, fastnet or torch are imported.
_FORCED_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_MARK = "FASTNET_BENCH_UNSET"

if __name__ == "__main__" and any(k in os.environ for k in _FORCED_BLAS_ENV):
    _env = {k: v for k, v in os.environ.items() if k not in _FORCED_BLAS_ENV}
    _env[_UNSET_MARK] = " ".join(
        f"{k}={os.environ[k]}" for k in _FORCED_BLAS_ENV if k in os.environ
    )
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], _env)

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root: fastnet as built in place
sys.path.insert(1, HERE)

import distributed  # noqa: E402
import fastnet_runner  # noqa: E402
import machine  # noqa: E402
import numpy_baseline  # noqa: E402
import optim_update  # noqa: E402
import process_costs  # noqa: E402
import realdata  # noqa: E402
import scaling  # noqa: E402
import serving  # noqa: E402
import sklearn_mlp  # noqa: E402
import torch_peer  # noqa: E402
import trainability  # noqa: E402
from measure import SETTLE_S, Threads, interleaved, interleaved_runs  # noqa: E402
from report import Table, Target, fmt, plot, ratio, targets_table  # noqa: E402
from workloads import Workload, describe, gemm_ceiling, make_workloads  # noqa: E402

SECTIONS = (
    "optim",
    "digits",
    "mnist10k",
    "predict",
    "import",
    "memory",
    "scaling",
    "serving",
    "sklearn",
    "trainability",
    "distributed",
)
QUICK = ("tiny", "mnist", "optim", "digits", "predict", "import")
MEMORY_STEPS = 200
PREDICT_CALLS = 2000


class Settings:
    """Repetitions and block lengths of a run (--quick shortens them)."""

    def __init__(self, quick: bool, reps):
        self.quick = quick
        self.reps = reps or (5 if quick else 9)
        self.wide_reps = reps or 5
        self.block_s, self.warm_s = (0.02, 0.05) if quick else (0.05, 0.2)
        self.digits_reps = 1 if quick else 3
        self.mnist10k_reps = 1
        self.sklearn_reps = 1 if quick else 3
        self.import_reps = 3 if quick else 5
        self.scaling_reps = 3 if quick else 5
        # Idle time before each timed block when threads > 1 (measure.SETTLE_S); --quick
        # trims it to just above OpenBLAS's spin time.
        self.settle_s = 0.15 if quick else SETTLE_S

    def settle(self, threads: int) -> float:
        return self.settle_s if threads > 1 else 0.0


# ----- sections; each appends its records to `res` and prints a progress line -----
def train_rows(res, loads, names, n, peak, st, optimizers):
    for w in names:
        wl = loads[w]
        X, y = wl.data(seed=0)
        for opt in optimizers:
            peers = {"fastnet": fastnet_runner.make_step(wl.spec, opt, X, y)}
            if opt == "sgd":
                peers["torch"] = torch_peer.make_step(wl.spec, "sgd", X, y)
            else:
                peers["torch"] = torch_peer.make_step(wl.spec, "adam-fused", X, y)
                peers["torch_foreach"] = torch_peer.make_step(wl.spec, "adam", X, y)
            peers["numpy"] = numpy_baseline.make_step(wl.spec, opt, X, y)
            r = st.wide_reps if w == "wide" else st.reps
            us = interleaved(peers, r, st.block_s, st.warm_s, st.settle(n))
            gflops = None if us["fastnet"] is None else wl.flops_per_step() / (us["fastnet"] * 1e3)
            row = {
                "workload": w,
                "threads": n,
                "optimizer": opt,
                "model": describe(wl.spec),
                "batch": wl.batch,
                "flops_per_step": wl.flops_per_step(),
                "fastnet_us": us["fastnet"],
                "torch_us": us["torch"],
                "torch_foreach_us": us.get("torch_foreach"),
                "numpy_us": us["numpy"],
                "torch_over_fastnet": ratio(us["torch"], us["fastnet"]),
                "numpy_over_fastnet": ratio(us["numpy"], us["fastnet"]),
                "fastnet_gflops": gflops,
                "pct_sgemm": None if gflops is None else 100.0 * gflops / peak,
                "reps": r,
            }
            res["train"].append(row)
            print(
                f"  {w:8s} {n} thr {opt:4s}: fastnet {fmt(row['fastnet_us'])} µs, "
                f"torch {fmt(row['torch_us'])} µs, numpy {fmt(row['numpy_us'])} µs",
                flush=True,
            )


def optim_row(res, loads, n, st):
    bw = machine.stream_bandwidth(n)
    res["stream"][str(n)] = {k: v / 1e9 for k, v in bw.items()}
    n_params, peers = optim_update.make_peers(loads["wide"].spec)
    us = interleaved(peers, st.reps, st.block_s, st.warm_s, st.settle(n))
    row = optim_update.row(n_params, us, bw, n)
    res["optim"].append(row)
    print(
        f"  optim    {n} thr: fastnet {fmt(row['fastnet_us'])} µs, torch fused "
        f"{fmt(row['torch_us'])} µs, bound {fmt(row['bound_us'])} µs "
        f"(stream {bw['best'] / 1e9:.1f} GB/s)",
        flush=True,
    )


def digits_rows(res, n, st):
    data = realdata.load_digits()
    spec, E, B = realdata.DIGITS_SPEC, realdata.DIGITS_EPOCHS, realdata.DIGITS_BATCH
    peers = {
        "fastnet": realdata.fastnet_train(spec, data, E, B),
        "sklearn": realdata.sklearn_train(data, E),
        "torch": realdata.torch_train(spec, data, E, B),
    }
    runs = interleaved_runs(peers, st.digits_reps, st.settle(n))
    to = {
        "fastnet": lambda: realdata.fastnet_time_to(spec, data, realdata.DIGITS_TARGET, E, B),
        "sklearn": (lambda: realdata.sklearn_time_to(data, realdata.DIGITS_TARGET, E))
        if peers["sklearn"]
        else None,
        "torch": (lambda: realdata.torch_time_to(spec, data, realdata.DIGITS_TARGET, E, B))
        if peers["torch"]
        else None,
    }
    ours = runs["fastnet"][0]
    for name in peers:
        secs, acc_fn = runs[name]
        if to[name]:
            time.sleep(st.settle(n))
        reached = to[name]() if to[name] else None
        row = {
            "threads": n,
            "peer": name,
            "epochs": E,
            "seconds": secs,
            "gemm_flops": E * len(data[0]) * Workload("digits", spec, B).flops_per_sample(),
            "accuracy": acc_fn() if acc_fn else None,
            "over_fastnet": ratio(secs, ours),
            "to_target_s": reached[0] if reached else None,
            "to_target_epochs": reached[1] if reached else None,
            "available": peers[name] is not None,
            "reps": st.digits_reps,
        }
        res["digits"].append(row)
    print(
        f"  digits   {n} thr: "
        + ", ".join(
            f"{r['peer']} {fmt(r['seconds'], '{:.3f}')} s acc {fmt(r['accuracy'], '{:.4f}')}"
            for r in res["digits"]
            if r["threads"] == n
        ),
        flush=True,
    )


def mnist10k_rows(res, loads, n, st, notes):
    data = realdata.load_mnist10k()
    if data is None:
        if not any("mnist10k" in x for x in notes):
            notes.append(
                "mnist10k skipped: the MNIST t10k files are absent "
                "($FASTNET_DATA or ../shared/data/mnist10k)"
            )
        return
    spec = loads["mnist"].spec
    E, B = realdata.MNIST10K_EPOCHS, realdata.MNIST10K_BATCH
    peers = {
        "fastnet": realdata.fastnet_train(spec, data, E, B),
        "torch": realdata.torch_train(spec, data, E, B),
    }
    runs = interleaved_runs(peers, st.mnist10k_reps, st.settle(n))
    for name in peers:
        secs, acc_fn = runs[name]
        res["mnist10k"].append(
            {
                "threads": n,
                "peer": name,
                "epochs": E,
                "seconds": secs,
                "gemm_flops": E * len(data[0]) * Workload("mnist10k", spec, B).flops_per_sample(),
                "accuracy": acc_fn() if acc_fn else None,
                "over_fastnet": ratio(secs, runs["fastnet"][0]),
                "reps": st.mnist10k_reps,
            }
        )
    print(
        f"  mnist10k {n} thr: "
        + ", ".join(
            f"{r['peer']} {fmt(r['seconds'], '{:.2f}')} s acc {fmt(r['accuracy'], '{:.4f}')}"
            for r in res["mnist10k"]
            if r["threads"] == n
        ),
        flush=True,
    )


PREDICT_BATCHES = (1, 32, 256)
# Targets against ONNX Runtime fp32 (issue 11): peer time ÷ fastnet time, median and p99.
ORT_TARGETS = {1: 1.2, 32: 1.0, 256: 1.0}
# Targets of the extra fastnet peers (bench/latency.py extra_fastnet_peers) at batch 1 against
# ONNX Runtime fp32, and their least top-1 agreement with fastnet's fp32 predict.
EXTRA_PEER_TARGETS = {"fastnet bf16": {"batch1_vs_ort": 1.8, "top1_agreement": 0.995}}


def predict_rows(res, n, st):
    calls = PREDICT_CALLS // (4 if st.quick else 1)
    time.sleep(st.settle(n))
    # A fresh process (see latency.py); the accuracy check once, in the first one.
    first = not res["predict"]
    outs = process_costs.predict_latency(n, calls, PREDICT_BATCHES, agreement=first)
    if first:
        res["predict_agreement"] = outs.get("agreement")
    for batch, peers in outs["latency"].items():
        f = peers["fastnet"]
        row = {
            "threads": n,
            "batch": batch,
            "calls": f["calls"],
            "peers": peers,  # name -> {median_us, p99_us, calls}, None when not installed
            # peer time ÷ fastnet time: above 1, fastnet is faster
            "over_fastnet": {
                k: {
                    "median": ratio(v and v["median_us"], f["median_us"]),
                    "p99": ratio(v and v["p99_us"], f["p99_us"]),
                }
                for k, v in peers.items()
                if k != "fastnet"
            },
        }
        res["predict"].append(row)
        print(
            f"  predict  {n} thr batch {batch} (median/p99 µs): "
            + ", ".join(
                f"{k} {fmt(v and v['median_us'], '{:.1f}')}/{fmt(v and v['p99_us'], '{:.1f}')}"
                for k, v in peers.items()
            ),
            flush=True,
        )
    agree = res.get("predict_agreement") if first else None
    if agree:
        print(
            "  predict  mnist10k test rows, top-1 agreement with fastnet: "
            + ", ".join(
                f"{k} {v['top1_agreement']:.4f} (acc {v['accuracy']:.4f})"
                for k, v in agree["peers"].items()
            ),
            flush=True,
        )


# ----- tables and targets -----
def make_tables(res, peaks) -> list:
    tables = []
    if res["train"]:
        t = Table(
            "training step (torch: SGD on sgd rows, Adam(fused=True) on adam rows; "
            "all clip_grad_norm 1.0)",
            [
                "workload",
                "thr",
                "opt",
                "fastnet µs",
                "torch µs",
                "torch/fn",
                "numpy µs",
                "numpy/fn",
                "torch-foreach µs",
                "GFLOP/s",
                "% sgemm",
            ],
            n_left=3,
        )
        for r in res["train"]:
            t.add(
                r["workload"],
                r["threads"],
                r["optimizer"],
                fmt(r["fastnet_us"]),
                fmt(r["torch_us"]),
                fmt(r["torch_over_fastnet"], "{:.2f}x"),
                fmt(r["numpy_us"]),
                fmt(r["numpy_over_fastnet"], "{:.2f}x"),
                fmt(r["torch_foreach_us"]) if r["optimizer"] == "adam" else "-",
                fmt(r["fastnet_gflops"], "{:.1f}"),
                fmt(r["pct_sgemm"], "{:.0f}%"),
            )
        tables.append(t)
    if res["sklearn"]:
        t = Table(
            "sklearn: fastnet.sklearn.MLPClassifier vs scikit-learn's, same hyper-parameters "
            "(bench/sklearn_mlp.py); time to accuracy: to scikit-learn's accuracy - 0.5 point",
            [
                "data",
                "thr",
                "peer",
                "s/fit",
                "epochs",
                "ms/epoch",
                "test acc",
                "peer/fn",
                "to acc s",
                "to acc epochs",
            ],
            n_left=3,
        )
        for r in res["sklearn"]:
            t.add(
                r["dataset"],
                r["threads"],
                r["peer"],
                fmt(r["seconds"], "{:.3f}"),
                fmt(r["epochs"], "{:.0f}"),
                fmt(1e3 * r["seconds_per_epoch"], "{:.2f}"),
                fmt(r["accuracy"], "{:.4f}"),
                fmt(r["over_fastnet"], "{:.2f}x"),
                fmt(r["to_target_s"], "{:.3f}"),
                fmt(r["to_target_epochs"], "{:.0f}"),
            )
        tables.append(t)
    if res["optim"]:
        t = Table(
            "optim: clip_norm 1.0 + Adam update of the wide model's parameters "
            "(bound: 32 B/param at the best stream bandwidth)",
            [
                "thr",
                "params",
                "fastnet ms",
                "torch fused ms",
                "torch/fn",
                "foreach ms",
                "foreach/fn",
                "stream copy/add GB/s",
                "bound ms",
                "% bound",
                "fastnet GB/s",
            ],
        )
        for r in res["optim"]:
            t.add(
                r["threads"],
                f"{r['params']:,}",
                fmt(r["fastnet_us"] / 1e3, "{:.2f}"),
                fmt(r["torch_us"] and r["torch_us"] / 1e3, "{:.2f}"),
                fmt(r["torch_over_fastnet"], "{:.2f}x"),
                fmt(r["torch_foreach_us"] and r["torch_foreach_us"] / 1e3, "{:.2f}"),
                fmt(r["torch_foreach_over_fastnet"], "{:.2f}x"),
                f"{r['stream_copy_gbs']:.1f}/{r['stream_add_gbs']:.1f}",
                f"{r['bound_us'] / 1e3:.2f}",
                f"{r['pct_bound']:.0f}%",
                f"{r['fastnet_gbs']:.1f}",
            )
        tables.append(t)
    if res["digits"]:
        t = Table(
            f"digits: 64-256r-256r-10, Adam 1e-3, batch 32, {realdata.DIGITS_EPOCHS} "
            "epochs (torch: manual loop, fused Adam; sklearn: MLPClassifier adam)",
            ["thr", "peer", "30 epochs s", "peer/fn", "test acc", "to 97% s", "to 97% epochs"],
            n_left=2,
        )
        for r in res["digits"]:
            t.add(
                r["threads"],
                r["peer"],
                fmt(r["seconds"], "{:.3f}"),
                fmt(r["over_fastnet"], "{:.2f}x"),
                fmt(r["accuracy"], "{:.4f}"),
                fmt(r["to_target_s"], "{:.3f}") if r["available"] else "n/a",
                (str(r["to_target_epochs"]) if r["to_target_epochs"] else "not reached")
                if r["available"]
                else "n/a",
            )
        tables.append(t)
    if res["mnist10k"]:
        t = Table(
            "mnist10k: the mnist model on 8,000/2,000 real MNIST images, Adam 1e-3, "
            "batch 128, 10 epochs (torch: manual loop, fused Adam)",
            ["thr", "peer", "10 epochs s", "peer/fn", "test acc"],
            n_left=2,
        )
        for r in res["mnist10k"]:
            t.add(
                r["threads"],
                r["peer"],
                fmt(r["seconds"], "{:.2f}"),
                fmt(r["over_fastnet"], "{:.2f}x"),
                fmt(r["accuracy"], "{:.4f}"),
            )
        tables.append(t)
    if res["predict"]:
        names = list(res["predict"][0]["peers"])
        others = [k for k in names if k != "fastnet"]
        t = Table(
            "predict: the mnist model in inference mode, one call NumPy -> NumPy, median / p99 "
            "µs; peer/fn = peer time ÷ fastnet time (median / p99). torch: inference_mode, "
            "from_numpy, .numpy(); ort: ONNX Runtime on fn.export_onnx's graph, "
            "intra_op_num_threads = thr (int8: quantize_dynamic QInt8); a fresh process per "
            "thread count",
            ["thr", "batch", "calls"] + [f"{k} µs" for k in names] + [f"{k}/fn" for k in others],
            n_left=0,
        )
        for r in res["predict"]:
            p, o = r["peers"], r["over_fastnet"]
            t.add(
                r["threads"],
                r["batch"],
                r["calls"],
                *(
                    f"{fmt(p[k] and p[k]['median_us'], '{:.1f}')} / "
                    f"{fmt(p[k] and p[k]['p99_us'], '{:.1f}')}"
                    for k in names
                ),
                *(
                    f"{fmt(o[k]['median'], '{:.2f}x')} / {fmt(o[k]['p99'], '{:.2f}x')}"
                    for k in others
                ),
            )
        tables.append(t)
    agree = res.get("predict_agreement")
    if agree:
        t = Table(
            f"predict accuracy: the mnist model trained {agree['epochs']} epochs on the mnist10k "
            f"train rows; top-1 agreement with fastnet's predict and accuracy on the "
            f"{agree['rows']} test rows",
            ["peer", "top-1 agreement", "accuracy"],
        )
        for k, v in agree["peers"].items():
            t.add(k, f"{v['top1_agreement']:.4f}", f"{v['accuracy']:.4f}")
        tables.append(t)
    if res["import"]:
        imp = res["import"]
        t = Table(
            "import: wall time of a fresh `python -c 'import X'` (median); "
            "python = `python -c pass`",
            ["module", "seconds", "minus bare python"],
        )
        for k, v in imp.items():
            t.add(
                k,
                fmt(v, "{:.3f}"),
                "-"
                if k == "python" or v is None or imp["python"] is None
                else f"{v - imp['python']:.3f}",
            )
        tables.append(t)
    if res["memory"]:
        t = Table(
            f"memory: peak RSS training the mnist workload, {MEMORY_STEPS} steps, "
            "1 thread, one process per peer (VmHWM)",
            ["peer", "after imports+data MiB", "peak MiB", "training MiB"],
        )
        for r in res["memory"]:
            if "error" in r:
                t.add(r["peer"], "n/a", "n/a", "n/a")
            else:
                t.add(
                    r["peer"],
                    f"{r['baseline_mib']:.1f}",
                    f"{r['peak_mib']:.1f}",
                    f"{r['training_mib']:.1f}",
                )
        tables.append(t)
    if res.get("serving"):
        tables.append(serving.table(res["serving"]))
    if res.get("distributed"):
        tables.append(distributed.table(res["distributed"]))
    if res["scaling"]:
        t = Table(
            "scaling: fastnet mnist step (Adam, clip 1.0) vs batch (hidden 512) and vs "
            "hidden width (batch 128)",
            ["thr", "sweep", "value", "µs/step", "µs/sample", "GFLOP/s", "% sgemm"],
            n_left=2,
        )
        for r in res["scaling"]:
            t.add(
                r["threads"],
                r["sweep"],
                r["value"],
                fmt(r["fastnet_us"]),
                f"{r['us_per_sample']:.2f}",
                f"{r['fastnet_gflops']:.1f}",
                f"{r['pct_sgemm']:.0f}%",
            )
        tables.append(t)
    t = Table(
        "peak rates measured in this run (sgemm: float32 2048³, GFLOP/s)",
        [
            "thr",
            "sgemm numpy",
            "sgemm fastnet OpenBLAS",
            "peak used",
            "torch.mm",
            "stream copy GB/s",
            "stream add GB/s",
        ],
    )
    for n, p in peaks.items():
        s = res["stream"].get(str(n))
        t.add(
            n,
            f"{p['numpy']:.0f}",
            f"{p['fastnet']:.0f}",
            f"{p['peak']:.0f}",
            fmt(p["torch"], "{:.0f}"),
            fmt(s and s["copy"], "{:.1f}"),
            fmt(s and s["add"], "{:.1f}"),
        )
    tables.append(t)
    return tables


def ceiling_note(ceiling, target: float) -> str:
    """The GEMM-only ceiling of a ratio target (workloads.gemm_ceiling), and whether the target
    lies beyond it."""
    if ceiling is None:
        return ""
    return f"GEMM-only ceiling at the measured sgemm peak {ceiling:.2f}x" + (
        ": target beyond this CPU's peak" if ceiling < target else ""
    )


def make_targets(res, has_adam: bool, peaks=None) -> list:
    opt = "adam" if has_adam else "sgd"
    out = []
    peak = {n: p["peak"] for n, p in (peaks or {}).items()}
    train = {(r["workload"], r["threads"]): r for r in res["train"] if r["optimizer"] == opt}
    for (wl, n), r in train.items():

        def ceiling(peer_us, r=r, n=n):  # this workload's, bound now
            return gemm_ceiling(peer_us and peer_us * 1e-6, r["flops_per_step"], peak.get(n))

        if wl in ("tiny", "tiny-bn", "mnist", "wide"):
            f = {"tiny": 10.0, "tiny-bn": 10.0, "mnist": 3.0, "wide": 2.0}[wl]
            out.append(
                Target(
                    wl,
                    f"{n} thr, fastnet vs torch ({'fused Adam' if has_adam else 'SGD'})",
                    r["torch_over_fastnet"],
                    f,
                    detail=ceiling_note(ceiling(r["torch_us"]), f),
                )
            )
        if wl == "mnist":
            out.append(
                Target(
                    wl,
                    f"{n} thr, fastnet vs NumPy",
                    r["numpy_over_fastnet"],
                    5.0,
                    detail=ceiling_note(ceiling(r["numpy_us"]), 5.0),
                )
            )
        if wl == "wide":
            out.append(
                Target(wl, f"{n} thr, whole step % of sgemm peak", r["pct_sgemm"], 80.0, unit="%")
            )
    if ("wide", 1) in train and ("wide", 2) in train:
        out.append(
            Target(
                "threads",
                "wide, 2 threads vs 1 thread (fastnet step)",
                ratio(train[("wide", 1)]["fastnet_us"], train[("wide", 2)]["fastnet_us"]),
                1.8,
            )
        )
    for r in res["optim"]:
        out.append(
            Target(
                "optim",
                f"{r['threads']} thr, vs torch clip + fused Adam",
                r["torch_over_fastnet"],
                1.4,
            )
        )
        out.append(
            Target(
                "optim", f"{r['threads']} thr, % of bandwidth bound", r["pct_bound"], 85.0, unit="%"
            )
        )
    for n in sorted({r["threads"] for r in res["digits"]}):
        rows = {r["peer"]: r for r in res["digits"] if r["threads"] == n}
        ours = rows["fastnet"]
        for peer in ("sklearn", "torch"):
            p = rows[peer]
            same = (
                None
                if p["accuracy"] is None or ours["accuracy"] is None
                else ours["accuracy"] >= p["accuracy"] - 0.01
            )
            detail = (
                ""
                if same is None
                else f"accuracy {ours['accuracy']:.4f} vs {p['accuracy']:.4f}: "
                + ("same within 1 point" if same else "LOWER by more than 1 point")
            )
            c = ceiling_note(
                gemm_ceiling(p["seconds"], ours.get("gemm_flops", 0), peak.get(n)), 8.0
            )
            detail = "; ".join(x for x in (detail, c) if x)
            out.append(
                Target(
                    "digits", f"{n} thr, 30 epochs vs {peer}", p["over_fastnet"], 8.0, detail=detail
                )
            )
    for n in sorted({r["threads"] for r in res["mnist10k"]}):
        rows = {r["peer"]: r for r in res["mnist10k"] if r["threads"] == n}
        ours, p = rows["fastnet"], rows["torch"]
        c = gemm_ceiling(p["seconds"], ours.get("gemm_flops", 0), peak.get(n))
        out.append(
            Target(
                "mnist10k",
                f"{n} thr, 10 epochs vs torch",
                p["over_fastnet"],
                3.0,
                detail=ceiling_note(c, 3.0),
            )
        )
        if p["accuracy"] is not None:
            out.append(
                Target(
                    "mnist10k",
                    f"{n} thr, test accuracy points below torch "
                    f"({ours['accuracy']:.4f} vs {p['accuracy']:.4f})",
                    max(0.0, 100 * (p["accuracy"] - ours["accuracy"])),
                    0.5,
                    kind="<=",
                    unit="points",
                )
            )
    out += sklearn_targets(res.get("sklearn", []))
    for r in res["predict"]:
        n, batch, o = r["threads"], r["batch"], r["over_fastnet"]
        for stat in ("median", "p99"):
            if batch == 1:
                out.append(
                    Target("predict", f"{n} thr, batch 1 {stat} vs torch", o["torch"][stat], 4.0)
                )
            if batch in ORT_TARGETS:
                out.append(
                    Target(
                        "predict",
                        f"{n} thr, batch {batch} {stat} vs ONNX Runtime fp32",
                        o["ort fp32"][stat],
                        ORT_TARGETS[batch],
                    )
                )
        # An extra fastnet peer (e.g. bf16) against ONNX Runtime fp32: ort time ÷ its time.
        for name, want in EXTRA_PEER_TARGETS.items():
            peer, ort = r["peers"].get(name), r["peers"].get("ort fp32")
            if batch == 1 and peer is not None:
                out.append(
                    Target(
                        "predict",
                        f"{n} thr, batch 1 median, {name} vs ONNX Runtime fp32",
                        ratio(ort and ort["median_us"], peer["median_us"]),
                        want["batch1_vs_ort"],
                    )
                )
    agree = res.get("predict_agreement")
    for name, want in EXTRA_PEER_TARGETS.items():
        if agree and name in agree["peers"]:
            out.append(
                Target(
                    "predict",
                    f"{name}: top-1 agreement with fastnet fp32, mnist10k test rows",
                    100 * agree["peers"][name]["top1_agreement"],
                    100 * want["top1_agreement"],
                    unit="% of rows",
                )
            )
    if res["memory"]:
        mem = {r["peer"]: r for r in res["memory"] if "error" not in r}
        if "fastnet" in mem:
            t = mem.get("torch")
            detail = (
                f"absolute peak {mem['fastnet']['peak_mib']:.0f} MiB vs {t['peak_mib']:.0f} MiB"
                if t
                else ""
            )
            out.append(
                Target(
                    "memory",
                    "training peak RSS, fastnet ÷ torch (MiB over the post-import baseline)",
                    ratio(mem["fastnet"]["training_mib"], t and t["training_mib"]),
                    1.0,
                    kind="<=",
                    detail=detail,
                )
            )
    out += serving.targets(res.get("serving", []))
    out += distributed.targets(res.get("distributed", {}))
    if res["import"]:
        out.append(
            Target(
                "import",
                "`python -c 'import fastnet'`",
                res["import"]["fastnet"],
                0.2,
                kind="<=",
                unit="s",
            )
        )
    return out


def sklearn_targets(rows) -> list:
    """BENCHMARKS.md's sklearn row: >= 5x faster per fit than scikit-learn's MLPClassifier at
    equal accuracy (within 0.5 point), and the time-to-accuracy ratio beside it."""
    out = []
    keys = sorted({(r["dataset"], r["threads"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for dataset, n in keys:
        pair = {r["peer"]: r for r in rows if r["dataset"] == dataset and r["threads"] == n}
        ours, peer = pair["fastnet"], pair["sklearn"]
        out.append(
            Target(
                "sklearn",
                f"{n} thr, {dataset}: per fit vs scikit-learn "
                f"({ours['epochs']:.0f} vs {peer['epochs']:.0f} epochs)",
                peer["over_fastnet"],
                5.0,
            )
        )
        out.append(
            Target(
                "sklearn",
                f"{n} thr, {dataset}: test accuracy points from scikit-learn's "
                f"({ours['accuracy']:.4f} vs {peer['accuracy']:.4f})",
                100 * abs(peer["accuracy"] - ours["accuracy"]),
                0.5,
                kind="<=",
                unit="points",
            )
        )
        out.append(
            Target(
                "sklearn",
                f"{n} thr, {dataset}: time to {ours['target_accuracy']:.4f} vs scikit-learn",
                ratio(peer["to_target_s"], ours["to_target_s"]),
                5.0,
            )
        )
    return out


# ----- driver -----
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{', '.join(QUICK)}, fewer repetitions (under a minute)",
    )
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--workloads", default=None, help="comma-separated workload ids")
    ap.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions per step figure (serving: rounds, default 2)",
    )
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results folder")
    args = ap.parse_args(argv)

    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if not threads or min(threads) < 1:
        ap.error("--threads needs positive integers")
    loads = make_workloads(fastnet_runner.has_batchnorm(), fastnet_runner.has_dropout())
    available = list(loads) + list(SECTIONS)
    if args.workloads:
        names = [w.strip() for w in args.workloads.split(",") if w.strip()]
        unknown = [w for w in names if w not in available]
        if unknown:
            ap.error(
                f"unknown or unavailable workload(s) {', '.join(unknown)}; "
                f"available: {', '.join(available)}"
            )
    else:
        names = [w for w in available if w in QUICK] if args.quick else available
    if not fastnet_runner.has_adam() or "wide" not in loads:
        names = [
            w
            for w in names
            if w not in SECTIONS[:4] + ("memory", "scaling", "serving", "trainability")
        ]
    st = Settings(args.quick, args.reps)
    optimizers = ["sgd"] + (["adam"] if fastnet_runner.has_adam() else [])
    train_names = [w for w in names if w in loads]

    notes = []
    if not fastnet_runner.has_adam():
        notes.append("fn.optim.Adam missing: SGD rows only; the other sections are skipped")
    notes += [f"{w.name}: {w.note}" for w in loads.values() if w.note and w.name in names]
    if not torch_peer.available():
        notes.append("torch not installed: the torch columns read n/a")
    if "digits" in names and not realdata.sklearn_available():
        notes.append("scikit-learn not installed: the digits sklearn row reads n/a")
    if "sklearn" in names and not sklearn_mlp.available():
        notes.append("scikit-learn not installed: the sklearn section is skipped")

    info = machine.machine_info(os.environ.get(_UNSET_MARK, ""))
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine_line = (
        f"{date}; {info['cpu']}, {info['cores']} cores; OpenBLAS core: fastnet "
        f"{info['fastnet_openblas_corename']}, numpy {info['numpy_openblas_corename']}; "
        f"threads {','.join(map(str, threads))}; torch {info['torch']}, numpy "
        f"{info['numpy']}, python {info['python']}, fastnet {info['fastnet']}"
    )
    print("machine: " + machine_line)
    print(
        f"removed from this process's environment: {info['unset_env'] or '(none were set)'}; "
        f"load average {info['loadavg_start']}"
    )
    for w in train_names:
        wl = loads[w]
        print(
            f"workload {w}: {describe(wl.spec)}, batch {wl.batch}, "
            f"{wl.flops_per_step() / 1e6:.1f} MFLOP/step"
        )

    cpu_share = machine.CpuShare()
    res = {
        k: []
        for k in (
            "train",
            "optim",
            "digits",
            "mnist10k",
            "predict",
            "scaling",
            "memory",
            "serving",
            "sklearn",
        )
    }
    res["trainability"] = {}
    res["import"], res["stream"], res["serving_method"] = {}, {}, {}
    res["distributed"] = {}
    res["predict_agreement"] = None
    peaks = {}
    t_start = time.perf_counter()
    for n in threads:
        with Threads(n):
            p_np, p_fn = machine.sgemm_gflops_numpy(), machine.sgemm_gflops_fastnet()
            p_t = machine.sgemm_gflops_torch()
            peaks[n] = {"numpy": p_np, "fastnet": p_fn, "peak": max(p_np, p_fn), "torch": p_t}
            print(
                f"sgemm 2048³ float32, {n} thread(s): numpy {p_np:.0f} GFLOP/s, fastnet's "
                f"OpenBLAS {p_fn:.0f} GFLOP/s, torch.mm {fmt(p_t, '{:.0f}')} GFLOP/s",
                flush=True,
            )
            train_rows(res, loads, train_names, n, peaks[n]["peak"], st, optimizers)
            if st.quick and n != threads[0]:
                continue  # --quick: the other sections at the first count only
            if "optim" in names:
                optim_row(res, loads, n, st)
            if "digits" in names:
                digits_rows(res, n, st)
            if "mnist10k" in names:
                mnist10k_rows(res, loads, n, st, notes)
            if "predict" in names:
                predict_rows(res, n, st)
            if "sklearn" in names:
                res["sklearn"] += sklearn_mlp.rows(n, st.sklearn_reps, st.settle(n))
            if "scaling" in names:
                res["scaling"] += scaling.run(
                    n, peaks[n]["peak"], st.scaling_reps, st.block_s, st.warm_s
                )
                print(
                    f"  scaling  {n} thr: {len(scaling.BATCHES) + len(scaling.WIDTHS)} points",
                    flush=True,
                )
    info["other_processes_cores"] = others = cpu_share.others()  # the in-process sections
    if "import" in names:
        res["import"] = process_costs.import_times(st.import_reps)
        print(
            "  import: " + ", ".join(f"{k} {fmt(v, '{:.3f}')} s" for k, v in res["import"].items()),
            flush=True,
        )
    if "memory" in names:
        res["memory"] = [
            process_costs.peak_memory(p, MEMORY_STEPS) for p in ("fastnet", "torch", "numpy")
        ]
        print(
            "  memory: "
            + ", ".join(
                f"{r['peer']} {fmt(r.get('peak_mib'), '{:.0f}')} MiB" for r in res["memory"]
            ),
            flush=True,
        )
    if "trainability" in names:  # accuracies, not timings: one thread, once
        with Threads(1):
            res["trainability"] = trainability.run()
    if "serving" in names:  # its own processes, default threads: serving.py
        res["serving"], res["serving_method"] = serving.run(st.quick, args.reps)
        notes += serving.notes(res["serving"], res["serving_method"])
    if "distributed" in names:  # its own processes (mpirun, torch spawn): distributed.py
        res["distributed"] = distributed.run(st.quick)
        notes += distributed.notes(res["distributed"])
    elapsed = time.perf_counter() - t_start
    info["loadavg_end"] = machine.load_average()
    load = (
        f"other processes kept {fmt(others, '{:.2f}')} of {info['cores']} cores busy on "
        f"average during the in-process sections (load average {info['loadavg_start']} at start, "
        f"{info['loadavg_end']} at end, this run included)"
    )
    if others is not None and others > 0.25:
        notes.append(
            f"machine busy: {load}; they compete for the cores, the multi-thread "
            "figures in particular are unreliable"
        )
    else:
        notes.append(load)

    tables = make_tables(res, peaks) + trainability.tables(res["trainability"], Table)
    targets = make_targets(res, fastnet_runner.has_adam(), peaks)
    targets += trainability.targets(res["trainability"], Target)
    print()
    print(f"fastnet benchmark, {machine_line}")
    for t in tables:
        print()
        print(t.text())
    print()
    for x in targets:
        print("target: " + x.text())
    for note in notes:
        print("note: " + note)
    print(f"({elapsed:.0f} s)")

    os.makedirs(args.out, exist_ok=True)
    result = {
        "date": date,
        "machine_line": machine_line,
        "machine": info,
        "sgemm_gflops": {str(k): v for k, v in peaks.items()},
        "method": {
            "reps": st.reps,
            "wide_reps": st.wide_reps,
            "block_s": st.block_s,
            "warm_s": st.warm_s,
            "digits_reps": st.digits_reps,
            "mnist10k_reps": st.mnist10k_reps,
            "sklearn_reps": st.sklearn_reps,
            "import_reps": st.import_reps,
            "flops": "6*batch*sum(in*out) - 2*batch*in0*out0 (Dense GEMMs only)",
        },
        "notes": notes,
        "rows": res["train"],
        **{k: v for k, v in res.items() if k != "train"},
        "targets": [x.as_dict() for x in targets],
        "elapsed_s": elapsed,
    }
    json_path = os.path.join(args.out, "latest.json")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
    png_path = os.path.join(args.out, "latest.png")
    wrote = [json_path] + (
        [png_path]
        if plot(res["train"], targets, png_path, "fastnet benchmark, " + machine_line)
        else []
    )
    if not args.quick and not args.workloads and args.reps is None:
        md_path = os.path.join(args.out, "README_TABLE.md")
        with open(md_path, "w") as f:
            f.write(
                f"# fastnet benchmark: latest full run\n\n`python bench/run.py`, "
                f"{machine_line}. Generated by bench/run.py; see bench/README.md for the "
                "method and columns.\n\n"
            )
            for t in tables + [targets_table(targets)]:
                f.write(t.markdown() + "\n\n")
            f.write("".join(f"- note: {x}\n" for x in notes) + f"\n({elapsed:.0f} s)\n")
        wrote.append(md_path)
    print(
        "wrote " + ", ".join(wrote) + ("" if len(wrote) > 1 else " (matplotlib missing: no chart)")
    )
    return result


if __name__ == "__main__":
    main()
