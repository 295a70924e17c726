"""Width calibration of mixture predictions: ``MixturePrediction.scaled`` and
``fit_width_scale`` (used by the classical photo-z models and by committees).

Width scaling is a map of the mixture's own parameters (``scaled`` acts on the untruncated
mixture), so its algebra is tested on untruncated mixtures (``lower=None``); the photo-z
truncation at z = 0 is tested in tests/test_truncated_pdf.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from photcat.models.predictions import P68, MixturePrediction, fit_width_scale


def random_mixtures(n: int, seed: int) -> MixturePrediction:
    rng = np.random.default_rng(seed)
    return MixturePrediction(
        rng.uniform(0.2, 1.0, (n, 3)),
        rng.uniform(0.1, 0.6, (n, 3)),
        rng.uniform(0.01, 0.08, (n, 3)),
        None,
    )


def covered(pred: MixturePrediction, z: np.ndarray, level: float) -> float:
    return float(np.mean(np.abs(pred.cdf(z) - 0.5) <= level / 2))


def test_normal_scale_is_the_quantile_of_standardised_errors():
    z = np.array([0.1, -0.2, 0.3, -0.4, 0.5])
    pred = MixturePrediction.normal(np.zeros(5), np.ones(5), lower=None)
    assert fit_width_scale(pred, z) == pytest.approx(np.quantile(np.abs(z), P68))
    # at another level the interval's own half-width (ndtri(0.75) sigma) is the unit
    assert fit_width_scale(pred, z, coverage=0.5) == pytest.approx(0.3 / ndtri(0.75))


def test_scaled_keeps_mean_and_shape_and_stretches_intervals():
    pred = random_mixtures(500, 0)
    s = pred.scaled(1.7)
    np.testing.assert_allclose(s.mean(), pred.mean())
    np.testing.assert_allclose(s.std(), 1.7 * pred.std())
    q, qs = pred.quantile([0.16, 0.84]), s.quantile([0.16, 0.84])
    np.testing.assert_allclose(qs - s.mean()[:, None], 1.7 * (q - pred.mean()[:, None]), atol=1e-5)
    np.testing.assert_allclose(s.cdf(s.mean() + 1.7 * 0.05), pred.cdf(pred.mean() + 0.05))


@pytest.mark.parametrize("true_stretch", [0.6, 1.0, 2.5])
def test_fitted_scale_gives_the_asked_coverage_on_mixtures(true_stretch):
    pred = random_mixtures(4000, 1)
    z = pred.scaled(true_stretch).sample(1, np.random.default_rng(2))[:, 0]
    before = covered(pred, z, P68)
    s = fit_width_scale(pred, z)
    after = covered(pred.scaled(s), z, P68)
    assert after == pytest.approx(P68, abs=1.5e-3)  # exact up to one object in 4000
    assert s == pytest.approx(true_stretch, rel=0.08)  # and recovers the true stretch
    if true_stretch != 1.0:
        assert abs(before - P68) > 0.1  # the uncalibrated intervals were clearly off
    s95 = fit_width_scale(pred, z, coverage=0.95)
    assert covered(pred.scaled(s95), z, 0.95) == pytest.approx(0.95, abs=1.5e-3)


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="3 redshifts for 2 predictions"):
        fit_width_scale(MixturePrediction.normal([0, 1], [1, 1], lower=None), np.zeros(3))


def test_unreachable_coverage_is_an_error_not_an_infinite_scale():
    # 90 % of the mass near 0 and 10 % at 100: the mean (10) lies above the 84th percentile
    # (1.5), so no stretch about the mean brings the upper interval end up to z = 20
    pred = MixturePrediction(
        np.tile([0.9, 0.1], (4, 1)), np.tile([0.0, 100.0], (4, 1)), np.ones((4, 2)), None
    )
    z = np.array([0.1, 20.0, 20.0, 20.0])
    with pytest.raises(ValueError, match="no finite width scale"):
        fit_width_scale(pred, z)


def test_scaled_by_one_is_the_same_object():
    pred = random_mixtures(10, 3)
    assert pred.scaled(1.0) is pred


def test_classical_models_take_validation_with_errors_and_committee_options_route():
    from photcat.models import registry
    from photcat.models.classical import KNNPhotoZ

    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    y = 0.3 + 0.05 * X[:, 0] + 0.01 * rng.normal(size=400)
    E = np.full_like(X, 0.02)
    a = KNNPhotoZ(n_neighbors=10).fit(X[:300], y[:300], validation=(X[300:], y[300:]))
    b = KNNPhotoZ(n_neighbors=10).fit(X[:300], y[:300], validation=(X[300:], y[300:], E[300:]))
    assert a.width_scale_ == b.width_scale_ != 1.0  # the errors are ignored, not refused
    with pytest.raises(ValueError, match="validation must be a tuple"):
        KNNPhotoZ().fit(X, y, validation=(X, y, E, E))
    com = registry.build("normal-committee", {"calibrate_width": False, "n_members": 2})
    assert com.calibrate_width is False and com.n_members == 2
    assert com.estimator.error_mode == "inputs"
