"""fastnet as a benchmark peer: the workload specs as fn.Sequential, one train_step per step.

Picks up fn.optim.Adam, fn.BatchNorm and fn.Dropout automatically once they exist; until then
the Adam rows and the BatchNorm/Dropout workloads are skipped (run.py says so).
"""

from __future__ import annotations

import fastnet as fn

LOSS = "sparse_categorical_crossentropy"


def has_adam() -> bool:
    return hasattr(fn.optim, "Adam")


def has_batchnorm() -> bool:
    return hasattr(fn, "BatchNorm")


def has_dropout() -> bool:
    return hasattr(fn, "Dropout")


def build_model(spec, seed: int = 0):
    """fn.Sequential from a spec; a ReLU straight after a Dense is fused into it."""
    layers = []
    k = 0
    while k < len(spec):
        s = spec[k]
        nxt = spec[k + 1][0] if k + 1 < len(spec) else None
        if s[0] == "dense":
            if nxt == "relu":
                layers.append(fn.Dense(s[1], s[2], activation="relu"))
                k += 1
            else:
                layers.append(fn.Dense(s[1], s[2]))
        elif s[0] == "batchnorm":
            layers.append(fn.BatchNorm(s[1]))
        elif s[0] == "relu":
            layers.append(fn.ReLU())
        elif s[0] == "dropout":
            layers.append(fn.Dropout(s[1]))
        else:
            raise ValueError(f"unknown layer kind {s[0]!r}")
        k += 1
    return fn.Sequential(*layers, seed=seed)


# torch.optim.Adam's default betas, given explicitly wherever a torch peer runs the same step.
TORCH_BETAS = (0.9, 0.999)


def make_optimizer(model, optimizer: str):
    """'sgd': SGD(1e-2, momentum 0.9); 'adam': Adam(1e-3, betas (0.9, 0.999)); both with
    global-norm clip 1.0. Adam's β2 is torch's (fastnet's default is 0.99): the peers run the
    same hyper-parameters."""
    if optimizer == "sgd":
        return fn.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, clip_norm=1.0)
    if optimizer == "adam":
        return fn.optim.Adam(model.parameters(), lr=1e-3, betas=TORCH_BETAS, clip_norm=1.0)
    raise ValueError(f"unknown optimizer {optimizer!r}")


def make_step(spec, optimizer: str, X, y, seed: int = 0):
    """A zero-argument callable running one fastnet train_step on (X, y)."""
    model = build_model(spec, seed)
    opt = make_optimizer(model, optimizer)
    train_step = model.train_step
    return lambda: train_step(X, y, LOSS, opt)


def set_threads(n: int) -> None:
    fn.set_num_threads(n)
