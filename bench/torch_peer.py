"""The PyTorch eager peer: the same models as nn.Sequential, the usual training step.

step = zero_grad, forward, F.cross_entropy, backward, clip_grad_norm_(1.0), optimizer.step.
torch is imported lazily: without it the peer reports "n/a".
"""
from __future__ import annotations

_torch = None


def available() -> bool:
    """True when torch imports (imported once, on first use)."""
    global _torch
    if _torch is None:
        try:
            import torch
            _torch = torch
        except ImportError:
            _torch = False
    return bool(_torch)


def version() -> str:
    return _torch.__version__ if available() else "n/a"


def set_threads(n: int) -> None:
    if available():
        _torch.set_num_threads(n)


def build_model(spec):
    nn = _torch.nn
    layers = []
    for s in spec:
        if s[0] == "dense":
            layers.append(nn.Linear(s[1], s[2]))
        elif s[0] == "batchnorm":
            layers.append(nn.BatchNorm1d(s[1]))          # momentum 0.1, eps 1e-5
        elif s[0] == "relu":
            layers.append(nn.ReLU())
        elif s[0] == "dropout":
            layers.append(nn.Dropout(s[1]))
        else:
            raise ValueError(f"unknown layer kind {s[0]!r}")
    return nn.Sequential(*layers)


def make_optimizer(params, optimizer: str):
    """'sgd' (momentum 0.9, default foreach), 'adam' (default foreach) or 'adam-fused'."""
    optim = _torch.optim
    if optimizer == "sgd":
        return optim.SGD(params, lr=1e-2, momentum=0.9)
    if optimizer == "adam":
        return optim.Adam(params, lr=1e-3)
    if optimizer == "adam-fused":
        return optim.Adam(params, lr=1e-3, fused=True)
    raise ValueError(f"unknown optimizer {optimizer!r}")


def make_step(spec, optimizer: str, X, y, seed: int = 0):
    """A zero-argument callable running one eager training step on (X, y), or None without torch."""
    if not available():
        return None
    torch = _torch
    F = torch.nn.functional
    torch.manual_seed(seed)
    model = build_model(spec).train()
    params = list(model.parameters())
    opt = make_optimizer(params, optimizer)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype("int64"))
    clip = torch.nn.utils.clip_grad_norm_

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(Xt), yt)
        loss.backward()
        clip(params, 1.0)
        opt.step()
        return loss

    return step
