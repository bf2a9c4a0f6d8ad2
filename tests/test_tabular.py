"""fastnet/tabular.py: reading CSV tables, column types, imputation, one-hot, standardisation,
each against a NumPy reference written out here."""

import numpy as np
import pytest

from fastnet.tabular import (
    DataError,
    Preprocessor,
    class_values,
    detect_task,
    read_csv,
    table_from_columns,
)


def _write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_read_csv_lines_index_and_missing(tmp_path):
    path = _write(tmp_path, 'Unnamed: 0,a,"b"\n0,1,x\n\n1,NA,"y\nz"\n2,,?\n')
    t = read_csv(path)
    assert t.index == "Unnamed: 0" and t.columns == ["Unnamed: 0", "a", "b"]
    assert t.cells["a"] == ["1", "NA", ""] and t.cells["b"] == ["x", "y\nz", "?"]
    assert t.lines == [2, 5, 6]  # the blank line is skipped; a quoted newline spans lines
    assert t.where(2) == f"{path}:6"
    assert read_csv(path, index_col="a").index == "a"
    with pytest.raises(DataError, match="no index column named 'q'"):
        read_csv(path, index_col="q")
    assert read_csv(path, index_col="q", index_optional=True).index == "Unnamed: 0"


def test_imputation_one_hot_and_standardisation_against_numpy():
    ages = [30.0, None, 50.0, 20.0, None]
    colors = ["red", "blue", None, "blue", "red"]  # tie red/blue: the smaller, 'blue'
    table = table_from_columns({"age": ages, "color": colors})
    pre = Preprocessor.fit(table, ["age", "color"])
    age, color = pre.specs
    present = np.array([30.0, 50.0, 20.0])
    filled = np.array([30.0, present.mean(), 50.0, 20.0, present.mean()])
    assert age.kind == "numeric" and age.fill == pytest.approx(present.mean())
    assert age.mean == pytest.approx(filled.mean()) and age.std == pytest.approx(filled.std())
    assert color.kind == "categorical" and color.fill == "blue"
    assert color.categories == ["blue", "red"]
    report = {}
    X = pre.transform(table, report)
    expected = np.column_stack(
        [(filled - filled.mean()) / filled.std(), [0, 1, 1, 1, 0], [1, 0, 0, 0, 1]]
    )
    np.testing.assert_allclose(X, expected, rtol=1e-6)
    assert report == {"imputed": {"age": 2, "color": 1}, "unknown": {}}
    # An unseen category encodes as all zeros; a constant column keeps std 1.
    X = pre.transform(table_from_columns({"age": [40], "color": ["green"]}), report)
    np.testing.assert_allclose(X[0, 1:], [0, 0])
    assert report["unknown"] == {"color": 1}
    const = Preprocessor.fit(table_from_columns({"c": [3, 3, 3]}), ["c"])
    assert const.specs[0].std == 1.0
    np.testing.assert_array_equal(const.transform(table_from_columns({"c": [3, 4]}))[:, 0], [0, 1])


def test_forced_categorical_and_json_round_trip():
    table = table_from_columns({"zip": [10115, 20095, 10115], "x": [1.5, 2.5, 3.5]})
    pre = Preprocessor.fit(table, ["zip", "x"], categorical=["zip"])
    assert pre.specs[0].categories == ["10115", "20095"] and pre.width == 3
    again = Preprocessor.from_json(pre.to_json(), "f")
    np.testing.assert_array_equal(again.transform(table), pre.transform(table))


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ([], "non-empty list"),
        ([{"name": "a", "kind": "numeric", "fill": 0, "mean": 0, "std": 0}], "std must be positive"),
        ([{"name": "a", "kind": "numeric", "fill": 0, "mean": float("nan"), "std": 1}], "finite"),
        ([{"name": "a", "kind": "numeric", "fill": 0, "mean": 0, "std": 1, "x": 1}], "unexpected"),
        ([{"name": "a", "kind": "categorical", "fill": "z", "categories": ["a"]}], "holding the fill"),
        ([{"name": "a", "kind": "categorical", "fill": "a", "categories": ["a", "a"]}], "unique"),
        ([{"name": "a", "kind": "code", "fill": 0}], "kind must be"),
        ([{"name": 1, "kind": "numeric"}], "unique string"),
    ],
)  # fmt: skip
def test_from_json_checks_every_field(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        Preprocessor.from_json(bad, "f")


def test_task_detection_and_class_values():
    t = table_from_columns({"y": ["1"]})
    assert detect_task(["a", "b"], "y", t)[0] == "classify"
    assert detect_task(["1.5", "2"], "y", t)[0] == "regress"
    assert detect_task([str(i) for i in range(21)], "y", t)[0] == "regress"
    assert detect_task([str(i % 20) for i in range(100)], "y", t)[0] == "classify"
    assert class_values(["10", "2", "2.0"]) == ([10, 2, 2], [2, 10])  # numeric order
    assert class_values(["b", "a"]) == (["b", "a"], ["a", "b"])
