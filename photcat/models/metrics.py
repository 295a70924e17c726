"""The single module of metric definitions (docs/definitions.md). Every report and benchmark uses these.

Photo-z, with ``dz = z_phot - z_spec`` and ``e = dz / (1 + z_spec)``:

- ``sigma_rms``  = sqrt(mean(dz**2)) (the ANNz / Collister & Lahav 2004 figure; in redshift units)
- ``bias_mean``  = mean(e), ``bias_median`` = median(e)
- ``sigma_nmad`` = 1.4826 * median(|e - median(e)|)
- ``outlier_fraction`` = fraction with |e| > 0.15
- ``sigma_68``   = half-width of the central 68 % of e: (q84(e) - q16(e)) / 2

PDF metrics from a :class:`~photcat.models.predictions.MixturePrediction`:

- PIT_i = CDF_i(z_spec,i); ``pit_ks`` = Kolmogorov-Smirnov statistic of the PIT values against
  U(0, 1) (0 = perfectly calibrated).
- ``coverage_68`` / ``coverage_95`` = fraction of z_spec inside the central 68.27 % / 95.45 %
  interval of its PDF, i.e. with PIT in [0.1587, 0.8413] / [0.02275, 0.97725] (identical to
  comparing with the mixture quantiles, without a quantile search).
- ``crps`` = mean continuous ranked probability score in redshift units, computed in CLOSED FORM
  for Gaussian mixtures (Grimit et al. 2006, QJRMS 132, 2925):
  CRPS = sum_i w_i A(y - m_i, s_i^2) - 1/2 sum_ij w_i w_j A(m_i - m_j, s_i^2 + s_j^2),
  with A(mu, v) = mu (2 Phi(mu/sqrt v) - 1) + 2 sqrt(v) phi(mu/sqrt v).

Classifiers (y = 1 quiescent, 0 star-forming; p = P(quiescent)): ``accuracy`` at threshold 0.5,
``roc_auc`` (from p, or from any score where larger = more quiescent), ``brier`` = mean((p - y)^2),
``log_loss`` (p clipped to [1e-15, 1 - 1e-15]), and a reliability table (equal-width bins in p:
mean predicted p, observed quiescent fraction, count) with its expected calibration error.

Object classes (y = each object's true class name, ``pred`` a
:class:`~photcat.models.predictions.CategoricalPrediction` over K classes): ``accuracy`` of the
most probable class; per class ``completeness`` (recall: the fraction of the class's objects
classified as it), ``purity`` (precision: the fraction of objects classified as the class that
belong to it) and ``f1`` (their harmonic mean); ``macro_f1`` = unweighted mean of the classes'
F1; ``log_loss`` = −mean log p_true (clipped at 1e-15; the Categorical NLL); ``brier`` =
mean over objects of sum_k (p_k − 1[y = k])² (Brier 1950's multi-class score, 0 … 2);
per-class reliability of p_k against 1[y = k] (one class against the rest) and its ``ece``;
the confusion matrix (rows: true class, columns: predicted).

Uncertainty of a comparison: ``paired_bootstrap`` resamples the test objects (the same resample
for both estimates) and gives the 95 % interval of the difference in sigma_rms, sigma_nmad and
outlier_fraction.

Every function returns plain Python floats/ints/lists (JSON-ready; empty bins give ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr
from scipy.stats import kstest

from photcat.models.predictions import (
    P68,
    BernoulliPrediction,
    CategoricalPrediction,
    MixturePrediction,
)

NMAD_FACTOR = 1.4826
OUTLIER_THRESHOLD = 0.15
# central 1- and 2-sigma probability intervals of a Normal
P95 = float(ndtr(2.0) - ndtr(-2.0))  # 0.9545
_INV_SQRT2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _as_1d(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).ravel()
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has {int((~np.isfinite(a)).sum())} NaN or inf values")
    return a


def _point_estimate(z_phot) -> np.ndarray:
    if isinstance(z_phot, MixturePrediction):
        return z_phot.mean()
    return np.asarray(z_phot, dtype=np.float64)


def normalized_error(z_phot, z_spec) -> np.ndarray:
    """e = (z_phot - z_spec) / (1 + z_spec) per object (dimensionless)."""
    zp = _as_1d(_point_estimate(z_phot), "z_phot")
    zs = _as_1d(z_spec, "z_spec")
    if zp.shape != zs.shape:
        raise ValueError(f"z_phot has {zp.size} values but z_spec has {zs.size}")
    return (zp - zs) / (1.0 + zs)


def _sigma_rms(dz: np.ndarray, axis: int | None = None):
    return np.sqrt(np.mean(dz**2, axis=axis))


def _outlier_fraction(e: np.ndarray, axis: int | None = None):
    return np.mean(np.abs(e) > OUTLIER_THRESHOLD, axis=axis)


def sigma_nmad(e: np.ndarray, axis: int | None = None):
    """1.4826 * median(|e - median(e)|): a float, or an array along ``axis``."""
    e = np.asarray(e, dtype=np.float64)
    if axis is None:
        return float(NMAD_FACTOR * np.median(np.abs(e - np.median(e))))
    med = np.median(e, axis=axis, keepdims=True)
    return NMAD_FACTOR * np.median(np.abs(e - med), axis=axis)


def sigma_68(e: np.ndarray) -> float:
    """Half-width of the central 68 % of e: (q84 - q16) / 2, with q at 15.865/84.135 %."""
    lo, hi = np.quantile(np.asarray(e, dtype=np.float64), [0.5 - P68 / 2, 0.5 + P68 / 2])
    return float(0.5 * (hi - lo))


def point_metrics(z_phot, z_spec) -> dict:
    """Photo-z point metrics (docs/definitions.md).

    ``z_phot`` is an array of point estimates or a MixturePrediction (its mean is used).
    """
    zp = _as_1d(_point_estimate(z_phot), "z_phot")
    zs = _as_1d(z_spec, "z_spec")
    if zp.shape != zs.shape:
        raise ValueError(f"z_phot has {zp.size} values but z_spec has {zs.size}")
    if zp.size == 0:
        raise ValueError("point_metrics needs at least one object")
    dz = zp - zs
    e = dz / (1.0 + zs)
    return {
        "n": int(zp.size),
        "sigma_rms": float(_sigma_rms(dz)),
        "bias_mean": float(np.mean(e)),
        "bias_median": float(np.median(e)),
        "sigma_nmad": sigma_nmad(e),
        "outlier_fraction": float(_outlier_fraction(e)),
        "sigma_68": sigma_68(e),
    }


BOOTSTRAP_METRICS = ("sigma_rms", "sigma_nmad", "outlier_fraction")


def paired_bootstrap(
    z_phot_a, z_phot_b, z_spec, n_boot: int = 2000, seed: int = 0, chunk: int = 250
) -> dict:
    """Paired bootstrap of the difference a - b in sigma_rms, sigma_NMAD and outlier fraction.

    Test objects are resampled with replacement ``n_boot`` times (the same resample for both
    estimates), so the interval reflects which objects happen to be in the test set. For each
    metric: ``diff`` (observed a - b), ``ci95`` (2.5 and 97.5 percentiles of the resampled
    differences) and ``p_a_better`` (fraction of resamples with a strictly smaller value).
    """
    za = _as_1d(_point_estimate(z_phot_a), "z_phot_a")
    zb = _as_1d(_point_estimate(z_phot_b), "z_phot_b")
    zs = _as_1d(z_spec, "z_spec")
    if not za.shape == zb.shape == zs.shape:
        raise ValueError(f"sizes differ: a {za.size}, b {zb.size}, z_spec {zs.size}")
    if zs.size == 0:
        raise ValueError("paired_bootstrap needs at least one object")
    if int(n_boot) < 1 or int(chunk) < 1:
        raise ValueError(f"n_boot and chunk must be >= 1, got {n_boot} and {chunk}")
    rng = np.random.default_rng(seed)
    diffs = {k: [] for k in BOOTSTRAP_METRICS}
    for start in range(0, int(n_boot), chunk):
        idx = rng.integers(0, zs.size, size=(min(chunk, int(n_boot) - start), zs.size))
        s = zs[idx]
        vals = []
        for zp in (za[idx], zb[idx]):
            dz = zp - s
            e = dz / (1.0 + s)
            vals.append(
                {
                    "sigma_rms": _sigma_rms(dz, axis=1),
                    "sigma_nmad": sigma_nmad(e, axis=1),
                    "outlier_fraction": _outlier_fraction(e, axis=1),
                }
            )
        for k in BOOTSTRAP_METRICS:
            diffs[k].append(vals[0][k] - vals[1][k])
    ma, mb = point_metrics(za, zs), point_metrics(zb, zs)
    out = {"n_boot": int(n_boot), "seed": int(seed)}
    for k in BOOTSTRAP_METRICS:
        d = np.concatenate(diffs[k])
        lo, hi = np.percentile(d, [2.5, 97.5])
        out[k] = {
            "diff": ma[k] - mb[k],
            "ci95": [float(lo), float(hi)],
            "p_a_better": float(np.mean(d < 0)),
        }
    return out


def pit(prediction: MixturePrediction, z_spec) -> np.ndarray:
    """Probability integral transform: CDF_i(z_spec,i) per object."""
    zs = _as_1d(z_spec, "z_spec")
    if len(prediction) != zs.size:
        raise ValueError(f"prediction has {len(prediction)} objects but z_spec has {zs.size}")
    return prediction.cdf(zs)


def _crps_a(mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    s = np.sqrt(var)
    u = mu / s
    return mu * (2.0 * ndtr(u) - 1.0) + 2.0 * s * _INV_SQRT2PI * np.exp(-0.5 * u * u)


def crps(prediction: MixturePrediction, z_spec, chunk: int = 20_000) -> np.ndarray:
    """CRPS of each object's redshift PDF at its z_spec (redshift units).

    Closed form for the Gaussian mixture (Grimit et al. 2006); for objects whose mixture has
    more than 1e-9 of its mass below the truncation point (``prediction.lower``), the CRPS
    of the truncated PDF by quadrature (:func:`_crps_truncated`). Memory is
    O(chunk * n_components^2); objects are processed in chunks.
    """
    zs = _as_1d(z_spec, "z_spec")
    if len(prediction) != zs.size:
        raise ValueError(f"prediction has {len(prediction)} objects but z_spec has {zs.size}")
    out = _crps_mixture(prediction, zs, chunk)
    if prediction.lower is not None:
        idx = np.flatnonzero(prediction.mass_below() > 1e-9)
        for start in range(0, idx.size, 256):
            sl = idx[start : start + 256]
            out[sl] = _crps_truncated(prediction[sl], zs[sl])
    return out


def _crps_truncated(pred: MixturePrediction, y: np.ndarray, n: int = 2048) -> np.ndarray:
    """CRPS = int (F(z) - 1[z >= y])^2 dz of the truncated PDF, by composite Simpson on
    [lower, y] (F^2) and [y, upper] ((1 - F)^2) separately, so neither integrand has a jump;
    upper = max(y, largest component mean + 12 sd). Below ``lower`` F = 0, so a ``y``
    under ``lower`` adds ``lower - y``."""
    lo = float(pred.lower)
    # above lower the truncated PDF ends within 12 sd of its highest component (or is a
    # narrow spike at lower when the whole mixture lies far below it)
    upper = np.maximum(
        y,
        np.maximum(
            np.max(pred.means + 12.0 * pred.stds, axis=1), lo + 12.0 * np.max(pred.stds, axis=1)
        ),
    )
    yc = np.clip(y, lo, upper)
    t = np.linspace(0.0, 1.0, n + 1)
    simpson = np.ones(n + 1)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    simpson /= 3.0 * n

    from scipy.special import logsumexp

    from photcat.models.predictions import lw_u

    with np.errstate(divide="ignore"):
        log_w = np.log(pred.weights)
    log_s0 = pred.log_sf(lo)[:, None]

    def integral(a, b, second: bool) -> np.ndarray:
        z = a[:, None] + (b - a)[:, None] * t[None, :]
        # 1 - F = S(z) / S(lower), from the upper tail (precise when S(lower) is tiny)
        surv = np.clip(np.exp(logsumexp(lw_u(log_w, pred.means, pred.stds, z), axis=2) - log_s0), 0, 1)  # fmt: skip
        g = surv**2 if second else (1.0 - surv) ** 2
        return (b - a) * (g @ simpson)

    lows = np.full(y.shape, lo)
    return integral(lows, yc, False) + integral(yc, upper, True) + np.maximum(lo - y, 0.0)


def _crps_mixture(prediction: MixturePrediction, zs: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty(zs.size)
    for start in range(0, zs.size, chunk):
        sl = slice(start, start + chunk)
        w, m, s = prediction.weights[sl], prediction.means[sl], prediction.stds[sl]
        v = s * s
        term1 = np.sum(w * _crps_a(zs[sl, None] - m, v), axis=1)
        ww = w[:, :, None] * w[:, None, :]
        term2 = np.sum(
            ww * _crps_a(m[:, :, None] - m[:, None, :], v[:, :, None] + v[:, None, :]), axis=(1, 2)
        )
        out[sl] = term1 - 0.5 * term2
    return out


def pdf_metrics(prediction: MixturePrediction, z_spec, n_pit_bins: int = 10) -> dict:
    """PIT KS statistic (and p-value), 68/95 % interval coverage, mean CRPS, PIT histogram."""
    u = pit(prediction, z_spec)
    ks = kstest(u, "uniform")
    hist, _ = np.histogram(u, bins=n_pit_bins, range=(0.0, 1.0))
    return {
        "pit_ks": float(ks.statistic),
        "pit_ks_pvalue": float(ks.pvalue),
        "coverage_68": float(np.mean((u >= 0.5 - P68 / 2) & (u <= 0.5 + P68 / 2))),
        "coverage_95": float(np.mean((u >= 0.5 - P95 / 2) & (u <= 0.5 + P95 / 2))),
        "crps": float(np.mean(crps(prediction, z_spec))),
        "pit_histogram": [int(c) for c in hist],
        "mean_std": float(np.mean(prediction.std())),
    }


def photoz_metrics(prediction: MixturePrediction, z_spec) -> dict:
    """All photo-z metrics of a PDF prediction: point metrics of its mean plus PDF metrics."""
    return {**point_metrics(prediction.mean(), z_spec), **pdf_metrics(prediction, z_spec)}


def binned_point_metrics(z_phot, z_spec, quantity, edges: Sequence[float]) -> list[dict]:
    """sigma_NMAD, outlier fraction, mean bias and count in bins of ``quantity``.

    ``edges`` are the bin edges (e.g. r magnitude or z_spec); objects outside are ignored.
    Bins with no objects report ``None`` metrics.
    """
    e = normalized_error(z_phot, z_spec)
    q = np.asarray(quantity, dtype=np.float64).ravel()
    if q.shape != e.shape:
        raise ValueError(f"quantity has {q.size} values but z_spec has {e.size}")
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be an increasing 1-D sequence of at least two values")
    idx = np.digitize(q, edges) - 1  # bin i holds edges[i] <= q < edges[i+1]
    idx[q == edges[-1]] = edges.size - 2
    rows = []
    for i in range(edges.size - 1):  # loop over bins only, vectorised within
        ei = e[idx == i]
        row = {"lo": float(edges[i]), "hi": float(edges[i + 1]), "count": int(ei.size)}
        if ei.size:
            row |= {
                "sigma_nmad": sigma_nmad(ei),
                "outlier_fraction": float(_outlier_fraction(ei)),
                "bias_mean": float(np.mean(ei)),
            }
        else:
            row |= {"sigma_nmad": None, "outlier_fraction": None, "bias_mean": None}
        rows.append(row)
    return rows


def _labels_probs(y, p) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(p, BernoulliPrediction):
        p = p.p
    yy = _as_1d(y, "y")
    pp = _as_1d(p, "p")
    if yy.shape != pp.shape:
        raise ValueError(f"y has {yy.size} values but p has {pp.size}")
    if not np.isin(yy, (0.0, 1.0)).all():
        raise ValueError("y must contain only 0 (star-forming) and 1 (quiescent)")
    if (pp < 0).any() or (pp > 1).any():
        raise ValueError("p must lie in [0, 1]")
    return yy, pp


def roc_auc(y, score) -> float | None:
    """Area under the ROC curve of ``score`` (larger = class 1), ties counted half.

    Mann-Whitney form with average ranks; ``None`` when only one class is present.
    """
    from scipy.stats import rankdata

    yy = _as_1d(y, "y")
    s = _as_1d(score, "score")
    if yy.shape != s.shape:
        raise ValueError(f"y has {yy.size} values but score has {s.size}")
    n1 = int(np.sum(yy == 1))
    n0 = yy.size - n1
    if n1 == 0 or n0 == 0:
        return None
    r = rankdata(s)
    return float((np.sum(r[yy == 1]) - n1 * (n1 + 1) / 2) / (n1 * n0))


def reliability_table(y, p, n_bins: int = 10) -> dict:
    """Calibration table in ``n_bins`` equal-width bins of predicted p.

    Returns lists ``lo``, ``hi``, ``mean_predicted``, ``observed_fraction``, ``count``
    (``None`` in empty bins) and ``ece`` = count-weighted mean |observed - predicted|.
    """
    yy, pp = _labels_probs(y, p)
    edges = np.round(np.linspace(0.0, 1.0, n_bins + 1), 12)
    idx = np.clip(np.digitize(pp, edges) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=pp, minlength=n_bins)
    sum_y = np.bincount(idx, weights=yy, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = sum_p / count
        obs = sum_y / count
    nonempty = count > 0
    ece = float(np.sum(count[nonempty] * np.abs(obs[nonempty] - mean_p[nonempty])) / pp.size)
    return {
        "lo": edges[:-1].tolist(),
        "hi": edges[1:].tolist(),
        "mean_predicted": [float(v) if c else None for v, c in zip(mean_p, count, strict=True)],
        "observed_fraction": [float(v) if c else None for v, c in zip(obs, count, strict=True)],
        "count": count.astype(int).tolist(),
        "ece": ece,
    }


def classifier_metrics(y, p, score=None, n_bins: int = 10, eps: float = 1e-15) -> dict:
    """Accuracy (p >= 0.5), ROC AUC (of ``score`` if given, else p), Brier, log loss, reliability.

    Also reports the base rate (fraction of class 1) and the Brier score of always predicting it
    (``brier_base_rate``), the trivial reference a useful classifier must beat.
    """
    yy, pp = _labels_probs(y, p)
    pc = np.clip(pp, eps, 1.0 - eps)
    base = float(np.mean(yy))
    return {
        "n": int(yy.size),
        "base_rate": base,
        "accuracy": float(np.mean((pp >= 0.5) == (yy == 1))),
        "accuracy_majority": float(max(base, 1.0 - base)),
        "roc_auc": roc_auc(yy, pp if score is None else score),
        "brier": float(np.mean((pp - yy) ** 2)),
        "brier_base_rate": float(base * (1.0 - base)),
        "log_loss": float(-np.mean(yy * np.log(pc) + (1.0 - yy) * np.log1p(-pc))),
        "reliability": reliability_table(yy, pp, n_bins=n_bins),
    }


CLASS_SCORES = ("log_loss", "brier", "error_rate")  # per-object scores whose mean is a metric


def _true_index(y, pred: CategoricalPrediction) -> np.ndarray:
    """Column index of each object's true class in ``pred`` (a clear error for a class the
    prediction does not know)."""
    from photcat.models.base import encode_classes

    classes = np.asarray(pred.classes)
    order = np.argsort(classes)
    _, idx = encode_classes(y, classes[order])
    if len(idx) != len(pred):
        raise ValueError(f"{len(idx)} labels for {len(pred)} predictions")
    return order[idx]


def class_scores(y, pred: CategoricalPrediction, eps: float = 1e-15) -> dict[str, np.ndarray]:
    """Per-object ``log_loss`` (−log p_true), ``brier`` (sum_k (p_k − 1[y = k])²) and
    ``error_rate`` (1 where the most probable class is wrong): their means are the metrics."""
    k = _true_index(y, pred)
    rows = np.arange(len(pred))
    onehot = np.zeros_like(pred.probs)
    onehot[rows, k] = 1.0
    return {
        "log_loss": -np.log(np.clip(pred.probs[rows, k], eps, 1.0)),
        "brier": np.sum((pred.probs - onehot) ** 2, axis=1),
        "error_rate": (pred.index() != k).astype(float),
    }


def class_metrics(y, pred: CategoricalPrediction, n_bins: int = 10) -> dict:
    """Object-class metrics (module docstring): accuracy, macro F1, per-class completeness,
    purity, F1 and reliability (ECE), log loss, Brier score, confusion matrix."""
    k = _true_index(y, pred)
    n_cls = len(pred.classes)
    guess = pred.index()
    confusion = np.zeros((n_cls, n_cls), dtype=np.int64)
    np.add.at(confusion, (k, guess), 1)
    scores = class_scores(y, pred)
    per_class = {}
    for j, name in enumerate(pred.classes):
        tp = confusion[j, j]
        n_true, n_pred = confusion[j].sum(), confusion[:, j].sum()
        comp = tp / n_true if n_true else None
        pur = tp / n_pred if n_pred else None
        f1 = 2 * tp / (n_true + n_pred) if n_true + n_pred else None
        per_class[name] = {
            "n": int(n_true),
            "completeness": None if comp is None else float(comp),
            "purity": None if pur is None else float(pur),
            "f1": None if f1 is None else float(f1),
            "reliability": reliability_table((k == j).astype(float), pred.probs[:, j], n_bins),
        }
    f1s = [c["f1"] for c in per_class.values() if c["f1"] is not None]
    base = confusion.sum(axis=1).max() / max(len(k), 1)
    return {
        "n": int(len(k)),
        "classes": list(pred.classes),
        "accuracy": float(1.0 - scores["error_rate"].mean()),
        "accuracy_majority": float(base),
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "log_loss": float(scores["log_loss"].mean()),
        "brier": float(scores["brier"].mean()),
        "ece_max": float(max(c["reliability"]["ece"] for c in per_class.values())),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def paired_bootstrap_means(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired bootstrap of mean(a) − mean(b) for per-object scores ``a``, ``b`` of the same
    objects (e.g. :func:`class_scores`): ``diff``, ``ci95`` and ``p_a_better`` (fraction of
    resamples with a strictly smaller mean), as :func:`paired_bootstrap`."""
    d = _as_1d(a, "a") - _as_1d(b, "b")
    if d.size == 0:
        raise ValueError("paired_bootstrap_means needs at least one object")
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [
            d[rng.integers(0, d.size, size=(min(250, n_boot - s), d.size))].mean(axis=1)
            for s in range(0, int(n_boot), 250)
        ]
    )
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {
        "diff": float(d.mean()),
        "ci95": [float(lo), float(hi)],
        "p_a_better": float(np.mean(means < 0)),
        "n_boot": int(n_boot),
        "seed": int(seed),
    }
