"""Unsupervised pretraining, then transfer to a task with few labels (public API only).

1. Train an autoencoder 64 -> 32 -> 64 (tanh code, linear reconstruction, mse) on every
   training image of the digits data set, without labels.
2. Reuse its encoder under a fresh 10-class head: ``fn.Sequential(*ae[:1].layers, fn.Dense(32,
   10))`` (slicing copies the weights; the autoencoder is left untouched).
3. Fine-tune on 50 labelled images (5 per class) and compare with the same network trained
   from scratch on those 50 images with the same budget, averaged over several seeds.

    python examples/pretraining.py [--seeds 20]
"""

import argparse

import numpy as np

import fastnet as fn

LOSS = "sparse_categorical_crossentropy"


def pretrain_autoencoder(X, seed, epochs=30):
    ae = fn.Sequential(fn.Dense(64, 32, activation="tanh"), fn.Dense(32, 64), seed=seed)
    opt = fn.optim.SGD(ae.parameters(), lr=0.1, momentum=0.9)
    history = ae.fit(
        X, X, loss="mse", optimizer=opt, epochs=epochs, batch_size=32, verbose=0, seed=seed
    )
    return ae, history.history["loss"][-1]


def few_labels(y, per_class, seed):
    rng = np.random.default_rng(1000 + seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]
    )


def fine_tune(model, X, y, seed, epochs=20, lr=0.01):
    opt = fn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.fit(X, y, loss=LOSS, optimizer=opt, epochs=epochs, batch_size=10, verbose=0, seed=seed)
    return model


def compare(seed, data, per_class=5):
    X_train, y_train, X_test, y_test = data
    ae, recon = pretrain_autoencoder(X_train, seed)
    idx = few_labels(y_train, per_class, seed)
    pretrained = fn.Sequential(*ae[:1].layers, fn.Dense(32, 10), seed=seed)
    scratch = fn.Sequential(fn.Dense(64, 32, activation="tanh"), fn.Dense(32, 10), seed=seed)
    accs = []
    for model in (pretrained, scratch):
        fine_tune(model, X_train[idx], y_train[idx], seed)
        accs.append(model.evaluate(X_test, y_test, LOSS)["accuracy"])
    return recon, accs[0], accs[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    data = fn.datasets.load_digits()
    rows = [compare(seed, data) for seed in range(args.seeds)]
    for seed, (recon, pre, scr) in enumerate(rows):
        print(
            f"seed {seed:2d}: autoencoder mse {recon:.3f}  pretrained {pre:.3f}  scratch {scr:.3f}"
        )
    r = np.array(rows)
    print(
        f"mean test accuracy with 50 labels: pretrained {r[:, 1].mean():.3f}, "
        f"from scratch {r[:, 2].mean():.3f} (gap {np.mean(r[:, 1] - r[:, 2]):+.3f}, "
        f"pretrained ahead on {int(np.sum(r[:, 1] > r[:, 2]))}/{len(rows)} seeds)"
    )


if __name__ == "__main__":
    main()
