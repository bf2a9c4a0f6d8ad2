"""python -m fastnet train (fastnet/__main__.py)."""

import numpy as np
import pytest

from fastnet.__main__ import main


def test_default_run_trains_on_shipped_digits(capsys):
    assert main(["train", "--epochs", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "epoch 3/3" in out
    acc = float(out.split("test accuracy:")[1].split()[0])
    assert acc > 0.85


def _csv(tmp_path, text):
    p = tmp_path / "data.csv"
    p.write_text(text)
    return str(p)


def test_csv_classification(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    label = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{lab}" for r, lab in zip(X, label)]
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    assert (
        main(
            [
                "train",
                "--data",
                path,
                "--target",
                "label",
                "--hidden",
                "16",
                "--epochs",
                "30",
                "--lr",
                "0.01",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "task classify" in out
    assert float(out.split("test accuracy:")[1].split()[0]) > 0.8


def test_npz_regression(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32) + 0.3
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    assert (
        main(["train", "--data", str(path), "--target", "y", "--epochs", "20", "--verbose", "0"])
        == 0
    )
    assert "test mse:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, args, fragment",
    [
        ("a,b\n1,2\n", ["--target", "zzz"], "no column named 'zzz'"),
        ("a,b\n1,x\n2,3\n3,4\n4,5\n", ["--target", "a"], "non-numeric value 'x'"),
        ("", ["--target", "a"], "empty"),
        ("a,b\n1,2\n2,3,4\n", ["--target", "a"], "expected 2 fields"),
    ],
)
def test_bad_csv_gives_one_line_error(tmp_path, capsys, content, args, fragment):
    path = _csv(tmp_path, content)
    assert main(["train", "--data", path, *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_and_unsupported_files(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none.csv"), "--target", "y"]) == 2
    assert "no such file" in capsys.readouterr().err
    p = tmp_path / "x.txt"
    p.write_text("1 2 3")
    assert main(["train", "--data", str(p), "--target", "y"]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    p = tmp_path / "broken.npz"
    p.write_bytes(b"not a zip file")
    assert main(["train", "--data", str(p), "--target", "y"]) == 2
    assert "not a readable .npz" in capsys.readouterr().err
    assert main(["train", "--epochs", "0"]) == 2


def test_default_settings_reach_97_percent_on_digits(capsys):
    """Issue 5: the shipped data set reaches >= 97% test accuracy in <= 30 epochs with the
    default settings (1 thread for a bit-reproducible run)."""
    assert main(["train", "--threads", "1", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "for 20 epochs" in out
    assert float(out.split("test accuracy:")[1].split()[0]) >= 0.97


def test_out_saves_a_loadable_model(tmp_path, capsys):
    pytest.importorskip("safetensors")
    import fastnet as fn

    path = tmp_path / "m.safetensors"
    assert main(["train", "--epochs", "1", "--verbose", "0", "--out", str(path)]) == 0
    X, _, Xte, _ = fn.datasets.load_digits()
    assert fn.load(str(path)).predict(Xte).shape == (Xte.shape[0], 10)
    assert (
        main(
            [
                "train",
                "--epochs",
                "1",
                "--verbose",
                "0",
                "--out",
                str(tmp_path / "no" / "dir" / "m.safetensors"),
            ]
        )
        == 2
    )
    assert "cannot write" in capsys.readouterr().err


def test_fifo_or_device_as_data_is_refused_without_blocking(tmp_path):
    # A FIFO would block the reader forever: run in a child with a deadline.
    import os

    from child import run_child

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    out = run_child(
        f"""
from fastnet.__main__ import main
print(main(["train", "--data", {str(fifo)!r}, "--target", "y"]),
      main(["train", "--data", {str(link)!r}, "--target", "y"]))
""",
        timeout=60,
    )
    assert out.split()[-2:] == ["2", "2"]
