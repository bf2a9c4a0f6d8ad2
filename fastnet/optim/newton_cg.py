"""Line-search Newton-CG (truncated Newton) for small models, stepped with a closure.

Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.1 (as scipy.optimize's
``newton-cg``): the Newton equations ∇²f p = -∇f are solved approximately by conjugate
gradients, stopped when the residual is below min(0.5, √‖∇f‖)·‖∇f‖ (superlinear
convergence, eq. 7.3) or at the first direction of non-positive curvature (then the iterate
so far, or -∇f at the first inner iteration); a line search then sets the step, whose first
trial is 1 (the Newton step) times lr. The Hessian is never formed: each product ∇²f·v is a
forward difference of gradients (N&W section 8.1, eq. 8.11),

    ∇²f·v ≈ (∇f(w + h v) − ∇f(w)) / h,   h = fd_eps·(1 + ‖w‖) / ‖v‖,

one closure call each, h scaled by the parameters' size so that w + h v differs from w in
float32. The inner CG runs in float64 on those products.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_float, check_int
from .closure_optimizer import ClosureOptimizer, check_line_search, check_tolerance

# √(float32 machine epsilon): the forward-difference step that balances truncation and
# rounding error for float32 gradients (N&W section 8.1).
FLOAT32_SQRT_EPS = math.sqrt(float(np.finfo(np.float32).eps))


def truncated_cg(hvp, g, tolerance: float, max_cg_iter: int):
    """Approximately solve ``H p = -g`` by CG (Nocedal & Wright Algorithm 7.1).

    Parameters
    ----------
    hvp : callable
        ``v -> H v`` (float64 in and out).
    g : numpy.ndarray
        The gradient (float64).
    tolerance : float
        Stop when the residual's norm is below this.
    max_cg_iter : int
        At most this many products.

    Returns
    -------
    tuple
        ``(p, products, negative_curvature)``.
    """
    z = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(r @ r)
    for j in range(max_cg_iter):
        Hd = hvp(d)
        curvature = float(d @ Hd)
        if curvature <= 0:
            # Not positive definite along d: stop with what CG has built, or steepest
            # descent if that is nothing yet.
            return (-g if j == 0 else z), j + 1, True
        alpha = rr / curvature
        z = z + alpha * d
        r = r + alpha * Hd
        rr_new = float(r @ r)
        if math.sqrt(rr_new) < tolerance:
            return z, j + 1, False
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, max_cg_iter, False


class NewtonCG(ClosureOptimizer):
    """Newton's method with a conjugate-gradient solve (truncated Newton), for small models.

    Each ``step(closure)`` runs up to ``max_iter`` Newton iterations: an inner CG solve of
    ``∇²f p = -∇f`` with Hessian–vector products by finite differences of gradients (one
    closure call each, at most ``max_cg_iter`` per iteration), truncated at non-positive
    curvature, then a line search along ``p``. It stops early under the same tests as
    :class:`LBFGS`. Newton's local quadratic convergence makes it the method of choice when a
    small convex model must be solved to float32 precision.

    Parameters
    ----------
    params : iterable
        Parameters of one model (``model.parameters()``); frozen ones get a zero gradient.
    lr : float, default 1
        The first trial step along the Newton direction (1: the Newton step). Must be > 0.
    max_iter : int, default 20
        Newton iterations per ``step``; at least 1.
    max_eval : int or None, default None
        Closure calls for the loss per ``step`` (Hessian–vector products not counted);
        None: ``max_iter * 5 // 4``. At least 1.
    tolerance_grad : float, default 1e-7
        Stop when ``max|g| <= tolerance_grad``.
    tolerance_change : float, default 1e-9
        Stop when the loss, or the largest parameter change, moves by less than this.
    max_cg_iter : int or None, default None
        Hessian–vector products per Newton iteration; None: the number of parameters, at
        most 200. At least 1.
    fd_eps : float or None, default None
        The relative finite-difference step; None: √(float32 eps) ≈ 3.5e-4. In (0, 1).
    line_search_fn : {"strong_wolfe", None}, default "strong_wolfe"
        The strong Wolfe line search (c1 = 1e-4, c2 = 0.9), or None: a fixed step ``lr``.

    Raises
    ------
    TypeError
        If an argument has the wrong type (the message names it).
    ValueError
        If a value is out of range or the parameters come from several models.

    See Also
    --------
    LBFGS, ConjugateGradient, loss_closure

    Notes
    -----
    Cost per Newton iteration: up to ``max_cg_iter`` gradient evaluations. For networks with
    more than a few thousand parameters prefer :class:`LBFGS`.

    Examples
    --------
    >>> import numpy as np, fastnet as fn
    >>> X = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    >>> model = fn.Sequential(fn.Dense(3, 1), seed=0)
    >>> opt = fn.optim.NewtonCG(model.parameters(), max_iter=5)
    >>> _ = opt.step(fn.optim.loss_closure(model, X, y, "mse"))
    >>> W, b = (p.data for p in model.parameters())
    >>> np.round(W.ravel(), 4)
    array([ 1. , -2. ,  0.5], dtype=float32)
    """

    _STATE_SCHEMA = {
        "func_evals": "count",
        "n_iter": "count",
        "hvp_evals": "count",
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
        max_cg_iter=None,
        fd_eps=None,
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
                "max_cg_iter": max_cg_iter,
                "fd_eps": fd_eps,
                "line_search_fn": line_search_fn,
            },
        )
        self.state["hvp_evals"] = 0

    def _check_hparams(self, v: dict) -> dict:
        v["lr"] = check_float(v["lr"], "lr", low=0.0, low_open=True)
        v["max_iter"] = check_int(v["max_iter"], "max_iter", 1)
        v["max_eval"] = check_int(v["max_eval"], "max_eval", 1)
        v["tolerance_grad"] = check_tolerance(v["tolerance_grad"], "tolerance_grad")
        v["tolerance_change"] = check_tolerance(v["tolerance_change"], "tolerance_change")
        if v["max_cg_iter"] is not None:
            v["max_cg_iter"] = check_int(v["max_cg_iter"], "max_cg_iter", 1)
        if v["fd_eps"] is not None:
            v["fd_eps"] = check_float(
                v["fd_eps"], "fd_eps", low=0.0, high=1.0, low_open=True, high_open=True
            )
        v["line_search_fn"] = check_line_search(v["line_search_fn"])
        return v

    def _hessian_vector(self, closure, x, g, fd_eps):
        """``v -> ∇²f·v`` at ``x`` (gradient ``g``) by a forward difference of gradients."""
        scale = fd_eps * (1.0 + float(np.linalg.norm(x.astype(np.float64))))
        g64 = g.astype(np.float64)

        def hvp(v):
            norm = float(np.linalg.norm(v))
            if norm == 0.0:
                return np.zeros_like(v)
            h = scale / norm
            _, g_h = self._evaluate_at(closure, x, h, v.astype(np.float32))
            self.state["hvp_evals"] += 1
            return (g_h.astype(np.float64) - g64) / h

        return hvp

    def _step(self, closure, hp: dict):
        lr, max_iter, max_eval = hp["lr"], hp["max_iter"], hp["max_eval"]
        tolerance_grad, tolerance_change = hp["tolerance_grad"], hp["tolerance_change"]
        max_cg_iter = hp["max_cg_iter"] or min(self._flat.size, 200)
        fd_eps = hp["fd_eps"] or FLOAT32_SQRT_EPS
        state = self.state
        flat = self._flat

        loss, flat_grad = self._evaluate(closure)
        orig_loss = loss
        current_evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        prev_loss = state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            x = flat.get()
            g64 = flat_grad.astype(np.float64)
            gnorm = float(np.linalg.norm(g64))
            tolerance = min(0.5, math.sqrt(gnorm)) * gnorm  # N&W eq. 7.3 forcing term
            p, _, _ = truncated_cg(
                self._hessian_vector(closure, x, flat_grad, fd_eps), g64, tolerance, max_cg_iter
            )
            d = p.astype(np.float32)
            prev_loss = loss
            gtd = np.dot(flat_grad, d)
            if gtd > -tolerance_change:
                break
            t = lr
            ls_evals = 0
            if hp["line_search_fn"] is not None:
                loss, flat_grad, t, ls_evals = self._line_search(
                    closure,
                    x,
                    t,
                    d,
                    loss,
                    flat_grad,
                    gtd,
                    tolerance_change=tolerance_change,
                    max_ls=max_eval - current_evals,
                )
                flat.set_step(x, t, d)
            else:
                flat.set_step(x, t, d)
                try:
                    loss, flat_grad = self._evaluate(closure)
                except BaseException:
                    flat.set(x)
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

        state["prev_loss"] = prev_loss
        return orig_loss
