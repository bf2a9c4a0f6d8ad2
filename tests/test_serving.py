"""Serving-grade runtime: many threads, forked workers, signals and bounded memory.

Every case runs in a child process with a deadline (tests/child.py): a deadlock, a hang in a
forked child or a crash fails its test instead of stalling CI. The children print JSON or
plain numbers for the assertions here.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from child import run_child

# The models and data the children build: a BatchNorm + Dropout MLP large enough that its
# GEMMs and loops are split across the pool at 2 threads (784-512-512-10, batch 128), and a
# small one. Results are compared against the same work done one call after another.
PRELUDE = """
import json, sys, threading, time
import numpy as np
import fastnet as fn
from conftest import mlp, random_data

def big_model(seed):
    return fn.Sequential(fn.Dense(784, 512), fn.BatchNorm(512), fn.ReLU(), fn.Dropout(0.2),
                         fn.Dense(512, 512), fn.BatchNorm(512), fn.ReLU(), fn.Dropout(0.2),
                         fn.Dense(512, 10), seed=seed)

def small_model(seed):
    return mlp(64, 128, 10, seed=seed)

def data(seed, n, d):
    return random_data(n, d, 10, seed)

def train(model, X, y, steps, batch=128):
    opt = fn.optim.Adam(model.parameters(), lr=1e-3, clip_norm=1.0)
    for k in range(steps):
        i = (k * batch) % (len(X) - batch + 1)
        model.train_step(X[i:i + batch], y[i:i + batch], "sparse_categorical_crossentropy", opt)
    return model

def fit(model, X, y, epochs=2):
    opt = fn.optim.Adam(model.parameters(), lr=1e-3)
    model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=opt, epochs=epochs,
              batch_size=128, verbose=0, seed=1)
    return model

def weights(model):
    return np.concatenate([w.ravel() for w in model.get_weights()])

def run_threads(*fns):
    errors = []
    def wrap(f):
        def g():
            try:
                f()
            except BaseException as e:  # reported to the parent
                errors.append(repr(e))
        return g
    ts = [threading.Thread(target=wrap(f)) for f in fns]
    for t in ts: t.start()
    for t in ts: t.join()
    if errors:
        raise RuntimeError(errors)
"""

THREADS = min(2, len(os.sched_getaffinity(0)))


def child(code: str, timeout: float = 120.0, env=None) -> str:
    return run_child(PRELUDE + code, timeout=timeout, env=env)


@pytest.mark.parametrize("threads", sorted({1, THREADS}))
@pytest.mark.parametrize(
    "pair", ["train+train", "train+predict", "predict+predict", "fit+fit", "fit+predict"]
)
def test_two_models_two_threads_match_serial_results(pair, threads):
    out = child(f"""
fn.set_num_threads({threads})
X, y = data(0, 2048, 784)
a_kind, b_kind = {pair!r}.split("+")

def job(kind, seed):
    m = big_model(seed)
    if kind == "train":
        train(m, X, y, 12)
        return lambda: weights(m)
    if kind == "fit":
        fit(m, X[:1024], y[:1024])
        return lambda: weights(m)
    train(m, X, y, 2)
    return lambda: np.concatenate([m.predict(X[k:k + 300]).ravel() for k in range(0, 1800, 300)])

# serial reference: the same work one after another
serial = []
for kind, seed in ((a_kind, 1), (b_kind, 2)):
    m_res = None
    if kind == "predict":
        m = big_model(seed); train(m, X, y, 2)
        serial.append(np.concatenate([m.predict(X[k:k + 300]).ravel() for k in range(0, 1800, 300)]))
    elif kind == "train":
        serial.append(weights(train(big_model(seed), X, y, 12)))
    else:
        serial.append(weights(fit(big_model(seed), X[:1024], y[:1024])))

results = [None, None]
def run(i, kind, seed):
    def f():
        for _ in range(3):  # repeated: interleavings differ from round to round
            results[i] = job(kind, seed)()
    return f
run_threads(run(0, a_kind, 1), run(1, b_kind, 2))
print(json.dumps([bool(np.array_equal(r, s)) for r, s in zip(results, serial)]))
""")
    assert json.loads(out.strip().splitlines()[-1]) == [True, True]


def test_eight_threads_predict_one_model_while_it_stays_consistent():
    out = child(f"""
fn.set_num_threads({THREADS})
X, y = data(0, 1024, 784)
m = train(big_model(0), X, y, 3)
expect = {{b: m.predict(X[:b]) for b in (1, 7, 32, 300)}}
bad = []
def worker(t):
    def f():
        for k in range(40):
            b = (1, 7, 32, 300)[(t + k) % 4]
            if not np.array_equal(m.predict(X[:b]), expect[b]):
                bad.append((t, k, b))
    return f
run_threads(*[worker(t) for t in range(8)])
print(json.dumps(len(bad)))
""")
    assert json.loads(out.strip().splitlines()[-1]) == 0


@pytest.mark.parametrize("how", ["train_step", "fit"])
def test_predict_while_training_the_same_model_sees_whole_steps(how):
    # Every prediction made while another thread trains must equal the prediction of the
    # weights after some whole step (never a half-updated mix).
    out = child(f"""
fn.set_num_threads({THREADS})
X, y = data(0, 1024, 64)
m = small_model(0)
opt = fn.optim.SGD(m.parameters(), lr=0.05)
probe = X[:16]
snapshots = [m.get_weights()]
seen = []
stop = threading.Event()
started = threading.Event()

class Snap(fn.callbacks.Callback):
    batch_interval = 1  # fit returns to Python after every step: snapshot it
    def on_batch_end(self, step, logs=None):
        snapshots.append(m.get_weights())

def trainer():
    started.wait(30)
    if {how!r} == "fit":
        m.fit(X[:960], y[:960], loss="sparse_categorical_crossentropy", optimizer=opt,
              epochs=1, batch_size=16, verbose=0, callbacks=[Snap()])
    else:
        for k in range(60):
            m.train_step(X[k * 16:(k + 1) * 16], y[k * 16:(k + 1) * 16],
                         "sparse_categorical_crossentropy", opt)
            snapshots.append(m.get_weights())
    stop.set()
def predictor():
    while not stop.is_set():
        seen.append(m.predict(probe))
        started.set()
run_threads(trainer, predictor)
ref = small_model(0)
allowed = []
for w in snapshots:
    ref.set_weights(w)
    allowed.append(ref.predict(probe))
ok = all(any(np.array_equal(s, a) for a in allowed) for s in seen)
print(json.dumps([ok, len(seen), len(snapshots)]))
""")
    ok, count, steps = json.loads(out.strip().splitlines()[-1])
    assert ok and count > 0 and steps == 61


@pytest.mark.parametrize("how", ["os.fork", "multiprocessing"])
def test_forked_child_predicts_and_trains_after_the_parent_used_threads(how):
    out = child(
        f"""
import os, multiprocessing as mp
fn.set_num_threads({THREADS})
X, y = data(0, 4096, 784)
m = fit(big_model(0), X[:2048], y[:2048], epochs=1)
m.predict(X)                       # large enough to use the pool in the parent
expect_pred = m.predict(X[:64])

def work(q):
    ok = bool(np.array_equal(m.predict(X[:64]), expect_pred))
    fit(m, X[:1024], y[:1024], epochs=1)          # the child trains too
    ok = ok and bool(np.isfinite(weights(m)).all())
    q.put(ok)

if {how!r} == "os.fork":
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        class Q:
            def put(self, v): os.write(w, b"1" if v else b"0")
        try:
            work(Q())
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    print(json.dumps(got == b"1"))
else:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=work, args=(q,))
    p.start()
    v = q.get(timeout=60)
    p.join(60)
    print(json.dumps(bool(v) and p.exitcode == 0))
""",
        timeout=150,
    )
    assert json.loads(out.strip().splitlines()[-1]) is True


def test_set_num_threads_applies_to_worker_threads_and_one_thread_is_deterministic():
    # fit in a worker thread after set_num_threads(1) on the main thread: bit-identical runs.
    out = child("""
fn.set_num_threads(1)
X, y = data(0, 1024, 64)
res = []
def f():
    res.append(fn.get_num_threads())
    res.append(weights(fit(small_model(3), X, y, epochs=2)))
run_threads(f)
run_threads(f)
print(json.dumps([res[0], res[2], bool(np.array_equal(res[1], res[3]))]))
""")
    assert json.loads(out.strip().splitlines()[-1]) == [1, 1, True]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_during_fit_raises_promptly_and_leaves_the_model_usable():
    out = child(
        f"""
import os, signal
fn.set_num_threads({THREADS})
X, y = data(0, 2000, 784)
X, y = np.tile(X, (20, 1)), np.tile(y, 20)   # 40k rows: an epoch takes seconds
m = fn.Sequential(fn.Dense(784, 2048), fn.BatchNorm(2048), fn.ReLU(), fn.Dense(2048, 2048),
                  fn.ReLU(), fn.Dense(2048, 10), seed=0)   # ~20 ms a step
opt = fn.optim.Adam(m.parameters(), lr=1e-3)
timer = threading.Timer(1.0, lambda: (sent.append(time.perf_counter()), os.kill(os.getpid(), signal.SIGINT)))
sent = []
timer.start()
t0 = time.perf_counter()
try:
    m.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=opt, epochs=50,
          batch_size=128, verbose=0)
    raised = False
except KeyboardInterrupt:
    raised = True
latency = time.perf_counter() - sent[0]
# usable afterwards: finite weights, a step and a prediction work, fit continues
w = weights(m)
m.train_step(X[:128], y[:128], "sparse_categorical_crossentropy", opt)
m.fit(X[:512], y[:512], loss="sparse_categorical_crossentropy", optimizer=opt, epochs=1,
      batch_size=128, verbose=0)
print(json.dumps([raised, latency, bool(np.isfinite(w).all()), opt.steps,
                  bool(np.isfinite(m.predict(X[:10])).all())]))
""",
        timeout=120,
    )
    raised, latency, finite, steps, pred_ok = json.loads(out.strip().splitlines()[-1])
    assert raised
    assert latency < 0.5, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
    assert finite and pred_ok and steps > 5


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_during_a_long_predict_raises_promptly():
    out = child(
        f"""
import os, signal
fn.set_num_threads({THREADS})
m = fn.Sequential(fn.Dense(784, 2048, activation="relu"), fn.Dense(2048, 2048), seed=0)
X = np.full((100_000, 784), 0.5, dtype=np.float32)  # several seconds of predict
sent = []
threading.Timer(0.5, lambda: (sent.append(time.perf_counter()), os.kill(os.getpid(), signal.SIGINT))).start()
try:
    m.predict(X, batch_size=256)
    raised = False
except KeyboardInterrupt:
    raised = True
print(json.dumps([raised, time.perf_counter() - sent[0] if sent else None]))
""",
        timeout=120,
    )
    raised, latency = json.loads(out.strip().splitlines()[-1])
    assert raised and latency < 0.5


def test_large_predict_memory_is_bounded():
    # Peak RSS growth of predict on 200k rows: the output (8 MB here) plus a bounded
    # workspace, not a workspace proportional to the rows (it was ~25x the input).
    out = child(
        """
import resource
m = big_model(0)
X = np.full((200_000, 784), 0.25, dtype=np.float32)  # 627 MB
X[::7] = -1.0
Y = m.predict(X[:10])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
Y = m.predict(X)
grow1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
Y2 = m.forward(X)
ev = m.evaluate(X, np.zeros(len(X), dtype=np.int64), "sparse_categorical_crossentropy", batch_size=10**6)
grow2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps([grow1 / 1024, grow2 / 1024, bool(np.array_equal(Y, Y2))]))
""",
        timeout=120,
    )
    grow1, grow2, same = json.loads(out.strip().splitlines()[-1])
    # output 200k x 10 float32 = 7.6 MiB; workspace <= 32 MiB; allow 80 MiB in all
    assert grow1 < 80, f"predict grew RSS by {grow1:.0f} MiB"
    assert grow2 < 100, f"forward + evaluate grew RSS by {grow2:.0f} MiB"
    assert same


def test_pool_is_created_lazily_and_fresh_after_fork():
    out = child(f"""
import os
fn.set_num_threads({THREADS})
import time
before = fn._core.pool_workers()
X, y = data(0, 512, 784)
m = big_model(0)

def predict_until_spawned():
    # On a busy box the pool backs off (callers run alone for up to 1.28 s) and spawns no
    # worker meanwhile: predict again until the workers exist, within a deadline.
    deadline = time.monotonic() + 10
    m.predict(X)
    while fn._core.pool_workers() < {THREADS} - 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        m.predict(X)

predict_until_spawned()
after = fn._core.pool_workers()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    n0 = fn._core.pool_workers()
    predict_until_spawned()
    os.write(w, json.dumps([n0, fn._core.pool_workers()]).encode())
    os._exit(0)
os.close(w)
child_counts = json.loads(os.read(r, 100))
os.waitpid(pid, 0)
print(json.dumps([before, after, child_counts]))
""")
    before, after, (child0, child1) = json.loads(out.strip().splitlines()[-1])
    assert before == 0
    assert after == THREADS - 1
    assert child0 == 0 and child1 == THREADS - 1


def test_openblas_raised_by_another_library_is_set_back_to_one_thread():
    # threadpoolctl (scikit-learn) sets every BLAS in the process: ours too. fastnet must not
    # then run OpenBLAS threads inside its own pool's blocks (oversubscription). The generic
    # kernels are forced: on AVX-512, predict's fused kernel does not call OpenBLAS.
    out = child(f"""
import ctypes
from fastnet import _openblas
fn.set_num_threads({THREADS})
fn._core.set_isa_limit("generic")
X, y = data(0, 256, 784)
m = big_model(0)
expect = m.predict(X)
lib = ctypes.CDLL(_openblas.LIBRARY_PATH)
lib.scipy_openblas_set_num_threads(2)
raised = fn._core.openblas_num_threads()
got = m.predict(X)
print(json.dumps([raised, fn._core.openblas_num_threads(), bool(np.array_equal(got, expect))]))
""")
    raised, after, same = json.loads(out.strip().splitlines()[-1])
    assert raised == 2 and after == 1 and same
