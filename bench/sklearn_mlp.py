"""The `sklearn` section of BENCHMARKS.md: fastnet.sklearn.MLPClassifier against
scikit-learn's MLPClassifier with the same hyper-parameters, on three data sets.

digits         scikit-learn's 8×8 digits as fn.datasets.load_digits ships them (standardized,
               stratified 75/25 split).
breast_cancer  sklearn.datasets.load_breast_cancer (ships with scikit-learn), stratified 75/25
               split (random_state=0), standardized with the training part's statistics.
mnist10k       fn.datasets.mnist10k_split (8,000 train / 2,000 test images, pixels /255);
               skipped when the files are absent.

Hyper-parameters: scikit-learn's defaults (hidden_layer_sizes=(100,), relu, adam,
learning_rate_init=1e-3, batch_size="auto" = 200, alpha=1e-4, tol=1e-4, n_iter_no_change=10),
max_iter 200 (mnist10k: 30, to bound the peer's time), random_state = the repetition's seed.
Both get the same float64 arrays, as a user's data comes.

- per fit: the whole ``fit`` (each stops by its own tol rule or at max_iter; the epochs run are
  reported), median over the repetitions, peers interleaved; accuracy: the test accuracy,
  mean over the repetitions (seeds 0, 1, ...).
- time to accuracy: one epoch per ``partial_fit`` call (optimizer state kept), the test set
  scored after each, until the accuracy reaches scikit-learn's mean final accuracy minus half
  a point; the clock includes the scoring, for both, and each call's input validation
  (scikit-learn's validate_data, about 1-3 ms a call for both peers): on small data that
  fixed cost, not the epochs, sets the ratio.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
import warnings

import numpy as np

import fastnet as fn

DATASETS = ("digits", "breast_cancer", "mnist10k")
MAX_ITER = {"digits": 200, "breast_cancer": 200, "mnist10k": 30}
TARGET_SLACK = 0.005  # time to accuracy: scikit-learn's final accuracy minus half a point


def available() -> bool:
    return importlib.util.find_spec("sklearn") is not None


def load(name):
    """(X_train, y_train, X_test, y_test) as float64 / int64, or None when absent."""
    if name == "digits":
        X, y, Xt, yt = fn.datasets.load_digits()
    elif name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        X, y = load_breast_cancer(return_X_y=True)
        X, Xt, y, yt = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        mean, std = X.mean(axis=0), X.std(axis=0)
        X, Xt = (X - mean) / std, (Xt - mean) / std
    else:
        try:
            X, y, Xt, yt = fn.datasets.mnist10k_split()
        except FileNotFoundError:
            return None
    return (
        np.asarray(X, dtype=np.float64),
        np.asarray(y, dtype=np.int64),
        np.asarray(Xt, dtype=np.float64),
        np.asarray(yt, dtype=np.int64),
    )


def _estimator(peer, dataset, seed, max_iter=None):
    if peer == "fastnet":
        from fastnet.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    return MLPClassifier(
        hidden_layer_sizes=(100,),
        max_iter=max_iter or MAX_ITER[dataset],
        random_state=seed,
    )


def _fit(peer, dataset, data, seed):
    X, y, Xt, yt = data
    clf = _estimator(peer, dataset, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, as asked
        t0 = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - t0
    return seconds, clf.n_iter_, float(clf.score(Xt, yt))


def _time_to(peer, dataset, data, target, seed=0):
    X, y, Xt, yt = data
    clf = _estimator(peer, dataset, seed)
    classes = np.unique(y)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(MAX_ITER[dataset]):
            clf.partial_fit(X, y, classes=classes)
            if clf.score(Xt, yt) >= target:
                return time.perf_counter() - t0, epoch + 1
    return None


def rows(threads: int, reps: int, settle_s: float = 0.0) -> list:
    """One row per data set and peer (see the module docstring); [] without scikit-learn."""
    if not available():
        return []
    out = []
    for dataset in DATASETS:
        data = load(dataset)
        if data is None:
            continue
        runs = {"fastnet": [], "sklearn": []}
        for seed in range(reps):
            for peer in runs:  # interleaved: fastnet, sklearn, fastnet, sklearn, ...
                if settle_s:
                    time.sleep(settle_s)
                runs[peer].append(_fit(peer, dataset, data, seed))
        acc = {p: statistics.fmean(r[2] for r in runs[p]) for p in runs}
        secs = {p: statistics.median(r[0] for r in runs[p]) for p in runs}
        target = acc["sklearn"] - TARGET_SLACK
        for peer in runs:
            reached = _time_to(peer, dataset, data, target)
            out.append(
                {
                    "threads": threads,
                    "dataset": dataset,
                    "peer": peer,
                    "seconds": secs[peer],
                    "epochs": statistics.median(r[1] for r in runs[peer]),
                    "seconds_per_epoch": statistics.median(r[0] / r[1] for r in runs[peer]),
                    "accuracy": acc[peer],
                    "over_fastnet": secs[peer] / secs["fastnet"],
                    "target_accuracy": target,
                    "to_target_s": reached[0] if reached else None,
                    "to_target_epochs": reached[1] if reached else None,
                    "reps": reps,
                }
            )
        print(
            f"  sklearn  {threads} thr {dataset}: "
            + ", ".join(
                f"{r['peer']} {r['seconds']:.3f} s/fit ({r['epochs']:.0f} epochs) "
                f"acc {r['accuracy']:.4f}"
                for r in out
                if r["dataset"] == dataset and r["threads"] == threads
            ),
            flush=True,
        )
    return out
