"""photcat.models.metrics on hand-computed examples and synthetic calibrated predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.integrate import trapezoid
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from photcat.models import metrics
from photcat.models.predictions import BernoulliPrediction, MixturePrediction


def test_point_metrics_hand_computed():
    # z_spec = 0 so e = dz exactly
    zs = np.zeros(5)
    zp = np.array([-0.02, 0.0, 0.01, 0.03, 0.5])
    m = metrics.point_metrics(zp, zs)
    assert m["n"] == 5
    assert m["sigma_rms"] == pytest.approx(np.sqrt((0.0004 + 0 + 0.0001 + 0.0009 + 0.25) / 5))
    assert m["bias_mean"] == pytest.approx(0.52 / 5)
    assert m["bias_median"] == pytest.approx(0.01)
    # |e - 0.01| = 0.03, 0.01, 0, 0.02, 0.49 -> median 0.02
    assert m["sigma_nmad"] == pytest.approx(1.4826 * 0.02)
    assert m["outlier_fraction"] == pytest.approx(0.2)


def test_normalized_error_uses_one_plus_zspec():
    e = metrics.normalized_error([1.1, 0.9], [1.0, 0.5])
    np.testing.assert_allclose(e, [0.05, 0.4 / 1.5])
    # |e| = 0.2667 > 0.15 is an outlier, 0.05 is not
    assert metrics.point_metrics([1.1, 0.9], [1.0, 0.5])["outlier_fraction"] == 0.5


def test_sigma68_and_nmad_of_a_normal_equal_sigma():
    rng = np.random.default_rng(1)
    e = rng.normal(0.0, 0.03, 200_000)
    assert metrics.sigma_68(e) == pytest.approx(0.03, rel=0.01)
    assert metrics.sigma_nmad(e) == pytest.approx(0.03, rel=0.01)


def test_sigma68_uniform_exact():
    e = np.linspace(-1, 1, 2_000_001)  # central 68.27 % of U(-1,1) has half-width 0.6827
    assert metrics.sigma_68(e) == pytest.approx(metrics.P68, abs=1e-5)


def test_point_metrics_reject_nan_and_length_mismatch():
    with pytest.raises(ValueError, match="z_phot has 1 NaN"):
        metrics.point_metrics([np.nan, 0.1], [0.1, 0.1])
    with pytest.raises(ValueError, match="3 values but z_spec has 2"):
        metrics.point_metrics([0.1, 0.2, 0.3], [0.1, 0.1])


def _mixture_cdf_on_grid(pred: MixturePrediction, i: int, grid: np.ndarray) -> np.ndarray:
    w, m, s = pred.weights[i], pred.means[i], pred.stds[i]
    return np.sum(w * ndtr((grid[:, None] - m) / s), axis=1)


def _calibrated_normal(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.05, 0.6, n)
    sd = rng.uniform(0.01, 0.05, n)
    z = mu + sd * rng.standard_normal(n)
    return MixturePrediction.normal(mu, sd), z


def test_pit_calibrated_normal_is_uniform():
    pred, z = _calibrated_normal()
    m = metrics.pdf_metrics(pred, z)
    assert m["pit_ks"] < 0.015
    assert m["coverage_68"] == pytest.approx(0.6827, abs=0.01)
    assert m["coverage_95"] == pytest.approx(0.9545, abs=0.005)
    assert sum(m["pit_histogram"]) == len(z)


def test_pit_detects_overconfident_pdf():
    pred, z = _calibrated_normal()
    narrow = MixturePrediction.normal(pred.mean(), 0.5 * pred.std())
    m = metrics.pdf_metrics(narrow, z)
    assert m["coverage_68"] < 0.45  # true coverage of +-0.5 sigma is 0.383
    assert m["pit_ks"] > 0.1


def test_crps_normal_matches_closed_form_and_numeric_integration():
    mu, sd, y = 0.3, 0.04, 0.35
    pred = MixturePrediction.normal([mu], [sd])
    got = metrics.crps(pred, [y])[0]
    # Gneiting & Raftery (2007) closed form for a single Normal
    w = (y - mu) / sd
    expected = sd * (
        w * (2 * ndtr(w) - 1) + 2 * np.exp(-0.5 * w * w) / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
    )
    assert got == pytest.approx(expected, rel=1e-10)
    # numeric: integral of (F(x) - 1[x >= y])^2 dx
    grid = np.linspace(mu - 1.0, mu + 1.0, 400_001)
    f = _mixture_cdf_on_grid(pred, 0, grid)
    num = trapezoid((f - (grid >= y)) ** 2, grid)
    assert got == pytest.approx(num, rel=1e-4)


def test_crps_mixture_matches_numeric_integration():
    pred = MixturePrediction(
        np.array([[0.3, 0.7], [0.5, 0.5]]),
        np.array([[0.1, 0.4], [0.2, 0.25]]),
        np.array([[0.02, 0.05], [0.03, 0.01]]),
    )
    y = np.array([0.38, 0.5])
    got = metrics.crps(pred, y)
    grid = np.linspace(-1.0, 2.0, 600_001)
    for i in range(2):
        f = _mixture_cdf_on_grid(pred, i, grid)
        num = trapezoid((f - (grid >= y[i])) ** 2, grid)
        assert got[i] == pytest.approx(num, rel=1e-4)


def test_crps_point_mass_limit_is_absolute_error():
    pred = MixturePrediction.normal([0.2, 0.5], [1e-6, 1e-6])
    np.testing.assert_allclose(metrics.crps(pred, [0.3, 0.1]), [0.1, 0.4], atol=1e-5)


def test_classifier_metrics_perfect_and_random():
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    perfect = metrics.classifier_metrics(y, y.astype(float))
    assert perfect["accuracy"] == 1.0
    assert perfect["roc_auc"] == 1.0
    assert perfect["brier"] == 0.0
    assert perfect["log_loss"] < 1e-12
    const = metrics.classifier_metrics(y, np.full(8, 0.5))
    assert const["roc_auc"] == 0.5
    assert const["brier"] == pytest.approx(0.25)
    assert const["log_loss"] == pytest.approx(np.log(2))
    assert const["brier_base_rate"] == pytest.approx(0.25)
    assert const["accuracy_majority"] == 0.5


def test_roc_auc_matches_sklearn_with_ties_and_scores():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.normal(y, 1.0), 1)  # ties on purpose; unbounded score
    assert metrics.roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    m = metrics.classifier_metrics(y, BernoulliPrediction(ndtr(score)), score=score)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert metrics.roc_auc(np.ones(4), np.arange(4)) is None


def test_reliability_table_counts_and_calibration():
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 1, 50_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)  # calibrated by construction
    t = metrics.reliability_table(y, p, n_bins=10)
    assert sum(t["count"]) == p.size
    assert len(t["lo"]) == len(t["observed_fraction"]) == 10
    np.testing.assert_allclose(t["observed_fraction"], t["mean_predicted"], atol=0.02)
    assert t["ece"] < 0.01
    # p exactly 1.0 lands in the last bin; empty bins report None
    t2 = metrics.reliability_table([1, 1], [1.0, 0.95], n_bins=4)
    assert t2["count"] == [0, 0, 0, 2]
    assert t2["mean_predicted"][0] is None
    json.dumps(t2)


def test_classifier_metrics_reject_bad_labels():
    with pytest.raises(ValueError, match="only 0"):
        metrics.classifier_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.classifier_metrics([0, 1], [0.1, 1.2])


def test_binned_point_metrics():
    zs = np.zeros(6)
    zp = np.array([0.0, 0.2, 0.01, 0.02, 0.03, 0.5])
    mag = np.array([17.0, 17.5, 18.0, 18.5, 19.0, 25.0])
    rows = metrics.binned_point_metrics(zp, zs, mag, [16, 18, 20, 21])
    assert [r["count"] for r in rows] == [2, 3, 0]  # 25.0 outside the edges
    assert rows[0]["outlier_fraction"] == 0.5
    assert rows[1]["sigma_nmad"] == pytest.approx(1.4826 * 0.01)
    assert rows[2]["sigma_nmad"] is None
    json.dumps(rows)


def test_photoz_metrics_json_ready():
    pred, z = _calibrated_normal(n=500)
    m = metrics.photoz_metrics(pred, z)
    json.dumps(m)
    assert set(m) >= {"sigma_rms", "sigma_nmad", "outlier_fraction", "sigma_68", "pit_ks", "crps"}


def test_paired_bootstrap_orders_and_bounds_differences():
    rng = np.random.default_rng(3)
    zs = rng.uniform(0.05, 0.6, 3000)
    good = zs + 0.02 * (1 + zs) * rng.standard_normal(zs.size)
    bad = zs + 0.03 * (1 + zs) * rng.standard_normal(zs.size)
    bad[:90] += 0.5  # 3 % outliers
    r = metrics.paired_bootstrap(good, bad, zs, n_boot=600, seed=1)
    for k in metrics.BOOTSTRAP_METRICS:
        lo, hi = r[k]["ci95"]
        exact = metrics.point_metrics(good, zs)[k] - metrics.point_metrics(bad, zs)[k]
        assert r[k]["diff"] == pytest.approx(exact)
        assert lo <= r[k]["diff"] <= hi < 0, (k, r[k])
        assert r[k]["p_a_better"] == 1.0
    # the outlier difference is -3 % with the binomial scatter of 90 objects in 3000
    lo, hi = r["outlier_fraction"]["ci95"]
    assert -0.03 - 0.012 < lo < -0.03 < hi < -0.03 + 0.012
    swapped = metrics.paired_bootstrap(bad, good, zs, n_boot=600, seed=1)
    assert swapped["sigma_rms"]["ci95"] == pytest.approx([-x for x in r["sigma_rms"]["ci95"][::-1]])
    same = metrics.paired_bootstrap(good, good, zs, n_boot=50)
    assert same["sigma_nmad"] == {"diff": 0.0, "ci95": [0.0, 0.0], "p_a_better": 0.0}
    with pytest.raises(ValueError, match="sizes differ"):
        metrics.paired_bootstrap(good[:-1], bad, zs)


def test_sigma_nmad_along_an_axis_matches_rows():
    e = np.random.default_rng(0).standard_normal((4, 501))
    np.testing.assert_allclose(metrics.sigma_nmad(e, axis=1), [metrics.sigma_nmad(r) for r in e])
