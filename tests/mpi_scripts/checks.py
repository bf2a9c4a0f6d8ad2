"""Data-parallel checks, run by tests/test_distributed.py as ``mpirun -n 2 python checks.py
OUT``: each rank trains the models of tests/test_distributed.py (CASES) and writes its
weights and what it observed to OUT/rank<r>.npz and OUT/rank<r>.json; the test compares them
with each other and with a single process trained on the same global batches."""

import json
import os
import sys

import numpy as np

import fastnet as fn
import fastnet._files
import fastnet.io
from fastnet import distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_distributed import CASES, make_case  # noqa: E402

out = sys.argv[1]
fn.set_num_threads(1)
rank = dist.rank()
report = {"rank": rank, "world": dist.world_size(), "main": dist.is_main()}
arrays = {}

# Count the files this rank writes (fn.save and CSVLogger go through these two).
writes = []
real_atomic = fastnet._files.atomic_write_bytes


def counting_atomic(path, data):
    writes.append(os.fspath(path))
    return real_atomic(path, data)


fastnet.io.atomic_write_bytes = counting_atomic

# 1. fit on the same rows everywhere (shard="split"), with and without synchronised BN.
for name in CASES:
    model, opt, X, y, kwargs = make_case(name)
    if rank == 1:
        # Different initial weights on rank 1: fit must start from rank 0's.
        for p in model.parameters():
            p.data[...] += 1.0
    callbacks = []
    if name == "plain":
        ckpt = fn.callbacks.ModelCheckpoint(os.path.join(out, "ckpt-{epoch}.safetensors"))
        csv = fn.callbacks.CSVLogger(os.path.join(out, "log.csv"))
        callbacks = [ckpt, csv]
    hist = model.fit(X, y, optimizer=opt, distributed=True, callbacks=callbacks, verbose=0,
                     **kwargs)  # fmt: skip
    report[f"{name}_loss"] = hist.history["loss"]
    for i, p in enumerate(model.state_arrays().values()):
        arrays[f"{name}_{i}"] = np.array(p)


# shard="given": each rank passes its own half of the rows (no shuffling).
model, opt, X, y, kwargs = make_case("bn")
half = slice(rank * 40, rank * 40 + 40)
model.fit(X[half], y[half], optimizer=opt, distributed=True, shard="given", shuffle=False,
          verbose=0, **kwargs)  # fmt: skip
for i, p in enumerate(model.state_arrays().values()):
    arrays[f"given_{i}"] = np.array(p)


# Rank 0 alone asks to stop after 4 steps (mid-epoch); rank 1 alone after 2: rank 0 decides
# for all, so both stop after step 4.
class StopAt(fn.callbacks.Callback):
    batch_interval = 2

    def on_batch_end(self, step, logs=None):
        if step + 1 >= (4 if rank == 0 else 2):
            self.model.stop_training = True


model, opt, X, y, kwargs = make_case("plain")
model.fit(X, y, optimizer=opt, distributed=True, callbacks=[StopAt()], verbose=0, **kwargs)
report["stop_steps"] = opt.steps

# 2. Hand-written loop: train_step(distributed=True), each rank its own batches.
model, opt, X, y, kwargs = make_case("bn")
rows = X.shape[0] // 2
for step in range(4):
    lo = rank * rows + step * 8
    model.train_step(X[lo : lo + 8], y[lo : lo + 8], kwargs["loss"], opt, distributed=True)
for i, p in enumerate(model.state_arrays().values()):
    arrays[f"loop_{i}"] = np.array(p)


# Dropout: each rank draws its own masks (the same rows give different losses), and the
# averaged update keeps the weights identical.
_, _, X, y, kwargs = make_case("plain")
model = fn.Sequential(fn.Dense(6, 32, activation="relu"), fn.Dropout(0.5), fn.Dense(32, 3), seed=0)
opt = fn.optim.SGD(model.parameters(), lr=0.1)
report["dropout_loss"] = model.train_step(X[:16], y[:16], kwargs["loss"], opt, distributed=True)
for i, p in enumerate(model.state_arrays().values()):
    arrays[f"dropout_{i}"] = np.array(p)


def outcome(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the test checks the type each rank saw
        return type(e).__name__
    return "ok"


# 3. One rank's bad input: it raises ValueError, the other PeerError (no hang); the ranks stay
# matched and go on.
model, opt, X, y, kwargs = make_case("bn")
bad = X[:, :3] if rank == 1 else X
report["bad_input"] = outcome(
    lambda: model.fit(bad, y, optimizer=opt, distributed=True, verbose=0, **kwargs)
)
# ... inside a step loop with synchronised BatchNorm (the peer waits in a BatchNorm sync).
report["bad_batch"] = outcome(
    lambda: model.train_step(
        X[: 1 if rank == 1 else 8],
        y[: 1 if rank == 1 else 8],
        kwargs["loss"],
        opt,
        distributed=True,
    )  # fmt: skip
)
# 4. A non-finite gradient on one rank's rows: the averaged gradient is non-finite on every
# rank, so all skip or, here, all raise.
_, _, X, y, kwargs = make_case("plain")
linear = fn.Sequential(fn.Dense(6, 3), seed=0)
opt = fn.optim.SGD(linear.parameters(), lr=0.01, on_nonfinite="raise")
Y = np.eye(3, dtype=np.float32)[y]
Xg = X * (1e30 if rank == 1 else 1.0)  # linear outputs ~1e30: the weight gradient overflows
report["nonfinite"] = outcome(
    lambda: linear.fit(
        Xg, Y, loss="mse", optimizer=opt, distributed=True, shard="given", verbose=0
    )  # fmt: skip
)
model, opt, X, y, kwargs = make_case("plain")
report["after_errors"] = outcome(
    lambda: model.fit(
        X, y, optimizer=opt, distributed=True, shard="given", verbose=0, **{**kwargs, "epochs": 1}
    )  # fmt: skip
)
report["writes"] = writes
np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays)
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump(report, f)
