"""The compiled mixture kernels against float64 references computed another way."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_ndtr, logsumexp

from photcat.models.predictions import MixturePrediction


def _mixtures(n: int = 400, k: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(k), n)
    w[::7, -1] = 0.0  # components without weight
    w /= w.sum(axis=1, keepdims=True)
    m = rng.uniform(-0.3, 1.3, (n, k))
    m[::11] -= 1.5  # almost all the mass below z = 0: S(0) down to ~1e-30
    s = np.exp(rng.uniform(np.log(0.002), np.log(0.5), (n, k)))
    return w, m, s


def _cells_reference(w, m, s, grid, lower):
    """Cell masses per component in logs on the tail side (no cancellation near 1, no
    underflow for mixtures almost wholly below ``lower``), summed with logsumexp."""
    edges = np.concatenate([[-np.inf], 0.5 * (grid[1:] + grid[:-1]), [np.inf]])
    if lower is not None:
        edges = np.maximum(edges, lower)
    a, b = edges[None, :-1, None], edges[None, 1:, None]
    mm, ss = m[:, None, :], s[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        # above the mean: log(Q(ua) - Q(ub)); below: log(Phi(ub) - Phi(ua))
        hi_a, hi_b = log_ndtr((mm - a) / ss), log_ndtr((mm - b) / ss)
        lo_a, lo_b = log_ndtr((a - mm) / ss), log_ndtr((b - mm) / ss)
        right = hi_a + np.log1p(-np.exp(hi_b - hi_a))
        left = lo_b + np.log1p(-np.exp(lo_a - lo_b))
        log_mass = np.where(a >= mm, right, left)
        log_cells = logsumexp(np.log(w)[:, None, :] + log_mass, axis=2)
        log_total = (
            np.zeros(len(m))
            if lower is None
            else logsumexp(np.log(w) + log_ndtr((m - lower) / s), axis=1)
        )
    return np.exp(log_cells - log_total[:, None])


@pytest.mark.parametrize("lower", [None, 0.0])
def test_cell_probabilities_match_tail_side_reference(lower):
    w, m, s = _mixtures()
    if lower is None:
        m = m + 1.5 * (m < -0.5)  # untruncated: keep the mass on the grid's side
    grid = np.linspace(0.0, 1.0, 101)
    got = MixturePrediction(w, m, s, lower).cell_probabilities(grid, np.float32)
    ref = _cells_reference(w, m, s, grid, lower)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    big = ref > 1e-7 * ref.max(axis=1, keepdims=True)
    rel = np.abs(got[big] - ref[big]) / ref[big]
    assert rel.max() < 1e-5, rel.max()  # measured 4e-7 (float32 storage, subtraction at peak)
    assert np.abs(got - ref).max() < 1e-7


def test_cell_floor_and_missing_rows():
    w, m, s = _mixtures(50)
    m[3] = np.nan
    s[4, 2] = np.nan  # one component's width missing: the whole row is unknown
    pred = MixturePrediction(w, m, s, 0.0)
    grid = np.linspace(0.0, 1.0, 101)
    floored = pred.cell_probabilities(grid, np.float32, rel_floor=2.0**-24)
    plain = pred.cell_probabilities(grid, np.float32)
    assert np.isnan(floored[3:5]).all() and np.isnan(plain[3:5]).all()
    ok = np.delete(np.arange(50), [3, 4])
    top = plain[ok].max(axis=1, keepdims=True)
    zeroed = (plain[ok] < 2.0**-24 * top) & (plain[ok] > 0)
    assert zeroed.sum() > 100  # far tails exist and are cut
    assert (floored[ok][zeroed] == 0).all()
    np.testing.assert_array_equal(floored[ok][~zeroed], plain[ok][~zeroed])


@pytest.mark.parametrize("lower", [None, 0.0])
def test_quantiles_solve_the_cdf(lower):
    w, m, s = _mixtures(seed=1)
    pred = MixturePrediction(w, m, s, lower)
    qs = np.array([0.001, 0.15865, 0.5, 0.84135, 0.999])
    x = pred.quantile(qs)
    for j, q in enumerate(qs):
        c = pred.cdf(x[:, j])
        # within 1e-6 in z: |CDF - q| <= density * 1e-6 (+ round-off)
        dens = np.abs(pred.cdf(x[:, j] + 1e-6) - pred.cdf(x[:, j] - 1e-6)) / 2e-6
        assert np.all(np.abs(c - q) <= dens * 1e-6 + 1e-9), (q, np.abs(c - q).max())
    assert np.all(np.diff(x, axis=1) >= 0)
    one = MixturePrediction(w[:, :1] * 0 + 1, m[:, :1], s[:, :1], None)
    np.testing.assert_allclose(
        one.quantile(0.84135), m[:, 0] + s[:, 0] * 0.99999, rtol=0, atol=1e-4 * s[:, 0].max()
    )
