"""The one estimator interface shared by every photcat model.

Photo-z estimators' ``predict_dist`` returns a
:class:`~photcat.models.predictions.MixturePrediction` and ``predict`` its mean;
star-forming/quiescent classifiers' ``predict_dist`` a
:class:`~photcat.models.predictions.BernoulliPrediction`, object classifiers' (star / galaxy /
QSO) a :class:`~photcat.models.predictions.CategoricalPrediction`; classifiers'
``predict_proba`` gives the scikit-learn array and ``predict`` the labels.
Committees, the tuner, persistence and the pipeline rely only on what is declared here.
Parameters are set in ``__init__`` and exposed through scikit-learn's ``get_params``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFitted

from photcat.models.predictions import (
    BernoulliPrediction,
    CategoricalPrediction,
    MixturePrediction,
)


class NotFittedError(RuntimeError, _SklearnNotFitted):
    """``predict`` before ``fit``: scikit-learn's NotFittedError (a ValueError and an
    AttributeError) that is also the RuntimeError earlier photcat versions raised."""


# (X_valid, y_valid) or (X_valid, y_valid, errors_valid)
Validation = tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray] | None


class PhotoZEstimator(RegressorMixin, BaseEstimator):
    """Base class: ``fit(X, y)`` on features and spectroscopic redshifts.

    ``predict_dist(X)`` gives each object's redshift distribution (a
    :class:`~photcat.models.predictions.MixturePrediction`); ``predict(X)`` its mean, an
    array, as scikit-learn regressors do (so ``score``, ``cross_val_score`` and
    ``GridSearchCV`` work). ``errors`` (optional, same shape as ``X``) are 1-sigma feature
    errors, for models that use them.
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

    def predict_dist(self, X: np.ndarray, *, errors: np.ndarray | None = None) -> MixturePrediction:
        raise NotImplementedError

    def predict(self, X: np.ndarray, *, errors: np.ndarray | None = None) -> np.ndarray:
        """Point photo-z: the mean of each object's distribution (shape ``(n,)``)."""
        return predict_dist(self, X, errors).mean()


class QuiescentClassifier(ClassifierMixin, BaseEstimator):
    """Base class: ``fit(X, y)`` with ``y`` = 1 for quiescent, 0 for star-forming.

    ``predict_dist(X)`` gives a :class:`~photcat.models.predictions.BernoulliPrediction`;
    ``predict_proba(X)`` the scikit-learn ``(n, 2)`` array and ``predict(X)`` the 0/1 labels.
    """

    task: ClassVar[str] = "quiescent"
    classes_ = np.array([0, 1])  # star-forming, quiescent: fixed, whatever the training labels

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        validation: Validation = None,
        errors: np.ndarray | None = None,
    ) -> QuiescentClassifier:
        raise NotImplementedError

    def predict_dist(
        self, X: np.ndarray, *, errors: np.ndarray | None = None
    ) -> BernoulliPrediction:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray, *, errors: np.ndarray | None = None) -> np.ndarray:
        """scikit-learn style ``(n, 2)`` array: columns P(star-forming), P(quiescent)."""
        p = predict_dist(self, X, errors).p
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray, *, errors: np.ndarray | None = None) -> np.ndarray:
        """Labels: 1 (quiescent) where P(quiescent) >= 0.5, else 0."""
        return predict_dist(self, X, errors).label().astype(int)


class ObjectClassifier(ClassifierMixin, BaseEstimator):
    """Base class: ``fit(X, y)`` with ``y`` the class labels (any strings or numbers, e.g.
    SDSS's ``STAR`` / ``GALAXY`` / ``QSO``); ``classes_`` holds them sorted, as text.

    ``predict_dist(X)`` gives a :class:`~photcat.models.predictions.CategoricalPrediction`;
    ``predict_proba(X)`` the ``(n, n_classes)`` array (columns in ``classes_`` order) and
    ``predict(X)`` the most probable class.
    """

    task: ClassVar[str] = "class"

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        validation: Validation = None,
        errors: np.ndarray | None = None,
    ) -> ObjectClassifier:
        raise NotImplementedError

    def predict_dist(
        self, X: np.ndarray, *, errors: np.ndarray | None = None
    ) -> CategoricalPrediction:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray, *, errors: np.ndarray | None = None) -> np.ndarray:
        """``(n, n_classes)`` class probabilities, columns in ``classes_`` order."""
        return predict_dist(self, X, errors).probs

    def predict(self, X: np.ndarray, *, errors: np.ndarray | None = None) -> np.ndarray:
        """The most probable class per object."""
        return predict_dist(self, X, errors).label()


def encode_classes(
    y: np.ndarray, classes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(class names as text, sorted; index of each label among them). ``classes``: names
    fixed beforehand (a label outside them is an error); else those of ``y``, at least two."""
    text = np.asarray(y).astype(str).ravel()
    if classes is None:
        classes = np.unique(text)
        if classes.size < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {classes.tolist()}")
    classes = np.asarray(classes).astype(str)
    idx = np.searchsorted(classes, text)
    idx = np.minimum(idx, classes.size - 1)
    unknown = classes[idx] != text
    if unknown.any():
        raise ValueError(
            f"labels {sorted(map(str, set(text[unknown])))[:5]} are not among the classes "
            f"{[str(c) for c in classes]}"
        )
    return classes, idx


# parameter names of earlier photcat versions -> today's (model folders and configurations
# saved before keep loading)
RENAMED_PARAMS = {"seed": "random_state"}


def migrate_params(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with names from :data:`RENAMED_PARAMS` renamed where ``cls`` takes the new
    name and not the old one."""
    names = inspect.signature(cls.__init__).parameters
    out = dict(params)
    for old, new in RENAMED_PARAMS.items():
        if old in out and old not in names and new in names:
            value = out.pop(old)
            out.setdefault(new, value)
    return out


def check_Xy(X: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a float feature matrix (and target): 2-D, finite, matching lengths.

    Models never train or predict on NaN/inf: callers must mask flagged rows first (the
    feature builder does), so reaching here with them is a programming error made loud.
    """
    from sklearn.utils.validation import check_array

    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "fiub" and X.size):
        # 1-D, sparse, complex, object, empty or array-like input: scikit-learn's own checks
        # and messages ("Reshape your data", "Complex data not supported", ...)
        X = check_array(X, dtype=np.float32, ensure_all_finite=False)
    X = np.asarray(X, dtype=np.float32)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(
            f"X has {int(bad.sum())} rows with NaN or inf; mask flagged rows before fitting/predicting"
        )
    if y is None:
        return X, None
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected: raveled",
            DataConversionWarning,
            stacklevel=3,
        )
    y = y.ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    if not np.isfinite(y).all():
        raise ValueError(f"y has {int((~np.isfinite(y)).sum())} NaN or inf values")
    return X, y


def accepts_errors(est: Any) -> bool:
    """True when ``est.predict_dist`` takes feature errors (``predict_dist(X, errors=...)``)."""
    return "errors" in inspect.signature(est.predict_dist).parameters


def predict_dist(
    est: Any, X: np.ndarray, errors: np.ndarray | None = None
) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction | np.ndarray:
    """The distribution ``est`` predicts for ``X`` (photcat estimators and compiled forward
    passes: ``predict_dist``, given the 1-sigma feature ``errors`` when it takes them); plain
    scikit-learn regressors give their ``predict`` array."""
    if not hasattr(est, "predict_dist"):
        return est.predict(X)
    if errors is not None and accepts_errors(est):
        return est.predict_dist(X, errors=errors)
    return est.predict_dist(X)
