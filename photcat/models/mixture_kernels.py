"""Compiled (Numba) kernels for Gaussian-mixture PDFs: quantiles and grid-cell probabilities.

:class:`photcat.models.predictions.MixturePrediction` calls these for every partition, so they
work object by object over whole blocks without numpy temporaries. Arithmetic is float64 (the
upper-tail probabilities come from ``math.erfc``, accurate to a few ulp); the cell
probabilities are written straight into the float32 array the catalogue stores.

Upper tail of the standard Normal: Q(u) = erfc(u / √2) / 2; CDF Φ(u) = Q(−u).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
# a component's upper tail is taken as exactly 1 or 0 once exp(-u²/2) < TAIL_EPS * S(lower):
# far below float64 round-off of the sums it enters
TAIL_EPS = 1e-21


@nb.njit(cache=True)
def _q(u: float) -> float:
    return 0.5 * math.erfc(u * _INV_SQRT2)


@nb.njit(cache=True)
def _log_q(u: float) -> float:
    """log Q(u), also where Q underflows (asymptotic series beyond u = 30, error < 2e-12)."""
    if u < 30.0:
        return math.log(0.5 * math.erfc(u * _INV_SQRT2))
    r = 1.0 / (u * u)
    series = 1.0 - r * (1.0 - 3.0 * r * (1.0 - 5.0 * r * (1.0 - 7.0 * r)))
    return -0.5 * u * u - math.log(u * math.sqrt(2.0 * math.pi)) + math.log(series)


@nb.njit(cache=True)
def cell_probabilities(w, m, s, lower, edges, rel_floor, out):  # pragma: no cover - compiled
    """Probability of each grid cell per object into ``out`` (n, len(edges) + 1), float32.

    ``edges``: the inner cell edges (midpoints between grid points; the first cell is open
    below, the last open above). ``lower``: truncation redshift, NaN for none (then the
    mixture's mass is taken as 1, its weights summing to 1). Cells below ``rel_floor`` times
    the object's largest cell are set to 0. A row with NaN parameters gets NaN.
    """
    n, k = m.shape
    ne = edges.size
    surv = np.empty(ne)
    truncated = not math.isnan(lower)
    for i in range(n):
        missing = False
        for c in range(k):
            missing |= math.isnan(m[i, c]) or math.isnan(w[i, c]) or math.isnan(s[i, c])
        if missing:
            out[i, :] = np.nan
            continue
        # S(lower) in logs: a mixture almost wholly below the truncation keeps its shape
        log_s0 = 0.0
        if truncated:
            top_l = -np.inf
            for c in range(k):
                if w[i, c] > 0.0:
                    top_l = max(top_l, math.log(w[i, c]) + _log_q((lower - m[i, c]) / s[i, c]))
            acc = 0.0
            for c in range(k):
                if w[i, c] > 0.0:
                    acc += math.exp(math.log(w[i, c]) + _log_q((lower - m[i, c]) / s[i, c]) - top_l)
            log_s0 = top_l + math.log(acc)
        tiny = log_s0 < -600.0  # S(lower) near float64 underflow: every term in logs
        s0 = 1.0 if tiny else math.exp(log_s0)
        umax = math.sqrt(2.0 * max(-math.log(TAIL_EPS) - log_s0, 0.0))
        surv[:] = 0.0
        for c in range(k):
            wc, mc, sc = w[i, c], m[i, c], s[i, c]
            if wc == 0.0:
                continue
            lo_e, hi_e = mc - umax * sc, mc + umax * sc
            lw = math.log(wc) - log_s0
            for j in range(ne):
                e = edges[j]
                if truncated and e < lower:
                    e = lower  # S(edge) = S(lower): cells below the truncation get 0
                if e <= lo_e:
                    surv[j] += math.exp(lw) if tiny else wc
                elif e >= hi_e:
                    break
                elif tiny:
                    surv[j] += math.exp(lw + _log_q((e - mc) / sc))
                else:
                    surv[j] += wc * _q((e - mc) / sc)
        prev = 1.0
        top = 0.0
        for j in range(ne):
            cur = surv[j] / s0
            cell = prev - cur
            cell = cell if cell > 0.0 else 0.0  # rounding can give -1e-20
            out[i, j] = cell
            top = max(top, out[i, j])
            prev = cur
        last = prev if prev > 0.0 else 0.0
        out[i, ne] = last
        top = max(top, out[i, ne])
        floor = rel_floor * top
        if floor > 0.0:
            for j in range(ne + 1):
                if out[i, j] < floor:
                    out[i, j] = 0.0


@nb.njit(cache=True)
def mirrored_roots(w, m, s, level, t, tol, max_iter, out):  # pragma: no cover - compiled
    """x per object and level with Σ_k w_k Φ((x + m_k) / s_k) = level (the mirrored mixture,
    means −m, whose CDF at x is the original's upper tail at −x), into ``out`` (n, nq).

    ``t`` = Φ⁻¹(level) (n, nq), from the caller (scipy's ``ndtri``). The root is bracketed
    by the smallest and largest component quantiles −m_k + s_k t; safeguarded Newton from the
    moment-matched Normal's quantile: a Newton step is taken only while it lands inside the
    bracket and at least halves the previous step (Numerical Recipes' ``rtsafe``), otherwise
    the bracket is bisected; an object stops once its Newton step is below ``tol`` (error of
    order step²) or its bracket below ``tol / 100``.
    """
    n, k = m.shape
    nq = level.shape[1]
    for i in range(n):
        mu = 0.0
        for c in range(k):
            mu -= w[i, c] * m[i, c]
        var = 0.0
        for c in range(k):
            d = -m[i, c] - mu
            var += w[i, c] * (s[i, c] * s[i, c] + d * d)
        sd = math.sqrt(var)
        for j in range(nq):
            tj = t[i, j]
            lo, hi = np.inf, -np.inf
            for c in range(k):
                qc = -m[i, c] + s[i, c] * tj
                lo = min(lo, qc)
                hi = max(hi, qc)
            x = min(max(mu + sd * tj, lo), hi)
            if not (hi - lo > 0.01 * tol):
                out[i, j] = x
                continue
            step_old = hi - lo
            lv = level[i, j]
            for _ in range(max_iter):
                f = -lv
                dens = 0.0
                for c in range(k):
                    inv = 1.0 / s[i, c]
                    u = (x + m[i, c]) * inv
                    f += w[i, c] * _q(-u)
                    dens += w[i, c] * inv * math.exp(-0.5 * u * u)
                dens *= _INV_SQRT2PI
                if f < 0:
                    lo = x
                else:
                    hi = x
                step = f / dens if dens > 0.0 else np.inf
                xn = x - step
                bad = not (lo < xn < hi) or not (2.0 * abs(step) <= abs(step_old))
                if bad:
                    xn = 0.5 * (lo + hi)
                step_old = abs(xn - x)
                x = xn
                if (hi - lo < 0.01 * tol) if bad else (step_old < tol):
                    break
            out[i, j] = x
