"""Child process of the `serving` section (bench/serving.py): one peer, driven over a pipe.

    python bench/serving_worker.py {fastnet,torch,ort} WEIGHTS.npz [--threads N]

The peer is one of
    fastnet  model.predict(X) of the `mnist` model; model.train_step of the `tiny` workload
             (Adam 1e-3, clip 1.0); fastnet's default threads unless --threads N
             (fn.set_num_threads(N)).
    torch    nn.Sequential of the same layers, eval(), torch.inference_mode(),
             model(torch.from_numpy(X)).numpy(); the `tiny` step as bench/torch_peer.py makes it
             (fused Adam, clip_grad_norm_ 1.0); torch's default threads unless --threads N.
    ort      ONNX Runtime, CPU provider, SessionOptions() as they come (intra_op_num_threads 0:
             its default pool) unless --threads N: the graph fn.export_onnx writes from the
             same weights (Gemm with transB 0, each BatchNorm folded into the Gemm before it,
             dropout left out, a dynamic batch dimension; bench/ort_peer.py). No training step.

WEIGHTS.npz (written by the driver from a trained fastnet model) holds the fastnet state arrays
by their names ("<layer>.weight", "<layer>.running_mean", ...; the layer index is the spec
index), the BatchNorm eps of each BatchNorm layer ("<layer>.eps") and "ref32", fastnet's
predict on the batch-32 input. Each peer checks its batch-32 output against ref32 and exits
with an error when the largest absolute difference exceeds 1e-4.

Protocol: one JSON object a line. The worker writes {"ready": ...} (or {"error": ...} when the
peer's library is not installed, and exits), then answers each request
{"case": NAME, "calls": N, "budget_s": S, "warmup_s": W} with {"ns": [per-call nanoseconds]}:
warm-up calls for W seconds (at least one), then up to N calls, each timed on its own with
perf_counter_ns, stopping early once S seconds have passed (at least one call). It exits on
{"quit": true} or at the end of its input (the driver is gone). Library output that goes to
stdout is sent to stderr so that it cannot mix with the protocol.

The inputs (`inputs`) are random normal float32 from a fixed seed per batch size: every
process makes the same arrays. This module imports only numpy at the top (the driver imports
it for `inputs`).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 12345
PREDICT_BATCHES = (1, 32, 256)
TRAIN_CASE = "train tiny b32"
TOLERANCE = 1e-4


def case_names(with_train: bool) -> list:
    return [f"predict b{b}" for b in PREDICT_BATCHES] + ([TRAIN_CASE] if with_train else [])


def inputs(batch: int, n_in: int = 784) -> np.ndarray:
    """The predict input of a batch size: the same array in every process."""
    return np.random.default_rng(SEED + batch).standard_normal((batch, n_in), dtype=np.float32)


def predict_spec():
    from workloads import make_workloads

    return make_workloads(True, True)["mnist"].spec


def tiny_workload():
    from workloads import make_workloads

    return make_workloads(True, True)["tiny"]


# ----- the peers: each returns {case: zero-argument callable}, its thread count, its output
# on the batch-32 input -----


def peer_calls(predict, make_step=None) -> dict:
    """The timed calls of one peer: predict at each batch, and the tiny training step when the
    peer trains (make_step(spec, X, y) -> callable)."""
    calls = {f"predict b{b}": functools.partial(predict, inputs(b)) for b in PREDICT_BATCHES}
    if make_step is not None:
        tiny = tiny_workload()
        X, y = tiny.data(seed=0)
        calls[TRAIN_CASE] = make_step(tiny.spec, X, y)
    return calls


def fastnet_peer(weights, threads):
    import fastnet_runner

    import fastnet as fn

    if threads:
        fn.set_num_threads(threads)
    model = fastnet_runner.build_model(predict_spec())
    model.set_weights([weights[k] for k in model.state_arrays()])
    predict = model.predict
    return (
        peer_calls(predict, lambda spec, X, y: fastnet_runner.make_step(spec, "adam", X, y)),
        fn.get_num_threads(),
        predict(inputs(32)),
    )


def torch_peer_(weights, threads):
    import torch_peer

    if not torch_peer.available():
        return None
    import torch

    if threads:
        torch.set_num_threads(threads)
    spec = predict_spec()
    model = torch_peer.build_model(spec).eval()
    with torch.no_grad():
        for k, s in enumerate(spec):
            layer = model[k]
            if s[0] == "dense":
                layer.weight.copy_(torch.from_numpy(weights[f"{k}.weight"].T.copy()))
                layer.bias.copy_(torch.from_numpy(weights[f"{k}.bias"]))
            elif s[0] == "batchnorm":
                layer.weight.copy_(torch.from_numpy(weights[f"{k}.weight"]))
                layer.bias.copy_(torch.from_numpy(weights[f"{k}.bias"]))
                layer.running_mean.copy_(torch.from_numpy(weights[f"{k}.running_mean"]))
                layer.running_var.copy_(torch.from_numpy(weights[f"{k}.running_var"]))
                layer.eps = float(weights[f"{k}.eps"])

    def predict(X):
        with torch.inference_mode():
            return model(torch.from_numpy(X)).numpy()

    return (
        peer_calls(predict, lambda spec, X, y: torch_peer.make_step(spec, "adam-fused", X, y)),
        torch.get_num_threads(),
        predict(inputs(32)),
    )


def onnxruntime_peer(weights, threads):
    import fastnet_runner
    import ort_peer as ort

    if not ort.available():
        return "onnxruntime/onnx not installed"
    model = fastnet_runner.build_model(predict_spec())
    model.set_weights([weights[k] for k in model.state_arrays()])
    with tempfile.TemporaryDirectory(prefix="fastnet-serving-onnx-") as workdir:
        # The session keeps what it needs: the file can go once it is built.
        predict = ort.make_predict(ort.export(model, workdir), threads)
    return peer_calls(predict), (threads or "default"), predict(inputs(32))


# ----- the loop -----
def timed(f, calls: int, budget_s: float, warmup_s: float) -> list:
    clock = time.perf_counter_ns
    end = clock() + int(warmup_s * 1e9)
    f()
    while clock() < end:
        f()
    gc.collect()
    out = []
    end = clock() + int(budget_s * 1e9)
    for _ in range(calls):
        t0 = clock()
        f()
        t1 = clock()
        out.append(t1 - t0)
        if t1 >= end:
            break
    return out


def main(argv) -> int:
    sys.path[:0] = [os.path.dirname(HERE), HERE]  # fastnet as built in place, bench/
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library prints go to stderr

    def send(obj):
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    peer, path = argv[0], argv[1]
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else None
    weights = dict(np.load(path))
    made = {"fastnet": fastnet_peer, "torch": torch_peer_, "ort": onnxruntime_peer}[peer](
        weights, threads
    )
    if made is None or isinstance(made, str):
        send({"error": made or f"{peer} not installed"})
        return 0
    calls, n_threads, out32 = made
    diff = float(np.max(np.abs(np.asarray(out32, dtype=np.float64) - weights["ref32"])))
    if not diff <= TOLERANCE:
        sys.stderr.write(
            f"serving_worker {peer}: batch-32 output differs from fastnet's predict "
            f"by {diff:.3g} (max abs), more than {TOLERANCE:g}\n"
        )
        return 3
    for f in calls.values():  # a first warm-up (first-call costs, pools)
        timed(f, 1, 0.0, 0.1)
    send(
        {
            "ready": True,
            "peer": peer,
            "threads": n_threads,
            "cases": list(calls),
            "max_abs_diff_b32": diff,
            "os_threads": len(os.listdir("/proc/self/task"))
            if os.path.isdir("/proc/self/task")
            else None,
            "pid": os.getpid(),
        }
    )
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        send(
            {
                "ns": timed(
                    calls[req["case"]],
                    int(req["calls"]),
                    float(req["budget_s"]),
                    float(req.get("warmup_s", 0.05)),
                )
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
