"""The `serving` section (BENCHMARKS.md): per-call latency at each library's default threads,
alone and beside one busy neighbour process, each peer in its own process.

Cases: `predict` of the `mnist` model (trained 20 steps first, so that BatchNorm's running
statistics are not the initial ones; inference mode) at batch 1, 32 and 256, and one training
step of the `tiny` workload (batch 32, Adam 1e-3, clip 1.0; ONNX Runtime: n/a).

Peers, each a long-lived child process (bench/serving_worker.py) fed the same weights through
a temporary .npz: fastnet at its default threads, fastnet at 1 thread (the reference of the
target), PyTorch eager and ONNX Runtime (BatchNorm folded into Gemm) at their defaults.

Method. The driver alternates the two conditions, alone and contended, for `rounds` rounds.
Contended: a busy-loop process (`NEIGHBOUR`, one Python interpreter spinning, not pinned) is
started, given LEAD_S seconds, and killed after the condition (always: try/finally). Within a
condition the requests go case by case, peer by peer (A B C D for batch 1, then batch 32, ...);
before each request the driver sleeps measure.SETTLE_S, so that the previous peer's pool
threads have stopped spin-waiting, and the worker makes warm-up calls for WARMUP_S. Each call
is timed on its own (perf_counter_ns); a request stops after its share of the case's calls or
of its time budget, whichever comes first (calls under contention can be 100x slower). Mean,
median and 99th percentile are taken over all calls of a peer, case and condition.

The target (BENCHMARKS.md): with one busy neighbour, default threads, fastnet's mean
≤ 1.5x its uncontended 1-thread mean, and its p99 ≤ ONNX Runtime's p99 (predict cases).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import serving_worker
from measure import SETTLE_S, percentile
from report import Table, Target, fmt, ratio

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# peer id -> (worker peer, --threads or None for the library's default)
PEERS = {
    "fastnet": ("fastnet", None),
    "fastnet 1-thr": ("fastnet", 1),
    "torch": ("torch", None),
    "onnxruntime": ("ort", None),
}
# case -> (calls, time budget in seconds) per condition, over all rounds
PLAN = {
    "predict b1": (2000, 2.0),
    "predict b32": (1000, 3.0),
    "predict b256": (300, 3.0),
    serving_worker.TRAIN_CASE: (1000, 2.0),
}
LEAD_S = 1.0  # the neighbour runs this long before the first contended call
WARMUP_S = 0.05  # warm-up calls before each request's timed calls
# The busy neighbour: pure Python spinning; every 10^7 iterations (a fraction of a second) it
# checks that the driver is still its parent, so that it cannot outlive a killed driver.
NEIGHBOUR = (
    "import os\np = os.getppid()\nwhile os.getppid() == p:\n"
    "    for _ in range(10_000_000):\n        pass\n"
)


def export_weights(path: str) -> None:
    """The `mnist` model after 20 Adam steps (bench/latency.py's trained_model) as .npz:
    its state arrays, each BatchNorm's eps and its predict on the batch-32 input."""
    import latency

    spec = serving_worker.predict_spec()
    model = latency.trained_model(spec, seed=0)
    if len(model.layers) != len(spec):  # the workers index weights by spec position
        raise RuntimeError("the fastnet model's layers do not match the spec one to one")
    out = dict(model.state_arrays())
    for k, layer in enumerate(model.layers):
        if type(layer).__name__ == "BatchNorm":
            out[f"{k}.eps"] = np.float64(layer.eps)
    out["ref32"] = model.predict(serving_worker.inputs(32)).astype(np.float64)
    np.savez(path, **out)


class Worker:
    """One bench/serving_worker.py process; request() sends a line and waits for the answer."""

    def __init__(self, name: str, peer: str, threads, weights: str, errfile):
        self.name, self.errfile = name, errfile
        cmd = [sys.executable, os.path.join(HERE, "serving_worker.py"), peer, weights]
        if threads:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile
        )
        self._buf = b""
        self.info = None

    def _fail(self, why: str):
        self.errfile.flush()
        self.errfile.seek(0)
        tail = self.errfile.read().decode(errors="replace")[-3000:]
        raise RuntimeError(f"bench/serving_worker.py ({self.name}): {why}\n{tail}")

    def recv(self, timeout: float) -> dict:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"no answer within {timeout:.0f} s")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self.proc.wait()
                    self._fail(f"exited with status {self.proc.returncode}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, case: str, calls: int, budget_s: float) -> list:
        msg = {"case": case, "calls": calls, "budget_s": budget_s, "warmup_s": WARMUP_S}
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        # a slow call may overrun the budget: allow for it generously
        return self.recv(timeout=60 + 10 * budget_s)["ns"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"quit": true}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def sigterm_unwinds():
    """A SIGTERM to the driver raises SystemExit here, so that the finally blocks kill the
    neighbour and the workers (Ctrl-C does already, as KeyboardInterrupt)."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def busy_neighbour():
    """One busy-loop process for the duration of the block, started LEAD_S before it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", NEIGHBOUR],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(LEAD_S)
        if proc.poll() is not None:
            raise RuntimeError(f"the busy neighbour exited early (status {proc.returncode})")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _proc_ticks(pid) -> int:
    """utime + stime (+ cutime + cstime: children already waited for) of a process, in clock
    ticks, from /proc/PID/stat; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15])  # fields 14-17 of proc(5)
    except (OSError, ValueError, IndexError):
        return 0


def _busy_ticks():
    """Busy clock ticks of all CPUs (everything but idle and iowait), or None without /proc."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]) - v[3] - v[4]
    except (OSError, ValueError):
        return None


class OtherLoad:
    """CPU time that processes other than this one, its workers and its neighbour took during
    a condition: /proc/stat's busy time minus theirs (read from /proc/PID/stat while they
    live, so before the neighbour is killed and reaped)."""

    def __init__(self, pids):
        self.pids = list(pids)
        self.t0, self.busy0 = time.perf_counter(), _busy_ticks()
        self.ours0 = sum(_proc_ticks(p) for p in ["self"] + self.pids)

    def stop(self, neighbour_pid=None):
        """(seconds of CPU others used, wall seconds), or None without /proc."""
        busy = _busy_ticks()
        if busy is None or self.busy0 is None:
            return None
        ours = sum(_proc_ticks(p) for p in ["self"] + self.pids)
        if neighbour_pid is not None:
            ours += _proc_ticks(neighbour_pid)
        hz = os.sysconf("SC_CLK_TCK")
        return max(
            0.0, ((busy - self.busy0) - (ours - self.ours0)) / hz
        ), time.perf_counter() - self.t0


def summary(ns: list):
    if not ns:
        return None
    us = [x / 1e3 for x in ns]
    return {
        "mean_us": sum(us) / len(us),
        "p50_us": percentile(us, 50.0),
        "p99_us": percentile(us, 99.0),
        "calls": len(us),
    }


def run(quick: bool = False, rounds=None, log=None):
    """Measure; returns (rows, info). rows: one per peer and case, with "alone" and
    "contended" summaries (None where the peer lacks the case or is not installed)."""
    log = log or (lambda line: print(line, flush=True))
    rounds = max(1, rounds or (1 if quick else 2))
    scale = 0.25 if quick else 1.0
    plan = {
        c: (max(1, math.ceil(n * scale / rounds)), b * scale / rounds) for c, (n, b) in PLAN.items()
    }
    samples = {(p, c, cond): [] for p in PEERS for c in PLAN for cond in ("alone", "contended")}
    info = {
        "rounds": rounds,
        "plan": plan,
        "neighbour_lead_s": LEAD_S,
        "settle_s": SETTLE_S,
        "warmup_s": WARMUP_S,
        "peers": {},
    }
    load = {"alone": [], "contended": []}
    t0 = time.perf_counter()
    workers = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(sigterm_unwinds())
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="fastnet-serving-"))
        path = os.path.join(tmp, "weights.npz")
        export_weights(path)
        try:
            for name, (peer, threads) in PEERS.items():
                err = stack.enter_context(tempfile.TemporaryFile(dir=tmp))
                workers[name] = Worker(name, peer, threads, path, err)
            for name, w in list(workers.items()):
                w.info = w.recv(timeout=300)
                info["peers"][name] = w.info
                if "error" in w.info:
                    log(f"  serving  {name}: n/a ({w.info['error']})")
                    w.close()
                    del workers[name]
                else:
                    log(
                        f"  serving  {name}: threads {w.info['threads']}, {w.info['os_threads']} "
                        f"OS threads, batch-32 max abs diff to fastnet "
                        f"{w.info['max_abs_diff_b32']:.2g}"
                    )
            for r in range(rounds):
                for cond in ("alone", "contended"):
                    others = OtherLoad(w.proc.pid for w in workers.values())
                    with (
                        busy_neighbour() if cond == "contended" else contextlib.nullcontext()
                    ) as nb:
                        for case, (calls, budget) in plan.items():
                            for name, w in workers.items():
                                if case not in w.info["cases"]:
                                    continue
                                time.sleep(SETTLE_S)
                                samples[(name, case, cond)] += w.request(case, calls, budget)
                        load[cond].append(others.stop(nb and nb.pid))
                    log(
                        f"  serving  round {r + 1}/{rounds} {cond}: done "
                        f"({time.perf_counter() - t0:.0f} s)"
                    )
        finally:
            for w in workers.values():
                try:
                    w.close()
                except Exception:  # noqa: BLE001 -- the others must still be closed
                    w.proc.kill()
                    w.proc.wait()
    info["other_processes_cores"] = {
        cond: (None if not v or None in v else sum(x[0] for x in v) / sum(x[1] for x in v))
        for cond, v in load.items()
    }
    info["elapsed_s"] = time.perf_counter() - t0
    rows = []
    for name in PEERS:
        for case in PLAN:
            a = summary(samples[(name, case, "alone")])
            c = summary(samples[(name, case, "contended")])
            rows.append(
                {
                    "peer": name,
                    "case": case,
                    "threads": info["peers"].get(name, {}).get("threads"),
                    "available": "error" not in info["peers"].get(name, {"error": ""}),
                    "alone": a,
                    "contended": c,
                }
            )
    ref = {r["case"]: r["alone"] for r in rows if r["peer"] == "fastnet 1-thr"}
    for r in rows:
        base = ref.get(r["case"])
        r["contended_over_fastnet_1thr"] = ratio(
            r["contended"] and r["contended"]["mean_us"], base and base["mean_us"]
        )
    return rows, info


# ----- report -----
def _us(x):
    return "n/a" if x is None else (f"{x:.1f}" if x < 100 else f"{x:,.0f}")


def table(rows) -> Table:
    t = Table(
        "serving: per-call latency in µs at default threads, alone and with one busy "
        "neighbour process (each peer in its own process; predict: the mnist model, "
        "train: the tiny step, Adam, clip 1.0)",
        [
            "peer",
            "thr",
            "case",
            "calls",
            "mean",
            "p50",
            "p99",
            "busy calls",
            "busy mean",
            "busy p50",
            "busy p99",
            "busy mean/fn 1-thr mean",
        ],
        n_left=3,
    )
    for r in rows:
        a, c = r["alone"] or {}, r["contended"] or {}
        t.add(
            r["peer"],
            r["threads"] if r["available"] else "-",
            r["case"],
            a.get("calls", "n/a"),
            _us(a.get("mean_us")),
            _us(a.get("p50_us")),
            _us(a.get("p99_us")),
            c.get("calls", "n/a"),
            _us(c.get("mean_us")),
            _us(c.get("p50_us")),
            _us(c.get("p99_us")),
            fmt(r["contended_over_fastnet_1thr"], "{:.2f}x"),
        )
    return t


def targets(rows) -> list:
    by = {(r["peer"], r["case"]): r for r in rows}
    out = []
    for case in PLAN:
        ours, one, peer = (
            by.get(("fastnet", case)),
            by.get(("fastnet 1-thr", case)),
            by.get(("onnxruntime", case)),
        )
        if ours is None:
            continue
        c, a = ours["contended"], one and one["alone"]
        thr = ours["threads"]
        out.append(
            Target(
                "serving",
                f"{case}, fastnet default threads ({thr}) with one busy "
                "neighbour: mean ÷ its uncontended 1-thread mean",
                ratio(c and c["mean_us"], a and a["mean_us"]),
                1.5,
                kind="<=",
                detail=f"{_us(c and c['mean_us'])} µs vs {_us(a and a['mean_us'])} µs",
            )
        )
        if case.startswith("predict"):
            o = peer and peer["contended"]
            out.append(
                Target(
                    "serving",
                    f"{case}, with one busy neighbour: fastnet p99 ÷ ONNX "
                    "Runtime p99 (default threads both)",
                    ratio(c and c["p99_us"], o and o["p99_us"]),
                    1.0,
                    kind="<=",
                    detail=f"{_us(c and c['p99_us'])} µs vs {_us(o and o['p99_us'])} µs",
                )
            )
    return out


def notes(rows, info) -> list:
    out = []
    peers = info["peers"]
    diffs = ", ".join(
        f"{k} {v['max_abs_diff_b32']:.2g}" for k, v in peers.items() if "max_abs_diff_b32" in v
    )
    threads = ", ".join(
        f"{k} {v['threads']} ({v['os_threads']} OS threads in the process)"
        for k, v in peers.items()
        if "threads" in v
    )
    out.append(
        f"serving: threads {threads}; batch-32 output vs fastnet's predict, max abs "
        f"difference: {diffs}"
    )
    for k, v in peers.items():
        if "error" in v:
            out.append(f"serving: {k} n/a ({v['error']})")
    few = [
        r[cond]["calls"]
        for r in rows
        for cond in ("alone", "contended")
        if r[cond] and r[cond]["calls"] < 100
    ]
    if few:
        out.append(
            f"serving: {len(few)} figure(s) rest on fewer than 100 calls (as few as "
            f"{min(few)}; the time budget stopped them, see the calls columns): their "
            "p99 is close to their maximum"
        )
    o = info.get("other_processes_cores") or {}
    a, c = o.get("alone"), o.get("contended")
    out.append(
        f"serving: other processes (neither the benchmark's nor the neighbour) kept "
        f"{fmt(a, '{:.2f}')} cores busy on average while the alone figures were taken, "
        f"{fmt(c, '{:.2f}')} while the contended ones were ({info['rounds']} round(s), "
        f"{info['elapsed_s']:.0f} s)"
        + (
            "; above 0.25: the alone figures are not uncontended, and the contended ones "
            "had more than one busy neighbour"
            if (a or 0) > 0.25 or (c or 0) > 0.25
            else ""
        )
    )
    return out
