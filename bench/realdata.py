"""The real-data workloads of BENCHMARKS.md: whole trainings, timed with their accuracy.

digits    fn.datasets.load_digits() (standardized, stratified 75/25 split as shipped),
          64→256→256→10 ReLU, Adam 1e-3, batch 32, no clipping: time for 30 epochs and the
          final test accuracy; time (and epochs) to reach ≥ 97% test accuracy, evaluating the
          test set after every epoch inside the timed run.
          Peers: fastnet `model.fit(..., verbose=0)`; scikit-learn MLPClassifier(adam) (its
          partial_fit for the time-to-accuracy run: one epoch a call, Adam state kept);
          a PyTorch loop (torch_peer.train_epochs, fused Adam).
mnist10k  fn.datasets.mnist10k_split() (first 8,000 images train, last 2,000 test, pixels
          /255), the `mnist` model (BatchNorm + ReLU + Dropout 0.2), Adam 1e-3, batch 128,
          10 epochs: time and final test accuracy. Peers: fastnet fit, the PyTorch loop.

A peer's run builds its model and trains; the returned callable gives the test accuracy and
is called after the timing.
"""

from __future__ import annotations

import importlib.util
import time

import fastnet_runner
import numpy as np
import torch_peer
from workloads import mlp

import fastnet as fn

LOSS = "sparse_categorical_crossentropy"
DIGITS_SPEC = mlp([64, 256, 256, 10])
DIGITS_EPOCHS, DIGITS_BATCH, DIGITS_TARGET = 30, 32, 0.97
MNIST10K_EPOCHS, MNIST10K_BATCH = 10, 128
LR = 1e-3


def load_digits():
    return fn.datasets.load_digits()


def load_mnist10k():
    """The split, or None when the MNIST files are absent (the section is then skipped)."""
    try:
        return fn.datasets.mnist10k_split()
    except FileNotFoundError:
        return None


def sklearn_available() -> bool:
    return importlib.util.find_spec("sklearn") is not None


# ----- fastnet -----
class _StopAt(fn.callbacks.Callback):
    """Stops fit once val_accuracy reaches the target; records when."""

    def __init__(self, target: float, t0: float):
        super().__init__()
        self.target, self.t0 = target, t0
        self.reached = None

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] >= self.target:
            self.reached = (time.perf_counter() - self.t0, epoch + 1)
            self.model.stop_training = True


def fastnet_train(spec, data, epochs: int, batch: int, seed: int = 0):
    X, y, Xt, yt = data

    def run():
        model = fastnet_runner.build_model(spec, seed)
        opt = fn.optim.Adam(model.parameters(), lr=LR, betas=fastnet_runner.TORCH_BETAS)
        model.fit(
            X, y, loss=LOSS, optimizer=opt, epochs=epochs, batch_size=batch, verbose=0, seed=seed
        )
        return lambda: model.evaluate(Xt, yt, LOSS, metrics=["accuracy"])["accuracy"]

    return run


def fastnet_time_to(spec, data, target: float, max_epochs: int, batch: int, seed: int = 0):
    X, y, Xt, yt = data
    t0 = time.perf_counter()
    model = fastnet_runner.build_model(spec, seed)
    opt = fn.optim.Adam(model.parameters(), lr=LR, betas=fastnet_runner.TORCH_BETAS)
    stop = _StopAt(target, t0)
    model.fit(
        X,
        y,
        loss=LOSS,
        optimizer=opt,
        epochs=max_epochs,
        batch_size=batch,
        verbose=0,
        seed=seed,
        validation_data=(Xt, yt),
        metrics=["accuracy"],
        callbacks=[stop],
    )
    return stop.reached


# ----- scikit-learn -----
def _sklearn_classifier(epochs: int, seed: int = 0):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(256, 256),
        solver="adam",
        batch_size=DIGITS_BATCH,
        learning_rate_init=LR,
        max_iter=epochs,
        tol=0,
        n_iter_no_change=1000,
        random_state=seed,
    )


def sklearn_train(data, epochs: int, seed: int = 0):
    if not sklearn_available():
        return None
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y, Xt, yt = data

    def run():
        clf = _sklearn_classifier(epochs, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, as asked
            clf.fit(X, y)
        return lambda: float(clf.score(Xt, yt))

    return run


def sklearn_time_to(data, target: float, max_epochs: int, seed: int = 0):
    X, y, Xt, yt = data
    t0 = time.perf_counter()
    clf = _sklearn_classifier(1, seed)
    classes = np.arange(10)
    for epoch in range(max_epochs):
        clf.partial_fit(X, y, classes=classes)
        if clf.score(Xt, yt) >= target:
            return time.perf_counter() - t0, epoch + 1
    return None


# ----- PyTorch -----
def torch_train(spec, data, epochs: int, batch: int, seed: int = 0):
    if not torch_peer.available():
        return None
    X, y, Xt, yt = data
    return lambda: torch_peer.train_epochs(
        spec, X, y, Xt, yt, epochs=epochs, batch=batch, lr=LR, fused=True, seed=seed
    )


def torch_time_to(spec, data, target: float, max_epochs: int, batch: int, seed: int = 0):
    X, y, Xt, yt = data
    reached = []
    t0 = time.perf_counter()

    def on_epoch(epoch, accuracy):
        if accuracy() >= target:
            reached.append((time.perf_counter() - t0, epoch + 1))
            return True
        return False

    torch_peer.train_epochs(
        spec,
        X,
        y,
        Xt,
        yt,
        epochs=max_epochs,
        batch=batch,
        lr=LR,
        fused=True,
        seed=seed,
        on_epoch=on_epoch,
    )
    return reached[0] if reached else None
