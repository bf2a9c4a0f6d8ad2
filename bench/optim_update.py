"""The `optim` workload (BENCHMARKS.md): global-norm clip + Adam update over the ~10.5M
parameters of the `wide` model, update only (gradients filled with random values once).

Peers:
  fastnet        Adam(lr=1e-3, clip_norm=1.0).step()           one reduction + one fused pass
  torch          clip_grad_norm_(params, 1.0) + Adam(fused=True).step()
  torch-foreach  clip_grad_norm_(params, 1.0) + Adam().step()  (the default implementation)
The bandwidth bound is 32 bytes a parameter: the fused pass reads p, g, m, v and writes p, m, v
(28 bytes), the norm reads g once more (4), at the stream bandwidth measured in the same run.
"""

from __future__ import annotations

import fastnet_runner
import numpy as np
import torch_peer

import fastnet as fn

BYTES_PER_PARAM = 28 + 4


def make_peers(spec, seed: int = 0):
    """(number of parameters, {peer: zero-argument step or None})."""
    model = fastnet_runner.build_model(spec, seed)
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(p.shape).astype(np.float32) * 1e-3 for p in model.parameters()]
    for p, g in zip(model.parameters(), grads):
        p.grad[...] = g
    opt = fn.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), clip_norm=1.0)
    peers = {"fastnet": opt.step, "torch": None, "torch_foreach": None}
    if torch_peer.available():
        values = [p.data.copy() for p in model.parameters()]
        peers["torch"] = torch_peer.make_update_step(values, grads, "adam-fused")
        peers["torch_foreach"] = torch_peer.make_update_step(values, grads, "adam")
    return model.count_params(), peers


def row(n_params: int, us: dict, bandwidth: dict, threads: int) -> dict:
    """One record of the optim table from the medians (µs) and the stream bandwidth (B/s)."""
    bound_us = BYTES_PER_PARAM * n_params / bandwidth["best"] * 1e6
    ours = us["fastnet"]
    return {
        "threads": threads,
        "params": n_params,
        "fastnet_us": ours,
        "torch_us": us["torch"],
        "torch_foreach_us": us["torch_foreach"],
        "torch_over_fastnet": None if us["torch"] is None else us["torch"] / ours,
        "torch_foreach_over_fastnet": (
            None if us["torch_foreach"] is None else us["torch_foreach"] / ours
        ),
        "stream_copy_gbs": bandwidth["copy"] / 1e9,
        "stream_add_gbs": bandwidth["add"] / 1e9,
        "bound_us": bound_us,
        "pct_bound": 100.0 * bound_us / ours,
        "fastnet_gbs": BYTES_PER_PARAM * n_params / (ours * 1e-6) / 1e9,
    }
