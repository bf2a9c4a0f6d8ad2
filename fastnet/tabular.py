"""Tabular data for the command line and bundles: reading a CSV table, typing its columns, and
the preprocessing a bundle stores (imputation, one-hot encoding, standardisation).

- **Reading.** ``read_csv`` reads a header row and the data rows as text, remembering each
  row's line number in the file (1-based, as an editor shows it), so every error names the
  column and the line. A first column without a name (``,a,b`` — what ``DataFrame.to_csv``
  writes for its index) or named ``Unnamed: 0`` is an index column: kept for the output,
  never used as a feature.
- **Missing values.** The cells pandas' ``read_csv`` reads as missing (its default
  ``na_values``: empty, ``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ...) and ``?`` (the UCI
  repository's marker) are missing. A numeric column's missing values take the column's
  training mean, a categorical column's its most frequent training value (sklearn's
  ``SimpleImputer`` strategies ``mean`` and ``most_frequent``; ties to the smallest value).
- **Column types.** A column is numeric when its values parse as finite numbers. A column
  whose values mostly parse but a few do not is a numeric column with a typo: an error names
  the column and the line. A column that is mostly text is categorical and one-hot encoded
  (categories sorted; a value unseen in training encodes as all zeros, as sklearn's
  ``OneHotEncoder(handle_unknown="ignore")``).
- **Standardisation.** Numeric features become ``(x - mean) / std`` with the training mean
  and the population std (a constant column keeps std 1), as sklearn's ``StandardScaler``.

Everything here is plain data (``to_json`` / ``from_json``) so a bundle file holds it as JSON;
``from_json`` checks every field of a file from elsewhere before it is used.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

# pandas.read_csv's default na_values (pandas/_libs/parsers.pyx, STR_NA_VALUES) plus "?", the
# UCI machine learning repository's marker. Compared after stripping spaces.
MISSING = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
        "?",
    }
)
# An integer target with more distinct values than this is a quantity, not a class label.
MAX_CLASSES_AUTO = 20
# Below this share of numeric values a column is text (categorical); at or above it, the
# values that do not parse are typos in a numeric column.
NUMERIC_SHARE = 0.5


class DataError(ValueError):
    """A problem with the user's data; the message names the file or row and the column."""


def is_missing(cell: str) -> bool:
    """Whether a (stripped) cell is a missing value (``MISSING``)."""
    return cell in MISSING


def parse_number(cell: str):
    """The float value of a cell, or None when it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


@dataclass
class Table:
    """Columns of text cells read from a file or built from Python data.

    ``columns`` are the names, ``cells[name]`` the stripped cell texts of that column, and
    ``where(i)`` the place of row ``i`` for messages (``file.csv:7`` or ``row 3``).
    """

    columns: list
    cells: dict
    source: str = "data"
    lines: list = field(default_factory=list)
    index: str | None = None

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return len(next(iter(self.cells.values()))) if self.cells else 0

    def where(self, i: int) -> str:
        """Where row ``i`` (0-based) is: ``path:line`` for a file, ``row k`` (1-based) else."""
        if self.lines:
            return f"{self.source}:{self.lines[i]}"
        return f"{self.source} row {i + 1}"

    def take(self, rows) -> Table:
        """The table restricted to the given row indices (same columns)."""
        rows = list(rows)
        return Table(
            list(self.columns),
            {c: [v[i] for i in rows] for c, v in self.cells.items()},
            self.source,
            [self.lines[i] for i in rows] if self.lines else [],
            self.index,
        )


def read_csv(path: str, index_col=None, index_optional=False) -> Table:
    """Read a CSV file with a header row into a Table of text cells.

    Parameters
    ----------
    path : str
        The file (a regular file; UTF-8, an optional byte-order mark is skipped).
    index_col : str or None, default None
        The name of an index column; None detects one: a first column with an empty name or
        named ``Unnamed: 0`` (pandas' index).
    index_optional : bool, default False
        A file without the ``index_col`` column is read without an index (data to predict
        on need not carry the training file's index).

    Returns
    -------
    Table
        With ``index`` set to the index column's name (None when there is none).

    Raises
    ------
    DataError
        For an empty file, no data rows, duplicate or empty column names, a row with the wrong
        number of fields (naming its line), or an unknown ``index_col``.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: the file is empty") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}:1: unreadable header ({exc})") from None
        index = index_col
        if index_optional and index not in header:
            index = None
        if index is None and header and header[0] in ("", "Unnamed: 0"):
            index = header[0]
        _check_header(header, path, index)
        if index is not None and index not in header:
            raise DataError(f"{path}: no index column named {index!r}")
        columns = {name: [] for name in header}
        lines = []
        try:
            for row in reader:
                if not row or (len(row) == 1 < len(header) and not row[0].strip()):
                    continue  # a blank line is not a row; a line of empty fields is one
                if len(row) != len(header):
                    raise DataError(
                        f"{path}:{reader.line_num}: expected {len(header)} fields, got {len(row)}"
                    )
                for name, cell in zip(header, row):
                    columns[name].append(cell.strip())
                lines.append(reader.line_num)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}:{reader.line_num}: unreadable row ({exc})") from None
    if not lines:
        raise DataError(f"{path}: no data rows")
    return Table(header, columns, path, lines, index)


def _check_header(header, path, index) -> None:
    seen = set()
    for k, name in enumerate(header):
        if name == "" and name != index:
            raise DataError(f"{path}:1: column {k + 1} has no name")
        if name in seen:
            raise DataError(f"{path}:1: column name {name!r} appears twice")
        seen.add(name)


def table_from_columns(data: dict, source: str = "data") -> Table:
    """A Table from a mapping of column name to a sequence of values (a dict of lists, a
    pandas DataFrame): numbers are written as text, None and NaN become missing cells."""
    columns = [str(c) for c in data.keys()]
    cells, n = {}, None
    for key, name in zip(data.keys(), columns):
        values = [_cell_text(v) for v in list(data[key])]
        if n is not None and len(values) != n:
            raise DataError(f"{source}: column {name!r} has {len(values)} values, expected {n}")
        n = len(values)
        cells[name] = values
    if not n:
        raise DataError(f"{source}: no rows")
    return Table(columns, cells, source)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (np.floating, float)):
        return repr(float(value))
    return str(value).strip()


def numeric_column(values, name: str, table: Table, numeric_share: float = NUMERIC_SHARE):
    """Whether a column is numeric (True) or text (False), from its non-missing cells.

    Raises a DataError naming the column and the line of the first bad value when most
    values are numbers but some are not (a typo), or a number is infinite.
    """
    bad, good = None, 0
    for i, cell in enumerate(values):
        if is_missing(cell):
            continue
        x = parse_number(cell)
        if x is None:
            if bad is None:
                bad = i
        elif not math.isfinite(x):
            raise DataError(f"{table.where(i)}: column {name!r}: non-finite value {cell!r}")
        else:
            good += 1
    if bad is None:
        return True
    present = sum(1 for c in values if not is_missing(c))
    if good >= numeric_share * present:
        raise DataError(
            f"{table.where(bad)}: column {name!r}: non-numeric value {values[bad]!r} in a "
            "numeric column (fix it, leave the cell empty for a missing value, or pass "
            f"--categorical {name})"
        )
    return False


def detect_task(values, name: str, table: Table):
    """(task, reason): "classify" or "regress" for a target column, and why, in words."""
    numbers = [parse_number(v) for v in values]
    if any(x is None for x in numbers):
        bad = next(v for v, x in zip(values, numbers) if x is None)
        return "classify", f"target {name!r} has non-numeric values (e.g. {bad!r})"
    if any(not math.isfinite(x) for x in numbers):
        i = next(i for i, x in enumerate(numbers) if not math.isfinite(x))
        raise DataError(f"{table.where(i)}: column {name!r}: non-finite target {values[i]!r}")
    distinct = len(set(numbers))
    if any(x != math.floor(x) for x in numbers):
        return "regress", f"target {name!r} has non-integer values"
    if distinct > MAX_CLASSES_AUTO:
        return (
            "regress",
            f"target {name!r} is integer with {distinct} distinct values "
            f"(more than {MAX_CLASSES_AUTO}: a quantity, not class labels)",
        )
    return (
        "classify",
        f"target {name!r} is integer with {distinct} distinct values "
        f"(at most {MAX_CLASSES_AUTO}: class labels)",
    )


def class_values(values):
    """The class of each target cell as a JSON-able value: int when every cell is an integer
    number, float when every cell is a number, else the text; and the sorted classes."""
    numbers = [parse_number(v) for v in values]
    if all(x is not None and math.isfinite(x) for x in numbers):
        if all(x == math.floor(x) for x in numbers):
            labels = [int(x) for x in numbers]
        else:
            labels = numbers
    else:
        labels = list(values)
    return labels, sorted(set(labels))


# --------------------------------------------------------------------------- preprocessing


@dataclass
class ColumnSpec:
    """The preprocessing of one feature column: ``kind`` "numeric" (``fill``: the mean that
    replaces a missing value; ``mean`` and ``std`` standardise) or "categorical" (``fill``:
    the most frequent value; ``categories``: the one-hot columns, in order)."""

    name: str
    kind: str
    fill: object
    mean: float = 0.0
    std: float = 1.0
    categories: list = field(default_factory=list)

    @property
    def width(self) -> int:
        """Number of model inputs this column becomes."""
        return 1 if self.kind == "numeric" else len(self.categories)

    def output_names(self) -> list:
        """Names of the model inputs (``color=red`` for a one-hot column)."""
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]


class Preprocessor:
    """Turns a table's feature columns into the standardised float32 matrix a network reads.

    Build it with ``Preprocessor.fit`` on training rows; ``transform`` applies it to any table
    with those columns. ``to_json`` / ``from_json`` store it in a bundle.
    """

    def __init__(self, specs):
        self.specs = list(specs)

    @property
    def feature_names(self) -> list:
        """The raw feature columns, in order."""
        return [s.name for s in self.specs]

    @property
    def width(self) -> int:
        """Number of model inputs."""
        return sum(s.width for s in self.specs)

    @classmethod
    def fit(cls, table: Table, features, categorical=()):
        """Learn imputation values, categories and standardisation from ``table``'s rows.

        Parameters
        ----------
        table : Table
            The training rows.
        features : sequence of str
            The feature columns, in order.
        categorical : sequence of str, default ()
            Columns to one-hot encode even when their values are numbers.

        Returns
        -------
        Preprocessor
        """
        specs = []
        for name in features:
            values = table.cells[name]
            present = [v for v in values if not is_missing(v)]
            numeric = name not in categorical and numeric_column(values, name, table)
            if numeric:
                x = np.array([float(v) for v in present], dtype=np.float64)
                fill = float(x.mean()) if x.size else 0.0
                # standardise the imputed column, as an imputer followed by a scaler does
                full = np.concatenate([x, np.full(len(values) - x.size, fill)])
                std = float(full.std())
                specs.append(
                    ColumnSpec(
                        name, "numeric", fill, float(full.mean()), std if std > 1e-12 else 1.0
                    )
                )
            else:
                counts = Counter(present)
                top = max(counts.values()) if counts else 0
                fill = min(v for v, c in counts.items() if c == top) if counts else ""
                categories = sorted(set(present) | {fill})
                specs.append(ColumnSpec(name, "categorical", fill, categories=categories))
        return cls(specs)

    def transform(self, table: Table, report=None) -> np.ndarray:
        """The float32 (rows, width) model input of ``table``.

        Parameters
        ----------
        table : Table
            Must hold every feature column (other columns are ignored).
        report : dict or None, default None
            When given, receives ``{"imputed": {column: count}, "unknown": {column: count}}``.

        Returns
        -------
        numpy.ndarray
        """
        missing = [s.name for s in self.specs if s.name not in table.cells]
        if missing:
            raise DataError(
                f"{table.source}: missing feature column(s) {', '.join(map(repr, missing))} "
                "(the model was trained with them)"
            )
        n = table.rows
        out = np.empty((n, self.width), dtype=np.float32)
        imputed, unknown = {}, {}
        col = 0
        for s in self.specs:
            values = table.cells[s.name]
            if s.kind == "numeric":
                x = np.empty(n, dtype=np.float64)
                holes = 0
                for i, cell in enumerate(values):
                    if is_missing(cell):
                        x[i] = s.fill
                        holes += 1
                        continue
                    v = parse_number(cell)
                    if v is None or not math.isfinite(v):
                        raise DataError(
                            f"{table.where(i)}: column {s.name!r}: non-numeric value {cell!r} "
                            "(the model was trained on a numeric column)"
                        )
                    x[i] = v
                out[:, col] = (x - s.mean) / s.std
                imputed[s.name] = holes
            else:
                index = {c: k for k, c in enumerate(s.categories)}
                block = np.zeros((n, s.width), dtype=np.float32)
                holes = unseen = 0
                for i, cell in enumerate(values):
                    if is_missing(cell):
                        cell = s.fill
                        holes += 1
                    k = index.get(cell)
                    if k is None:
                        unseen += 1  # all zeros: OneHotEncoder(handle_unknown="ignore")
                    else:
                        block[i, k] = 1.0
                out[:, col : col + s.width] = block
                imputed[s.name] = holes
                unknown[s.name] = unseen
            col += s.width
        if report is not None:
            report["imputed"] = {k: v for k, v in imputed.items() if v}
            report["unknown"] = {k: v for k, v in unknown.items() if v}
        return out

    def to_json(self) -> list:
        """The column specs as JSON-able dicts."""
        out = []
        for s in self.specs:
            d = {"name": s.name, "kind": s.kind, "fill": s.fill}
            if s.kind == "numeric":
                d.update(mean=s.mean, std=s.std)
            else:
                d["categories"] = list(s.categories)
            out.append(d)
        return out

    @classmethod
    def from_json(cls, value, where: str):
        """The Preprocessor of ``to_json``'s output, every field checked (ValueError naming
        ``where`` otherwise): names unique strings, numbers finite, std positive, categories
        unique strings holding the fill value."""
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: the feature columns must be a non-empty list")
        specs, names = [], set()
        for k, d in enumerate(value):
            what = f"{where}: feature column {k}"
            if not isinstance(d, dict):
                raise ValueError(f"{what} must be an object")
            name, kind = d.get("name"), d.get("kind")
            if not isinstance(name, str) or name in names:
                raise ValueError(f"{what}: the name must be a unique string")
            names.add(name)
            if kind == "numeric":
                expected = {"name", "kind", "fill", "mean", "std"}
                nums = [d.get(key) for key in ("fill", "mean", "std")]
                if not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in nums
                ):
                    raise ValueError(
                        f"{what} ({name!r}): fill, mean and std must be finite numbers"
                    )
                if not nums[2] > 0:
                    raise ValueError(f"{what} ({name!r}): std must be positive")
                spec = ColumnSpec(name, kind, float(nums[0]), float(nums[1]), float(nums[2]))
            elif kind == "categorical":
                expected = {"name", "kind", "fill", "categories"}
                cats, fill = d.get("categories"), d.get("fill")
                if (
                    not isinstance(cats, list)
                    or not cats
                    or not all(isinstance(c, str) for c in cats)
                    or len(set(cats)) != len(cats)
                    or not isinstance(fill, str)
                    or fill not in cats
                ):
                    raise ValueError(
                        f"{what} ({name!r}): categories must be unique strings holding the fill"
                    )
                spec = ColumnSpec(name, kind, fill, categories=list(cats))
            else:
                raise ValueError(f"{what} ({name!r}): kind must be 'numeric' or 'categorical'")
            if set(d) != expected:
                raise ValueError(
                    f"{what} ({name!r}): unexpected fields {sorted(set(d) - expected)}"
                )
            specs.append(spec)
        return cls(specs)


def check_data_file(path: str) -> None:
    """A DataError unless ``path`` is an existing regular file (a FIFO would block)."""
    from ._files import require_regular_file

    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    try:
        require_regular_file(os.stat(path).st_mode, path)
    except ValueError as exc:
        raise DataError(str(exc)) from None
