"""fastnet.plotting: every figure renders a valid PNG, written atomically; clear errors."""

import os
import sys

import pytest

import fastnet as fn
from fastnet import plotting
from fastnet.diagnostics import GradientMonitor, inspect

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    mpimg = pytest.importorskip("matplotlib.image")
    with open(path, "rb") as fh:
        assert fh.read(8) == PNG_MAGIC
    img = mpimg.imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100 and img.shape[2] in (3, 4)
    leftovers = [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".fastnet-plot-")]
    assert leftovers == []  # the temporary file was moved into place


@pytest.fixture(scope="module")
def trained():
    pytest.importorskip("matplotlib")
    Xtr, ytr, Xte, yte = fn.datasets.load_digits()
    model = fn.Sequential(fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10), seed=0)
    opt = fn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    mon = GradientMonitor(every=5)
    hist = model.fit(
        Xtr[:400],
        ytr[:400],
        loss="sparse_categorical_crossentropy",
        optimizer=opt,
        epochs=4,
        batch_size=32,
        validation_data=(Xte, yte),
        callbacks=[mon],
        verbose=0,
        seed=0,
    )
    return model, opt, hist, mon, (Xtr, ytr)


def test_history_plot(trained, tmp_path):
    _, _, hist, _, _ = trained
    path = tmp_path / "history.png"
    assert hist.plot(path) == str(path)
    _check_png(path)
    plotting.plot_history(hist.history, tmp_path / "loss.png", keys=["loss", "val_loss"])
    _check_png(tmp_path / "loss.png")
    plotting.plot_history(hist, tmp_path / "lr.png", keys="lr")
    _check_png(tmp_path / "lr.png")


def test_lr_find_plot(trained, tmp_path):
    model, opt, _, _, (X, y) = trained
    res = fn.lr_find(model, X, y, "sparse_categorical_crossentropy", opt, steps=60, seed=0)
    res.plot(tmp_path / "lr_find.png")
    _check_png(tmp_path / "lr_find.png")


def test_diagnostics_and_monitor_plots(trained, tmp_path):
    model, opt, _, mon, (X, y) = trained
    rep = inspect(model, X[:200], y[:200], "sparse_categorical_crossentropy", optimizer=opt)
    rep.plot(tmp_path / "diag.png")
    _check_png(tmp_path / "diag.png")
    mon.plot(tmp_path / "grad_norms.png")
    _check_png(tmp_path / "grad_norms.png")


def test_existing_file_is_replaced(trained, tmp_path):
    _, _, hist, _, _ = trained
    path = tmp_path / "h.png"
    path.write_bytes(b"old")
    hist.plot(str(path))
    _check_png(path)


def test_bad_arguments(trained, tmp_path):
    _, _, hist, _, _ = trained
    with pytest.raises(ValueError, match="directory"):
        hist.plot(tmp_path / "missing" / "h.png")
    with pytest.raises(TypeError, match="path"):
        hist.plot(3)
    with pytest.raises(ValueError, match="keys"):
        hist.plot(tmp_path / "h.png", keys=["nope"])
    with pytest.raises(TypeError, match="history"):
        plotting.plot_history([1, 2], tmp_path / "h.png")
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_history({}, tmp_path / "h.png")
    with pytest.raises(ValueError, match="no records"):
        GradientMonitor().plot(tmp_path / "g.png")


def test_missing_matplotlib_gives_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plotting.plot_history({"loss": [1.0, 0.5]}, tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()
