"""Prediction objects returned by every photcat estimator.

Photo-z predictions are Gaussian mixtures per object (a single Normal is a mixture with one
component; a committee is the mixture of its members), so every estimator, classical or
neural, answers the same questions: mean, standard deviation, quantiles, CDF at any z and
PDF on a grid. Star-forming/quiescent predictions are Bernoulli probabilities; object
classes (star / galaxy / QSO, or whatever classes a label column names) are Categorical
probabilities.

Redshifts are never negative, so a photo-z mixture is *truncated* at ``lower`` (default
z = 0) and renormalised: its CDF, quantiles, mean, standard deviation, PIT, CRPS and gridded
form are those of the truncated distribution p(z) = f(z) / (1 − F(lower)) for z ≥ lower, 0
below, where f, F are the density and CDF of the Gaussian mixture given by ``weights``,
``means``, ``stds`` (the exact mixture, stored as it is in the catalogue's
``photoz_weights/means/stds`` columns; ``docs/definitions.md`` shows how to evaluate the
truncated PDF from them). ``lower=None`` is the untruncated mixture.

Everything here is numpy and vectorised over objects; no TensorFlow is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri

_SQRT2PI = np.sqrt(2.0 * np.pi)
P68 = float(ndtr(1.0) - ndtr(-1.0))  # 0.6827: the "68 %" interval of a Normal
_QUANTILE_CHUNK = 16_384  # objects per block in MixturePrediction.quantile


@dataclass(frozen=True)
class MixturePrediction:
    """Per-object Gaussian mixture over redshift.

    Arrays have shape ``(n_objects, n_components)``; ``weights`` sum to 1 along axis 1.
    ``means`` and ``stds`` are in redshift units. ``lower``: the truncation point (z = 0;
    None: none), see the module docstring.
    """

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    lower: float | None = 0.0

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
    def normal(
        cls, mean: np.ndarray, std: np.ndarray, lower: float | None = 0.0
    ) -> MixturePrediction:
        """A single Normal per object (truncated at ``lower``)."""
        mean = np.asarray(mean, dtype=np.float64).reshape(-1, 1)
        std = np.asarray(std, dtype=np.float64).reshape(-1, 1)
        return cls(np.ones_like(mean), mean, std, lower)

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
            _same_lower(members),
        )

    def __len__(self) -> int:
        return self.means.shape[0]

    def __getitem__(self, idx) -> MixturePrediction:
        return MixturePrediction(self.weights[idx], self.means[idx], self.stds[idx], self.lower)

    @property
    def n_components(self) -> int:
        return self.means.shape[1]

    def untruncated(self) -> MixturePrediction:
        """The same mixture without the truncation."""
        return MixturePrediction(self.weights, self.means, self.stds, None)

    def mass_below(self) -> np.ndarray:
        """F(lower) per object: the untruncated mixture's probability below ``lower``."""
        if self.lower is None:
            return np.zeros(len(self))
        return -np.expm1(self.log_sf(self.lower))

    def log_sf(self, z: np.ndarray | float) -> np.ndarray:
        """log S(z) per object, S the untruncated mixture's survival function (1 − CDF),
        computed from the upper tail so that it keeps its digits when most of the mixture
        lies below ``z`` (the truncated quantities are ratios S(z) / S(lower))."""
        z = np.asarray(z, dtype=np.float64)
        z = z[:, None] if z.ndim == 1 else z
        with np.errstate(divide="ignore"):
            lw = np.log(self.weights)
        return logsumexp(lw + log_ndtr((self.means - z) / self.stds), axis=1)

    def _truncated_components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, means, variances) of the components truncated at ``lower``: each a
        truncated Normal, weighted by its mass above ``lower`` (renormalised)."""
        w, m, s = self.astuple()
        if self.lower is None:
            return w, m, s * s
        a = (self.lower - m) / s
        log_z = log_ndtr(-a)  # log of each component's mass above lower
        lam = np.exp(-0.5 * a * a - np.log(_SQRT2PI) - log_z)  # phi(a) / Z (inverse Mills)
        wz = w * np.exp(log_z)
        tot = wz.sum(axis=1, keepdims=True)
        wt = np.where(tot > 0, wz / np.where(tot > 0, tot, 1.0), w)
        mt = m + s * lam
        vt = s * s * np.maximum(1.0 + a * lam - lam * lam, 1e-12)
        return wt, mt, vt

    def mean(self) -> np.ndarray:
        """Mean per object of the (truncated) mixture."""
        w, m, _ = self._truncated_components()
        return np.sum(w * m, axis=1)

    def std(self) -> np.ndarray:
        """Standard deviation per object of the (truncated) mixture (within- plus
        between-component spread)."""
        w, m, v = self._truncated_components()
        mu = np.sum(w * m, axis=1, keepdims=True)
        return np.sqrt(np.sum(w * (v + (m - mu) ** 2), axis=1))

    def scaled(self, factor: float) -> MixturePrediction:
        """The same distributions stretched by ``factor`` about each object's mean.

        An affine map ``z -> mean + factor * (z - mean)``: every component's offset from the
        mean and every width are multiplied by ``factor``, so the shape is kept and every
        central interval widens by ``factor``.
        """
        if factor == 1.0:
            return self
        # about the untruncated mixture's mean: a map of the stored mixture's parameters
        mu = np.sum(self.weights * self.means, axis=1)[:, None]
        return MixturePrediction(
            self.weights, mu + factor * (self.means - mu), self.stds * factor, self.lower
        )

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        """CDF of each object's (truncated) mixture at ``z`` (scalar, or one per object):
        1 − S(z) / S(lower). NaN parameters or a NaN ``z`` give NaN."""
        z = np.asarray(z, dtype=np.float64)
        if self.lower is None:
            zz = z[:, None] if z.ndim == 1 else z
            return np.sum(self.weights * ndtr((zz - self.means) / self.stds), axis=1)
        zb = np.maximum(z, self.lower)
        out = -np.expm1(self.log_sf(zb) - self.log_sf(self.lower))
        return np.where(np.broadcast_to(z, out.shape) < self.lower, 0.0, np.clip(out, 0.0, 1.0))

    def cell_probabilities(
        self, grid: np.ndarray, dtype: type = np.float64, rel_floor: float = 0.0
    ) -> np.ndarray:
        """Probability of each grid point's cell, shape ``(n_objects, len(grid))``: the cells
        are bounded by the midpoints between grid points, the first open below and the last
        open above, so every row sums to 1 (the catalogue's ``photoz_pdf`` column).
        Differences of the (truncated) survival function, computed in float64 by the compiled
        :func:`photcat.models.mixture_kernels.cell_probabilities` and stored in ``dtype``;
        cells below ``rel_floor`` times the object's largest cell are set to 0."""
        from photcat.models.mixture_kernels import cell_probabilities

        grid = np.asarray(grid, dtype=np.float64)
        inner = np.ascontiguousarray(0.5 * (grid[1:] + grid[:-1]))
        kernel_dtype = dtype if np.dtype(dtype) in (np.float32, np.float64) else np.float64
        out = np.empty((len(self), grid.size), dtype=kernel_dtype)
        lower = np.nan if self.lower is None else float(self.lower)
        w, m, sd = (np.ascontiguousarray(a, dtype=np.float64) for a in self.astuple())
        for s in range(0, len(self), _QUANTILE_CHUNK):  # blocks: bounded float64 copies
            sl = slice(s, s + _QUANTILE_CHUNK)
            cell_probabilities(w[sl], m[sl], sd[sl], lower, inner, float(rel_floor), out[sl])
        return out if kernel_dtype is dtype else out.astype(dtype)

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
        # truncated density: divided by S(lower), applied in the exponent (no overflow)
        log_s0 = np.zeros(n) if self.lower is None else self.log_sf(self.lower)
        log_s0 = log_s0.astype(dtype)
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
                u -= log_s0[sl, None]
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
        if self.lower is not None:
            out[:, grid < self.lower] = 0
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
        from photcat.models.mixture_kernels import mirrored_roots

        out = np.empty((len(self), qs.size))
        s0 = np.ones(len(self)) if self.lower is None else np.exp(self.log_sf(self.lower))
        w, m, sd = (np.ascontiguousarray(a, dtype=np.float64) for a in self.astuple())
        # x with S(x) = (1 - q) S(lower), solved on the mirrored mixture (means -m), whose
        # CDF is S(-x): precise however small S(lower) is
        level = np.maximum((1.0 - qs[None, :]) * s0[:, None], 1e-300)
        mirrored_roots(w, m, sd, level, ndtri(level), float(tol), 200, out)
        out = -out
        if self.lower is not None:
            out = np.maximum(out, self.lower)
        return out[:, 0] if np.ndim(q) == 0 else out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws per object from the (truncated) mixture: shape ``(n_objects, n)``.
        A component is drawn by its mass above ``lower``, then a value by inverting its
        truncated CDF."""
        w = self._truncated_components()[0]
        cum = np.cumsum(w, axis=1)
        u = rng.random((len(self), n))
        comp = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), self.n_components - 1)
        rows = np.arange(len(self))[:, None]
        m, s = self.means[rows, comp], self.stds[rows, comp]
        # upper-tail inversion: x = m - s ndtri(t), t uniform on (0, S_k(lower))
        top = 1.0 if self.lower is None else ndtr((m - self.lower) / s)
        t = top * (1.0 - rng.random((len(self), n)))  # in (0, top]
        out = m - s * ndtri(np.clip(t, 1e-300, 1.0 - 1e-16))
        return out if self.lower is None else np.maximum(out, self.lower)


def lw_u(log_w: np.ndarray, m: np.ndarray, sd: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log(w_k) + log S_k(z) for objects × points × components (z: objects × points)."""
    return log_w[:, None, :] + log_ndtr((m[:, None, :] - z[:, :, None]) / sd[:, None, :])


def _same_lower(members: list[MixturePrediction]) -> float | None:
    lows = {p.lower for p in members}
    if len(lows) > 1:
        raise ValueError(f"members truncated at different redshifts: {sorted(lows, key=str)}")
    return members[0].lower


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
    pred = pred.untruncated()  # the scaling maps the mixture's own parameters
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


@dataclass(frozen=True)
class CategoricalPrediction:
    """Per-object class probabilities: ``probs`` (n_objects, n_classes), rows summing to 1,
    columns in the order of ``classes`` (the label values, e.g. ``("GALAXY", "QSO", "STAR")``).
    """

    probs: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        p = np.clip(np.atleast_2d(np.asarray(self.probs, dtype=np.float64)), 0.0, 1.0)
        classes = tuple(str(c) for c in self.classes)
        if p.shape[1] != len(classes):
            raise ValueError(f"{p.shape[1]} probability columns for {len(classes)} classes")
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes repeat: {classes}")
        tot = p.sum(axis=1, keepdims=True)
        object.__setattr__(self, "probs", p / np.where(tot > 0, tot, 1.0))
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return self.probs.shape[0]

    def __getitem__(self, idx) -> CategoricalPrediction:
        return CategoricalPrediction(self.probs[idx], self.classes)

    def p(self, name: str) -> np.ndarray:
        """P(class ``name``) per object."""
        if name not in self.classes:
            raise KeyError(f"no class {name!r}; classes: {list(self.classes)}")
        return self.probs[:, self.classes.index(name)]

    def index(self) -> np.ndarray:
        """Column index of the most probable class per object (the first on ties)."""
        return np.argmax(self.probs, axis=1)

    def label(self) -> np.ndarray:
        """The most probable class's name per object."""
        return np.asarray(self.classes, dtype=object)[self.index()]

    def entropy(self) -> np.ndarray:
        """Shannon entropy of each object's class distribution, in nats (0: certain;
        log(n_classes): uniform)."""
        p = self.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)


def mix_members(
    preds: list[MixturePrediction] | list[BernoulliPrediction] | list[CategoricalPrediction],
    width_scale: float = 1.0,
) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction:
    """A committee's prediction from its members': the equal-weight mixture of their redshift
    distributions stretched by ``width_scale`` (:meth:`MixturePrediction.scaled`), or the
    mean of their P(quiescent) or class probabilities (the mixture of their Bernoulli or
    Categorical distributions). The one definition of committee mixing."""
    if isinstance(preds[0], BernoulliPrediction):
        return BernoulliPrediction(np.mean([p.p for p in preds], axis=0))
    if isinstance(preds[0], CategoricalPrediction):
        classes = {p.classes for p in preds}
        if len(classes) != 1:
            raise ValueError(f"members predict different classes: {sorted(classes)}")
        return CategoricalPrediction(np.mean([p.probs for p in preds], axis=0), classes.pop())
    mixed = preds[0] if len(preds) == 1 else MixturePrediction.combine(preds)
    return mixed.scaled(width_scale)


# a point mass (a star's z = 0) is a Normal of this width (redshift), centred POINT_MASS_SIGMAS
# widths above the truncation point when it would lie below it: its mass below z = 0 is 1e-9,
# so the truncation leaves the class weights as they are (centring it at 0 would halve them)
POINT_MASS_STD = 1e-5
POINT_MASS_SIGMAS = 6.0


def mix_by_class(
    probs: CategoricalPrediction,
    per_class: dict[str, MixturePrediction],
    points: dict[str, float] | None = None,
) -> MixturePrediction:
    """The class-probability-weighted mixture of per-class redshift distributions:
    p(z) = sum_c P(c) p_c(z), per object.

    ``per_class``: each modelled class's prediction for the same objects; ``points``: classes
    whose redshift is a known value (stars: ``{"STAR": 0.0}``), each a Normal of width
    :data:`POINT_MASS_STD` (at z = 6e-5 for a point at the truncation point z = 0). Every
    class of ``probs`` must be in one of the two. Each class's distribution is truncated at
    the per-class predictions' ``lower`` on its own (its weights divided by its mass above
    it), so the mixture's class probabilities are exactly ``probs``.
    """
    points = dict(points or {})
    missing = [c for c in probs.classes if c not in per_class and c not in points]
    if missing:
        raise ValueError(f"no redshift distribution for class(es) {missing}")
    n = len(probs)
    lower = _same_lower(list(per_class.values())) if per_class else 0.0
    ws, ms, ss = [], [], []
    for c in probs.classes:
        pc = probs.p(c)[:, None]
        if c in per_class:
            pred = per_class[c]
            if len(pred) != n:
                raise ValueError(f"class {c!r}: {len(pred)} predictions for {n} objects")
            # each class's PDF truncated on its own: p(z) = sum_c P(c) f_c(z) / S_c(lower),
            # so a class whose Normal reaches below z = 0 keeps its probability P(c)
            s_c = 1.0 if lower is None else np.exp(pred.log_sf(lower))[:, None]
            ws.append(pred.weights * pc / np.maximum(s_c, 1e-300))
            ms.append(pred.means)
            ss.append(pred.stds)
        else:
            at = float(points[c])
            if lower is not None:
                at = max(at, lower + POINT_MASS_SIGMAS * POINT_MASS_STD)
            ws.append(pc)
            ms.append(np.full((n, 1), at))
            ss.append(np.full((n, 1), POINT_MASS_STD))
    w = np.concatenate(ws, axis=1)
    w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)  # no mass anywhere: equal weights
    return MixturePrediction(w, np.concatenate(ms, axis=1), np.concatenate(ss, axis=1), lower)
