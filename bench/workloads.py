"""Benchmark workloads (BENCHMARKS.md, "Workloads") as framework-neutral layer specs.

A spec is a list of tuples that every peer (fastnet, PyTorch, NumPy) turns into its own model:
    ("dense", in, out)   fully connected, with bias
    ("batchnorm", n)     BatchNorm1d, training mode (batch statistics), PyTorch conventions
    ("relu",)
    ("dropout", p)       inverted dropout
The loss is always softmax cross-entropy over integer labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    spec: tuple
    batch: int
    note: str = ""

    @property
    def in_features(self) -> int:
        return self.spec[0][1]

    @property
    def classes(self) -> int:
        return [s for s in self.spec if s[0] == "dense"][-1][2]

    def uses(self, kind: str) -> bool:
        return any(s[0] == kind for s in self.spec)

    def flops_per_step(self) -> int:
        """Dense-layer FLOPs of one training step, counted the way fastnet computes them.

        Each Dense layer costs three GEMMs of 2·batch·in·out FLOPs: forward Y = X·W, and
        backward dW = Xᵀ·dZ and dX = dZ·Wᵀ, so 6·batch·Σ in·out. The first layer's dX is
        not needed for training (no peer computes it: torch skips it because the input does
        not require grad), so 2·batch·in₀·out₀ is subtracted. Elementwise work (bias,
        activation, BatchNorm, loss, optimizer) is not counted.
        """
        dense = [s for s in self.spec if s[0] == "dense"]
        total = sum(6 * self.batch * i * o for _, i, o in dense)
        _, i0, o0 = dense[0]
        return total - 2 * self.batch * i0 * o0

    def flops_per_sample(self) -> float:
        return self.flops_per_step() / self.batch

    def data(self, seed: int = 0):
        """Random normal float32 inputs and random integer labels (int64, as NumPy makes them)."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.batch, self.in_features), dtype=np.float32)
        y = rng.integers(0, self.classes, size=self.batch)
        return X, y


def mlp(sizes, *, batchnorm=False, dropout=0.0):
    """Dense layers of the given widths; hidden ones followed by [BatchNorm] ReLU [Dropout]."""
    spec = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        spec.append(("dense", i, o))
        if k < len(sizes) - 2:
            if batchnorm:
                spec.append(("batchnorm", o))
            spec.append(("relu",))
            if dropout > 0:
                spec.append(("dropout", dropout))
    return tuple(spec)


def make_workloads(has_batchnorm: bool, has_dropout: bool) -> dict:
    """The timing workloads; those needing BatchNorm/Dropout adapt to what fastnet offers."""
    loads = {"tiny": Workload("tiny", mlp([64, 128, 128, 10]), 32)}
    if has_batchnorm:
        loads["tiny-bn"] = Workload(
            "tiny-bn",
            mlp([64, 128, 128, 10], batchnorm=True, dropout=0.1 if has_dropout else 0.0),
            32,
            "" if has_dropout else "no Dropout (fn.Dropout missing)",
        )
    if has_batchnorm and has_dropout:
        loads["mnist"] = Workload(
            "mnist", mlp([784, 512, 512, 10], batchnorm=True, dropout=0.2), 128
        )
    else:
        missing = " and ".join(
            n for n, ok in (("fn.BatchNorm", has_batchnorm), ("fn.Dropout", has_dropout)) if not ok
        )
        loads["mnist"] = Workload(
            "mnist",
            mlp([784, 512, 512, 10], batchnorm=has_batchnorm, dropout=0.2 if has_dropout else 0.0),
            128,
            f"reduced: {missing} missing",
        )
    if has_batchnorm:
        loads["wide"] = Workload("wide", mlp([1024, 2048, 2048, 2048, 10], batchnorm=True), 256)
    return loads


def describe(spec) -> str:
    """A short text form of a spec, e.g. 64-128r-128r-10 (r ReLU, b BatchNorm, d Dropout)."""
    out = []
    for s in spec:
        if s[0] == "dense":
            if not out:
                out.append(str(s[1]))
            out.append("-" + str(s[2]))
        elif s[0] == "batchnorm":
            out.append("b")
        elif s[0] == "relu":
            out.append("r")
        elif s[0] == "dropout":
            out.append(f"d{s[1]:g}")
    return "".join(out)


def gemm_ceiling(peer_seconds, flops: float, peak_gflops):
    """peer time ÷ the time of `flops` at the measured sgemm peak: the largest ratio fastnet
    could reach over that peer if its run were nothing but its GEMMs, each at peak."""
    if not peer_seconds or not peak_gflops:
        return None
    return peer_seconds / (flops / (peak_gflops * 1e9))
