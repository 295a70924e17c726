"""scikit-learn's estimator contract: ``predict`` gives arrays, ``predict_dist`` the
distributions, ``predict_proba`` the classifier's (n, 2) array, parameters in ``__init__``
with ``random_state``; ``check_estimator``, ``cross_val_score`` and ``GridSearchCV`` work.

``check_estimator`` runs on the kNN photo-z (fast); feature matrices go through
scikit-learn's ``check_array`` (sparse, complex and 1-D input get its messages). Checks it
is expected to fail, and why:

- ``check_fit2d_1sample``: one training row is refused with photcat's own message (fewer
  rows than neighbours) rather than scikit-learn's wording;
- ``check_requires_y_none``: ``fit`` needs ``y``; it fails on ``None`` without scikit-learn's wording.

The classifiers are binary by design (1 quiescent, 0 star-forming) and refuse other labels,
so the multi-class checks do not apply; the networks train with TensorFlow, and the
check suite's hundreds of fits on degenerate arrays are too slow for a test: both are
checked through the contract below instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from photcat.models.base import NotFittedError, migrate_params
from photcat.models.classical import KNNPhotoZ, LogisticQuiescent
from photcat.models.committee import Committee
from photcat.models.networks import BernoulliMLP, NormalMLP
from photcat.models.predictions import BernoulliPrediction, MixturePrediction

EXPECTED_FAILED = {
    "check_fit2d_1sample": "photcat's own message: fewer rows than neighbours",
    "check_requires_y_none": "fit needs y",
    "check_regressors_train": "targets are redshifts: the PDF is truncated at z = 0, so the "
    "predicted mean is never negative, and this check trains on standardised (negative) y",
}


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    z = 0.3 + 0.1 * X[:, 0] - 0.05 * X[:, 1] + rng.normal(0, 0.02, n)
    return X, z, (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(float)


def test_knn_photoz_passes_check_estimator():
    results = check_estimator(
        KNNPhotoZ(n_neighbors=3, calibration_fraction=0.0),
        expected_failed_checks=EXPECTED_FAILED,
        on_fail=None,
    )
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert failed == set(), failed
    passed = [r for r in results if r["status"] == "passed"]
    assert len(passed) >= 40


def test_predict_gives_arrays_and_predict_dist_distributions():
    X, z, q = _data()
    pz = KNNPhotoZ(random_state=0).fit(X, z)
    point, dist = pz.predict(X[:50]), pz.predict_dist(X[:50])
    assert isinstance(point, np.ndarray) and point.shape == (50,)
    assert isinstance(dist, MixturePrediction)
    np.testing.assert_array_equal(point, dist.mean())
    clf = LogisticQuiescent(random_state=0).fit(X, q)
    labels, proba = clf.predict(X[:50]), clf.predict_proba(X[:50])
    assert set(np.unique(labels)) <= {0, 1} and labels.dtype.kind == "i"
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert isinstance(clf.predict_dist(X[:50]), BernoulliPrediction)
    np.testing.assert_array_equal(labels, (proba[:, 1] >= 0.5).astype(int))
    with pytest.raises(NotFittedError):
        KNNPhotoZ().predict(X)
    with pytest.raises(ValueError, match="Reshape your data"):
        pz.predict(X[0])


def test_model_selection_works_on_photcat_estimators():
    X, z, q = _data()
    r2 = cross_val_score(KNNPhotoZ(random_state=0), X, z, cv=3)
    assert r2.shape == (3,) and (r2 > 0.5).all()  # score() is R² of the point photo-z
    acc = cross_val_score(LogisticQuiescent(random_state=0), X, q, cv=3)
    assert (acc > 0.7).all()
    grid = GridSearchCV(KNNPhotoZ(random_state=0), {"n_neighbors": [5, 40]}, cv=3).fit(X, z)
    assert grid.best_params_["n_neighbors"] in (5, 40)
    assert grid.predict(X[:10]).shape == (10,)


@pytest.mark.slow  # trains small Keras networks
def test_networks_and_committees_follow_the_contract():
    X, z, q = _data(400)
    fast = {"hidden_layers": (8,), "epochs": 3, "patience": None, "batch_size": 64}
    net = NormalMLP(random_state=3, **fast)
    assert clone(net).get_params()["random_state"] == 3
    scores = cross_val_score(net, X, z, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    com = Committee(BernoulliMLP(**fast), n_members=2, random_state=5).fit(X, q)
    assert [m.random_state for m in com.members_] == [5, 6]
    assert com.predict(X[:20]).shape == (20,) and com.predict_proba(X[:20]).shape == (20, 2)
    pz = Committee(NormalMLP(**fast), n_members=2).fit(X, z)
    np.testing.assert_array_equal(pz.predict(X[:20]), pz.predict_dist(X[:20]).mean())


def test_old_parameter_name_is_migrated():
    assert migrate_params(NormalMLP, {"seed": 4, "epochs": 2}) == {"random_state": 4, "epochs": 2}
    assert migrate_params(Committee, {"seed": 1}) == {"random_state": 1}
    assert migrate_params(KNNPhotoZ, {"random_state": 2}) == {"random_state": 2}
