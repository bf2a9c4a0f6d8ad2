"""Command line: ``python -m fastnet train`` trains a model and reports its test score;
``python -m fastnet predict`` applies a saved bundle to new rows.

With no data argument ``train`` uses the 8×8 digits set that ships with fastnet (offline).
``--data file.csv|file.npz --target COLUMN`` trains on your own table: a header row, an index
column (a first column without a name, or ``--index-col``) left out of the features, missing
values imputed and text columns one-hot encoded (fastnet/tabular.py), each decision printed;
``--task classify|regress`` or the printed automatic choice. ``--out model.safetensors`` saves
a bundle (fastnet/bundle.py): the network with its preprocessing, so that ``python -m
fastnet predict --model model.safetensors --data new.csv [--out preds.csv] [--proba]`` and
``fn.load_bundle`` predict on raw rows. Errors in the input are reported in one line naming
the file, the line and the column, exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time

import numpy as np

from .bundle import Bundle, load_bundle, save_bundle, softmax
from .tabular import (
    ColumnSpec,
    DataError,
    Preprocessor,
    Table,
    check_data_file,
    class_values,
    detect_task,
    is_missing,
    parse_number,
    read_csv,
)


class CLIError(Exception):
    """A problem with the user's input: printed as one line, no traceback."""


def _parse_hidden(text: str):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise CLIError(f"--hidden must be comma-separated integers, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise CLIError("--hidden sizes must be positive")
    if any(s > 2**31 - 1 for s in sizes):  # layer widths must fit a C int (OpenBLAS)
        raise CLIError("--hidden sizes must be < 2**31")
    return sizes


def _load_npz(path: str, target: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if target not in keys:
                raise CLIError(f"{path}: no array named {target!r} (arrays: {', '.join(keys)})")
            xkey = "X" if "X" in keys else next((k for k in keys if k != target), None)
            if xkey is None:
                raise CLIError(f"{path}: no feature array besides {target!r}")
            X, y = z[xkey], z[target]
    except (OSError, ValueError) as exc:
        if isinstance(exc, CLIError):
            raise
        raise CLIError(f"{path}: not a readable .npz file ({exc})") from None
    if X.dtype.kind not in "biuf":
        raise CLIError(f"{path}: array {xkey!r} is not numeric (dtype {X.dtype})")
    X = X.reshape(X.shape[0], -1)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise CLIError(f"{path}: {target!r} must hold one value per row of {xkey!r}")
    # The same path as a CSV: columns x0, x1, ... as text, so one preprocessing applies.
    cells = {f"x{j}": [repr(float(v)) for v in X[:, j]] for j in range(X.shape[1])}
    cells[target] = [str(v.item() if hasattr(v, "item") else v) for v in y]
    return Table(list(cells), cells, path)


def _read_table(args) -> Table:
    path = args.data
    check_data_file(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        return read_csv(path, index_col=args.index_col)
    if ext == ".npz":
        return _load_npz(path, args.target)
    raise CLIError(f"{path}: unsupported file type {ext!r} (use .csv or .npz)")


def _prepare_user_data(args):
    """(X_train, y_train, X_test, y_test, bundle parts) of the user's table, with what was
    decided (index column, task, imputation, one-hot columns) printed as it is decided."""
    if args.target is None:
        raise CLIError("--data needs --target (the label column or array name)")
    table = _read_table(args)
    path = args.data
    if args.target not in table.cells:
        raise CLIError(
            f"{path}: no column named {args.target!r} (columns: {', '.join(table.columns)})"
        )
    if table.index is not None:
        shown = table.index or "(no name)"
        print(f"index column: {shown} (row labels, not a feature)")
    categorical = [c.strip() for c in (args.categorical or "").split(",") if c.strip()]
    features = [c for c in table.columns if c not in (args.target, table.index)]
    for c in categorical:
        if c not in features:
            raise CLIError(f"--categorical: {path} has no feature column named {c!r}")
    if not features:
        raise CLIError(f"{path}: no feature columns besides the target {args.target!r}")
    labels = table.cells[args.target]
    keep = [i for i, v in enumerate(labels) if not is_missing(v)]
    if len(keep) < len(labels):
        first = table.where(next(i for i, v in enumerate(labels) if is_missing(v)))
        print(
            f"target {args.target!r}: {len(labels) - len(keep)} rows without a value left out "
            f"(first at {first})"
        )
        table = table.take(keep)
        labels = table.cells[args.target]
    if table.rows < 4:
        raise CLIError(f"{path}: too few rows ({table.rows})")
    task, reason = detect_task(labels, args.target, table)
    if args.task == "auto":
        print(f"task: {task} ({reason}; --task overrides)")
    else:
        task = args.task
    if task == "regress":
        y = np.array([parse_number(v) for v in labels], dtype=object)
        bad = next((i for i, v in enumerate(y) if v is None or not math.isfinite(v)), None)
        if bad is not None:
            raise CLIError(
                f"{table.where(bad)}: target {args.target!r} is not numeric "
                f"({labels[bad]!r}); use --task classify"
            )
        y = y.astype(np.float64)
        classes = None
    else:
        values, classes = class_values(labels)
        position = {c: k for k, c in enumerate(classes)}
        y = np.array([position[v] for v in values], dtype=np.int32)
        if len(classes) < 2:
            raise CLIError(f"{path}: target {args.target!r} has a single class {classes[0]!r}")
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(table.rows)
    n_test = max(1, int(round(table.rows * args.test_split)))
    test, train = order[:n_test], order[n_test:]
    # Imputation values, categories and standardisation come from the training rows only.
    pre = Preprocessor.fit(table.take(train), features, categorical)
    report = {}
    X = pre.transform(table, report)
    for s in pre.specs:
        holes = report["imputed"].get(s.name, 0)
        if holes:
            fill = f"{s.fill:.6g} (mean)" if s.kind == "numeric" else f"{s.fill!r} (most frequent)"
            print(f"missing values: column {s.name!r}: {holes} imputed with {fill}")
        if s.kind == "categorical":
            shown = ", ".join(map(repr, s.categories[:8]))
            more = f", ... ({s.width} in all)" if s.width > 8 else ""
            print(
                f"categorical: column {s.name!r} one-hot encoded as {s.width} inputs: {shown}{more}"
            )
    target_mean, target_std = 0.0, 1.0
    if task == "regress":
        # The network learns the standardised target; the bundle maps it back.
        target_mean = float(y[train].mean())
        target_std = float(y[train].std()) or 1.0
        y = ((y - target_mean) / target_std).astype(np.float32).reshape(-1, 1)
    parts = {
        "preprocessor": pre,
        "task": task,
        "target": args.target,
        "classes": classes,
        "target_mean": target_mean,
        "target_std": target_std,
        "index": table.index,
    }
    return X[train], y[train], X[test], y[test], parts


def _build_model(fn, n_in, n_out, hidden, seed):
    layers, width = [], n_in
    for h in hidden:
        layers += [fn.Dense(width, h), fn.ReLU()]
        width = h
    layers.append(fn.Dense(width, n_out))  # logits (classify) or the standardised target
    return fn.Sequential(*layers, seed=seed)


def _train(args) -> int:
    import fastnet as fn

    if args.threads:
        try:
            fn.set_num_threads(args.threads)
        except ValueError as exc:
            raise CLIError(f"--threads: {exc}") from None
    hidden = _parse_hidden(args.hidden)
    if args.data is None:
        X_tr, y_tr, X_te, y_te = fn.datasets.load_digits(seed=args.seed)
        source = "digits (8×8, 1,797 images, ships with fastnet)"
        pre = Preprocessor(
            [ColumnSpec(f"pixel{j}", "numeric", 0.0) for j in range(X_tr.shape[1])]
        )  # the shipped arrays are already scaled: identity preprocessing
        parts = {"preprocessor": pre, "task": "classify", "target": "digit"}
        parts.update(classes=list(range(10)), target_mean=0.0, target_std=1.0, index=None)
    else:
        X_tr, y_tr, X_te, y_te, parts = _prepare_user_data(args)
        source = args.data
    task, classes = parts["task"], parts["classes"]
    n_out = len(classes) if task == "classify" else 1
    model = _build_model(fn, X_tr.shape[1], n_out, hidden, args.seed)
    loss = "sparse_categorical_crossentropy" if task == "classify" else "mse"
    opt = fn.optim.Adam(model.parameters(), lr=args.lr, clip_norm=1.0)
    columns = len(parts["preprocessor"].specs)
    print(
        f"data: {source}: {X_tr.shape[0]} train / {X_te.shape[0]} test rows, "
        f"{X_tr.shape[1]} inputs from {columns} feature columns, task {task}"
    )
    model.summary()
    print(f"optimizer: {opt!r}; threads: {fn.get_num_threads()}")
    t0 = time.perf_counter()
    model.fit(
        X_tr,
        y_tr,
        loss=loss,
        optimizer=opt,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(X_te, y_te),
        seed=args.seed,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - t0
    result = model.evaluate(X_te, y_te, loss)
    if task == "classify":
        print(f"test accuracy: {result['accuracy']:.4f}  (test loss {result['loss']:.4f})")
    else:
        # In the target's own units: the network predicts the standardised target.
        pred = model.predict(X_te)[:, 0] * parts["target_std"] + parts["target_mean"]
        true = y_te[:, 0].astype(np.float64) * parts["target_std"] + parts["target_mean"]
        err = pred - true
        mse = float(np.mean(err**2))
        r2 = 1.0 - float(np.sum(err**2)) / max(float(np.sum((true - true.mean()) ** 2)), 1e-300)
        print(
            f"test mse: {mse:.6g}  rmse: {math.sqrt(mse):.6g}  "
            f"mae: {float(np.mean(np.abs(err))):.6g}  r2: {r2:.4f}"
        )
    print(f"training time: {seconds:.2f} s for {args.epochs} epochs")
    if args.out:
        try:
            save_bundle(Bundle(model, **parts), args.out)
        except OSError as exc:
            raise CLIError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
        print(
            f"saved: {args.out} (network and preprocessing; python -m fastnet predict applies it)"
        )
    return 0


def _format_value(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v.item() if isinstance(v, np.generic) else v)


def _predict(args) -> int:
    import fastnet as fn

    if args.threads:
        try:
            fn.set_num_threads(args.threads)
        except ValueError as exc:
            raise CLIError(f"--threads: {exc}") from None
    check_data_file(args.model)
    try:
        bundle = load_bundle(args.model)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.proba and bundle.task != "classify":
        raise CLIError("--proba needs a classification model")
    check_data_file(args.data)
    if os.path.splitext(args.data)[1].lower() != ".csv":
        raise CLIError(f"{args.data}: predict reads a .csv file with a header row")
    table = read_csv(args.data, index_col=bundle.index, index_optional=True)
    report = {}
    out = bundle.model.predict(bundle.transform(table, report))
    for name, holes in report["imputed"].items():
        print(f"missing values: column {name!r}: {holes} imputed", file=sys.stderr)
    for name, unseen in report["unknown"].items():
        print(
            f"categorical: column {name!r}: {unseen} values not seen in training (encoded as "
            "no category)",
            file=sys.stderr,
        )
    header, columns = [], []
    if bundle.index is not None and bundle.index in table.cells:
        header.append(bundle.index)
        columns.append(table.cells[bundle.index])
    if bundle.task == "classify":
        labels = np.asarray(bundle.classes)[np.argmax(out, axis=1)]
        header.append(f"predicted_{bundle.target}")
        columns.append([_format_value(v) for v in labels])
        if args.proba:
            proba = softmax(out)
            for k, c in enumerate(bundle.classes):
                header.append(f"proba_{c}")
                columns.append([f"{p:.6g}" for p in proba[:, k]])
    else:
        values = out[:, 0].astype(np.float64) * bundle.target_std + bundle.target_mean
        header.append(f"predicted_{bundle.target}")
        columns.append([f"{v:.8g}" for v in values])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns))
    if args.out:
        from ._files import atomic_write_bytes

        try:
            atomic_write_bytes(args.out, buf.getvalue().encode("utf-8"))
        except OSError as exc:
            raise CLIError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
        print(f"predictions: {table.rows} rows written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(buf.getvalue())
    if bundle.target in table.cells and bundle.task == "classify":
        truth, _ = class_values(table.cells[bundle.target])
        known = [i for i, v in enumerate(table.cells[bundle.target]) if not is_missing(v)]
        if known:
            hits = sum(str(labels[i]) == str(truth[i]) for i in known)
            print(
                f"target column {bundle.target!r} present: accuracy {hits / len(known):.4f} "
                f"on {len(known)} rows",
                file=sys.stderr,
            )
    return 0


def main(argv=None) -> int:
    """Run the command line (``python -m fastnet``, or the ``fastnet`` script).

    ``train`` trains a network on a CSV or NPZ file (or the shipped digits) and, with
    ``--out``, saves a bundle (the network with its preprocessing, fastnet.bundle);
    ``predict`` applies a bundle to a CSV file of raw rows.

    Parameters
    ----------
    argv : list of str or None, default None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit code: 0 on success, 2 for a problem with the input (reported in one line on
        stderr). argparse exits by itself (``SystemExit``) for unknown options and ``--help``.

    Examples
    --------
    >>> from fastnet.__main__ import main
    >>> main(["train", "--epochs", "2", "--hidden", "32", "--verbose", "0"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(prog="python -m fastnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a model and report test accuracy")
    tr.add_argument(
        "--data", help="a .csv (with a header row) or .npz file; default: shipped digits"
    )
    tr.add_argument("--target", help="label column (csv) or array name (npz)")
    tr.add_argument(
        "--task",
        choices=("auto", "classify", "regress"),
        default="auto",
        help="auto: classify a text target or an integer one with at most 20 distinct values",
    )
    tr.add_argument(
        "--index-col",
        help="a column of row labels, not a feature (default: a first column without a name)",
    )
    tr.add_argument(
        "--categorical", help="comma-separated columns to one-hot encode even if numeric"
    )
    tr.add_argument("--hidden", default="256,256", help="hidden layer sizes, e.g. 256,256")
    tr.add_argument("--epochs", type=int, default=20)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--test-split", type=float, default=0.25)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0, help="0: all available cores")
    tr.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    tr.add_argument("--out", help="save the network and its preprocessing (a bundle)")
    pr = sub.add_parser("predict", help="apply a saved bundle to a CSV file")
    pr.add_argument("--model", required=True, help="a bundle saved by train --out")
    pr.add_argument("--data", required=True, help="a .csv file with the training's columns")
    pr.add_argument("--out", help="write the predictions to this CSV file (default: stdout)")
    pr.add_argument("--proba", action="store_true", help="add one probability column per class")
    pr.add_argument("--threads", type=int, default=0, help="0: all available cores")
    args = parser.parse_args(argv)
    try:
        if args.command == "predict":
            return _predict(args)
        if args.epochs < 1 or args.batch_size < 1:
            raise CLIError("--epochs and --batch-size must be >= 1")
        if not 0 < args.test_split < 1:
            raise CLIError("--test-split must be in (0, 1)")
        if not args.lr > 0:
            raise CLIError("--lr must be > 0")
        return _train(args)
    except (CLIError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
