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
            layers.append(nn.BatchNorm1d(s[1]))  # momentum 0.1, eps 1e-5
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


def make_update_step(values, grads, optimizer: str):
    """Clip + optimizer update only, on parameters holding `values` whose .grad is `grads`
    (NumPy arrays, copied): clip_grad_norm_(params, 1.0) then opt.step(). None without torch."""
    if not available():
        return None
    torch = _torch
    params = []
    for v, g in zip(values, grads):
        t = torch.nn.Parameter(torch.tensor(v))
        t.grad = torch.tensor(g)
        params.append(t)
    opt = make_optimizer(params, optimizer)
    clip = torch.nn.utils.clip_grad_norm_

    def step():
        clip(params, 1.0)
        opt.step()

    return step


def train_epochs(
    spec,
    X,
    y,
    X_test,
    y_test,
    *,
    epochs: int,
    batch: int,
    lr: float,
    fused: bool = True,
    seed: int = 0,
    on_epoch=None,
):
    """A plain PyTorch training loop (no DataLoader): each epoch a torch.randperm order, then
    mini-batches by index (the last one partial), Adam(lr) and F.cross_entropy. `on_epoch`,
    when given, is called as on_epoch(epoch, accuracy) after each epoch and stops the training
    when it returns True. Returns `accuracy`: a callable giving the test accuracy (eval mode,
    inference_mode), left to the caller so that it stays out of a timed training."""
    torch = _torch
    F = torch.nn.functional
    torch.manual_seed(seed)
    model = build_model(spec)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype("int64"))
    Xv, yv = torch.from_numpy(X_test), torch.from_numpy(y_test.astype("int64"))
    n = Xt.shape[0]

    def accuracy() -> float:
        model.eval()
        with torch.inference_mode():
            acc = (model(Xv).argmax(1) == yv).double().mean().item()
        model.train()
        return acc

    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        if on_epoch is not None and on_epoch(epoch, accuracy):
            break
    return accuracy


def make_predict(spec, seed: int = 0):
    """NumPy in, NumPy out inference of the spec's model in eval mode: None without torch."""
    if not available():
        return None
    torch = _torch
    torch.manual_seed(seed)
    model = build_model(spec).eval()

    def predict(X):
        with torch.inference_mode():
            return model(torch.from_numpy(X)).numpy()

    return predict
