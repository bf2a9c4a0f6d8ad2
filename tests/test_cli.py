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
    # Issue 12: --out now writes a bundle; fn.load still reads its network, with a warning.
    with pytest.warns(UserWarning, match="bundle"):
        assert fn.load(str(path)).predict(Xte).shape == (Xte.shape[0], 10)
    assert fn.load_bundle(str(path)).predict(Xte[:5]).shape == (5,)
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


# --------------------------------------------------------------------------- tables and bundles
# Issue 12 part 2: CSVs as users have them (an index column, missing values, a categorical
# column, string labels, an integer regression target), trained, saved as a bundle, and
# applied by `predict` and by fn.load_bundle on raw rows.


def _table(n=400, seed=0):
    """Rows of (age, income, color) with a label that depends on income and color, and the
    CSV text pandas' DataFrame.to_csv would write (a nameless index column first), with
    missing ages and colors in both spellings pandas reads as missing."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    income = rng.normal(50, 10, n)
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(income / 10 + 2 * (color == "red") > 6.0, "yes", "no")
    lines = [",age,income,color,label"]
    for i in range(n):
        a = "" if i % 17 == 3 else str(age[i])
        c = "NA" if i % 23 == 5 else color[i]
        lines.append(f"{100 + i},{a},{income[i]:.4f},{c},{label[i]}")
    return "\n".join(lines) + "\n", age, income, color, label


def _train_args(path, target, *extra):
    return ["train", "--data", path, "--target", target, "--hidden", "32", "--epochs", "40",
            "--lr", "0.01", "--verbose", "0", "--threads", "1", *extra]  # fmt: skip


def test_csv_with_index_missing_and_categorical_round_trips(tmp_path, capsys):
    import fastnet as fn

    text, age, income, color, label = _table()
    path = _csv(tmp_path, text)
    bundle_path = str(tmp_path / "m.safetensors")
    assert main(_train_args(path, "label", "--out", bundle_path)) == 0
    out = capsys.readouterr().out
    assert "index column: (no name)" in out
    assert "task: classify (target 'label' has non-numeric values" in out
    # Imputation on the training rows only: the printed counts are of all rows.
    holes_age = sum(1 for i in range(400) if i % 17 == 3)
    holes_color = sum(1 for i in range(400) if i % 23 == 5)
    assert f"column 'age': {holes_age} imputed with" in out and "(mean)" in out
    assert f"column 'color': {holes_color} imputed with" in out and "(most frequent)" in out
    assert "column 'color' one-hot encoded as 3 inputs: 'blue', 'green', 'red'" in out
    assert "5 inputs from 3 feature columns" in out  # the index is not a feature
    assert float(out.split("test accuracy:")[1].split()[0]) > 0.9

    bundle = fn.load_bundle(bundle_path)
    assert bundle.task == "classify" and bundle.classes == ["no", "yes"]
    assert bundle.feature_names == ["age", "income", "color"] and bundle.index == ""

    # predict on the CLI: the index column is carried, labels as in training.
    preds = tmp_path / "p.csv"
    assert main(["predict", "--model", bundle_path, "--data", path, "--out", str(preds),
                 "--proba"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "accuracy" in err
    rows = [r.split(",") for r in preds.read_text().splitlines()]
    assert rows[0] == ["", "predicted_label", "proba_no", "proba_yes"]
    assert [r[0] for r in rows[1:]] == [str(100 + i) for i in range(400)]
    cli_labels = np.array([r[1] for r in rows[1:]])
    assert np.mean(cli_labels == label) > 0.9
    proba = np.array([[float(r[2]), float(r[3])] for r in rows[1:]])
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)

    # From Python: the CSV path, a dict of columns (None = missing) and row dicts agree.
    np.testing.assert_array_equal(bundle.predict(path), cli_labels)
    cols = {
        "age": [None if i % 17 == 3 else int(age[i]) for i in range(400)],
        "income": [float(f"{v:.4f}") for v in income],
        "color": [None if i % 23 == 5 else str(c) for i, c in enumerate(color)],
    }
    np.testing.assert_array_equal(bundle.predict(cols), cli_labels)
    records = [{k: v[i] for k, v in cols.items()} for i in range(5)]
    np.testing.assert_array_equal(bundle.predict(records), cli_labels[:5])
    np.testing.assert_allclose(bundle.predict_proba(path), proba, atol=1e-5)

    # The bundle's preprocessing, by hand: mean imputation, standardisation, one-hot.
    spec = {s.name: s for s in bundle.preprocessor.specs}
    x = bundle.transform([[None, 50.0, "red"]])
    assert x.shape == (1, 5)
    np.testing.assert_allclose(
        x[0], [(spec["age"].fill - spec["age"].mean) / spec["age"].std,
               (50.0 - spec["income"].mean) / spec["income"].std, 0, 0, 1], rtol=1e-6
    )  # fmt: skip


def test_integer_target_with_many_values_is_regression(tmp_path, capsys):
    import fastnet as fn

    rng = np.random.default_rng(1)
    n = 500
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    age = np.round(50 + 12 * x1 - 6 * x2).astype(int)
    lines = ["x1,x2,age"] + [f"{a:.5f},{b:.5f},{c}" for a, b, c in zip(x1, x2, age)]
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    bundle_path = str(tmp_path / "r.safetensors")
    assert main(_train_args(path, "age", "--out", bundle_path)) == 0
    out = capsys.readouterr().out
    distinct = len(set(age))
    assert f"task: regress (target 'age' is integer with {distinct} distinct values" in out
    r2 = float(out.split("r2:")[1].split()[0])
    assert r2 > 0.95  # in the target's units, against 1 - SSE/SST
    bundle = fn.load_bundle(bundle_path)
    pred = bundle.predict({"x1": x1, "x2": x2})
    sst = np.sum((age - age.mean()) ** 2)
    assert 1 - np.sum((pred - age) ** 2) / sst > 0.95
    # --task overrides the detection
    assert main(_train_args(path, "age", "--task", "classify", "--epochs", "1")) == 0
    assert "task classify" in capsys.readouterr().out


def test_small_integer_target_is_classification_with_numeric_labels(tmp_path, capsys):
    import fastnet as fn

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0.5, 7, np.where(X[:, 0] < -0.5, 2, 5))
    lines = ["a,b,cls"] + [f"{r[0]:.5f},{r[1]:.5f},{c}" for r, c in zip(X, y)]
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    bundle_path = str(tmp_path / "c.safetensors")
    assert main(_train_args(path, "cls", "--out", bundle_path)) == 0
    assert "target 'cls' is integer with 3 distinct values" in capsys.readouterr().out
    bundle = fn.load_bundle(bundle_path)
    assert bundle.classes == [2, 5, 7]
    pred = bundle.predict(X)  # rows in feature order
    assert pred.dtype.kind == "i" and np.mean(pred == y) > 0.9


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("a,b,t\n1,2,x\n3,oops,y\n4,5,x\n6,7,y\n8,9,x\n",
         "data.csv:3: column 'b': non-numeric value 'oops' in a numeric column"),
        ("a,b,t\n1,2,x\n3,inf,y\n4,5,x\n6,7,y\n", "data.csv:3: column 'b': non-finite value 'inf'"),
        ("a,a,t\n1,2,x\n", "column name 'a' appears twice"),
        ("a,,t\n1,2,x\n", "column 2 has no name"),
        ("a,b,t\n1,2,x\n\n3,4\n", "data.csv:4: expected 3 fields, got 2"),
    ],
)  # fmt: skip
def test_table_errors_name_line_and_column(tmp_path, capsys, content, fragment):
    path = _csv(tmp_path, content)
    assert main(["train", "--data", path, "--target", "t", "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_predict_errors_and_unknown_categories(tmp_path, capsys):
    import fastnet as fn

    text, *_ = _table(120)
    path = _csv(tmp_path, text)
    bundle_path = str(tmp_path / "m.safetensors")
    assert main(_train_args(path, "label", "--epochs", "2", "--out", bundle_path)) == 0
    capsys.readouterr()
    new = tmp_path / "new.csv"
    new.write_text("age,color\n30,red\n")
    assert main(["predict", "--model", bundle_path, "--data", str(new)]) == 2
    assert "missing feature column(s) 'income'" in capsys.readouterr().err
    new.write_text("age,income,color\n30,abc,red\n")
    assert main(["predict", "--model", bundle_path, "--data", str(new)]) == 2
    assert "new.csv:2: column 'income': non-numeric value 'abc'" in capsys.readouterr().err
    new.write_text("age,income,color\n30,40,purple\n,,\n")
    assert main(["predict", "--model", bundle_path, "--data", str(new)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "predicted_label" and len(captured.out.splitlines()) == 3
    assert "column 'color': 1 values not seen in training" in captured.err
    # A plain model file is not a bundle; fn.load of a bundle warns that it drops preprocessing.
    plain = tmp_path / "plain.safetensors"
    fn.save(fn.Sequential(fn.Dense(5, 2)), plain)
    assert main(["predict", "--model", str(plain), "--data", str(new)]) == 2
    assert "not a bundle" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="load_bundle"):
        fn.load(bundle_path)
