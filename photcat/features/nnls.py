"""Batched non-negative least squares for small template sets (vectorised over objects).

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

import numpy as np

MAX_TEMPLATES = 8


def batched_nnls(
    A: np.ndarray, b: np.ndarray, tol: float = 1e-10, ridge_eps: float = 1e-12
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
    best_c = np.zeros((n, k))
    best_chi2 = bb.copy()
    scale_b = np.maximum(np.sqrt(bb), 1e-300)
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
            better = feasible & (chi2 < best_chi2 - 1e-9 * np.maximum(best_chi2, 1e-300))
            if better.any():
                c = np.zeros((int(better.sum()), k))
                c[:, cols] = np.clip(coef[better], 0.0, None)
                best_c[better] = c
                best_chi2[better] = chi2[better]
    coef = best_c / safe
    resid = b - np.einsum("nmk,nk->nm", A, coef)
    return coef, (resid**2).sum(axis=1)
