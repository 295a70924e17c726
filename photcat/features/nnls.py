"""Non-negative least squares for small template sets, over many objects.

:func:`grid_nnls` is the rest-frame fit's solver: per object, the design matrix is
interpolated linearly from kcorrect's redshift grid and the problem solved with the
Lawson–Hanson active-set algorithm (C. L. Lawson & R. J. Hanson 1974, *Solving Least Squares
Problems*, chapter 23, algorithm NNLS; the algorithm of ``scipy.optimize.nnls``, which kcorrect
calls row by row), compiled with Numba; it works on the normal equations of the columns
scaled to unit norm, with Cholesky solves of the passive set. An object with fewer measured
bands than templates has many solutions of the same χ² (the data are fitted exactly, and the
rest-frame colours are not determined by them): the solvers differ in which one they return
(Lawson–Hanson's depends on the order in which it adds columns, scipy's too), so for such
objects the kernel enumerates the subsets as :func:`batched_nnls` does and returns the same
solution: the first subset, in a fixed order, whose χ² is the smallest to 1e-10 bᵀb (so that
round-off does not choose). It agrees with :func:`batched_nnls` to < 1e-6 mag in the
rest-frame magnitudes, ugriz + JHKs, griz and gri alike (tested on the shared samples).

:func:`batched_nnls` (the reference) is vectorised over objects:

kcorrect fits each object with ``scipy.optimize.nnls`` in a Python loop. With few templates
(kcorrect's default set has 5) the exact NNLS solution can be found for a whole batch at once:
the optimum is the unconstrained least-squares solution on some subset S of templates that is
non-negative, and among all such feasible subset solutions it has the smallest χ². So we solve
every one of the 2^k − 1 subsets for all objects with batched normal-equation solves (columns
scaled to unit norm, a 1e-12 ridge keeps rank-deficient subsets solvable), discard
solutions with a negative coefficient, and keep the smallest χ² (the empty subset, c = 0, is
always feasible). Cost: O(2^k · n); for k = 5, 31 batched solves.
"""

from __future__ import annotations

import itertools
from functools import cache

import numba as nb
import numpy as np

MAX_TEMPLATES = 8
RIDGE = 1e-12  # added to the diagonal of the unit-norm normal equations (rank-deficient sets)
# an object with fewer measurements than templates: χ² values within TIE·bᵀb are equal (the
# exact fits differ by round-off only), and the first such subset is the solution
TIE = 1e-10


def batched_nnls(
    A: np.ndarray, b: np.ndarray, tol: float = 1e-10, ridge_eps: float = RIDGE
) -> tuple[np.ndarray, np.ndarray]:
    """Solve min ||A_i c_i − b_i||² subject to c_i ≥ 0 for every object i.

    ``A`` (n, m, k) weighted design matrices (rows with zero weight are all-zero), ``b`` (n, m)
    weighted data. Returns (coefficients (n, k), χ² (n,)). Exact for k ≤ MAX_TEMPLATES.
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n, m, k = A.shape
    if k > MAX_TEMPLATES:
        raise ValueError(
            f"batched_nnls enumerates subsets: at most {MAX_TEMPLATES} templates, got {k}"
        )
    if b.shape != (n, m):
        raise ValueError(f"b must have shape {(n, m)}, got {b.shape}")
    # Scale each template column to unit norm per object for conditioning, then work with the
    # normal equations G c = h of each subset (batched k×k solves are far cheaper than SVDs).
    norm = np.sqrt((A**2).sum(axis=1))  # (n, k)
    safe = np.where(norm > 0, norm, 1.0)
    As = A / safe[:, None, :]
    G = np.einsum("nmk,nml->nkl", As, As)
    h = np.einsum("nmk,nm->nk", As, b)
    bb = (b**2).sum(axis=1)
    scale_b = np.maximum(np.sqrt(bb), 1e-300)
    sols, chi2s = [np.zeros((n, k))], [bb.copy()]  # the empty subset, c = 0, first
    for size in range(1, k + 1):
        ridge = ridge_eps * np.eye(size)
        for subset in itertools.combinations(range(k), size):
            cols = list(subset)
            Gs = G[:, cols][:, :, cols] + ridge
            hs = h[:, cols]
            coef = np.linalg.solve(Gs, hs[..., None])[..., 0]
            chi2 = bb - 2 * (coef * hs).sum(axis=1) + np.einsum("ns,nst,nt->n", coef, Gs, coef)
            feasible = (coef >= -tol * scale_b[:, None]).all(axis=1) & (norm[:, cols] > 0).all(
                axis=1
            )
            c = np.zeros((n, k))
            c[:, cols] = np.clip(coef, 0.0, None)
            sols.append(c)
            chi2s.append(np.where(feasible, chi2, np.inf))
    chi2 = np.stack(chi2s, axis=1)
    # the smallest χ²: each subset in turn replaces the best so far when it improves on it
    pick, best = np.zeros(n, dtype=np.int64), bb.copy()
    for r in range(1, chi2.shape[1]):
        better = chi2[:, r] < best - 1e-9 * np.maximum(best, 1e-300)
        pick[better], best[better] = r, chi2[better, r]
    # fewer measurements than templates: many subsets fit exactly and round-off alone must not
    # choose among them; the first (in the order above) within TIE bᵀb of the smallest χ²
    under = (np.abs(A).sum(axis=2) > 0).sum(axis=1) < k
    first = np.argmax(chi2 <= chi2.min(axis=1, keepdims=True) + TIE * bb[:, None], axis=1)
    pick = np.where(under, first, pick)
    best_c = np.stack(sols, axis=1)[np.arange(n), pick]
    coef = best_c / safe
    resid = b - np.einsum("nmk,nk->nm", A, coef)
    return coef, (resid**2).sum(axis=1)


def grid_nnls(
    redshifts: np.ndarray,
    A_grid: np.ndarray,
    z: np.ndarray,
    maggies: np.ndarray,
    ivar: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative template coefficients per object, and the fit's χ².

    ``redshifts`` (nz,) increasing grid and ``A_grid`` (nz, nbands, ntemplates) template
    maggies on it (kcorrect's A matrix); ``z`` (n,) redshifts inside the grid; ``maggies``
    and ``ivar`` (n, nbands) fluxes and inverse variances (a band with ivar 0 is left out,
    whatever its flux). The matrix at ``z`` is interpolated linearly between grid points, as
    kcorrect's ``interp1d`` does. Returns ((n, ntemplates), (n,)).
    """
    zg = np.ascontiguousarray(redshifts, dtype=np.float64)
    Ag = np.ascontiguousarray(A_grid, dtype=np.float64)
    z = np.ascontiguousarray(z, dtype=np.float64)
    f = np.ascontiguousarray(maggies, dtype=np.float64)
    w = np.ascontiguousarray(ivar, dtype=np.float64)
    n, m = f.shape
    if Ag.shape[:2] != (zg.size, m) or w.shape != (n, m) or z.shape != (n,):
        raise ValueError(
            f"shapes differ: grid {zg.shape}, A_grid {Ag.shape}, z {z.shape}, maggies "
            f"{f.shape}, ivar {w.shape}"
        )
    if n and (np.nanmin(z) < zg[0] or np.nanmax(z) > zg[-1] or not np.isfinite(z).all()):
        raise ValueError(f"redshifts must be finite and inside the grid [{zg[0]}, {zg[-1]}]")
    return _grid_nnls(zg, Ag, z, f, w, RIDGE, TIE, _subsets(Ag.shape[2]))


@cache
def _subsets(k: int) -> np.ndarray:
    """Every non-empty subset of k columns as a 0/1 row, in :func:`batched_nnls`'s order
    (by size, then as ``itertools.combinations`` gives them)."""
    rows = [
        [int(j in c) for j in range(k)]
        for size in range(1, k + 1)
        for c in itertools.combinations(range(k), size)
    ]
    return np.array(rows, dtype=np.bool_)


@nb.njit(cache=True)
def _grid_nnls(zg, Ag, z, maggies, ivar, ridge, tie, subsets):  # pragma: no cover - compiled
    n, m = maggies.shape
    k = Ag.shape[2]
    coef = np.zeros((n, k))
    chi2 = np.empty(n)
    A = np.empty((m, k))
    b = np.empty(m)
    c = np.empty(k)
    for o in range(n):
        measured = 0  # bands with a weight
        # the grid interval holding z (a grid point is the end of the interval below it)
        lo = min(max(np.searchsorted(zg, z[o]) - 1, 0), zg.size - 2)
        t = (z[o] - zg[lo]) / (zg[lo + 1] - zg[lo])
        for i in range(m):
            wi = np.sqrt(ivar[o, i]) if ivar[o, i] > 0 else 0.0
            measured += wi > 0
            b[i] = maggies[o, i] * wi if wi > 0 else 0.0
            for j in range(k):
                a0 = Ag[lo, i, j]
                A[i, j] = (a0 + t * (Ag[lo + 1, i, j] - a0)) * wi
        if measured < k:  # many solutions: the one batched_nnls returns
            chi2[o] = _enumerate(A, b, c, ridge, tie, subsets)
        else:
            chi2[o] = _lawson_hanson(A, b, c, ridge)
        coef[o] = c
    return coef, chi2


@nb.njit(cache=True)
def _normal_equations(A, b, ridge):  # pragma: no cover - compiled
    """(G + ridge I, h, bᵀb, column norms) of A with columns scaled to unit norm (norm 0
    kept as 0; such a column is scaled by 1)."""
    m, k = A.shape
    norm = np.zeros(k)
    for j in range(k):
        v = 0.0
        for i in range(m):
            v += A[i, j] * A[i, j]
        norm[j] = np.sqrt(v)
    safe = np.where(norm > 0, norm, 1.0)
    G = np.empty((k, k))
    h = np.empty(k)
    bb = 0.0
    for i in range(m):
        bb += b[i] * b[i]
    for a in range(k):
        v = 0.0
        for i in range(m):
            v += A[i, a] * b[i]
        h[a] = v / safe[a]
        for c in range(a + 1):
            v = 0.0
            for i in range(m):
                v += A[i, a] * A[i, c]
            G[a, c] = v / (safe[a] * safe[c])
            G[c, a] = G[a, c]
        G[a, a] += ridge
    return G, h, bb, norm, safe


@nb.njit(cache=True)
def _residual_chi2(A, b, x, safe, coef):  # pragma: no cover - compiled
    """coef = x / safe (unscaled coefficients); returns ||A coef − b||²."""
    m, k = A.shape
    for j in range(k):
        coef[j] = x[j] / safe[j]
    out = 0.0
    for i in range(m):
        r = b[i]
        for j in range(k):
            r -= A[i, j] * coef[j]
        out += r * r
    return out


@nb.njit(cache=True)
def _enumerate(A, b, coef, ridge, tie, subsets):  # pragma: no cover - compiled
    """:func:`batched_nnls` for one object: the first subset (empty set first, then
    ``subsets`` order) whose feasible solution has the smallest χ² to ``tie`` bᵀb."""
    k = A.shape[1]
    r_n = subsets.shape[0]
    G, h, bb, norm, safe = _normal_equations(A, b, ridge)
    tol = 1e-10 * max(np.sqrt(bb), 1e-300)
    sols = np.zeros((r_n + 1, k))
    chi2 = np.full(r_n + 1, np.inf)
    chi2[0] = bb
    s = np.zeros(k)
    for r in range(r_n):
        mask = subsets[r]
        ok = True
        for j in range(k):
            if mask[j] and norm[j] <= 0:
                ok = False
        if not ok:
            continue
        _passive_solve(G, h, mask, s)
        for j in range(k):
            if mask[j] and s[j] < -tol:
                ok = False
        if not ok:
            continue
        c2 = bb
        for a in range(k):
            c2 -= 2.0 * s[a] * h[a]
            for c in range(k):
                c2 += s[a] * G[a, c] * s[c]
        chi2[r + 1] = c2
        for j in range(k):
            sols[r + 1, j] = max(s[j], 0.0)
    limit = chi2.min() + tie * bb
    pick = 0
    while chi2[pick] > limit:
        pick += 1
    return _residual_chi2(A, b, sols[pick], safe, coef)


@nb.njit(cache=True)
def _lawson_hanson(A, b, coef, ridge):  # pragma: no cover - compiled
    """min ||A c − b||² subject to c ≥ 0 for one object (A (m, k), b (m,)); ``coef`` (k,)
    receives c; returns χ²."""
    k = A.shape[1]
    G, h, bb, _, safe = _normal_equations(A, b, ridge)
    tol = 1e-12 * max(np.sqrt(bb), 1e-300)
    x = np.zeros(k)
    s = np.zeros(k)
    passive = np.zeros(k, np.bool_)
    for _ in range(3 * k + 10):  # Lawson–Hanson adds one column per outer step
        jmax, wmax = -1, tol
        for j in range(k):  # the gradient w = h − G x, largest over the active set
            wj = h[j]
            for c in range(k):
                wj -= G[j, c] * x[c]
            if not passive[j] and wj > wmax:
                jmax, wmax = j, wj
        if jmax < 0:
            break
        passive[jmax] = True
        for _inner in range(3 * k + 10):
            _passive_solve(G, h, passive, s)
            feasible = True
            for j in range(k):
                if passive[j] and s[j] <= 0.0:
                    feasible = False
            if feasible:
                x[:] = s
                break
            alpha = 2.0  # step towards s until the first passive coefficient reaches 0
            for j in range(k):
                if passive[j] and s[j] <= 0.0:
                    alpha = min(alpha, x[j] / (x[j] - s[j]))
            for j in range(k):
                x[j] += alpha * (s[j] - x[j])
                if passive[j] and x[j] <= tol:  # reached zero (to round-off): active again
                    passive[j] = False
                    x[j] = 0.0
    return _residual_chi2(A, b, x, safe, coef)


@nb.njit(cache=True)
def _passive_solve(G, h, passive, out):  # pragma: no cover - compiled
    """out[P] = G[P, P]⁻¹ h[P] (Cholesky), out = 0 off the passive set P."""
    k = h.size
    idx = np.empty(k, np.int64)
    p = 0
    for j in range(k):
        out[j] = 0.0
        if passive[j]:
            idx[p] = j
            p += 1
    L = np.zeros((p, p))
    for a in range(p):
        for c in range(a + 1):
            v = G[idx[a], idx[c]]
            for d in range(c):
                v -= L[a, d] * L[c, d]
            if a == c:
                L[a, a] = np.sqrt(max(v, 1e-300))
            else:
                L[a, c] = v / L[c, c]
    y = np.empty(p)
    for a in range(p):
        v = h[idx[a]]
        for d in range(a):
            v -= L[a, d] * y[d]
        y[a] = v / L[a, a]
    for a in range(p - 1, -1, -1):
        v = y[a]
        for d in range(a + 1, p):
            v -= L[d, a] * out[idx[d]]
        out[idx[a]] = v / L[a, a]
