"""ANNz-style committees: several estimators trained with different seeds (or architectures).

A photo-z committee predicts the equal-weight mixture of its members' distributions
(:meth:`MixturePrediction.combine`), so disagreement between members widens the PDF; a
classifier committee predicts the mean of its members' P(quiescent) or class probabilities
(the mixture of their Bernoulli or Categorical distributions).

Each member's width is fitted to its own training data by maximum likelihood, and the mixture
of members that agree closely inherits their (slightly optimistic or pessimistic) widths. With
``calibrate_width=True`` and ``validation`` given to ``fit``, the photo-z committee stretches
its mixture about each object's mean by one factor ``width_scale_`` chosen so that 68.27 % of
the validation redshifts fall inside the 68.27 % central intervals
(:func:`~photcat.models.predictions.fit_width_scale`), as the classical models do.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, clone

from photcat.console import progress_label
from photcat.models.base import NotFittedError, predict_dist
from photcat.models.predictions import (
    BernoulliPrediction,
    CategoricalPrediction,
    MixturePrediction,
    fit_width_scale,
    mix_members,
)


def check_member_folder(name: str, folder: Path) -> str:
    """``name`` if it is a member sub-folder name (``member_NN``), else a ValueError."""
    if not isinstance(name, str) or not re.fullmatch(r"member_\d+", name):
        raise ValueError(f"bad committee member folder {name!r} in {folder}")
    return name


class Committee(BaseEstimator):
    """Committee of estimators, fitted one after the other.

    Parameters
    ----------
    estimator : a photcat estimator (unfitted) cloned ``n_members`` times, member ``i`` with
        ``random_state`` = ``random_state + i``. Ignored when ``members`` is given.
    n_members : committee size when built from ``estimator``.
    members : explicit list of (unfitted) estimators, e.g. different architectures; each is
        cloned and keeps its own seed. All members must share one task.
    random_state : first member's seed.
    calibrate_width : photo-z only: fit ``width_scale_`` on ``validation`` (when given to
        ``fit``; without it ``width_scale_`` is 1).
    """

    def __init__(
        self,
        estimator=None,
        n_members: int = 5,
        members: list | None = None,
        random_state: int = 0,
        calibrate_width: bool = True,
    ) -> None:
        self.estimator = estimator
        self.n_members = n_members
        self.members = members
        self.random_state = random_state
        self.calibrate_width = calibrate_width

    # ------------------------------------------------------------------ construction
    def _templates(self) -> list:
        if self.members:
            return [clone(m) for m in self.members]
        if self.estimator is None:
            raise ValueError("Committee needs `estimator` or `members`")
        if int(self.n_members) < 1:
            raise ValueError(f"n_members must be >= 1, got {self.n_members}")
        out = []
        for i in range(int(self.n_members)):
            est = clone(self.estimator)
            if "random_state" not in est.get_params(deep=False):
                raise ValueError(
                    f"{type(est).__name__} has no random_state parameter: members would be "
                    "identical; pass explicit `members` instead"
                )
            est.set_params(random_state=int(self.random_state) + i)
            out.append(est)
        return out

    @property
    def task(self) -> str:
        """``"photoz"``, ``"quiescent"`` or ``"class"``, from the members."""
        ests = getattr(self, "members_", None) or self._templates()
        tasks = {getattr(e, "task", None) for e in ests}
        if len(tasks) != 1 or None in tasks:
            raise ValueError(
                f"committee members must share one task, got {sorted(map(str, tasks))}"
            )
        return tasks.pop()

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, y, *, validation=None, errors=None) -> Committee:
        """Fit every member on the same data, sequentially. Arguments as the members' ``fit``."""
        templates = self._templates()
        _ = self.task  # raises early on mixed tasks
        fitted, seconds = [], []
        for i, est in enumerate(templates):
            t0 = time.perf_counter()
            kw = {"validation": validation}
            if errors is not None:
                kw["errors"] = errors
            with progress_label(f"training member {i + 1} of {len(templates)}"):
                fitted.append(est.fit(X, y, **kw))
            seconds.append(time.perf_counter() - t0)
        self.members_ = fitted
        self.fit_seconds_ = seconds
        self.width_scale_ = 1.0
        if self.task == "photoz" and self.calibrate_width and validation is not None:
            Xv, yv = validation[0], validation[1]
            ev = validation[2] if len(validation) > 2 else None
            self.width_scale_ = fit_width_scale(self._combine(Xv, ev), yv)
        return self

    def _member_predictions(self, X, errors):
        if not hasattr(self, "members_"):
            raise NotFittedError("Committee is not fitted: call fit() first")
        return [predict_dist(est, X, errors) for est in self.members_]

    def _combine(self, X, errors) -> MixturePrediction:
        return mix_members(self._member_predictions(X, errors))

    def predict_dist(
        self, X, *, errors=None
    ) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction:
        """Mixture of the members' PDFs, width-calibrated (photo-z), mean P(quiescent), or
        mean class probabilities."""
        scale = getattr(self, "width_scale_", 1.0) if self.task == "photoz" else 1.0
        return mix_members(self._member_predictions(X, errors), scale)

    def predict(self, X, *, errors=None) -> np.ndarray:
        """Point photo-z (the mixture's mean), 0/1 labels (P(quiescent) >= 0.5) or the most
        probable class."""
        pred = self.predict_dist(X, errors=errors)
        if self.task == "quiescent":
            return pred.label().astype(int)
        return pred.label() if self.task == "class" else pred.mean()

    def predict_proba(self, X, *, errors=None) -> np.ndarray:
        """Classifier committees: ``(n, 2)`` P(star-forming), P(quiescent), or
        ``(n, n_classes)`` class probabilities in ``classes_`` order."""
        if self.task == "class":
            return self.predict_dist(X, errors=errors).probs
        if self.task != "quiescent":
            raise AttributeError("predict_proba is only defined for classifier committees")
        p = self.predict_dist(X, errors=errors).p
        return np.column_stack([1.0 - p, p])

    @property
    def classes_(self) -> np.ndarray:
        """The members' classes (classifier committees)."""
        if not hasattr(self, "members_"):
            raise AttributeError("classes_: the committee is not fitted")
        return self.members_[0].classes_

    # ------------------------------------------------------------------ persistence hooks
    def _save_state(self, folder: Path) -> dict:
        """Each member into ``member_NN/`` (see :mod:`photcat.models.persistence`)."""
        from photcat.models.persistence import save_estimator

        if not hasattr(self, "members_"):
            raise RuntimeError("Committee is not fitted: nothing to save")
        nodes = []
        for i, est in enumerate(self.members_):
            sub = f"member_{i:02d}"
            node = save_estimator(est, folder / sub)
            node["folder"] = sub
            nodes.append(node)
        return {
            "members": nodes,
            "fit_seconds_": getattr(self, "fit_seconds_", None),
            "width_scale_": float(getattr(self, "width_scale_", 1.0)),
        }

    def _load_state(self, folder: Path, state: dict, *, trusted: bool = False) -> None:
        from photcat.models.persistence import load_estimator

        for node in state["members"]:
            check_member_folder(node["folder"], folder)
        self.members_ = [
            load_estimator(node, folder / node["folder"], trusted=trusted)
            for node in state["members"]
        ]
        self.fit_seconds_ = state.get("fit_seconds_")
        self.width_scale_ = float(state.get("width_scale_", 1.0))
