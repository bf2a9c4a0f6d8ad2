"""The `predict` workload (BENCHMARKS.md): latency of one inference call of the `mnist` model
(BatchNorm with running statistics, no dropout) from a NumPy array to a NumPy array.

Peers (`model_peers`, then torch):
    fastnet      `model.predict(X)`.
    (extra)      further fastnet inference paths of the same model: `extra_fastnet_peers`.
    torch        `model.eval()`, then under `torch.inference_mode()`
                 `model(torch.from_numpy(X)).numpy()` (its own weights, same architecture).
    ort fp32     ONNX Runtime, CPU provider, `intra_op_num_threads` = the thread count, on the
                 graph `fn.export_onnx` writes from the same fastnet model (BatchNorm folded
                 into the Gemm before it, as an exporter does).
    ort int8     the same graph after `onnxruntime.quantization.quantize_dynamic` (QInt8
                 weights, activations quantized per call).
Every call is timed on its own (perf_counter around it); the peers alternate in rounds of calls
after a warm-up, each peer's round after SETTLE_S of idle time when threads > 1 (the previous
peer's pool stops spinning); the median and the 99th percentile are taken over all calls of a
peer.

The driver runs this file as a fresh child process for each thread count:

    python bench/latency.py THREADS CALLS BATCH [BATCH ...] [--agreement]   # one JSON line

--agreement adds, for the peers computed from the fastnet model's weights, their top-1
agreement with fastnet's `predict` and their accuracy on the mnist10k test rows, for the
`mnist` model trained AGREEMENT_EPOCHS epochs on the mnist10k train rows (skipped when the
MNIST files are absent).

Per-call latency at batch 1 is bound by streaming the model's 2.7 MB of weights from the L3
cache, so it moves with the state of the machine: on the 2-core benchmark VM the same
measurement gave 44 µs (fastnet) / 117 µs (torch) in one period and 55 / 195 µs ten minutes
later, in every fresh process, with no other process busy in the VM (the L3 is shared with
whatever else runs on the host); in one process it also changed after the `wide` workload had
run. A fresh process keeps the driver's history out; the ratio, measured interleaved, held
(2.6-3.9x) through both periods.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

if __name__ == "__main__":
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [os.path.dirname(_here), _here]  # fastnet as built in place, bench/

import fastnet_runner  # noqa: E402
import numpy as np  # noqa: E402
import ort_peer  # noqa: E402
import torch_peer  # noqa: E402
from measure import SETTLE_S, Threads, percentile  # noqa: E402

import fastnet as fn  # noqa: E402

AGREEMENT_EPOCHS = 2


def trained_model(spec, seed: int = 0, train_steps: int = 20):
    """The spec's fastnet model after a few training steps on random data (so that
    BatchNorm's running statistics are not the initial ones)."""
    model = fastnet_runner.build_model(spec, seed)
    rng = np.random.default_rng(seed)
    n_in = spec[0][1]
    n_out = [s for s in spec if s[0] == "dense"][-1][2]
    X = rng.standard_normal((128, n_in), dtype=np.float32)
    y = rng.integers(0, n_out, 128)
    opt = fn.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    for _ in range(train_steps):
        model.train_step(X, y, fastnet_runner.LOSS, opt)
    return model


# ----- EXTENSION POINT: more fastnet inference paths of the same model -----
def extra_fastnet_peers(model) -> dict:
    """{peer name: predict callable} of further fastnet inference paths of ``model``, timed
    beside `fastnet` and checked by --agreement: "fastnet bf16", the frozen bf16 inference
    copy (``model.to_inference(precision="bf16").predict``). The tables and targets of
    bench/run.py pick up every name returned here."""
    return {"fastnet bf16": model.to_inference(precision="bf16").predict}


def model_peers(model, threads: int, workdir: str) -> dict:
    """The peers that compute from ``model``'s weights: fastnet, the extra fastnet paths, and
    ONNX Runtime fp32 and int8 on fn.export_onnx's graph (None without onnxruntime)."""
    fp32 = ort_peer.export(model, workdir)
    return {
        "fastnet": model.predict,
        **extra_fastnet_peers(model),
        "ort fp32": ort_peer.make_predict(fp32, threads),
        "ort int8": ort_peer.make_predict(ort_peer.quantize_int8(fp32, workdir), threads),
    }


def measure(
    peers: dict, X, calls: int, rounds: int = 10, warmup: int = 100, settle_s: float = 0.0
) -> dict:
    """name -> {"median_us", "p99_us", "calls"} (None for a missing peer).

    settle_s: idle time before each peer's round (multi-threaded runs): the other peer's
    pool threads spin-wait after its last call, and calls timed while they still spin share
    the cores with them (measure.SETTLE_S)."""
    live = {k: f for k, f in peers.items() if f is not None}
    for f in live.values():
        for _ in range(warmup):
            f(X)
    per_round = max(1, calls // rounds)
    samples = {k: [] for k in live}
    clock = time.perf_counter
    for _ in range(rounds):
        for name, f in live.items():
            if settle_s:
                time.sleep(settle_s)
                f(X)  # one untimed call: the first after a sleep pays for waking the pool
            out = samples[name]
            for _ in range(per_round):
                t0 = clock()
                f(X)
                out.append(clock() - t0)
    return {
        k: (
            {
                "median_us": statistics.median(samples[k]) * 1e6,
                "p99_us": percentile(samples[k], 99.0) * 1e6,
                "calls": len(samples[k]),
            }
            if k in live
            else None
        )
        for k in peers
    }


def run(spec, threads: int, batches, calls: int, seed: int = 0, settle_s: float = 0.0) -> dict:
    """{batch: measure(...)} for every peer, the peers built once."""
    with tempfile.TemporaryDirectory(prefix="fastnet-bench-onnx-") as workdir:
        peers = model_peers(trained_model(spec, seed), threads, workdir)
        peers["torch"] = torch_peer.make_predict(spec, seed)
        out = {}
        for batch in batches:
            X = np.random.default_rng(seed + batch).standard_normal(
                (batch, spec[0][1]), dtype=np.float32
            )
            out[str(batch)] = measure(peers, X, calls, settle_s=settle_s)
        return out


def agreement(spec, threads: int, seed: int = 0):
    """{"rows", "epochs", "peers": {name: {"accuracy", "top1_agreement"}}} on the mnist10k
    test rows, top-1 agreement taken against fastnet's predict; None without the files."""
    try:
        X_train, y_train, X_test, y_test = fn.datasets.mnist10k_split()
    except FileNotFoundError:
        return None
    model = fastnet_runner.build_model(spec, seed)
    opt = fn.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    model.fit(
        X_train,
        y_train,
        loss=fastnet_runner.LOSS,
        optimizer=opt,
        epochs=AGREEMENT_EPOCHS,
        batch_size=128,
        seed=seed,
        verbose=0,
    )
    with tempfile.TemporaryDirectory(prefix="fastnet-bench-onnx-") as workdir:
        peers = model_peers(model, threads, workdir)
        top1 = {k: f(X_test).argmax(1) for k, f in peers.items() if f is not None}
    ref = top1["fastnet"]
    return {
        "rows": int(len(y_test)),
        "epochs": AGREEMENT_EPOCHS,
        "peers": {
            k: {
                "accuracy": float(np.mean(v == y_test)),
                "top1_agreement": float(np.mean(v == ref)),
            }
            for k, v in top1.items()
        },
    }


def main(argv) -> None:
    from workloads import make_workloads

    with_agreement = "--agreement" in argv
    argv = [a for a in argv if a != "--agreement"]
    threads, calls, batches = int(argv[0]), int(argv[1]), [int(b) for b in argv[2:]]
    spec = make_workloads(True, True)["mnist"].spec
    settle_s = SETTLE_S if threads > 1 else 0.0
    with Threads(threads):
        out = {"latency": run(spec, threads, batches, calls, settle_s=settle_s)}
        if with_agreement:
            out["agreement"] = agreement(spec, threads)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
