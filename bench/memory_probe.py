"""Child process of the `memory` section: peak RSS of one peer training the `mnist` workload.

    python bench/memory_probe.py {fastnet,torch,numpy} STEPS

Imports only what the peer needs, makes the data, records ru_maxrss (the baseline), builds the
model and optimizer (Adam 1e-3, clip 1.0), runs STEPS training steps on one thread and prints
one JSON line: the baseline and peak high-water resident memory in MiB.

The high-water mark is VmHWM of /proc/self/status where it exists (Linux), else
getrusage(RUSAGE_SELF).ru_maxrss. On Linux ru_maxrss is not reset by exec: a child forked from
the benchmark driver (hundreds of MiB with torch loaded) starts with the driver's RSS as its
maximum, while VmHWM belongs to the new process image alone.
"""

import json
import os
import resource
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root: fastnet as built in place
sys.path.insert(1, HERE)


def max_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(peer: str, steps: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
    from workloads import make_workloads

    if peer == "fastnet":
        import fastnet_runner as runner
    elif peer == "torch":
        import torch_peer as runner

        if not runner.available():
            print(json.dumps({"peer": peer, "error": "torch not installed"}))
            return
    elif peer == "numpy":
        import numpy_baseline as runner
    else:
        raise SystemExit(f"unknown peer {peer!r}")
    if hasattr(runner, "set_threads"):
        runner.set_threads(1)
    wl = make_workloads(True, True)["mnist"]
    X, y = wl.data(seed=0)
    baseline = max_rss_mib()
    step = runner.make_step(wl.spec, "adam-fused" if peer == "torch" else "adam", X, y)
    for _ in range(steps):
        step()
    peak = max_rss_mib()
    print(
        json.dumps(
            {
                "peer": peer,
                "steps": steps,
                "baseline_mib": baseline,
                "peak_mib": peak,
                "training_mib": peak - baseline,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
