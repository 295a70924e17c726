"""Hyperparameter search with Keras Tuner on the validation negative log-likelihood.

The search space is configuration (a JSON-like dict); each entry is one of::

    [a, b, c]                                   -> hp.Choice (any JSON scalars)
    {"min": 1, "max": 3}                        -> hp.Int  (ints)  / hp.Float (floats)
    {"min": 1e-4, "max": 1e-2, "log": true}     -> log-uniform sampling
    a single scalar                             -> fixed

Known keys: ``n_hidden`` (depth), ``width`` (units per hidden layer), ``activation``,
``optimizer``, ``learning_rate``, ``batch_size``; any other key must be an ``__init__``
parameter of the estimator class (e.g. ``n_components``, ``lr_decay``). Each trial builds the
network exactly as the estimator does (same scaling, same likelihood, same optimizers) and is
scored on the validation NLL (``val_loss``, nats per object in scaled units; the beta-weighted
NLL when ``nll_beta > 0``) with early stopping.
Results go to ``<directory>/<project_name>/photcat_tuning_results.json``.
TensorFlow and Keras Tuner are imported only when :func:`tune` runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SEARCH_SPACE: dict[str, Any] = {
    "n_hidden": {"min": 1, "max": 3},
    "width": [8, 16, 32, 64],
    "activation": ["tanh", "relu"],
    "optimizer": ["adam", "amsgrad", "rmsprop", "sgd"],
    "learning_rate": {"min": 1e-4, "max": 3e-2, "log": True},
    "batch_size": [32, 64, 128],
}
RESULTS_FILE = "photcat_tuning_results.json"


def _hp_value(hp, name: str, spec: Any):
    if isinstance(spec, list | tuple):
        return hp.Choice(name, list(spec))
    if isinstance(spec, dict):
        lo, hi = spec["min"], spec["max"]
        sampling = "log" if spec.get("log") else "linear"
        if isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool):
            return hp.Int(name, lo, hi, step=spec.get("step", 1), sampling=sampling)
        return hp.Float(name, float(lo), float(hi), sampling=sampling)
    return hp.Fixed(name, spec)


def params_from_values(values: dict[str, Any]) -> dict[str, Any]:
    """Estimator ``__init__`` parameters from a trial's hyperparameter values."""
    out = dict(values)
    depth, width = out.pop("n_hidden", None), out.pop("width", None)
    if depth is not None or width is not None:
        out["hidden_layers"] = tuple([int(width or 32)] * int(depth or 2))
    return out


def tune(
    X: np.ndarray,
    y: np.ndarray,
    *,
    validation: tuple[np.ndarray, ...],
    errors: np.ndarray | None = None,
    search_space: dict[str, Any] | None = None,
    estimator: str | type = "normal",
    base_params: dict[str, Any] | None = None,
    directory: str | Path = "tuning",
    project_name: str = "photcat",
    max_trials: int = 10,
    epochs: int = 50,
    patience: int = 5,
    seed: int = 0,
    overwrite: bool = True,
) -> dict[str, Any]:
    """Random search over ``search_space``; returns the best estimator's ``__init__`` params.

    ``estimator``: ``"normal"``, ``"mixture"``, ``"bernoulli"`` or a network class from
    :mod:`photcat.models.networks`; ``base_params`` are fixed parameters of every trial.
    Inputs are standardised on ``X`` only. ``validation=(X_val, y_val)`` scores the trials;
    with ``error_mode="inputs"`` in ``base_params`` pass ``errors`` (1-sigma errors of ``X``) and
    ``validation=(X_val, y_val, errors_val)``. ``"noise"`` and ``"both"`` are refused: their
    per-epoch input perturbation is not part of a Keras Tuner trial. Trials are scored on the
    validation loss whatever ``monitor`` says.
    """
    from photcat.models import networks

    classes = {
        "normal": networks.NormalMLP,
        "mixture": networks.MixtureMLP,
        "bernoulli": networks.BernoulliMLP,
    }
    cls = classes[estimator] if isinstance(estimator, str) else estimator
    space = dict(DEFAULT_SEARCH_SPACE if search_space is None else search_space)
    base = dict(base_params or {})
    valid_names = set(cls().get_params()) | {"n_hidden", "width"}
    unknown = sorted(set(space) - valid_names)
    if unknown:
        raise ValueError(f"search_space keys not parameters of {cls.__name__}: {unknown}")
    fixed = sorted({"error_mode", "nll_beta", "monitor"} & set(space))
    if fixed:  # data are prepared once; losses with different beta are not comparable
        raise ValueError(f"{', '.join(fixed)} cannot be searched: set it in base_params")

    tf, keras = networks._keras()
    import keras_tuner as kt

    # data prepared once, exactly as the estimator would (scalers fitted on X only)
    proto = cls(**{**base, "random_state": seed})
    Z, t, Zv, tv = _tuning_arrays(proto, X, y, validation, errors)

    keras.utils.set_random_seed(seed)
    tuner = kt.RandomSearch(
        _hypermodel(kt, cls, base, space, seed, Z.shape, proto.batch_size),
        objective=kt.Objective("val_loss", direction="min"),
        max_trials=int(max_trials),
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
    )
    t0 = time.perf_counter()
    tuner.search(
        Z,
        t,
        validation_data=(Zv, tv),
        epochs=int(epochs),
        shuffle=True,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=int(patience), restore_best_weights=True
            )
        ],
    )
    seconds = time.perf_counter() - t0
    trials = _trials(tuner, max_trials)
    best = {**base, **params_from_values(trials[0]["values"])}
    _write_results(
        Path(directory) / project_name,
        {
            "estimator": cls.__name__,
            "objective": "validation loss (val_loss, nats/object, scaled units): "
            + (f"beta-NLL, beta={proto._nll_beta():g}" if proto._nll_beta() else "NLL"),
            "search_space": space,
            "base_params": _jsonable(base),
            "max_trials": int(max_trials),
            "epochs": int(epochs),
            "patience": int(patience),
            "seed": int(seed),
            "n_train": int(Z.shape[0]),
            "n_validation": int(Zv.shape[0]),
            "search_seconds": seconds,
            "trials": trials,
            "best_params": _jsonable(best),
        },
    )
    return best


def _hypermodel(kt, cls, base: dict, space: dict, seed: int, shape, default_batch: int):
    """The Keras Tuner hypermodel: a compiled network per trial's values, fitted with the
    trial's batch size."""

    class _HyperModel(kt.HyperModel):
        def build(self, hp):
            values = {name: _hp_value(hp, name, spec) for name, spec in space.items()}
            est = cls(**{**base, **params_from_values(values), "random_state": seed})
            est._check_params()
            return est._compiled_model(shape[1], shape[0])

        def fit(self, hp, model, *args, **kwargs):
            bs = hp.values.get("batch_size", base.get("batch_size", default_batch))
            return model.fit(*args, batch_size=int(bs), **kwargs)

    return _HyperModel()


def _tuning_arrays(proto, X, y, validation, errors) -> tuple[np.ndarray, ...]:
    """(Z, t, Z_val, t_val): standardised float32 inputs and targets, as ``proto.fit`` would
    prepare them (scalers fitted on ``X`` only)."""
    from photcat.models.base import check_Xy

    proto._check_params()
    if proto._uses_error_noise():
        raise ValueError(
            f"tune() supports error_mode 'none' or 'inputs', got {proto.error_mode!r}: the "
            "per-epoch noise perturbation is not part of a Keras Tuner trial"
        )
    X, y = check_Xy(X, y)
    Xv, yv = check_Xy(validation[0], validation[1])
    E = proto._check_errors(X, errors, needed=proto._uses_error_inputs(), what="tuning")
    Ev = proto._check_errors(
        Xv,
        validation[2] if len(validation) > 2 else None,
        needed=proto._uses_error_inputs(),
        what="validation (pass validation=(X, y, errors))",
    )
    proto._fit_scalers(X, y, E)
    Z, Zv = proto._net_inputs(X, E), proto._net_inputs(Xv, Ev)
    return tuple(a.astype(np.float32) for a in (Z, proto._target(y), Zv, proto._target(yv)))


def _trials(tuner, max_trials: int) -> list[dict[str, Any]]:
    """The finished trials, best first (a RuntimeError when none succeeded)."""
    trials = [
        {
            "trial_id": trial.trial_id,
            "val_nll": None if trial.score is None else float(trial.score),
            "values": dict(trial.hyperparameters.values),
            "params": _jsonable(params_from_values(dict(trial.hyperparameters.values))),
        }
        for trial in tuner.oracle.get_best_trials(num_trials=int(max_trials))
    ]
    if not trials:
        raise RuntimeError("Keras Tuner finished without a successful trial")
    return trials


def _write_results(out_dir: Path, results: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (RESULTS_FILE + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(out_dir / RESULTS_FILE)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
