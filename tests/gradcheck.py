"""Finite differences shared by the gradient tests (float64 references)."""

import numpy as np


def central_difference(f, x, eps=1e-6):
    """d f / d x for a scalar f of a float64 array x, by central differences."""
    x = x.astype(np.float64).copy()
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g
