"""Formatting of bench/run.py's results: tables (plain text and Markdown), target verdicts and
the PNG chart. Nothing here measures."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def fmt(x, spec="{:,.0f}"):
    return "n/a" if x is None else spec.format(x)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


@dataclass
class Table:
    """A titled table of strings; the first `n_left` columns are left-aligned."""

    title: str
    head: list
    body: list = field(default_factory=list)
    n_left: int = 1

    def add(self, *cells):
        self.body.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [max(len(r[c]) for r in [self.head] + self.body) for c in range(len(self.head))]

        def line(cells):
            return "  ".join(
                x.ljust(w) if c < self.n_left else x.rjust(w)
                for c, (x, w) in enumerate(zip(cells, widths))
            ).rstrip()

        top = line(self.head)
        return "\n".join([self.title, top, "-" * len(top)] + [line(r) for r in self.body])

    def markdown(self) -> str:
        align = ["---" if c < self.n_left else "---:" for c in range(len(self.head))]
        rows = [self.head, align] + self.body
        return "\n".join([f"**{self.title}**", ""] + ["| " + " | ".join(r) + " |" for r in rows])


@dataclass
class Target:
    """One target of BENCHMARKS.md against the measured value. kind '>=' or '<='."""

    workload: str
    what: str
    value: float | None
    target: float
    kind: str = ">="
    unit: str = "x"
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        ok = self.value >= self.target if self.kind == ">=" else self.value <= self.target
        return "met" if ok else "missed"

    def _num(self, x):
        if self.unit == "x":
            return f"{x:.2f}x"
        if self.unit == "%":
            return f"{x:.0f}%"
        return f"{x:.3g} {self.unit}"

    def text(self) -> str:
        got = "n/a" if self.value is None else self._num(self.value)
        extra = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.workload}: {self.what} {got} (target {self.kind} "
            f"{self._num(self.target)}): {self.verdict}{extra}"
        )

    def attainment(self):
        """value/target for '>=', target/value for '<=': >= 1 means met."""
        if not self.value:
            return None
        return self.value / self.target if self.kind == ">=" else self.target / self.value

    def as_dict(self) -> dict:
        return {
            "workload": self.workload,
            "what": self.what,
            "value": self.value,
            "target": self.target,
            "kind": self.kind,
            "unit": self.unit,
            "verdict": self.verdict,
            "detail": self.detail,
        }


def targets_table(targets) -> Table:
    t = Table(
        "targets (BENCHMARKS.md)", ["workload", "measure", "value", "target", "verdict"], n_left=2
    )
    for x in targets:
        t.add(
            x.workload,
            x.what + (f" ({x.detail})" if x.detail else ""),
            "n/a" if x.value is None else x._num(x.value),
            f"{x.kind} {x._num(x.target)}",
            x.verdict,
        )
    return t


def plot(train_rows, targets, path, title: str) -> bool:
    """Two panels: µs per training step of each peer (log scale), and each target's
    attainment (measured ÷ target, 1 = just met). False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    scored = [t for t in targets if t.attainment() is not None]
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(15, max(5, 0.28 * len(scored) + 1.5)), gridspec_kw={"width_ratios": [1.3, 1]}
    )
    if train_rows:
        labels = [f"{r['workload']}\n{r['threads']}t {r['optimizer']}" for r in train_rows]
        series = [("fastnet", "fastnet_us"), ("torch", "torch_us"), ("numpy", "numpy_us")]
        x = np.arange(len(train_rows))
        width = 0.27
        for k, (name, key) in enumerate(series):
            ax1.bar(x + (k - 1) * width, [r[key] or 0 for r in train_rows], width, label=name)
        ax1.set_xticks(x)
        ax1.set_xticklabels(labels, fontsize=7)
        ax1.set_yscale("log")
        ax1.set_ylabel("µs per training step (log, lower is better)")
        ax1.set_title("training step (torch: SGD / fused Adam)")
        ax1.legend()
    if scored:
        y = np.arange(len(scored))
        vals = [t.attainment() for t in scored]
        ax2.barh(y, vals, color=["tab:green" if v >= 1 else "tab:red" for v in vals])
        ax2.axvline(1.0, color="black", lw=1)
        ax2.set_yticks(y)
        ax2.set_yticklabels([f"{t.workload}: {t.what}" for t in scored], fontsize=7)
        ax2.invert_yaxis()
        ax2.set_xscale("log")
        ax2.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax2.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax2.tick_params(axis="x", which="minor", labelsize=6)
        ax2.set_xlabel("measured ÷ target (≥ 1: met; log)")
        ax2.set_title("targets")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
