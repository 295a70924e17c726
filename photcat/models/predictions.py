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
from scipy.special import ndtr

_SQRT2PI = np.sqrt(2.0 * np.pi)


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
        mw = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float) / np.sum(weights)
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

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        """CDF of each object's mixture at ``z`` (scalar, or one value per object)."""
        z = np.asarray(z, dtype=np.float64)
        z = z[:, None] if z.ndim == 1 else z
        return np.sum(self.weights * ndtr((z - self.means) / self.stds), axis=1)

    def pdf_grid(self, grid: np.ndarray) -> np.ndarray:
        """PDF of each object on a common redshift grid: shape ``(n_objects, len(grid))``."""
        grid = np.asarray(grid, dtype=np.float64)
        out = np.zeros((len(self), grid.size))
        for j in range(self.n_components):  # loop over components, vectorised over objects
            u = (grid[None, :] - self.means[:, j : j + 1]) / self.stds[:, j : j + 1]
            out += self.weights[:, j : j + 1] * np.exp(-0.5 * u * u) / (
                _SQRT2PI * self.stds[:, j : j + 1]
            )
        return out

    def quantile(self, q: float | np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Quantile(s) ``q`` per object, by vectorised bisection on the mixture CDF.

        Returns shape ``(n_objects,)`` for scalar ``q`` and ``(n_objects, len(q))`` otherwise.
        """
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        lo0 = np.min(self.means - 8.0 * self.stds, axis=1)
        hi0 = np.max(self.means + 8.0 * self.stds, axis=1)
        n_iter = int(np.ceil(np.log2(max(np.max(hi0 - lo0), tol) / tol))) + 1
        out = np.empty((len(self), qs.size))
        for k, qk in enumerate(qs):
            lo, hi = lo0.copy(), hi0.copy()
            for _ in range(n_iter):
                mid = 0.5 * (lo + hi)
                below = self.cdf(mid) < qk
                lo = np.where(below, mid, lo)
                hi = np.where(below, hi, mid)
            out[:, k] = 0.5 * (lo + hi)
        return out[:, 0] if np.ndim(q) == 0 else out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws per object: shape ``(n_objects, n)``."""
        cum = np.cumsum(self.weights, axis=1)
        u = rng.random((len(self), n))
        comp = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), self.n_components - 1)
        rows = np.arange(len(self))[:, None]
        return self.means[rows, comp] + self.stds[rows, comp] * rng.standard_normal((len(self), n))


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
