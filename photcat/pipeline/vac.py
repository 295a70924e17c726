"""Value-added columns for one partition of a canonical table: plain functions, no Luigi.

Every input row is kept. A row that cannot be predicted keeps NaN values and says why in
``flag_photcat`` (bits below, written into the catalogue header as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from photcat.features.spec import FeatureSpec
from photcat.models.base import predict
from photcat.models.predictions import BernoulliPrediction, MixturePrediction

# PDF grid values below this fraction of the object's peak (float32 resolution) are stored as
# 0: together they change the grid's integral by less than nz * 2**-24 of the peak, and exact
# zeros make the compressed column about 40 % smaller on BOSS
PDF_REL_FLOOR = 2.0**-24

# flag_photcat bits: the single definition, also written to the catalogue header
PHOTOZ_NOT_PREDICTED = 1 << 0  # a band the photo-z model needs is flagged
QUIESCENT_NOT_PREDICTED = 1 << 1  # a band the classifier needs is flagged
OUTSIDE_TRAINING_RANGE = 1 << 2  # a feature lies outside the training set's range
UVJ_NOT_COMPUTED = 1 << 3  # rest-frame fit failed or no usable photo-z
UVJ_EXTRAPOLATED = 1 << 4  # rest-frame J (or U) not covered by an observed band
UVJ_AT_PHOTOZ = 1 << 5  # no usable z_spec: rest-frame colours computed at photoz_q50
FLAG_BITS: dict[str, int] = {
    "photoz_not_predicted": PHOTOZ_NOT_PREDICTED,
    "quiescent_not_predicted": QUIESCENT_NOT_PREDICTED,
    "outside_training_range": OUTSIDE_TRAINING_RANGE,
    "uvj_not_computed": UVJ_NOT_COMPUTED,
    "uvj_extrapolated": UVJ_EXTRAPOLATED,
    "uvj_at_photoz": UVJ_AT_PHOTOZ,
}


@dataclass
class LoadedModel:
    """A fitted estimator with the feature specification and training ranges it was saved with.

    ``forward`` is the compiled numpy forward pass of a network (committee), made on first use
    (see :func:`predictor`); classical models predict through their own ``predict``.
    """

    target: str
    model: Any  # None when only the forward pass was loaded (stages.load_predictor)
    spec: FeatureSpec
    feature_min: np.ndarray
    feature_max: np.ndarray
    forward: Any = field(default=None, repr=False, compare=False)
    _compiled: bool = field(default=False, repr=False, compare=False)
    manifest: dict = field(default_factory=dict, repr=False, compare=False)


def predictor(lm: LoadedModel):
    """The fastest exact predictor of a loaded model: its compiled forward pass or the model."""
    if not lm._compiled:
        from photcat.models.forward import compile_forward

        lm.forward = compile_forward(lm.model)
        lm._compiled = True
    return lm.forward if lm.forward is not None else lm.model


def pdf_grid(zmin: float, zmax: float, nz: int) -> np.ndarray:
    """The redshift grid of the catalogue's PDF column."""
    return np.linspace(zmin, zmax, int(nz))


def predict_columns(
    table: pd.DataFrame,
    models: list[LoadedModel],
    *,
    grid: np.ndarray | None,
    restframe: bool = False,
    uvj_preset: str = "williams09",
    batch: int = 262_144,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Prediction columns (aligned with ``table``) and 2-D array columns for one partition.

    Networks run through their compiled float32 forward pass (:mod:`photcat.models.forward`)
    with BLAS on one thread; the PDF column is computed and stored in float32.
    """
    from photcat.models.forward import single_thread_blas

    with single_thread_blas():
        return _predict_columns(table, models, grid, restframe, uvj_preset, batch)


def _predict_columns(table, models, grid, restframe, uvj_preset, batch):
    n = len(table)
    flag = np.zeros(n, dtype=np.uint16)
    cols: dict[str, np.ndarray] = {}
    arrays: dict[str, np.ndarray] = {}
    photoz_q50 = np.full(n, np.nan)
    for lm in models:
        feats = lm.spec.build(table)
        ok = feats.usable
        with np.errstate(invalid="ignore"):
            outside = ok & (
                (feats.X < lm.feature_min[None, :]) | (feats.X > lm.feature_max[None, :])
            ).any(axis=1)
        flag[outside] |= OUTSIDE_TRAINING_RANGE
        idx = np.flatnonzero(ok)
        if lm.target == "photoz":
            flag[~ok] |= PHOTOZ_NOT_PREDICTED
            pred = _predict_batched(predictor(lm), feats.X[idx], feats.errors[idx], batch)
            k = pred.n_components if pred is not None else 1
            w, mu, sd = (np.full((n, k), np.nan) for _ in range(3))
            names = ("photoz_mean", "photoz_std", "photoz_q16", "photoz_q50", "photoz_q84")
            out = {c: np.full(n, np.nan) for c in names}
            if pred is not None:
                w[idx], mu[idx], sd[idx] = pred.weights, pred.means, pred.stds
                out["photoz_mean"][idx] = pred.mean()
                out["photoz_std"][idx] = pred.std()
                q = pred.quantile(np.array([0.15865, 0.5, 0.84135]))
                out["photoz_q16"][idx], out["photoz_q50"][idx], out["photoz_q84"][idx] = q.T
                if grid is not None:
                    pdf = pred.pdf_grid(grid, dtype=np.float32, rel_floor=PDF_REL_FLOOR)
                    if idx.size < n:
                        full = np.full((n, grid.size), np.nan, dtype=np.float32)
                        full[idx] = pdf
                        pdf = full
                    arrays["photoz_pdf"] = pdf
            cols.update(out)
            arrays.update(photoz_weights=w, photoz_means=mu, photoz_stds=sd)
            photoz_q50 = out["photoz_q50"]
        else:
            flag[~ok] |= QUIESCENT_NOT_PREDICTED
            p = np.full(n, np.nan)
            if idx.size:
                p[idx] = _predict_batched(predictor(lm), feats.X[idx], feats.errors[idx], batch).p
            cols["p_quiescent"] = p
    if restframe:
        zspec = table["z_spec"].to_numpy(float) if "z_spec" in table else np.full(n, np.nan)
        at_photoz = ~np.isfinite(zspec)
        flag[at_photoz] |= UVJ_AT_PHOTOZ
        z = np.where(at_photoz, photoz_q50, zspec)
        cols.update(_uvj_columns(table, z, uvj_preset, flag))
    cols["flag_photcat"] = flag
    return pd.DataFrame(cols, index=table.index), arrays


def _predict_batched(
    model: Any, X: np.ndarray, E: np.ndarray, batch: int
) -> MixturePrediction | BernoulliPrediction | None:
    """The model's prediction for rows ``X`` (errors ``E``) in batches of ``batch`` rows."""
    if not len(X):
        return None
    parts = [predict(model, X[s : s + batch], E[s : s + batch]) for s in range(0, len(X), batch)]
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], BernoulliPrediction):
        return BernoulliPrediction(np.concatenate([p.p for p in parts]))
    return MixturePrediction(
        np.concatenate([p.weights for p in parts]),
        np.concatenate([p.means for p in parts]),
        np.concatenate([p.stds for p in parts]),
    )


def _uvj_columns(table, z: np.ndarray, preset: str, flag: np.ndarray) -> dict[str, np.ndarray]:
    """Rest-frame U−V, V−J at redshift ``z`` and the UVJ label; ``flag`` is updated in place."""
    from photcat.features import flags as ff
    from photcat.features.labels import uvj_label
    from photcat.features.restframe import fit_restframe

    rf = fit_restframe(table, z=z)
    uv, vj = rf["UV"].to_numpy(), rf["VJ"].to_numpy()
    rf_flag = rf["rf_flag"].to_numpy()
    extrapolated = (rf_flag & ff.RF_EXTRAPOLATED) > 0
    label = uvj_label(uv, vj, z, preset)
    flag[~np.isfinite(uv) | ~np.isfinite(vj)] |= UVJ_NOT_COMPUTED
    flag[extrapolated] |= UVJ_EXTRAPOLATED
    return {"uv": uv, "vj": vj, "uvj_z": z, "uvj_quiescent": label.as_int()}


def describe_flags() -> str:
    """Header text for ``flag_photcat``."""
    return "; ".join(f"{bit}={name}" for name, bit in FLAG_BITS.items())
