"""Figures for training curves, the LR range test and gradient diagnostics.

matplotlib is an optional extra (``pip install fastnet[plot]``): it is imported inside each
function, and a missing install raises an ImportError saying so. Figures are drawn on a
``matplotlib.figure.Figure`` with the Agg canvas directly, so pyplot's global state (current
figure, interactive backend) is never touched. Files are written atomically: the figure goes
to a temporary file in the target directory, then ``os.replace`` moves it into place, so a
reader never sees a half-written image.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from ._files import atomic_write_bytes, check_path


def _new_figure(rows: int = 1, cols: int = 1, size=(7.0, 4.5)):
    """A Figure with an Agg canvas and its axes (always a flat list)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, an optional extra: "
            "pip install matplotlib (or fastnet[plot])"
        ) from None
    fig = Figure(figsize=(size[0] * cols, size[1] * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _check_path(path) -> str:
    path = check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"path: directory {folder!r} does not exist")
    return path


def _save(fig, path) -> str:
    """Write fig to path atomically (temporary file in the same directory, then os.replace).

    The format follows the extension (png when there is none)."""
    path = _check_path(path)
    ext = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=ext, dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _finite(values):
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, np.nan)


# --------------------------------------------------------------------------- history


def plot_history(history, path, keys=None) -> str:
    """Per-epoch curves of a fit History (or a dict of lists) saved to path.

    Each metric gets one panel with its training and validation curves ('loss' with
    'val_loss', 'accuracy' with 'val_accuracy', ...); 'lr' and 'grad_norm' are drawn on a log
    axis. ``keys`` restricts the figure to those entries (validation partners included when
    present). Returns the path.
    """
    records = getattr(history, "history", history)
    if not isinstance(records, dict):
        raise TypeError(
            f"history must be a History or a dict of lists, got {type(history).__name__}"
        )
    if not records:
        raise ValueError("history is empty: nothing to plot")
    if keys is None:
        keys = [k for k in records if not k.startswith("val_")]
        keys += [k for k in records if k.startswith("val_") and k[4:] not in records]
    else:
        if isinstance(keys, str):
            keys = [keys]
        keys = list(keys)
        for k in keys:
            if not isinstance(k, str):
                raise TypeError(f"keys must be strings, got {type(k).__name__}")
            if k not in records:
                raise ValueError(f"keys: {k!r} is not in the history (has {sorted(records)})")
        if not keys:
            raise ValueError("keys is empty: nothing to plot")
    # One panel per base metric: 'val_x' joins 'x'.
    panels = []
    for k in keys:
        base = k[4:] if k.startswith("val_") else k
        if base not in panels:
            panels.append(base)
    epochs = getattr(history, "epoch", None)
    fig, axes = _new_figure(len(panels), 1, size=(7.0, 3.2))
    for ax, base in zip(axes, panels):
        for k in (base, "val_" + base):
            if k in records and (k in keys or base in keys):
                ys = _finite(records[k])
                xs = np.asarray(epochs[: len(ys)]) + 1 if epochs else np.arange(1, len(ys) + 1)
                ax.plot(xs, ys, marker="o", markersize=3, label=k)
        if base in ("lr", "grad_norm"):
            vals = _finite(records.get(base, []))
            vals = vals[np.isfinite(vals)]
            if vals.size and vals.min() > 0:
                ax.set_yscale("log")
        ax.set_ylabel(base)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
    axes[-1].set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- LR finder


def plot_lr_find(result, path) -> str:
    """Smoothed (and raw) loss against the learning rate on a log axis, the suggestion marked."""
    lrs = np.asarray(result.lrs, dtype=np.float64)
    if lrs.size == 0:
        raise ValueError("the LR finder result is empty: nothing to plot")
    fig, (ax,) = _new_figure()
    ax.plot(lrs, _finite(result.raw_losses), color="0.75", linewidth=1, label="raw loss")
    ax.plot(lrs, _finite(result.losses), color="C0", linewidth=2, label="smoothed loss")
    if result.suggestion is not None:
        k = int(np.argmin(np.abs(np.log(lrs) - math.log(result.suggestion))))
        ax.axvline(result.suggestion, color="C3", linestyle="--", linewidth=1)
        ax.plot(
            [result.suggestion],
            [result.losses[k]],
            "o",
            color="C3",
            label=f"suggestion {result.suggestion:.2e}",
        )
    ax.set_xscale("log")
    finite = _finite(result.losses)
    if np.isfinite(finite).any():
        lo = np.nanmin(finite)
        first = finite[np.isfinite(finite)][0]
        span = max(first - lo, abs(lo) * 0.1, 1e-12)
        ax.set_ylim(
            lo - 0.1 * span, first + 1.5 * span
        )  # keep the blow-up from flattening the curve
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate range test")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best")
    return _save(fig, path)


# --------------------------------------------------------------------------- diagnostics


def plot_diagnostics(report, path) -> str:
    """Three panels per layer: gradient norm (log), activation mean ± std, dead/saturated
    fraction; the verdict in the title."""
    rows = report.layers
    if not rows:
        raise ValueError("the diagnostics report has no layers")
    idx = np.arange(len(rows))
    names = [f"{r['index']}:{r['name']}" for r in rows]
    fig, axes = _new_figure(3, 1, size=(max(7.0, 0.45 * len(rows)), 2.8))
    gn = _finite([r["grad_norm"] if r["grad_norm"] is not None else np.nan for r in rows])
    has = np.isfinite(gn) & (gn > 0)
    axes[0].bar(idx[has], gn[has], color="C0")
    if has.any():
        axes[0].set_yscale("log")
    axes[0].set_ylabel("gradient norm")
    axes[0].set_title(f"verdict: {report.verdict} - {report.reason}", fontsize=9)
    mean = _finite([r["act_mean"] for r in rows])
    std = _finite([r["act_std"] for r in rows])
    axes[1].errorbar(idx, mean, yerr=std, fmt="o", capsize=3, color="C1")
    axes[1].set_ylabel("activation mean ± std")
    dead = _finite([r["dead_fraction"] if r["dead_fraction"] is not None else np.nan for r in rows])
    sat = _finite(
        [r["saturated_fraction"] if r["saturated_fraction"] is not None else np.nan for r in rows]
    )
    axes[2].bar(idx - 0.2, np.nan_to_num(dead), width=0.4, label="dead ReLU", color="C2")
    axes[2].bar(idx + 0.2, np.nan_to_num(sat), width=0.4, label="saturated", color="C3")
    axes[2].set_ylim(0, 1)
    axes[2].set_ylabel("fraction")
    axes[2].legend(loc="best")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_xticks(idx)
        ax.set_xticklabels([])
    axes[-1].set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_gradient_norms(monitor, path) -> str:
    """Per-layer gradient norm over training steps (log scale), one line per layer."""
    norms = np.asarray(monitor.norms, dtype=np.float64)
    if norms.size == 0:
        raise ValueError("the GradientMonitor has no records: nothing to plot (train first)")
    steps = np.asarray(monitor.steps)
    fig, (ax,) = _new_figure()
    for j, name in enumerate(monitor.layer_names):
        col = _finite(norms[:, j])
        col[col <= 0] = np.nan  # frozen layers / exact zeros cannot sit on a log axis
        ax.plot(steps, col, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("gradient norm (log scale)")
    ax.set_title("per-layer gradient norms")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=7, ncol=max(1, len(monitor.layer_names) // 10))
    return _save(fig, path)
