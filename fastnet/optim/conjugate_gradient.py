"""Nonlinear conjugate gradient, Polak–Ribière+ with restarts, stepped with a closure.

Nocedal & Wright, *Numerical Optimization*, 2nd ed., section 5.2: directions
d_{k+1} = -g_{k+1} + β_{k+1} d_k with β⁺ = max(0, g_{k+1}ᵀ(g_{k+1} − g_k) / g_kᵀg_k)
(eq. 5.44 and 5.45), restarted (β = 0) every ``restart`` iterations, and whenever the new
direction is not a descent direction (possible with PR+ under the strong Wolfe conditions).
Steps come from the strong Wolfe line search with c2 = 0.1, the value Nocedal & Wright use
for nonlinear CG; the first trial step is min(1, 1/‖g‖₁)·lr after a restart from nothing and
then α_{k-1}·g_{k-1}ᵀd_{k-1} / g_kᵀd_k (eq. 3.60).
"""

from __future__ import annotations

import numpy as np

from .._validate import check_float, check_int
from .closure_optimizer import ClosureOptimizer, check_line_search, check_tolerance

# The curvature constant of the line search for nonlinear CG (Nocedal & Wright, section 5.2).
CG_C2 = 0.1


def polak_ribiere_direction(g, g_prev, d_prev, restart: bool):
    """The next search direction and whether it restarted (d = -g).

    ``β⁺ = max(0, gᵀ(g − g_prev) / g_prevᵀg_prev)``; ``d = -g + β⁺ d_prev``; a restart when
    ``restart`` is set, when ``β⁺`` is 0, or when ``d`` is not a descent direction
    (``gᵀd >= 0``).
    """
    if restart:
        return -g, True
    beta = np.dot(g, g - g_prev) / np.dot(g_prev, g_prev)
    if not beta > 0:
        return -g, True
    d = beta * d_prev - g
    if not np.dot(g, d) < 0:
        return -g, True
    return d, False


class ConjugateGradient(ClosureOptimizer):
    """Nonlinear conjugate gradient (Polak–Ribière+, with restarts), stepped with a closure.

    Each ``step(closure)`` runs up to ``max_iter`` iterations along directions
    ``d = -g + β⁺ d_prev`` with a line search, and stops early under the same tests as
    :class:`LBFGS`. The direction and the iteration count since the last restart carry over
    to the next ``step``.

    Parameters
    ----------
    params : iterable
        Parameters of one model (``model.parameters()``); frozen ones get a zero gradient.
    lr : float, default 1
        Scales the first trial step ``min(1, 1/‖g‖₁)·lr`` (and the fixed step without a line
        search). Must be > 0.
    max_iter : int, default 20
        Iterations per ``step``; at least 1.
    max_eval : int or None, default None
        Closure calls per ``step``; None: ``max_iter * 5 // 4``. At least 1.
    tolerance_grad : float, default 1e-7
        Stop when ``max|g| <= tolerance_grad``.
    tolerance_change : float, default 1e-9
        Stop when the loss, or the largest parameter change, moves by less than this.
    restart : int or None, default None
        Restart (steepest descent) every ``restart`` iterations; None: the number of
        parameters (Nocedal & Wright's n). At least 1.
    line_search_fn : {"strong_wolfe", None}, default "strong_wolfe"
        The strong Wolfe line search (c1 = 1e-4, c2 = 0.1), or None: a fixed step ``lr``.

    Raises
    ------
    TypeError
        If an argument has the wrong type (the message names it).
    ValueError
        If a value is out of range or the parameters come from several models.

    See Also
    --------
    LBFGS, NewtonCG, loss_closure

    Examples
    --------
    >>> import numpy as np, fastnet as fn
    >>> X = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3
    >>> model = fn.Sequential(fn.Dense(3, 1), seed=0)
    >>> opt = fn.optim.ConjugateGradient(model.parameters(), max_iter=50, max_eval=200)
    >>> _ = opt.step(fn.optim.loss_closure(model, X, y, "mse"))
    >>> W, b = (p.data for p in model.parameters())
    >>> np.round(b, 4)
    array([0.3], dtype=float32)
    """

    _STATE_SCHEMA = {
        "func_evals": "count",
        "n_iter": "count",
        "since_restart": "count",
        "d": "vector",
        "t": "scalar",
        "gtd": "scalar",
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
        restart=None,
        line_search_fn="strong_wolfe",
    ):
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        super().__init__(
            params,
            {
                "lr": lr,
                "max_iter": max_iter,
                "max_eval": max_eval,
                "tolerance_grad": tolerance_grad,
                "tolerance_change": tolerance_change,
                "restart": restart,
                "line_search_fn": line_search_fn,
            },
        )

    def _check_hparams(self, v: dict) -> dict:
        v["lr"] = check_float(v["lr"], "lr", low=0.0, low_open=True)
        v["max_iter"] = check_int(v["max_iter"], "max_iter", 1)
        v["max_eval"] = check_int(v["max_eval"], "max_eval", 1)
        v["tolerance_grad"] = check_tolerance(v["tolerance_grad"], "tolerance_grad")
        v["tolerance_change"] = check_tolerance(v["tolerance_change"], "tolerance_change")
        if v["restart"] is not None:
            v["restart"] = check_int(v["restart"], "restart", 1)
        v["line_search_fn"] = check_line_search(v["line_search_fn"])
        return v

    def _step(self, closure, hp: dict):
        lr, max_iter, max_eval = hp["lr"], hp["max_iter"], hp["max_eval"]
        tolerance_grad, tolerance_change = hp["tolerance_grad"], hp["tolerance_change"]
        restart_every = hp["restart"] if hp["restart"] is not None else self._flat.size
        state = self.state
        flat = self._flat

        loss, flat_grad = self._evaluate(closure)
        orig_loss = loss
        current_evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t, gtd = state.get("d"), state.get("t"), state.get("gtd")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        since_restart = state.get("since_restart", 0)

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            fresh = d is None
            if fresh:
                d, restarted = -flat_grad, True
            else:
                d, restarted = polak_ribiere_direction(
                    flat_grad, prev_flat_grad, d, since_restart + 1 >= restart_every
                )
            since_restart = 0 if restarted else since_restart + 1

            gtd_new = np.dot(flat_grad, d)
            if fresh or hp["line_search_fn"] is None:
                t = min(1.0, np.float32(1.0) / np.abs(flat_grad).sum()) * lr if fresh else lr
            else:
                t = t * gtd / gtd_new  # N&W eq. 3.60: the last step's first-order change
            gtd = gtd_new
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if gtd > -tolerance_change:
                break

            ls_evals = 0
            x_init = flat.get()
            if hp["line_search_fn"] is not None:
                loss, flat_grad, t, ls_evals = self._line_search(
                    closure,
                    x_init,
                    t,
                    d,
                    loss,
                    flat_grad,
                    gtd,
                    c2=CG_C2,
                    tolerance_change=tolerance_change,
                    max_ls=max_eval - current_evals,
                )
                flat.set_step(x_init, t, d)
            else:
                flat.set_step(x_init, t, d)
                try:
                    loss, flat_grad = self._evaluate(closure)
                except BaseException:
                    flat.set(x_init)
                    raise
                ls_evals = 1
            opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            current_evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * np.float32(t)).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(
            d=d,
            t=t,
            gtd=gtd,
            since_restart=since_restart,
            prev_flat_grad=prev_flat_grad,  # the gradient where d started, for the next β
            prev_loss=prev_loss,
        )
        return orig_loss
