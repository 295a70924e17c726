"""Classical photo-z estimators and SF/Q classifiers on small real data (skip when absent).

Margins stated here: every photo-z model must be at least 2x better than the trivial predictor
(training median z) in sigma_rms and in sigma_NMAD on ANNz's SDSS validation file, with a 68 %
interval coverage in [0.60, 0.76] after width calibration; every classifier must beat the
majority class by at least 2 percentage points in accuracy and the base-rate predictor's Brier
score by at least 15 % on ZFOURGE U-V, V-J, z with an sSFR label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from photcat.models import metrics
from photcat.models.classical import (
    GradientBoostingPhotoZ,
    GradientBoostingQuiescent,
    KNNPhotoZ,
    LogisticQuiescent,
    RandomForestPhotoZ,
    RandomForestQuiescent,
    SklearnMLPCommittee,
)
from photcat.models.predictions import BernoulliPrediction, MixturePrediction
from tests.conftest import shared_path

pytestmark = pytest.mark.data


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One BLAS/OpenMP thread: other jobs share the 2 cores and oversubscription is very slow."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _annz_features(a: np.ndarray) -> np.ndarray:
    m = a[:, :5]  # u g r i z
    return np.column_stack(
        [m[:, 0] - m[:, 1], m[:, 1] - m[:, 2], m[:, 2] - m[:, 3], m[:, 3] - m[:, 4], m[:, 2]]
    )


@pytest.fixture(scope="module")
def annz():
    folder = shared_path("annz_sdss")
    train = np.loadtxt(folder / "sdss.ugriz.train")
    valid = np.loadtxt(folder / "sdss.ugriz.valid")
    X, y = _annz_features(train), train[:, 10]
    perm = np.random.default_rng(0).permutation(len(y))
    fit, cal = perm[:4000], perm[4000:]
    return {
        "X": X[fit],
        "y": y[fit],
        "validation": (X[cal], y[cal]),
        "X_test": _annz_features(valid),
        "y_test": valid[:, 10],
    }


PHOTOZ_MODELS = [
    KNNPhotoZ(n_neighbors=15),
    RandomForestPhotoZ(n_estimators=60, n_jobs=2),
    GradientBoostingPhotoZ(max_iter=150),
    SklearnMLPCommittee(),
]


@pytest.mark.parametrize("model", PHOTOZ_MODELS, ids=lambda m: type(m).__name__)
def test_photoz_model_beats_trivial_and_is_calibrated(annz, model):
    model.fit(annz["X"], annz["y"], validation=annz["validation"])
    pred = model.predict_dist(annz["X_test"])
    assert isinstance(pred, MixturePrediction)
    assert len(pred) == len(annz["y_test"])
    m = metrics.photoz_metrics(pred, annz["y_test"])
    trivial = metrics.point_metrics(
        np.full(len(annz["y_test"]), np.median(annz["y"])), annz["y_test"]
    )
    assert m["sigma_rms"] < 0.5 * trivial["sigma_rms"], (m["sigma_rms"], trivial["sigma_rms"])
    assert m["sigma_nmad"] < 0.5 * trivial["sigma_nmad"], (m["sigma_nmad"], trivial["sigma_nmad"])
    assert 0.60 <= m["coverage_68"] <= 0.76, m["coverage_68"]
    assert m["pit_ks"] < 0.1


def test_width_calibration_without_validation_uses_holdout(annz):
    model = KNNPhotoZ(n_neighbors=15, calibration_fraction=0.25).fit(annz["X"], annz["y"])
    assert model.nn_.n_samples_fit_ == 3000  # 25 % of 4000 held out for calibration
    assert model.width_scale_ != 1.0
    cov = metrics.pdf_metrics(model.predict_dist(annz["X_test"]), annz["y_test"])["coverage_68"]
    assert 0.60 <= cov <= 0.76
    raw = KNNPhotoZ(n_neighbors=15, calibration_fraction=0.0).fit(annz["X"], annz["y"])
    assert raw.width_scale_ == 1.0 and raw.nn_.n_samples_fit_ == 4000


def test_same_seed_same_predictions_and_committee_is_mixture(annz):
    a = SklearnMLPCommittee(n_members=3, max_iter=200).fit(annz["X"][:1000], annz["y"][:1000])
    b = SklearnMLPCommittee(n_members=3, max_iter=200).fit(annz["X"][:1000], annz["y"][:1000])
    pa, pb = a.predict_dist(annz["X_test"]), b.predict_dist(annz["X_test"])
    assert pa.n_components == 3
    np.testing.assert_array_equal(pa.means, pb.means)
    # members differ (different seeds), so the mixture is wider than any member's own width
    # (before the truncation at z = 0, which narrows PDFs that reach below zero)
    assert np.ptp(pa.means, axis=1).mean() > 0
    assert np.all(pa.untruncated().std() >= pa.stds.min(axis=1) - 1e-12)


def test_photoz_errors_are_clear(annz):
    model = RandomForestPhotoZ(n_estimators=5)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict_dist(annz["X_test"])
    bad = annz["X"].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 rows with NaN"):
        model.fit(bad, annz["y"])
    model.fit(annz["X"], annz["y"], validation=annz["validation"])
    with pytest.raises(ValueError, match="X has 4 features, but RandomForestPhotoZ is expecting 5"):
        model.predict_dist(annz["X_test"][:, :4])
    with pytest.raises(ValueError, match="validation X has 3 features"):
        model.fit(annz["X"], annz["y"], validation=(annz["X_test"][:, :3], annz["y_test"]))
    with pytest.raises(ValueError, match="too few"):
        KNNPhotoZ().fit(annz["X"][:50], annz["y"][:50])


@pytest.fixture(scope="module")
def zfourge():
    path = shared_path("zfourge_uvj", "zfourge_v3.4_restframe_uvj.csv.gz")
    from photcat.features import ssfr_label

    d = pd.read_csv(path, usecols=["z", "nfilt_fit", "UV", "VJ", "lssfr"])
    ok = (
        (d["nfilt_fit"] >= 5)
        & np.isfinite(d["z"])
        & (d["z"] > 0)
        & np.isfinite(d["UV"])
        & np.isfinite(d["VJ"])
        & (d["lssfr"] != -99)
    )
    d = d[ok]
    # quiescent: FAST sSFR below 1 / (3 t_U(z)) (photcat's label definition)
    y = ssfr_label(d["lssfr"].to_numpy(), d["z"].to_numpy(), threshold="age").quiescent.astype(int)
    X = d[["UV", "VJ", "z"]].to_numpy()
    perm = np.random.default_rng(1).permutation(len(y))
    a, b, c = perm[:5000], perm[5000:7000], perm[7000:12000]
    return {"X": X[a], "y": y[a], "validation": (X[b], y[b]), "X_test": X[c], "y_test": y[c]}


CLASSIFIERS = [
    LogisticQuiescent(),
    RandomForestQuiescent(n_estimators=100, n_jobs=2),
    GradientBoostingQuiescent(max_iter=100),
]


@pytest.mark.parametrize(
    "with_validation", [True, False], ids=["valid-calibrated", "cv-calibrated"]
)
@pytest.mark.parametrize("model", CLASSIFIERS, ids=lambda m: type(m).__name__)
def test_classifier_beats_majority_and_base_rate_brier(zfourge, model, with_validation):
    val = zfourge["validation"] if with_validation else None
    model.fit(zfourge["X"], zfourge["y"], validation=val)
    pred = model.predict_dist(zfourge["X_test"])
    assert isinstance(pred, BernoulliPrediction)
    proba = model.predict_proba(zfourge["X_test"])
    np.testing.assert_allclose(proba[:, 1], pred.p)
    m = metrics.classifier_metrics(zfourge["y_test"], pred)
    assert m["accuracy"] > m["accuracy_majority"] + 0.02, (m["accuracy"], m["accuracy_majority"])
    assert m["brier"] < 0.85 * m["brier_base_rate"], (m["brier"], m["brier_base_rate"])
    assert m["roc_auc"] > 0.75
    # calibrated: mean predicted probability close to the observed quiescent fraction
    assert abs(pred.p.mean() - zfourge["y_test"].mean()) < 0.03
    assert m["reliability"]["ece"] < 0.05


def test_classifier_rejects_bad_labels(zfourge):
    with pytest.raises(ValueError, match="only 0"):
        LogisticQuiescent().fit(zfourge["X"], zfourge["y"] * 2)
    with pytest.raises(ValueError, match="single class"):
        LogisticQuiescent().fit(zfourge["X"], np.zeros(len(zfourge["y"])))
    with pytest.raises(ValueError, match="calibration must be"):
        LogisticQuiescent(calibration="platt").fit(zfourge["X"], zfourge["y"])


@pytest.mark.parametrize(
    "model",
    [
        KNNPhotoZ(n_neighbors=10),
        RandomForestPhotoZ(n_estimators=10),
        GradientBoostingPhotoZ(max_iter=30),
        SklearnMLPCommittee(n_members=2, max_iter=100),
    ],
    ids=lambda m: type(m).__name__,
)
def test_photoz_save_load_round_trip_identical(annz, model, tmp_path):
    from photcat.models.persistence import load_model, save_model

    model.fit(annz["X"][:1500], annz["y"][:1500], validation=annz["validation"])
    spec = {"features": ["u-g", "g-r", "r-i", "i-z", "r"]}
    save_model(model, tmp_path / "m", feature_spec=spec)
    loaded = load_model(tmp_path / "m", feature_spec=spec)
    assert type(loaded) is type(model)
    a, b = model.predict_dist(annz["X_test"]), loaded.predict_dist(annz["X_test"])
    for u, v in zip(a.astuple(), b.astuple(), strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize(
    "model",
    [
        LogisticQuiescent(),
        RandomForestQuiescent(n_estimators=10),
        GradientBoostingQuiescent(max_iter=30),
    ],
    ids=lambda m: type(m).__name__,
)
def test_classifier_save_load_round_trip_identical(zfourge, model, tmp_path):
    from photcat.models.persistence import load_model, save_model

    model.fit(zfourge["X"][:2000], zfourge["y"][:2000], validation=zfourge["validation"])
    save_model(model, tmp_path / "m", feature_spec={"features": ["UV", "VJ", "z"]})
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(
        model.predict_dist(zfourge["X_test"]).p, loaded.predict_dist(zfourge["X_test"]).p
    )
