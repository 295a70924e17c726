"""Prediction objects returned by every photcat estimator.

Photo-z predictions are Gaussian mixtures per object (a single Normal is a mixture with one
component; a committee is the mixture of its members), so every estimator, classical or
neural, answers the same questions: mean, standard deviation, quantiles, CDF at any z and
PDF on a grid. Star-forming/quiescent predictions are Bernoulli probabilities.

Everything here is numpy and vectorised over objects; no TensorFlow is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

_SQRT2PI = np.sqrt(2.0 * np.pi)
P68 = float(ndtr(1.0) - ndtr(-1.0))  # 0.6827: the "68 %" interval of a Normal
_QUANTILE_CHUNK = 16_384  # objects per block in MixturePrediction.quantile


@dataclass(frozen=True)
class MixturePrediction:
    """Per-object Gaussian mixture over redshift.

    Arrays have shape ``(n_objects, n_components)``; ``weights`` sum to 1 along axis 1.
    ``means`` and ``stds`` are in redshift units.
    """

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray

    def __post_init__(self) -> None:
        w, m, s = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in self.astuple())
        if not (w.shape == m.shape == s.shape):
            raise ValueError(f"weights, means, stds shapes differ: {w.shape}, {m.shape}, {s.shape}")
        object.__setattr__(self, "weights", w / w.sum(axis=1, keepdims=True))
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "stds", np.maximum(s, 1e-6))

    def astuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.weights, self.means, self.stds

    @classmethod
    def normal(cls, mean: np.ndarray, std: np.ndarray) -> MixturePrediction:
        """A single Normal per object."""
        mean = np.asarray(mean, dtype=np.float64).reshape(-1, 1)
        return cls(np.ones_like(mean), mean, np.asarray(std, dtype=np.float64).reshape(-1, 1))

    @classmethod
    def combine(cls, members: list[MixturePrediction], weights=None) -> MixturePrediction:
        """Equal-weight (or weighted) mixture of several members' predictions (a committee)."""
        k = len(members)
        mw = (
            np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float) / np.sum(weights)
        )
        return cls(
            np.concatenate([p.weights * w for p, w in zip(members, mw, strict=True)], axis=1),
            np.concatenate([p.means for p in members], axis=1),
            np.concatenate([p.stds for p in members], axis=1),
        )

    def __len__(self) -> int:
        return self.means.shape[0]

    def __getitem__(self, idx) -> MixturePrediction:
        return MixturePrediction(self.weights[idx], self.means[idx], self.stds[idx])

    @property
    def n_components(self) -> int:
        return self.means.shape[1]

    def mean(self) -> np.ndarray:
        """Mixture mean per object."""
        return np.sum(self.weights * self.means, axis=1)

    def std(self) -> np.ndarray:
        """Mixture standard deviation per object (within- plus between-component spread)."""
        mu = self.mean()[:, None]
        var = np.sum(self.weights * (self.stds**2 + (self.means - mu) ** 2), axis=1)
        return np.sqrt(var)

    def scaled(self, factor: float) -> MixturePrediction:
        """The same distributions stretched by ``factor`` about each object's mean.

        An affine map ``z -> mean + factor * (z - mean)``: every component's offset from the
        mean and every width are multiplied by ``factor``, so the shape is kept and every
        central interval widens by ``factor``.
        """
        if factor == 1.0:
            return self
        mu = self.mean()[:, None]
        return MixturePrediction(self.weights, mu + factor * (self.means - mu), self.stds * factor)

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        """CDF of each object's mixture at ``z`` (scalar, or one value per object)."""
        z = np.asarray(z, dtype=np.float64)
        z = z[:, None] if z.ndim == 1 else z
        return np.sum(self.weights * ndtr((z - self.means) / self.stds), axis=1)

    def pdf_grid(
        self,
        grid: np.ndarray,
        dtype: type = np.float64,
        chunk: int = 2048,
        rel_floor: float = 0.0,
    ) -> np.ndarray:
        """PDF of each object on a common redshift grid: shape ``(n_objects, len(grid))``.

        Computed in ``dtype`` (float32 halves the cost when the result is stored as float32)
        over blocks of ``chunk`` objects, so temporaries stay in the CPU cache. Values below
        ``rel_floor`` times the object's largest grid value are set to exactly 0 (far tails
        that cannot change any sum over the grid in ``dtype``, and compress to nothing).
        """
        grid = np.asarray(grid, dtype=dtype)
        n, k = self.means.shape
        out = np.empty((n, grid.size), dtype=dtype)
        inv = (1.0 / self.stds).astype(dtype)
        amp = (self.weights * (1.0 / self.stds) / _SQRT2PI).astype(dtype)
        means = self.means.astype(dtype)
        half = np.dtype(dtype).type(-0.5)
        for s in range(0, n, chunk):
            sl = slice(s, s + chunk)
            acc = out[sl]
            for j in range(k):  # loop over components, vectorised over objects and grid
                u = np.subtract(grid[None, :], means[sl, j, None])
                u *= inv[sl, j, None]
                np.square(u, out=u)
                u *= half
                np.exp(u, out=u)
                u *= amp[sl, j, None]
                if j == 0:
                    acc[...] = u
                else:
                    acc += u
            if rel_floor > 0:
                floor = acc.max(axis=1, keepdims=True)
                floor *= rel_floor
                acc[acc < floor] = 0
        return out

    def quantile(self, q: float | np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Quantile(s) ``q`` per object, to within ``tol`` (redshift units).

        Safeguarded Newton iteration on the mixture CDF, vectorised over objects: the root is
        bracketed by the smallest and largest component quantiles (the mixture CDF is a
        weighted mean of the component CDFs), Newton steps that leave the bracket are replaced
        by bisection; each object stops once its Newton step is below ``tol`` (the error left is
        of order step²) or its bracket is below ``tol / 100``.
        A single Normal is answered in closed form. ``q`` must lie in (0, 1).
        Returns shape ``(n_objects,)`` for scalar ``q`` and ``(n_objects, len(q))`` otherwise.
        """
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if np.any((qs <= 0) | (qs >= 1)):
            raise ValueError(f"quantile levels must lie strictly between 0 and 1, got {qs}")
        out = np.empty((len(self), qs.size))
        for s in range(0, len(self), _QUANTILE_CHUNK):  # blocks keep temporaries in cache
            w, m, sd = (a[s : s + _QUANTILE_CHUNK] for a in self.astuple())
            for j, qk in enumerate(qs):
                comp = m + sd * ndtri(qk)  # each component's own quantile
                if self.n_components == 1:
                    out[s : s + len(m), j] = comp[:, 0]
                else:
                    out[s : s + len(m), j] = _mixture_root(w, m, sd, comp, qk, tol)
        return out[:, 0] if np.ndim(q) == 0 else out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws per object: shape ``(n_objects, n)``."""
        cum = np.cumsum(self.weights, axis=1)
        u = rng.random((len(self), n))
        comp = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), self.n_components - 1)
        rows = np.arange(len(self))[:, None]
        return self.means[rows, comp] + self.stds[rows, comp] * rng.standard_normal((len(self), n))


def fit_width_scale(pred: MixturePrediction, z: np.ndarray, coverage: float = P68) -> float:
    """Factor ``s`` such that ``pred.scaled(s)``'s central ``coverage`` intervals hold a
    fraction ``coverage`` of the true redshifts ``z`` (the calibration objects).

    Scaling about the mean moves the interval ends to ``mean + s * (q - mean)``, so object
    ``i`` is covered once ``s`` reaches ``r_i = (z_i - mean_i) / (q_hi,i - mean_i)`` (``z``
    above the mean; the lower end below it), and ``s`` is the ``coverage`` quantile of ``r``.
    """
    z = np.asarray(z, dtype=np.float64).ravel()
    if z.size != len(pred):
        raise ValueError(f"{z.size} redshifts for {len(pred)} predictions")
    lo, hi = pred.quantile([0.5 - coverage / 2, 0.5 + coverage / 2]).T
    mu = pred.mean()
    d = z - mu
    half = np.where(d >= 0, hi - mu, mu - lo)  # the interval's half-width on z's side
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(half > 0, np.abs(d) / half, np.inf)
    scale = float(np.quantile(r, coverage))
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(
            f"no finite width scale reaches {coverage:.4f} coverage on {z.size} calibration "
            "objects (too few objects, or redshifts outside the intervals' reach)"
        )
    return scale


@dataclass(frozen=True)
class BernoulliPrediction:
    """Per-object probability that the galaxy is quiescent (class 1)."""

    p: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", np.clip(np.asarray(self.p, dtype=np.float64).ravel(), 0, 1))

    def __len__(self) -> int:
        return self.p.size

    def __getitem__(self, idx) -> BernoulliPrediction:
        return BernoulliPrediction(self.p[idx])

    def label(self, threshold: float = 0.5) -> np.ndarray:
        """Hard label: 1 (quiescent) where ``p >= threshold``."""
        return (self.p >= threshold).astype(np.int8)


def mix_members(
    preds: list[MixturePrediction] | list[BernoulliPrediction], width_scale: float = 1.0
) -> MixturePrediction | BernoulliPrediction:
    """A committee's prediction from its members': the equal-weight mixture of their redshift
    distributions stretched by ``width_scale`` (:meth:`MixturePrediction.scaled`), or the
    mean of their P(quiescent). The one definition of committee mixing."""
    if isinstance(preds[0], BernoulliPrediction):
        return BernoulliPrediction(np.mean([p.p for p in preds], axis=0))
    mixed = preds[0] if len(preds) == 1 else MixturePrediction.combine(preds)
    return mixed.scaled(width_scale)


def _mixture_root(w, m, s, comp, qk: float, tol: float, max_iter: int = 200) -> np.ndarray:
    """x per object with sum_k w_k Phi((x - m_k) / s_k) = qk (see ``quantile``).

    Newton steps are taken only while they land inside the bracket and at least halve the
    previous step (as in Numerical Recipes' ``rtsafe``); otherwise the bracket is bisected,
    so every object converges.
    """
    lo, hi = comp.min(axis=1), comp.max(axis=1)
    mu = np.sum(w * m, axis=1)
    sd = np.sqrt(np.sum(w * (s**2 + (m - mu[:, None]) ** 2), axis=1))
    x = np.clip(mu + sd * ndtri(qk), lo, hi)
    out = x.copy()
    act = np.flatnonzero(hi - lo > 0.01 * tol)
    w, m, x, lo, hi = w[act], m[act], x[act], lo[act], hi[act]
    inv = 1.0 / s[act]
    step_old = hi - lo
    for _ in range(max_iter):
        if not act.size:
            break
        u = (x[:, None] - m) * inv
        f = np.sum(w * ndtr(u), axis=1) - qk
        d = np.sum(w * inv * np.exp(-0.5 * u * u), axis=1) / _SQRT2PI
        below = f < 0
        lo = np.where(below, x, lo)
        hi = np.where(below, hi, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / d
        xn = x - step
        bad = ~((xn > lo) & (xn < hi)) | ~(2.0 * np.abs(step) <= np.abs(step_old))
        xn = np.where(bad, 0.5 * (lo + hi), xn)
        step_old = np.abs(xn - x)
        # a Newton step below tol leaves an error of order step**2 / (2 * min(s)) << tol
        done = np.where(bad, hi - lo < 0.01 * tol, step_old < tol)
        out[act] = xn
        keep = ~done
        act, w, m, inv = act[keep], w[keep], m[keep], inv[keep]
        x, lo, hi, step_old = xn[keep], lo[keep], hi[keep], step_old[keep]
    return out
