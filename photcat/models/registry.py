"""Model names usable from configuration and the command line, and what they build.

The one place that maps a name such as ``normal-committee`` to an estimator. Parameters from
configuration override the defaults; a committee's ``member`` parameters go to its members.
Classes are imported lazily so that naming a classical model never imports TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from photcat.models.base import migrate_params

# name -> (task, "module:Class", default params, committee size or None)
MODELS: dict[str, tuple[str, str, dict[str, Any], int | None]] = {
    # photo-z
    # members: magnitude errors as network inputs; beta-NLL (beta 0.5) so that hard objects'
    # means keep being fitted; kept weights chosen on the validation MSE of the mean (the
    # committee calibrates the width afterwards). Evidence: benchmarks/accuracy.py and
    # docs/performance.md
    "normal-committee": (
        "photoz",
        "photcat.models.networks:NormalMLP",
        {"error_mode": "inputs", "nll_beta": 0.5, "monitor": "mse"},
        5,
    ),
    "normal-mlp": ("photoz", "photcat.models.networks:NormalMLP", {}, None),
    "mixture-mlp": ("photoz", "photcat.models.networks:MixtureMLP", {}, None),
    "bayes-normal-mlp": ("photoz", "photcat.models.networks:NormalMLP", {"bayesian": True}, None),
    "knn": ("photoz", "photcat.models.classical:KNNPhotoZ", {}, None),
    "random-forest": ("photoz", "photcat.models.classical:RandomForestPhotoZ", {}, None),
    "hist-gradient-boosting": (
        "photoz",
        "photcat.models.classical:GradientBoostingPhotoZ",
        {},
        None,
    ),
    "sklearn-mlp-committee": ("photoz", "photcat.models.classical:SklearnMLPCommittee", {}, None),
    # star-forming / quiescent
    "bernoulli-committee": ("quiescent", "photcat.models.networks:BernoulliMLP", {}, 5),
    "bernoulli-mlp": ("quiescent", "photcat.models.networks:BernoulliMLP", {}, None),
    "bayes-bernoulli-mlp": (
        "quiescent",
        "photcat.models.networks:BernoulliMLP",
        {"bayesian": True},
        None,
    ),
    "logistic": ("quiescent", "photcat.models.classical:LogisticQuiescent", {}, None),
    "random-forest-classifier": (
        "quiescent",
        "photcat.models.classical:RandomForestQuiescent",
        {},
        None,
    ),
    "gradient-boosting-classifier": (
        "quiescent",
        "photcat.models.classical:GradientBoostingQuiescent",
        {},
        None,
    ),
    # object classes (star / galaxy / QSO): the Categorical likelihood; evidence:
    # benchmarks/classify.py and docs/classes.md
    "categorical-committee": ("class", "photcat.models.networks:CategoricalMLP", {}, 5),
    "categorical-mlp": ("class", "photcat.models.networks:CategoricalMLP", {}, None),
    "bayes-categorical-mlp": (
        "class",
        "photcat.models.networks:CategoricalMLP",
        {"bayesian": True},
        None,
    ),
    "logistic-classes": ("class", "photcat.models.classical:LogisticClasses", {}, None),
    "random-forest-classes": ("class", "photcat.models.classical:RandomForestClasses", {}, None),
    "gradient-boosting-classes": (
        "class",
        "photcat.models.classical:GradientBoostingClasses",
        {},
        None,
    ),
}
_COMMITTEE_PARAMS = ("calibrate_width",)  # go to the Committee, not to its members
DEFAULTS: dict[str, str] = {
    "photoz": "normal-committee",
    "quiescent": "bernoulli-committee",
    "class": "categorical-committee",
}
TASKS: tuple[str, ...] = ("photoz", "quiescent", "class")


def names(task: str | None = None) -> list[str]:
    """Known model names, optionally for one task."""
    return [n for n, spec in MODELS.items() if task is None or spec[0] == task]


def model_task(name: str) -> str:
    """``photoz``, ``quiescent`` or ``class`` for a model name (clear error for unknown names)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name][0]


def without_error_inputs(name: str, params: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """``params`` with the model (or its committee members) not using magnitude errors
    (``error_mode="none"``), and whether that changed anything: for catalogues without errors."""
    _, target, defaults, _ = MODELS[name]
    params = dict(params or {})
    mode = params.get("error_mode", defaults.get("error_mode", "none"))
    if mode == "none":
        return params, False
    params["error_mode"] = "none"
    return params, True


def build(
    name: str, params: dict[str, Any] | None = None, *, seed: int = 0, n_rows: int | None = None
) -> Any:
    """An unfitted estimator for ``name`` with ``params`` overriding its defaults.

    For committees, ``params`` may hold ``n_members``, ``calibrate_width`` and the members'
    parameters. ``n_rows``: the number of training rows, which sizes a photo-z network
    (:func:`photcat.models.sizing.sized_params`) where ``params`` does not.
    """
    task = model_task(name)
    _, target, defaults, committee = MODELS[name]
    params = dict(params or {})
    module, cls_name = target.split(":")
    cls = getattr(import_module(module), cls_name)
    if n_rows is not None and task == "photoz" and module == "photcat.models.networks":
        from photcat.models.sizing import sized_params

        defaults = {**defaults, **sized_params(n_rows)}
    n_members = int(params.pop("n_members", committee or 0))
    committee_kw = {k: params.pop(k) for k in _COMMITTEE_PARAMS if k in params and committee}
    kwargs = migrate_params(cls, {**defaults, **params})
    kwargs.setdefault("random_state", seed)
    try:
        est = cls(**kwargs)
    except TypeError as exc:
        valid = sorted(cls().get_params())
        raise ValueError(
            f"bad parameter for model {name!r} ({task}): {exc}; valid: {valid}"
        ) from exc
    if committee:
        from photcat.models.committee import Committee

        return Committee(
            estimator=est,
            n_members=n_members,
            random_state=int(kwargs["random_state"]),
            **committee_kw,
        )
    return est


def check_params(name: str, params: dict[str, Any] | None = None) -> None:
    """Build ``name`` with ``params`` and check their values without fitting (a clear
    ValueError): networks' own checks, scikit-learn's parameter validation of the models a
    classical estimator wraps, and its calibration method."""
    est = build(name, params)
    for e in [est, getattr(est, "estimator", None)]:
        if e is None:
            continue
        if hasattr(e, "_check_params"):
            e._check_params()
        if getattr(e, "calibration", None) not in (None, "isotonic", "sigmoid"):
            raise ValueError(
                f"calibration must be None, 'isotonic' or 'sigmoid', got {e.calibration!r}"
            )
        if hasattr(e, "_make_base"):
            base = e._make_base()
            for part in [s for _, s in getattr(base, "steps", [])] or [base]:
                try:
                    part._validate_params()
                except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError
                    raise ValueError(f"model {name!r}: {exc}") from None
