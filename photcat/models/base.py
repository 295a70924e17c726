"""The one estimator interface shared by every photcat model.

Photo-z estimators return a :class:`~photcat.models.predictions.MixturePrediction`,
star-forming/quiescent classifiers a :class:`~photcat.models.predictions.BernoulliPrediction`.
Committees, the tuner, persistence and the pipeline rely only on what is declared here.
Parameters are set in ``__init__`` and exposed through scikit-learn's ``get_params``.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from photcat.models.predictions import BernoulliPrediction, MixturePrediction

# (X_valid, y_valid) or (X_valid, y_valid, errors_valid)
Validation = tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray] | None


class PhotoZEstimator(BaseEstimator):
    """Base class: ``fit(X, y)`` on features and spectroscopic redshifts; ``predict`` gives PDFs.

    ``errors`` (optional, same shape as ``X``) are 1-sigma feature errors, used by models that
    perturb inputs by their errors during training.
    """

    task: ClassVar[str] = "photoz"

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        validation: Validation = None,
        errors: np.ndarray | None = None,
    ) -> PhotoZEstimator:
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> MixturePrediction:
        raise NotImplementedError


class QuiescentClassifier(BaseEstimator):
    """Base class: ``fit(X, y)`` with ``y`` = 1 for quiescent, 0 for star-forming."""

    task: ClassVar[str] = "quiescent"

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        validation: Validation = None,
        errors: np.ndarray | None = None,
    ) -> QuiescentClassifier:
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> BernoulliPrediction:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn style ``(n, 2)`` array: columns P(star-forming), P(quiescent)."""
        p = self.predict(X).p
        return np.column_stack([1.0 - p, p])


def check_Xy(X: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a float feature matrix (and target): 2-D, finite, matching lengths.

    Models never train or predict on NaN/inf: callers must mask flagged rows first (the
    feature builder does), so reaching here with them is a programming error made loud.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_objects, n_features), got shape {X.shape}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(
            f"X has {int(bad.sum())} rows with NaN or inf; mask flagged rows before fitting/predicting"
        )
    if y is None:
        return X, None
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    if not np.isfinite(y).all():
        raise ValueError(f"y has {int((~np.isfinite(y)).sum())} NaN or inf values")
    return X, y


def accepts_errors(est: Any) -> bool:
    """True when ``est.predict`` takes feature errors (``predict(X, errors=...)``)."""
    return "errors" in inspect.signature(est.predict).parameters


def predict(
    est: Any, X: np.ndarray, errors: np.ndarray | None = None
) -> MixturePrediction | BernoulliPrediction | np.ndarray:
    """``est.predict(X)``, passing the 1-sigma feature ``errors`` (same shape as ``X``) to
    estimators that take them; plain scikit-learn regressors return their array."""
    if errors is not None and accepts_errors(est):
        return est.predict(X, errors=errors)
    return est.predict(X)
