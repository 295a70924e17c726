"""Value-added columns for one partition of a canonical table: plain functions, no Luigi.

Every input row is kept. A row that cannot be predicted keeps NaN values and says why in
``flag_photcat`` (bits below, written into the catalogue header as well).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from photcat.catalogs.reader import CatalogError
from photcat.features import flags as ff
from photcat.features.uvj import DEFAULT_PRESET, preset
from photcat.models.base import predict_dist
from photcat.models.predictions import (
    BernoulliPrediction,
    CategoricalPrediction,
    MixturePrediction,
)
from photcat.timing import stage

log = logging.getLogger("photcat")

if TYPE_CHECKING:
    from photcat.pipeline.loader import LoadedModel

# PDF cell probabilities below this fraction of the object's largest (float32 resolution) are
# stored as 0: together they change the row's sum by less than nz * 2**-24 of the largest,
# and exact zeros make the compressed column about 40 % smaller on BOSS
PDF_REL_FLOOR = 2.0**-24

# flag_photcat bits: the single definition, also written to the catalogue header
PHOTOZ_NOT_PREDICTED = 1 << 0  # too few good bands for the photo-z model (min_bands)
QUIESCENT_NOT_PREDICTED = 1 << 1  # too few good bands for the classifier, or not a galaxy
OUTSIDE_TRAINING_RANGE = 1 << 2  # a feature lies outside the training set's range
UVJ_NOT_COMPUTED = 1 << 3  # rest-frame fit failed or no usable photo-z
UVJ_EXTRAPOLATED = 1 << 4  # rest-frame J (or U) not covered by an observed band
UVJ_AT_PHOTOZ = 1 << 5  # no usable z_spec: rest-frame colours computed at photoz_q50
# the catalogue says the object is not a galaxy (object_class): its galaxy photo-z is not
# valid; P(quiescent) and the rest-frame colours are not computed (NaN)
IS_STAR = 1 << 6
IS_QSO = 1 << 7
# a photo-z or P(quiescent) was predicted with one or more of its model's bands missing
# (zeroed and marked, or imputed: FeatureSpec.flag_policy) or not detected (a flux kept as a
# measurement without a good magnitude: error above 5 mag, zero or negative): see flag_<band>
MISSING_BANDS = 1 << 8
# a class model (photcat train --target class) gives the galaxy class a probability below
# NOT_GALAXY_BELOW: the row is more likely a star or QSO (or another non-galaxy class) than a
# galaxy, so its photo-z and P(quiescent) are not to be used as galaxy quantities
PROBABLY_NOT_GALAXY = 1 << 9
CLASS_NOT_PREDICTED = 1 << 10  # too few good bands for the class model
NOT_GALAXY_BELOW = 0.5
FLAG_BITS: dict[str, int] = {
    "photoz_not_predicted": PHOTOZ_NOT_PREDICTED,
    "quiescent_not_predicted": QUIESCENT_NOT_PREDICTED,
    "outside_training_range": OUTSIDE_TRAINING_RANGE,
    "uvj_not_computed": UVJ_NOT_COMPUTED,
    "uvj_extrapolated": UVJ_EXTRAPOLATED,
    "uvj_at_photoz": UVJ_AT_PHOTOZ,
    "star": IS_STAR,
    "qso": IS_QSO,
    "predicted_with_missing_bands": MISSING_BANDS,
    "probably_not_galaxy": PROBABLY_NOT_GALAXY,
    "class_not_predicted": CLASS_NOT_PREDICTED,
}


DEFAULT_PDF_GRID: tuple[float, float, int] = (0.0, 1.0, 101)  # zmin, zmax, points
QUANTILES = (0.15865, 0.5, 0.84135)  # photoz_q16, photoz_q50, photoz_q84: central 68.27 %


@dataclass(frozen=True)
class PredictConfig:
    """How every partition of one run is predicted.

    ``grid``: (zmin, zmax, points) of the gridded PDF column, None or 0 points for none;
    ``restframe``: rest-frame U−V, V−J and the UVJ label (kcorrect, at z_spec else photo-z);
    ``uvj_preset``: the UVJ boundary of the label (:data:`photcat.features.uvj.PRESETS`).
    """

    grid: tuple[float, float, int] | None = DEFAULT_PDF_GRID
    restframe: bool = False
    uvj_preset: str = DEFAULT_PRESET

    def __post_init__(self) -> None:
        g = self.grid
        g = None if g is None or int(g[2]) == 0 else (float(g[0]), float(g[1]), int(g[2]))
        if g is not None and (g[2] < 2 or not g[1] > g[0]):
            raise ValueError(f"PDF grid needs zmax > zmin and at least 2 points, got {g}")
        object.__setattr__(self, "grid", g)
        object.__setattr__(self, "restframe", bool(self.restframe))
        preset(self.uvj_preset)  # an unknown preset fails here, before any partition

    def zgrid(self) -> np.ndarray | None:
        """The redshift grid of the catalogue's PDF column."""
        return None if self.grid is None else np.linspace(self.grid[0], self.grid[1], self.grid[2])

    def to_dict(self) -> dict[str, Any]:
        """The provenance form (``pdf_grid``, ``restframe``, ``uvj_preset``)."""
        return {
            "pdf_grid": None if self.grid is None else list(self.grid),
            "restframe": self.restframe,
            "uvj_preset": self.uvj_preset,
        }


def predict_partition(
    table: pd.DataFrame,
    models: list[LoadedModel],
    config: PredictConfig,
    *,
    meta: dict | None = None,
    input_units: dict | None = None,
    splits: pd.Series | None = None,
    rows: np.ndarray | None = None,
):
    """The value-added Arrow table of one partition: the input columns, the prediction
    columns, and provenance (``meta``, the configuration, flag bits and the models).

    The one function that builds value-added columns (``photcat run`` and ``photcat
    predict`` alike). ``splits``: train/valid/test labels indexed by input row number
    (``source_row``; ``rows`` gives this partition's) or, for older training sets, by
    ``object_id``, joined into a ``split`` column (other rows get an empty string).
    """
    from photcat.catalogs.writer import to_arrow

    cols, arrays = predict_columns(
        table,
        models,
        grid=config.zgrid(),
        restframe=config.restframe,
        uvj_preset=config.uvj_preset,
    )
    if splits is not None:
        if splits.index.name == "source_row":
            key = pd.Series(np.arange(len(table)) if rows is None else rows)
        else:
            key = table["object_id"].reset_index(drop=True)
        cols["split"] = key.map(splits).fillna("").astype(str).to_numpy()
    # a re-predicted catalogue: its old prediction columns (1-D and arrays) are replaced
    old = [c for c in table.columns if c in cols.columns or str(c).split("[")[0] in arrays]
    base = table.drop(columns=old)
    full = {
        **(meta or {}),
        **config.to_dict(),
        "flag_photcat_bits": FLAG_BITS,
        "models": [lm.provenance() for lm in models],
    }
    with stage("encode"):
        return to_arrow(pd.concat([base, cols], axis=1), arrays, full, input_units or {})


class NoErrorsError(CatalogError):
    """A model that takes magnitude errors as inputs met a catalogue without them."""


def bands_without_errors(table: pd.DataFrame, bands) -> list[str]:
    """Bands whose good magnitudes come without an error (a catalogue without errors)."""
    out = []
    for b in bands:
        mag, err = table.get(f"mag_{b}"), table.get(f"magerr_{b}")
        if mag is None:
            continue
        good = mag.notna() & (table.get(f"flag_{b}", 0) == 0)
        if err is None or (good & err.isna()).any():
            out.append(b)
    return out


def _missing_or_undetected(table: pd.DataFrame, feats) -> np.ndarray:
    """Rows with a band of the model missing, or measured but not detected (a flux kept
    without a good magnitude: error above 5 mag, zero or negative)."""
    out = (feats.flags & ff.BAND_MISSING) > 0
    for b in getattr(feats.spec, "bands", ()):
        if f"flag_{b}" in table:
            out |= table[f"flag_{b}"].to_numpy() != 0
    return out


def predict_columns(
    table: pd.DataFrame,
    models: list[LoadedModel],
    *,
    grid: np.ndarray | None,
    restframe: bool = False,
    uvj_preset: str = DEFAULT_PRESET,
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
    per_class: dict[str, tuple] = {}  # photo-z models trained on one object class
    classes = None  # (class model, usable rows, its prediction)
    _check_roles(models)
    built: list[tuple] = []  # (spec, features): models sharing a feature spec share the build
    for lm in models:
        feats = next((f for spec, f in built if spec == lm.spec), None)
        if feats is None:
            with stage("features"):
                feats = lm.spec.build(table)
            built.append((lm.spec, feats))
        ok = feats.usable
        X = feats.measured()  # a value masked for a missing band is never "outside"
        with np.errstate(invalid="ignore"):
            outside = ok & ((X < lm.feature_min[None, :]) | (X > lm.feature_max[None, :])).any(
                axis=1
            )
        flag[outside] |= OUTSIDE_TRAINING_RANGE
        flag[ok & _missing_or_undetected(table, feats)] |= MISSING_BANDS
        idx = np.flatnonzero(ok)
        if lm.uses_error_inputs and (lacking := bands_without_errors(table, lm.spec.bands)):
            raise NoErrorsError(
                f"model {lm.folder} takes magnitude errors as inputs, but the catalogue has "
                f"no magnitude errors for band(s) {lacking} "
                f"({', '.join(f'magerr_{b}' for b in lacking)} empty): predict with a model trained "
                "without error inputs (photcat train picks one for a catalogue without "
                "errors), or give the errors"
            )
        if lm.target == "photoz" and lm.config.get("object_class"):
            per_class[lm.config["object_class"]] = (lm, ok, _predict_batched(lm.predictor, feats.X[idx], feats.errors[idx], batch))  # fmt: skip
        elif lm.target == "photoz":
            flag[~ok] |= PHOTOZ_NOT_PREDICTED
            pred = _predict_batched(lm.predictor, feats.X[idx], feats.errors[idx], batch)
            k = pred.n_components if pred is not None else lm.n_components
            photoz_q50 = _photoz_columns(pred, idx, n, k, grid, cols, arrays)
        elif lm.target == "class":
            flag[~ok] |= CLASS_NOT_PREDICTED
            classes = (lm, ok, _predict_batched(lm.predictor, feats.X[idx], feats.errors[idx], batch))  # fmt: skip
            cols.update(_class_columns(lm, classes[2], idx, n, flag))
        else:
            flag[~ok] |= QUIESCENT_NOT_PREDICTED
            p = np.full(n, np.nan)
            if idx.size:
                p[idx] = _predict_batched(lm.predictor, feats.X[idx], feats.errors[idx], batch).p
            cols["p_quiescent"] = p
    if per_class:
        photoz_q50 = _photoz_by_class(per_class, classes, n, grid, flag, cols, arrays)
    not_galaxy = _not_galaxy(table, flag)
    if "p_quiescent" in cols:
        cols["p_quiescent"][not_galaxy] = np.nan
        flag[not_galaxy] |= QUIESCENT_NOT_PREDICTED
    if restframe:
        zspec = table["z_spec"].to_numpy(float) if "z_spec" in table else np.full(n, np.nan)
        at_photoz = ~np.isfinite(zspec)
        flag[at_photoz] |= UVJ_AT_PHOTOZ
        flag[not_galaxy] &= np.uint16(~UVJ_AT_PHOTOZ & 0xFFFF)
        z = np.where(at_photoz, photoz_q50, zspec)
        z[not_galaxy] = np.nan  # no galaxy rest-frame fit for a star or a QSO
        with stage("restframe"):
            cols.update(_uvj_columns(table, z, uvj_preset, flag))
    cols["flag_photcat"] = flag
    return pd.DataFrame(cols, index=table.index), arrays


def _check_roles(models: list[LoadedModel]) -> None:
    """Refuse model lists whose columns would overwrite one another: two models of one kind
    (photo-z, quiescent, class), a photo-z model beside per-class ones, two per-class models
    of one class."""
    cls = [lm.folder for lm in models if lm.target == "class"]
    plain = [lm.folder for lm in models if lm.target == "photoz" and not lm.config.get("object_class")]  # fmt: skip
    quiescent = [lm.folder for lm in models if lm.target == "quiescent"]
    per: dict[str, list[str]] = {}
    for lm in models:
        if lm.target == "photoz" and lm.config.get("object_class"):
            per.setdefault(lm.config["object_class"], []).append(lm.folder)
    for what, folders in (("object-class", cls), ("photo-z", plain), ("quiescent", quiescent)):
        if len(folders) > 1:
            raise ValueError(f"{len(folders)} {what} models given ({', '.join(folders)}): give one")
    if per and plain:
        raise ValueError(
            f"photo-z model {plain[0]} and per-class photo-z models "
            f"({', '.join(f for v in per.values() for f in v)}) both give the photo-z: give one kind"
        )
    for oc, folders in per.items():
        if len(folders) > 1:
            raise ValueError(f"two photo-z models of class {oc!r} given: {', '.join(folders)}")


def _photoz_columns(
    pred: MixturePrediction | None,
    idx: np.ndarray,
    n: int,
    k: int,
    grid: np.ndarray | None,
    cols: dict,
    arrays: dict,
) -> np.ndarray:
    """Write the photo-z columns of ``pred`` (the rows ``idx`` of ``n``; ``k`` mixture
    components) into ``cols`` and ``arrays``; returns ``photoz_q50``."""
    w, mu, sd = (np.full((n, k), np.nan) for _ in range(3))
    names = ("photoz_mean", "photoz_std", "photoz_q16", "photoz_q50", "photoz_q84")
    out = {c: np.full(n, np.nan) for c in names}
    if pred is not None:
        w[idx], mu[idx], sd[idx] = pred.weights, pred.means, pred.stds
        out["photoz_mean"][idx] = pred.mean()
        out["photoz_std"][idx] = pred.std()
        with stage("quantiles"):
            q = pred.quantile(np.array(QUANTILES))
        out["photoz_q16"][idx], out["photoz_q50"][idx], out["photoz_q84"][idx] = q.T
    if grid is not None:  # every partition gets the column, predicted rows or none
        with stage("pdf"):
            cells = None
            if pred is not None:
                cells = pred.cell_probabilities(grid, np.float32, rel_floor=PDF_REL_FLOOR)
            if cells is not None and idx.size == n:  # every row predicted: no copy
                pdf = cells
            else:
                pdf = np.full((n, grid.size), np.nan, dtype=np.float32)
                if cells is not None:
                    pdf[idx] = cells
        arrays["photoz_pdf"] = pdf
    cols.update(out)
    arrays.update(photoz_weights=w, photoz_means=mu, photoz_stds=sd)
    return out["photoz_q50"]


def _photoz_by_class(per_class: dict, classes, n: int, grid, flag, cols, arrays) -> np.ndarray:
    """The catalogue's photo-z as the class-probability-weighted mixture of photo-z models
    trained per object class (:func:`~photcat.models.predictions.mix_by_class`; a star class
    without a model sits at z = 0), plus each class's own ``photoz_mean_<class>``,
    ``photoz_std_<class>`` and ``photoz_q50_<class>``; returns ``photoz_q50``."""
    from photcat.models.predictions import mix_by_class
    from photcat.pipeline.training import class_column_name

    if classes is None:
        raise ValueError(
            "photo-z models trained on one object class ("
            + ", ".join(f"{lm.folder}: {oc}" for oc, (lm, _, _) in per_class.items())
            + ") need an object-class model among the models (photcat train --target class)"
        )
    clm, c_ok, c_pred = classes
    names = list(clm.config.get("classes") or [])
    galaxy = clm.config.get("galaxy_class")
    by_name = {}
    for oc, entry in per_class.items():
        # "galaxy" is the class model's galaxy class; "qso" the class of that name
        hit = (
            [galaxy] if oc == "galaxy" and galaxy else [c for c in names if c.lower() == oc.lower()]
        )
        if not hit:
            raise ValueError(
                f"photo-z model {entry[0].folder} is for class {oc!r}, which is not among the "
                f"classes {names} of class model {clm.folder}"
            )
        by_name[hit[0]] = entry
    points = {c: 0.0 for c in names if c not in by_name and c.lower() == "star"}
    lacking = [c for c in names if c not in by_name and c not in points]
    if lacking:
        raise ValueError(
            f"no photo-z model for class(es) {lacking} of the class model: train one per class "
            "(photcat train --target photoz --object-class ...)"
        )
    ok = c_ok.copy()
    for _, m_ok, _ in by_name.values():
        ok &= m_ok
    flag[~ok] |= PHOTOZ_NOT_PREDICTED
    idx = np.flatnonzero(ok)
    k = sum(lm.n_components for lm, _, _ in by_name.values()) + len(points)
    pred = None
    if idx.size:
        parts = {
            c: p[np.searchsorted(np.flatnonzero(m_ok), idx)] for c, (_, m_ok, p) in by_name.items()
        }
        c_rows = np.searchsorted(np.flatnonzero(c_ok), idx)
        pred = mix_by_class(c_pred[c_rows], parts, points)
    for c, (_, m_ok, p) in by_name.items():  # each class's own photo-z, on its model's rows
        suffix = class_column_name(c)[2:]
        own = np.flatnonzero(m_ok)
        for stat in ("mean", "std", "q50"):
            col = np.full(n, np.nan)
            if p is not None:
                col[own] = p.mean() if stat == "mean" else p.std() if stat == "std" else p.quantile(0.5)  # fmt: skip
            cols[f"photoz_{stat}_{suffix}"] = col
    return _photoz_columns(pred, idx, n, k, grid, cols, arrays)


def _class_columns(
    lm: LoadedModel, pred: CategoricalPrediction | None, idx: np.ndarray, n: int, flag
) -> dict[str, np.ndarray]:
    """``p_<class>`` per class of a class model, ``class_photcat`` (the most probable class;
    "" where not predicted); bit ``probably_not_galaxy`` set in ``flag`` where P(galaxy class)
    is below :data:`NOT_GALAXY_BELOW`."""
    from photcat.pipeline.training import class_column_name

    classes = list(pred.classes) if pred is not None else lm.config.get("classes") or []
    galaxy = lm.config.get("galaxy_class")
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(classes):
        col = np.full(n, np.nan)
        if pred is not None:
            col[idx] = pred.probs[:, j]
        out[class_column_name(name)] = col
    label = np.full(n, "", dtype=object)
    if pred is not None:
        label[idx] = pred.label()
        if galaxy in pred.classes:
            p_gal = pred.p(galaxy)
            flag[idx[p_gal < NOT_GALAXY_BELOW]] |= PROBABLY_NOT_GALAXY
    out["class_photcat"] = label.astype(str)
    return out


def _not_galaxy(table: pd.DataFrame, flag: np.ndarray) -> np.ndarray:
    """Rows the catalogue classifies as stars or QSOs (``object_class``); their flag bits
    are set in ``flag``."""
    from photcat.catalogs.flags import OBJECT_CLASSES

    if "object_class" not in table:
        return np.zeros(len(table), dtype=bool)
    oc = table["object_class"].to_numpy()
    star, qso = oc == OBJECT_CLASSES["star"], oc == OBJECT_CLASSES["qso"]
    flag[star] |= IS_STAR
    flag[qso] |= IS_QSO
    return star | qso


def _predict_batched(
    model: Any, X: np.ndarray, E: np.ndarray, batch: int
) -> MixturePrediction | BernoulliPrediction | CategoricalPrediction | None:
    """The model's prediction for rows ``X`` (errors ``E``) in batches of ``batch`` rows."""
    if not len(X):
        return None
    with stage("networks"):
        parts = [
            predict_dist(model, X[s : s + batch], E[s : s + batch]) for s in range(0, len(X), batch)
        ]
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], BernoulliPrediction):
        return BernoulliPrediction(np.concatenate([p.p for p in parts]))
    if isinstance(parts[0], CategoricalPrediction):
        return CategoricalPrediction(np.concatenate([p.probs for p in parts]), parts[0].classes)
    return MixturePrediction(
        np.concatenate([p.weights for p in parts]),
        np.concatenate([p.means for p in parts]),
        np.concatenate([p.stds for p in parts]),
    )


_WARNED_CURVES: set[tuple[str, ...]] = set()  # warn once per band set and process


def _uvj_columns(table, z: np.ndarray, preset: str, flag: np.ndarray) -> dict[str, np.ndarray]:
    """Rest-frame U−V, V−J at redshift ``z`` and the UVJ label; ``flag`` is updated in place."""
    from photcat.features import flags as ff
    from photcat.features.labels import uvj_label
    from photcat.features.restframe import bands_without_curve, fit_bands, fit_restframe

    fit = fit_bands(table)
    lacking = bands_without_curve(table, fit)
    if lacking and tuple(lacking) not in _WARNED_CURVES:
        _WARNED_CURVES.add(tuple(lacking))
        log.warning(
            "no filter curve for band(s) %s: the rest-frame U-V, V-J fit leaves them out%s",
            ", ".join(lacking),
            "" if fit else " (no band is left: UVJ columns are not computed)",
        )
    if not fit:
        n = len(table)
        flag[:] |= UVJ_NOT_COMPUTED
        nan = np.full(n, np.nan)
        return {"uv": nan, "vj": nan.copy(), "uvj_z": z, "uvj_quiescent": np.full(n, -1, np.int8)}
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
