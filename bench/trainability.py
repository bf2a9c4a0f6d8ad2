"""The trainability section (issue 14): does a deep net train with plain defaults, and with the
automatic recipe?

Net: 20 hidden ReLU layers of 64 units on the 8x8 digits (fn.datasets.load_digits: 1347
training rows, 450 test rows), softmax cross-entropy, batch 32.

1. Defaults sweep: Adam at lr 1e-4, 1e-3, 1e-2, 1e-1, 1 × seeds 0-4, 10 epochs, nothing else
   set; a run fails when its test accuracy is below 0.5. fastnet (Dense init="auto": He for
   ReLU; Adam's defaults) beside PyTorch with its own defaults (nn.Linear's init, torch.optim.Adam)
   through bench/torch_peer.py's plain loop.
2. Recipe: fn.fit_auto (range test, global-norm clipping, 1cycle, early stopping) on the same
   net, 30 epochs at most, seeds 0-4: test accuracy per seed; beside it PyTorch's default
   (Adam 1e-3, its default rate, 10 epochs) on the same seeds.

torch is optional: without it the torch columns read n/a. About 40 s at one thread, most of it
PyTorch's 25 runs (bench/run.py --threads 1 --workloads trainability, or
PYTHONPATH=. python bench/trainability.py).
"""

from __future__ import annotations

import time

import torch_peer

import fastnet as fn

DEPTH, WIDTH, BATCH, EPOCHS = 20, 64, 32, 10
LRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SEEDS = range(5)
FAIL = 0.5
RECIPE_EPOCHS = 30
CE = "sparse_categorical_crossentropy"


def _fastnet_net(seed):
    layers = [fn.Dense(64, WIDTH, activation="relu")]
    layers += [fn.Dense(WIDTH, WIDTH, activation="relu") for _ in range(DEPTH - 1)]
    return fn.Sequential(*layers, fn.Dense(WIDTH, 10), seed=seed)


def _torch_spec():
    spec = [("dense", 64, WIDTH), ("relu",)]
    for _ in range(DEPTH - 1):
        spec += [("dense", WIDTH, WIDTH), ("relu",)]
    return spec + [("dense", WIDTH, 10)]


def fastnet_plain(data, lr, seed) -> float:
    X, y, X_test, y_test = data
    model = _fastnet_net(seed)
    opt = fn.optim.Adam(model.parameters(), lr=lr)
    model.fit(X, y, loss=CE, optimizer=opt, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=seed)
    return float(model.evaluate(X_test, y_test, CE)["accuracy"])


def torch_plain(data, lr, seed):
    """PyTorch with its defaults, or None without torch."""
    if not torch_peer.available():
        return None
    X, y, X_test, y_test = data
    accuracy = torch_peer.train_epochs(
        _torch_spec(), X, y, X_test, y_test, epochs=EPOCHS, batch=BATCH, lr=lr, seed=seed
    )
    return float(accuracy())


def fastnet_recipe(data, seed) -> tuple:
    X, y, X_test, y_test = data
    model = _fastnet_net(seed)
    result = fn.fit_auto(model, X, y, loss=CE, epochs=RECIPE_EPOCHS, batch_size=BATCH, seed=seed)
    return float(model.evaluate(X_test, y_test, CE)["accuracy"]), result


def run() -> dict:
    """Both tables' records: ``sweep`` (one per lr: accuracies and failures of both peers) and
    ``recipe`` (one per seed)."""
    data = fn.datasets.load_digits()
    t0 = time.perf_counter()
    sweep = []
    for lr in LRS:
        ours = [fastnet_plain(data, lr, s) for s in SEEDS]
        theirs = [torch_plain(data, lr, s) for s in SEEDS]
        sweep.append(
            {
                "lr": lr,
                "fastnet_accuracy": ours,
                "fastnet_failures": sum(a < FAIL for a in ours),
                "torch_accuracy": theirs,
                "torch_failures": (None if theirs[0] is None else sum(a < FAIL for a in theirs)),
            }
        )
        print(
            f"  trainability lr {lr:g}: fastnet {sweep[-1]['fastnet_failures']}/5 fail, torch "
            f"{'n/a' if theirs[0] is None else sweep[-1]['torch_failures']}",
            flush=True,
        )
    torch_default = dict(zip(SEEDS, next(r for r in sweep if r["lr"] == 1e-3)["torch_accuracy"]))
    recipe = []
    for s in SEEDS:
        acc, result = fastnet_recipe(data, s)
        recipe.append(
            {
                "seed": s,
                "fastnet_auto_accuracy": acc,
                "max_lr": result.max_lr,
                "best_epoch": result.best_epoch,
                "epochs_trained": result.stopped_epoch + 1,
                # The sweep's lr-1e-3 run: the same net, seed and rate.
                "torch_default_accuracy": torch_default[s],
            }
        )
    print(
        "  trainability recipe: "
        + ", ".join(f"{r['fastnet_auto_accuracy']:.3f}" for r in recipe)
        + f" ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    return {"sweep": sweep, "recipe": recipe, "seconds": time.perf_counter() - t0}


def _acc(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def tables(res, Table) -> list:
    """The two tables of the section (``Table`` is bench/report.py's)."""
    if not res:
        return []
    sweep = Table(
        f"trainability: {DEPTH} hidden ReLU layers x {WIDTH} on digits, Adam, {EPOCHS} epochs, "
        f"batch {BATCH}, defaults only; failures (test accuracy < {FAIL}) of 5 seeds",
        [
            "lr",
            "fastnet failures",
            "fastnet accuracy (min-max)",
            "torch failures",
            "torch accuracy (min-max)",
        ],  # fmt: skip
    )
    for r in res["sweep"]:
        ours, theirs = r["fastnet_accuracy"], r["torch_accuracy"]
        sweep.add(
            f"{r['lr']:g}",
            f"{r['fastnet_failures']}/5",
            f"{min(ours):.3f}-{max(ours):.3f}",
            "n/a" if r["torch_failures"] is None else f"{r['torch_failures']}/5",
            "n/a" if theirs[0] is None else f"{min(theirs):.3f}-{max(theirs):.3f}",
        )
    total = sum(r["fastnet_failures"] for r in res["sweep"])
    low = sum(r["fastnet_failures"] for r in res["sweep"] if r["lr"] <= 1e-2)
    torch_total = (
        None
        if res["sweep"][0]["torch_failures"] is None
        else sum(r["torch_failures"] for r in res["sweep"])
    )
    sweep.add(
        "all",
        f"{total}/25 ({low}/15 at lr <= 1e-2)",
        "",
        "n/a" if torch_total is None else f"{torch_total}/25",
        "",
    )
    recipe = Table(
        f"trainability: fn.fit_auto on the same net (range test, clip_norm 1, 1cycle, early "
        f"stopping; <= {RECIPE_EPOCHS} epochs) vs torch defaults (Adam 1e-3, {EPOCHS} epochs)",
        [
            "seed",
            "fastnet fit_auto accuracy",
            "max_lr",
            "best epoch / trained",
            "torch default accuracy",
        ],  # fmt: skip
    )
    for r in res["recipe"]:
        recipe.add(
            r["seed"],
            _acc(r["fastnet_auto_accuracy"]),
            f"{r['max_lr']:.2g}",
            f"{r['best_epoch']} / {r['epochs_trained']}",
            _acc(r["torch_default_accuracy"]),
        )
    ours = [r["fastnet_auto_accuracy"] for r in res["recipe"]]
    recipe.add(
        "seeds >= 0.9", f"{sum(a >= 0.9 for a in ours)}/5", "", "",
        "n/a" if res["recipe"][0]["torch_default_accuracy"] is None
        else f"{sum(r['torch_default_accuracy'] >= 0.9 for r in res['recipe'])}/5",
    )  # fmt: skip
    return [sweep, recipe]


def targets(res, Target) -> list:
    """The issue's two targets: 0/15 default failures at lr <= 1e-2, 5/5 recipe seeds >= 0.9."""
    if not res:
        return []
    low = sum(r["fastnet_failures"] for r in res["sweep"] if r["lr"] <= 1e-2)
    good = sum(r["fastnet_auto_accuracy"] >= 0.9 for r in res["recipe"])
    return [
        Target("trainability", "default failures at lr <= 1e-2", low, 0, "<=", "runs"),
        Target("trainability", "fit_auto seeds >= 0.9 accuracy", good, 5, ">=", "seeds"),
    ]


def _standalone():
    import report

    res = run()
    for t in tables(res, report.Table):
        print()
        print(t.text())
    for x in targets(res, report.Target):
        print("target: " + x.text())


if __name__ == "__main__":  # PYTHONPATH=. python bench/trainability.py
    _standalone()
