"""L-BFGS with torch.optim.LBFGS's interface and numerics, over the model's flat arena.

The algorithm is torch's (itself after minFunc): the two-loop recursion over at most
``history_size`` curvature pairs (s, y) with the initial inverse Hessian scaled by
sᵀy / yᵀy (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4 and eq. 7.20),
a pair stored only when yᵀs > 1e-10, a first step of min(1, 1/‖g‖₁)·lr, and either a fixed
step ``lr`` or the strong Wolfe line search (fastnet/optim/line_search.py). Vectors are
float32 and the scalars derived from them (dot products, ρ, H_diag, the first step) float32
too, as torch's 0-dim tensors, so a run follows torch's on the same model and data.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_float, check_int
from .closure_optimizer import ClosureOptimizer, check_line_search, check_tolerance


class LBFGS(ClosureOptimizer):
    """L-BFGS, as torch.optim.LBFGS: full-batch, stepped with a closure.

    Each ``step(closure)`` runs up to ``max_iter`` iterations: a direction from the two-loop
    recursion over the last ``history_size`` curvature pairs, then a fixed step ``lr`` or a
    strong Wolfe line search. It stops early when the largest gradient entry is at most
    ``tolerance_grad``, or the loss or the step changes by less than ``tolerance_change``, or
    after ``max_eval`` closure calls. The state (history, last direction) carries over to the
    next ``step``.

    Parameters
    ----------
    params : iterable
        Parameters of one model (``model.parameters()``); frozen ones (``trainable=False``)
        get a zero gradient, as torch's parameters whose ``grad`` is None.
    lr : float, default 1
        The step length (the first trial step of the line search). Must be > 0.
    max_iter : int, default 20
        Iterations per ``step``; at least 1.
    max_eval : int or None, default None
        Closure calls per ``step``; None: ``max_iter * 5 // 4``, as torch. At least 1.
    tolerance_grad : float, default 1e-7
        Stop when ``max|g| <= tolerance_grad`` (first-order optimality).
    tolerance_change : float, default 1e-9
        Stop when the loss, or the largest parameter change, moves by less than this.
    history_size : int, default 100
        Curvature pairs kept; at least 1.
    line_search_fn : {None, "strong_wolfe"}, default None
        None: a fixed step ``lr`` along the direction; "strong_wolfe": a line search
        satisfying the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9).

    Raises
    ------
    TypeError
        If an argument has the wrong type (the message names it).
    ValueError
        If a value is out of range, the parameters come from several models, or several
        parameter groups are given.

    See Also
    --------
    loss_closure : the closure for a model, a full batch and a fastnet loss.
    ConjugateGradient, NewtonCG : the other closure-driven methods.

    Notes
    -----
    Memory: ``2 * history_size + 3`` vectors of the parameters' size. Only full-batch
    training makes sense: the curvature pairs assume one deterministic objective.

    Examples
    --------
    >>> import numpy as np, fastnet as fn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 4)).astype(np.float32)
    >>> y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    >>> model = fn.Sequential(fn.Dense(4, 8, activation="tanh"), fn.Dense(8, 2), seed=0)
    >>> opt = fn.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    >>> closure = fn.optim.loss_closure(model, X, y, "sparse_categorical_crossentropy")
    >>> first = opt.step(closure)
    >>> closure() < first
    True
    """

    _STATE_SCHEMA = {
        "func_evals": "count",
        "n_iter": "count",
        "d": "vector",
        "t": "scalar",
        "old_dirs": "vectors",
        "old_stps": "vectors",
        "ro": "scalars",
        "H_diag": "scalar",
        "prev_flat_grad": "vector",
        "prev_loss": "scalar",
    }

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
    ):
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4  # torch's default
        super().__init__(
            params,
            {
                "lr": lr,
                "max_iter": max_iter,
                "max_eval": max_eval,
                "tolerance_grad": tolerance_grad,
                "tolerance_change": tolerance_change,
                "history_size": history_size,
                "line_search_fn": line_search_fn,
            },
        )

    def _check_hparams(self, v: dict) -> dict:
        v["lr"] = check_float(v["lr"], "lr", low=0.0, low_open=True)
        v["max_iter"] = check_int(v["max_iter"], "max_iter", 1)
        v["max_eval"] = check_int(v["max_eval"], "max_eval", 1)
        v["tolerance_grad"] = check_tolerance(v["tolerance_grad"], "tolerance_grad")
        v["tolerance_change"] = check_tolerance(v["tolerance_change"], "tolerance_change")
        v["history_size"] = check_int(v["history_size"], "history_size", 1)
        v["line_search_fn"] = check_line_search(v["line_search_fn"])
        return v

    def _step(self, closure, hp: dict):
        lr, max_iter, max_eval = hp["lr"], hp["max_iter"], hp["max_eval"]
        tolerance_grad, tolerance_change = hp["tolerance_grad"], hp["tolerance_change"]
        history_size = hp["history_size"]
        state = self.state
        flat = self._flat

        loss, flat_grad = self._evaluate(closure)
        orig_loss = loss
        current_evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * np.float32(t)
                ys = np.dot(y, s)
                if ys > 1e-10:  # keep the pair only with positive curvature (BFGS stays SPD)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(np.float32(1.0) / ys)
                    H_diag = ys / np.dot(y, y)  # N&W eq. 7.20
                d = self._two_loop(flat_grad, old_dirs, old_stps, ro, H_diag)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ---- step length: min(1, 1/|g|_1)·lr the first time (g may be large), else lr
            if state["n_iter"] == 1:
                t = min(1.0, np.float32(1.0) / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = np.dot(flat_grad, d)
            if gtd > -tolerance_change:  # not a descent direction (any more)
                break

            ls_evals = 0
            if hp["line_search_fn"] is not None:
                x_init = flat.get()
                loss, flat_grad, t, ls_evals = self._line_search(
                    closure,
                    x_init,
                    t,
                    d,
                    loss,
                    flat_grad,
                    gtd,
                    tolerance_change=tolerance_change,
                    max_ls=max_eval - current_evals,
                )
                flat.set_step(x_init, t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                x = flat.get()
                flat.set_step(x, t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # torch skips the evaluation after the last iteration (stochastic use).
                    loss, flat_grad = self._evaluate_guarded(closure, x)
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_evals = 1
            current_evals += ls_evals
            state["func_evals"] += ls_evals

            # ---- stopping
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * np.float32(t)).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=H_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss

    def _evaluate_guarded(self, closure, x):
        """(loss, gradient) at the current parameters; back to ``x`` if that fails."""
        try:
            return self._evaluate(closure)
        except BaseException:
            self._flat.set(x)
            raise

    @staticmethod
    def _two_loop(g, old_dirs, old_stps, ro, H_diag):
        """-H·g by the two-loop recursion (Nocedal & Wright Algorithm 7.4), H the L-BFGS
        inverse Hessian of the pairs (s = old_stps, y = old_dirs) with H0 = H_diag·I."""
        q = -g
        al = [None] * len(old_dirs)
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = np.dot(old_stps[i], q) * ro[i]
            q -= al[i] * old_dirs[i]
        r = q * np.float32(H_diag)
        for i in range(len(old_dirs)):
            be_i = np.dot(old_dirs[i], r) * ro[i]
            r += (al[i] - be_i) * old_stps[i]
        return r
