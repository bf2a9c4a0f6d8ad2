"""The NumPy baseline: one MLP training step written plainly, as a reasonable user would.

Forward Dense (X @ W + b), ReLU (np.maximum), BatchNorm1d in training mode and inverted
Dropout; softmax cross-entropy; the backward pass by hand; global-norm clipping
(torch.nn.utils.clip_grad_norm_: scale = min(1, max_norm / (norm + 1e-6))) and SGD with
momentum or Adam with torch.optim's update formulas. Everything is float32.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


class NumpyMLP:
    """An MLP from a workload spec (bench/workloads.py) with a plain NumPy training step."""

    def __init__(
        self, spec, optimizer: str = "sgd", lr: float | None = None, clip_norm=1.0, seed: int = 0
    ):
        self.rng = np.random.default_rng(seed)
        self.spec = tuple(spec)
        self.params = []  # flat list of arrays, updated in place
        self.layers = []  # (kind, extra) with indices into self.params
        for s in self.spec:
            kind = s[0]
            if kind == "dense":
                fan_in, fan_out = s[1], s[2]
                W = (self.rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(
                    F32
                )
                b = np.zeros(fan_out, F32)
                self.layers.append(("dense", len(self.params)))
                self.params += [W, b]
            elif kind == "batchnorm":
                n = s[1]
                self.layers.append(
                    (
                        "batchnorm",
                        {"i": len(self.params), "mean": np.zeros(n, F32), "var": np.ones(n, F32)},
                    )
                )
                self.params += [np.ones(n, F32), np.zeros(n, F32)]
            elif kind == "relu":
                self.layers.append(("relu", None))
            elif kind == "dropout":
                self.layers.append(("dropout", float(s[1])))
            else:
                raise ValueError(f"unknown layer kind {kind!r}")
        self.clip_norm = clip_norm
        self.optimizer = optimizer
        if optimizer == "sgd":
            self.lr = 1e-2 if lr is None else lr
            self.momentum = 0.9
            self.bufs = [np.zeros_like(p) for p in self.params]
        elif optimizer == "adam":
            self.lr = 1e-3 if lr is None else lr
            self.betas, self.eps, self.t = (0.9, 0.999), 1e-8, 0
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
        else:
            raise ValueError(f"unknown optimizer {optimizer!r}")

    # ----- forward / backward -----
    def _forward(self, X):
        caches = []
        h = X
        for kind, extra in self.layers:
            if kind == "dense":
                W, b = self.params[extra], self.params[extra + 1]
                caches.append(h)
                h = h @ W + b
            elif kind == "batchnorm":
                gamma, beta = self.params[extra["i"]], self.params[extra["i"] + 1]
                m = h.shape[0]
                mu = h.mean(axis=0)
                var = h.var(axis=0)  # biased: used to normalize
                inv_std = 1.0 / np.sqrt(var + 1e-5)
                xhat = (h - mu) * inv_std
                # Running statistics as torch.nn.BatchNorm1d: momentum 0.1, unbiased variance.
                extra["mean"] = 0.9 * extra["mean"] + 0.1 * mu
                extra["var"] = 0.9 * extra["var"] + 0.1 * var * (m / (m - 1))
                caches.append((xhat, inv_std))
                h = xhat * gamma + beta
            elif kind == "relu":
                caches.append(h > 0)
                h = np.maximum(h, 0)
            elif kind == "dropout":
                keep = 1.0 - extra
                mask = (self.rng.random(h.shape, dtype=F32) < keep).astype(F32) / F32(keep)
                caches.append(mask)
                h = h * mask
        return h, caches

    def _backward(self, dY, caches):
        grads = [None] * len(self.params)
        d = dY
        for idx in range(len(self.layers) - 1, -1, -1):
            kind, extra = self.layers[idx]
            cache = caches[idx]
            if kind == "dense":
                W = self.params[extra]
                grads[extra] = cache.T @ d
                grads[extra + 1] = d.sum(axis=0)
                if idx > 0:  # no dX for the input
                    d = d @ W.T
            elif kind == "batchnorm":
                xhat, inv_std = cache
                gamma = self.params[extra["i"]]
                m = d.shape[0]
                grads[extra["i"]] = (d * xhat).sum(axis=0)
                grads[extra["i"] + 1] = d.sum(axis=0)
                dxhat = d * gamma
                d = (inv_std / m) * (
                    m * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)
                )
            elif kind == "relu":
                d = d * cache
            elif kind == "dropout":
                d = d * cache
        return grads

    @staticmethod
    def _softmax_cross_entropy(logits, y):
        """Mean cross-entropy of the batch and its gradient with respect to the logits."""
        n = logits.shape[0]
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        logp = z - np.log(s)
        loss = -logp[np.arange(n), y].mean()
        g = e / s
        g[np.arange(n), y] -= 1.0
        return float(loss), g / F32(n)

    # ----- optimizer -----
    def _update(self, grads):
        norm = np.sqrt(sum(float(np.vdot(g, g)) for g in grads))
        scale = F32(min(1.0, self.clip_norm / (norm + 1e-6))) if self.clip_norm else F32(1.0)
        if self.optimizer == "sgd":
            for p, g, buf in zip(self.params, grads, self.bufs):
                buf *= self.momentum
                buf += g * scale
                p -= self.lr * buf
        else:
            b1, b2 = self.betas
            self.t += 1
            bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
            step = self.lr / bc1
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                g = g * scale
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                p -= step * m / (np.sqrt(v / bc2) + self.eps)
        return norm

    def train_step(self, X, y) -> float:
        logits, caches = self._forward(X)
        loss, dlogits = self._softmax_cross_entropy(logits, y)
        grads = self._backward(dlogits, caches)
        self._update(grads)
        return loss


def make_step(spec, optimizer: str, X, y, seed: int = 0):
    """A zero-argument callable running one NumPy training step on (X, y)."""
    model = NumpyMLP(spec, optimizer, seed=seed)
    return lambda: model.train_step(X, y)
