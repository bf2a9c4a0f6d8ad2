"""Command line: ``python -m fastnet train`` trains a model and reports test accuracy.

With no data argument it trains on the 8×8 digits set that ships with fastnet (offline).
``--data file.csv|file.npz --target COLUMN`` trains on your own data. Errors in the input
(missing files, unknown columns, non-numeric values) are reported in one line, exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np


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


def _load_csv(path: str, target: str):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise CLIError(f"{path}: the file is empty") from None
        header = [h.strip() for h in header]
        if target not in header:
            raise CLIError(f"{path}: no column named {target!r} (columns: {', '.join(header)})")
        rows = [r for r in reader if r and any(c.strip() for c in r)]
    if not rows:
        raise CLIError(f"{path}: no data rows")
    t = header.index(target)
    feats, labels = [], []
    for line_no, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise CLIError(f"{path}:{line_no}: expected {len(header)} fields, got {len(r)}")
        labels.append(r[t].strip())
        try:
            feats.append([float(c) for i, c in enumerate(r) if i != t])
        except ValueError:
            bad = next(c for i, c in enumerate(r) if i != t and not _is_float(c))
            raise CLIError(f"{path}:{line_no}: non-numeric value {bad!r}") from None
    return np.array(feats, dtype=np.float32), np.array(labels)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


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
    X = X.reshape(X.shape[0], -1).astype(np.float32)
    return X, np.asarray(y)


def _prepare_user_data(args):
    path = args.data
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    from ._files import require_regular_file

    try:  # a FIFO or device would block or never end
        require_regular_file(os.stat(path).st_mode, path)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.target is None:
        raise CLIError("--data needs --target (the label column or array name)")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        X, y = _load_csv(path, args.target)
    elif ext == ".npz":
        X, y = _load_npz(path, args.target)
    else:
        raise CLIError(f"{path}: unsupported file type {ext!r} (use .csv or .npz)")
    if X.shape[0] < 4:
        raise CLIError(f"{path}: too few rows ({X.shape[0]})")
    if not np.all(np.isfinite(X)):
        raise CLIError(f"{path}: features contain NaN or Inf")
    task = args.task
    numeric_y = y.dtype.kind in "biuf" or all(_is_float(str(v)) for v in y)
    if task == "auto":
        if not numeric_y:
            task = "classify"
        else:
            yf = y.astype(np.float64)
            task = (
                "classify"
                if np.all(yf == np.round(yf)) and len(np.unique(yf)) <= 100
                else "regress"
            )
    if task == "regress":
        if not numeric_y:
            raise CLIError(f"{path}: target {args.target!r} is not numeric; use --task classify")
        yv = y.astype(np.float32).reshape(-1, 1)
        classes = None
    else:
        classes, yv = np.unique(y.astype(str) if not numeric_y else y, return_inverse=True)
        yv = yv.astype(np.int32)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(X.shape[0])
    n_test = max(1, int(round(X.shape[0] * args.test_split)))
    test, train = order[:n_test], order[n_test:]
    mean = X[train].mean(0)
    std = X[train].std(0)
    std[std < 1e-6] = 1.0
    X = (X - mean) / std
    return X[train], yv[train], X[test], yv[test], task, classes


def _train(args) -> int:
    import fastnet as fn

    if args.threads:
        try:
            fn.set_num_threads(args.threads)
        except ValueError as exc:
            raise CLIError(f"--threads: {exc}") from None
    if args.data is None:
        X_tr, y_tr, X_te, y_te = fn.datasets.load_digits(seed=args.seed)
        task, classes, source = (
            "classify",
            np.arange(10),
            "digits (8×8, 1,797 images, ships with fastnet)",
        )
    else:
        X_tr, y_tr, X_te, y_te, task, classes = _prepare_user_data(args)
        source = args.data
    hidden = _parse_hidden(args.hidden)
    n_out = len(classes) if task == "classify" else 1
    layers, width = [], X_tr.shape[1]
    for h in hidden:
        layers += [fn.Dense(width, h), fn.ReLU()]
        width = h
    layers.append(fn.Dense(width, n_out))
    model = fn.Sequential(*layers, seed=args.seed)
    loss = "sparse_categorical_crossentropy" if task == "classify" else "mse"
    opt_cls = getattr(fn.optim, "Adam", None)
    if opt_cls is not None:
        opt = opt_cls(model.parameters(), lr=args.lr, clip_norm=1.0)
    else:
        opt = fn.optim.SGD(model.parameters(), lr=args.lr * 50, momentum=0.9, clip_norm=1.0)
    print(
        f"data: {source}: {X_tr.shape[0]} train / {X_te.shape[0]} test rows, "
        f"{X_tr.shape[1]} features, task {task}"
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
        print(f"test mse: {result['loss']:.6g}")
    print(f"training time: {seconds:.2f} s for {args.epochs} epochs")
    if args.out:
        try:
            fn.save(model, args.out)
        except ImportError as exc:  # the io extra (safetensors) is optional
            raise CLIError(str(exc)) from None
        except OSError as exc:
            raise CLIError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
        print(f"saved: {args.out}")
    return 0


def main(argv=None) -> int:
    """Run the command line (``python -m fastnet``, or the ``fastnet`` script).

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
    tr.add_argument("--task", choices=("auto", "classify", "regress"), default="auto")
    tr.add_argument("--hidden", default="256,256", help="hidden layer sizes, e.g. 256,256")
    tr.add_argument("--epochs", type=int, default=20)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--test-split", type=float, default=0.25)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0, help="0: all available cores")
    tr.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    tr.add_argument("--out", help="save the trained model (safetensors)")
    args = parser.parse_args(argv)
    try:
        if args.epochs < 1 or args.batch_size < 1:
            raise CLIError("--epochs and --batch-size must be >= 1")
        if not 0 < args.test_split < 1:
            raise CLIError("--test-split must be in (0, 1)")
        if not args.lr > 0:
            raise CLIError("--lr must be > 0")
        return _train(args)
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
