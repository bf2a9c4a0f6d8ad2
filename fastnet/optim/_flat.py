"""The parameters of a closure-driven optimizer as one flat float32 vector over the arena.

fastnet keeps every tensor of a model in one 64-byte-aligned arena (docs/architecture.md,
"Flat arenas"), so the parameters an optimizer was given are, as a rule, one stretch of it
(with alignment padding between tensors). ``FlatParams`` works on those stretches directly:
with one stretch (every parameter of a model without buffers) the vector *is* a view of the
arena, and ``x + t * d`` is written in place with no gathering. A tensor the optimizer was not
given (a BatchNorm buffer, a parameter left out) splits the arena into several stretches,
which are then gathered and scattered. Padding and frozen tensors get a zero gradient, so
every direction built from gradients is zero there and their values never change (torch's
LBFGS treats a parameter whose ``grad`` is None the same way).
"""

from __future__ import annotations

import numpy as np

from .. import _engine


class FlatParams:
    """The stretches of ``model``'s arena that hold ``params`` (Parameters of that model)."""

    def __init__(self, model, params):
        self.model = model
        self.params = list(params)
        mine = {p._offset for p in self.params}
        runs = []  # [start, end) in arena floats: consecutive tensors all in ``mine``
        for _, shape, offset in model._tensor_decls():
            size = int(np.prod(shape, dtype=np.int64))
            if offset in mine:
                if runs and runs[-1][2]:
                    runs[-1][1] = offset + size
                else:
                    runs.append([offset, offset + size, True])
            elif runs and runs[-1][2]:
                runs[-1][2] = False  # a tensor that is not ours closes the stretch
        self._runs = [(start, end) for start, end, _ in runs]
        floats = _engine.arena_floats(model)
        self._arena_params = _engine.params_view(model, 0, [floats])
        self._arena_grads = _engine.grads_view(model, 0, [floats])
        # Position of each stretch in the flat vector, and of each tensor in it.
        self._starts, n = [], 0
        for start, end in self._runs:
            self._starts.append(n)
            n += end - start
        self.size = n
        self._slices = [self._flat_slice(p) for p in self.params]
        live = np.zeros(n, dtype=bool)
        for sl in self._slices:
            live[sl] = True
        self._padding = np.flatnonzero(~live)

    def _flat_slice(self, p) -> slice:
        for (start, end), base in zip(self._runs, self._starts):
            if start <= p._offset < end:
                first = base + p._offset - start
                return slice(first, first + p.size)
        raise AssertionError(f"{p.name} is in no stretch")  # pragma: no cover

    @property
    def contiguous(self) -> bool:
        """One stretch: ``view()`` is the arena itself."""
        return len(self._runs) == 1

    def view(self) -> np.ndarray:
        """The parameters as a flat vector: a live view with one stretch, else a copy."""
        if self.contiguous:
            start, end = self._runs[0]
            return self._arena_params[start:end]
        return np.concatenate([self._arena_params[s:e] for s, e in self._runs])

    def get(self) -> np.ndarray:
        """A copy of the parameters as a flat vector."""
        return self.view().copy()

    def set(self, x: np.ndarray) -> None:
        """Write the flat vector ``x`` back into the arena."""
        for (start, end), base in zip(self._runs, self._starts):
            self._arena_params[start:end] = x[base : base + end - start]

    def set_step(self, x: np.ndarray, t, d: np.ndarray) -> None:
        """Parameters = ``x + t * d`` in float32 (torch's ``p.add_(d, alpha=t)`` from ``x``)."""
        step = np.float32(t)
        for (start, end), base in zip(self._runs, self._starts):
            out = self._arena_params[start:end]
            np.multiply(d[base : base + end - start], step, out=out)
            out += x[base : base + end - start]

    def grad(self) -> np.ndarray:
        """A copy of the gradient as a flat vector, zero on padding and frozen tensors."""
        if self.contiguous:
            start, end = self._runs[0]
            g = self._arena_grads[start:end].copy()
        else:
            g = np.concatenate([self._arena_grads[s:e] for s, e in self._runs])
        g[self._padding] = 0.0
        for p, sl in zip(self.params, self._slices):
            if not p.trainable:
                g[sl] = 0.0
        return g
