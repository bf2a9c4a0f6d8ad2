"""The strong Wolfe line search shared by LBFGS, ConjugateGradient and NewtonCG.

The algorithm of torch.optim.lbfgs's ``_strong_wolfe`` (itself ported from minFunc /
torch7's ``lswolfe.lua``; Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithms 3.5
and 3.6): bracket a step that satisfies the strong Wolfe conditions

    f(x + t d) <= f(x) + c1 t gᵀd          (sufficient decrease)
    |g(x + t d)ᵀd| <= c2 |gᵀd|             (curvature)

by extrapolating with a safeguarded cubic, then zoom into the bracket with cubic
interpolation. Directional derivatives are float32 (the dot products of float32 vectors, as
torch's 0-dim tensors) and losses Python floats, with NumPy 2's scalar promotion doing what
torch's does (a Python float meeting a float32 scalar gives float32), so the decisions match
torch.optim.LBFGS step for step.
"""

from __future__ import annotations

import numpy as np


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2,
    clipped to ``bounds`` (default: the interval between x1 and x2); the interval's midpoint
    when the cubic has no minimiser (Nocedal & Wright eq. 3.59)."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    if x1 == x2:
        # A collapsed bracket: torch's arithmetic gives NaN here and so the midpoint.
        return (lo + hi) / 2.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            d2 = np.sqrt(d2_square)
            if x1 <= x2:
                t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            else:
                t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(t, lo), hi)
    return (lo + hi) / 2.0


def strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Search along ``d`` from the current point (loss ``f``, gradient ``g``, slope ``gtd``).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(t) -> (loss, flat gradient)`` at ``x + t d``; it leaves the parameters at
        ``x``.
    t : float
        The first trial step.
    d : numpy.ndarray
        The search direction (float32, flat).
    f, g, gtd
        Loss, gradient and ``gᵀd`` at ``x`` (``gtd < 0``: a descent direction).
    c1, c2 : float
        The sufficient-decrease and curvature constants (0 < c1 < c2 < 1).
    tolerance_change : float
        Stop zooming once the bracket moves the parameters by less than this.
    max_ls : int
        At most this many evaluations.

    Returns
    -------
    tuple
        ``(loss, gradient, t, evaluations)`` at the accepted step.
    """
    d_norm = np.abs(d).max()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = np.dot(g_new, d)

    # Bracketing: grow the step until it overshoots (Armijo fails, the loss rises again, or
    # the slope turns positive) or the strong Wolfe conditions hold.
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # Extrapolate: a cubic step between 1.01 t and 10 t beyond the last one.
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        previous = t
        t = cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new, gtd_new
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = np.dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:
        bracket = [0, t]
        bracket_f = [f, f_new]
        bracket_g = [g, g_new]
        # torch leaves bracket_gtd as it was (unset when no bracket was found before): the
        # zoom below cannot run then, since ls_iter == max_ls.

    # Zoom: shrink the bracket [low, high] by cubic interpolation until a point satisfies
    # the strong Wolfe conditions (Nocedal & Wright Algorithm 3.6).
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # A trial too close to an end of the bracket makes little progress: the second time
        # (or when it is at an end), move it to 10% of the bracket's width from that end.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False

        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = np.dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            # No sufficient decrease, or not below the low end: the trial is the new high.
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # The slope points away from the high end: the old low becomes the high.
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new

    return bracket_f[low], bracket_g[low], bracket[low], evals
