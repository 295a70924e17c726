"""Training-set construction, model fitting and evaluation: plain functions, no Luigi.

The training set is the canonical table's rows with a usable spectroscopic redshift, plus
rest-frame U−V and V−J (kcorrect, at z_spec, with every band the row has, near-infrared
included), the UVJ label from a named preset, and a seeded train/valid/test assignment.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat.features.dropout import band_dropout as band_dropout_rows
from photcat.features.spec import (
    DEFAULT_FLAG_POLICY,
    DEFAULT_MAGNITUDES,
    DEFAULT_MIN_BANDS,
    FeatureSpec,
)
from photcat.features.uvj import DEFAULT_PRESET
from photcat.models import metrics as M
from photcat.models import registry
from photcat.models.base import predict_dist
from photcat.pipeline.vac import bands_without_errors

log = logging.getLogger("photcat")

SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.6, 0.2)  # the pipeline's train, valid fractions; test gets the rest
# ``photcat train`` without --validation: train and valid only (a model trained on its own is
# tested on the user's own catalogue)
TRAIN_VALID_FRACTIONS = (0.8, 0.2)
# the class of a class model that is a galaxy (SDSS spectroscopic class GALAXY); rows less
# likely than NOT_GALAXY_BELOW to be one get flag bit probably_not_galaxy (pipeline.vac)
DEFAULT_GALAXY_CLASS = "GALAXY"
# rows copied with one band made missing when features mask or impute missing bands
# (photcat.features.dropout; measured in benchmarks/missing_bands.py)
DEFAULT_BAND_DROPOUT = 0.1


def assign_splits(n: int, fractions: tuple[float, float], seed: int) -> np.ndarray:
    """Seeded random train/valid/test labels for ``n`` rows (test gets the remainder)."""
    f_train, f_valid = fractions
    if not (0 < f_train <= 1 and 0 <= f_valid < 1 and f_train + f_valid <= 1):
        raise ValueError(f"split fractions must be in (0, 1] and sum to at most 1, got {fractions}")
    u = np.random.default_rng(seed).random(n)
    out = np.full(n, "test", dtype=object)
    out[u < f_train + f_valid] = "valid"
    out[u < f_train] = "train"
    return out.astype(str)


def restframe_columns(
    table: pd.DataFrame, z: np.ndarray | str, uvj_preset: str = DEFAULT_PRESET
) -> pd.DataFrame:
    """Rest-frame ``uv``, ``vj`` (AB mag), ``uvj_quiescent`` (1/0/-1) and ``rf_flag`` per row."""
    from photcat.features.labels import uvj_label
    from photcat.features.restframe import fit_bands, fit_restframe

    if not fit_bands(table):
        log.warning("no band has a filter curve: no rest-frame colours or UVJ labels")
        nan = np.full(len(table), np.nan)
        return pd.DataFrame(
            {
                "uv": nan,
                "vj": nan,
                "uvj_quiescent": np.full(len(table), -1, np.int8),
                "rf_flag": np.zeros(len(table), np.uint16),
            },
            index=table.index,
        )
    rf = fit_restframe(table, z=z)
    zz = table[z].to_numpy(float) if isinstance(z, str) else np.asarray(z, float)
    label = uvj_label(rf["UV"].to_numpy(), rf["VJ"].to_numpy(), zz, uvj_preset)
    return pd.DataFrame(
        {
            "uv": rf["UV"].to_numpy(),
            "vj": rf["VJ"].to_numpy(),
            "uvj_quiescent": label.as_int(),
            "rf_flag": rf["rf_flag"].to_numpy(np.uint16),
        },
        index=table.index,
    )


def training_set(
    table: pd.DataFrame,
    *,
    fractions: tuple[float, float] = SPLIT_FRACTIONS,
    seed: int = 42,
    uvj_preset: str = DEFAULT_PRESET,
    restframe: bool = True,
    object_class: str | None = None,
) -> pd.DataFrame:
    """Rows with a usable z_spec (and not classified a star or QSO by the catalogue), with
    rest-frame colours, UVJ label and a ``split`` column.

    ``object_class``: instead, the rows of that catalogue class only (``galaxy`` or ``qso``,
    the canonical ``object_class`` column): the training set of a per-class photo-z model.

    A ``split`` column already in ``table`` (train/valid from separate files) is kept;
    otherwise the rows are split at random (``fractions``, ``seed``).
    """
    if "z_spec" not in table:
        raise ValueError("the training catalogue has no spectroscopic redshift column")
    from photcat.catalogs.flags import OBJECT_CLASSES

    usable = table["flag_zspec"].to_numpy() == 0
    if object_class is not None:
        if object_class not in ("galaxy", "qso"):
            raise ValueError(f"object_class must be 'galaxy' or 'qso', got {object_class!r}")
        if "object_class" not in table:
            raise ValueError(
                f"object class {object_class!r} asked for, but the catalogue has no class column "
                "(the schema's spec_class or obj_type)"
            )
        usable &= table["object_class"].to_numpy() == OBJECT_CLASSES[object_class]
    elif "object_class" in table:  # galaxy models train on galaxies: no stars or QSOs
        oc = table["object_class"].to_numpy()
        usable &= (oc != OBJECT_CLASSES["star"]) & (oc != OBJECT_CLASSES["qso"])
    rows = table[usable].copy()
    # the row number in the input table: the join key of the split (identifiers need not be
    # unique: a spreadsheet rounds 19-digit SDSS objIDs to 1.24E+18)
    rows["source_row"] = np.flatnonzero(usable).astype(np.int64)
    if "split" not in rows:
        rows["split"] = assign_splits(len(rows), fractions, seed)
    if restframe:
        rows = pd.concat([rows, restframe_columns(rows, "z_spec", uvj_preset)], axis=1)
    return rows.reset_index(drop=True)


def class_training_set(
    table: pd.DataFrame,
    label: str,
    *,
    fractions: tuple[float, float] = SPLIT_FRACTIONS,
    seed: int = 42,
    splits: pd.Series | None = None,
) -> pd.DataFrame:
    """Rows with a class in column ``label`` (text, e.g. SDSS ``class``: STAR / GALAXY /
    QSO; an empty value has none), with a ``source_row`` and a ``split`` column. No
    spectroscopic redshift is needed: a star's z < 0 flags its redshift, not its class.

    ``splits``: train/valid/test labels by input row number (the photo-z training set's):
    those rows keep them, the others are split at random (``fractions``, ``seed``)."""
    if label not in table:
        have = ", ".join(
            c for c in table.columns if not str(c).startswith(("mag", "flux", "flag_"))
        )
        raise ValueError(f"the catalogue has no class column {label!r}; its other columns: {have}")
    text = class_labels(table, label)
    usable = text != ""
    if usable.sum() == 0:
        raise ValueError(f"class column {label!r} is empty in every row")
    rows = table[usable].copy()
    rows["source_row"] = np.flatnonzero(usable).astype(np.int64)
    if "split" not in rows:
        rows["split"] = assign_splits(len(rows), fractions, seed)
        if splits is not None:
            known = rows["source_row"].map(splits)
            rows["split"] = known.where(known.notna(), rows["split"]).astype(str)
    return rows.reset_index(drop=True)


def class_labels(table: pd.DataFrame, label: str) -> np.ndarray:
    """The class of each row as stripped text (object array); "" where there is none (an
    empty, NaN or missing value). Whole numbers are written without a fraction (a numeric
    column with gaps reads as floats: its 1.0 is the class "1")."""
    col = table[label]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        v = col.to_numpy(float, na_value=np.nan)
        whole = np.isfinite(v) & (v == np.round(v))
        out = np.full(len(v), "", dtype=object)
        out[whole] = v[whole].astype(np.int64).astype(str)
        frac = np.isfinite(v) & ~whole
        out[frac] = v[frac].astype(str)
        return out
    text = col.astype("string").str.strip().fillna("")
    text = text.where(~text.str.lower().isin(("nan", "none", "<na>")), "")
    return text.to_numpy(dtype=object)


MIN_CLASS_ROWS = 10  # training rows a class needs to be learnt
MORPHOLOGY_COVERAGE = 0.95  # fraction of rows with a band's PSF − model magnitude to use it
RESERVED_COLUMNS = ("p_quiescent",)  # value-added columns a class's p_<class> must not take


def check_classes(
    table: pd.DataFrame,
    label: str,
    galaxy_class: str,
    source: str = "",
    usable: np.ndarray | None = None,
    expected: tuple[float, float] | None = None,
) -> str:
    """Refuse class labels a class model cannot learn or write, before a long fit; returns
    the galaxy class as the label spells it ("" for none).

    Classes must be ASCII text (FITS tables hold ASCII), give distinct ``p_<class>`` columns
    other than :data:`RESERVED_COLUMNS`, and have :data:`MIN_CLASS_ROWS` training rows and,
    when there are validation rows, at least one of them, counting only ``usable`` rows (the
    features' usable rows). ``expected``: (train, valid) fractions when the table has no
    ``split`` yet (``photcat run`` before its tasks): the expected numbers are checked.
    """
    where = f"column {label!r}" + (f" of {source}" if source else "")
    names = class_labels(table, label)
    classes = sorted(set(names) - {""})
    if usable is not None:  # a class all of whose rows lack features is refused, not lost
        names = np.where(usable, names, "")
    if len(classes) < 2:
        raise ValueError(f"{where}: a class model needs at least 2 classes, found {classes}")
    bad = [c for c in classes if not (c.isascii() and c.isprintable())]
    if bad:
        raise ValueError(
            f"{where}: class names must be printable ASCII (FITS holds ASCII), got {bad}"
        )
    cols: dict[str, list[str]] = {}
    for c in classes:
        cols.setdefault(class_column_name(c), []).append(c)
    clash = {k: v for k, v in cols.items() if len(v) > 1 or k in RESERVED_COLUMNS}
    if clash:
        k, v = next(iter(clash.items()))
        why = "another photcat column" if len(v) == 1 else "the same column"
        raise ValueError(f"{where}: class(es) {v} would be written as {k!r}, {why}: rename them")
    split = table["split"].to_numpy() if "split" in table else np.full(len(table), "train")
    for c in classes:
        n_train = int(((names == c) & (split == "train")).sum())
        n_valid = int(((names == c) & (split == "valid")).sum())
        if expected is not None and "split" not in table:
            n_train, n_valid = int(n_train * expected[0]), int(n_train * expected[1])
        if (
            n_train < MIN_CLASS_ROWS
            or ((split == "valid").any() and n_valid == 0)
            or (expected is not None and n_valid == 0)
        ):
            raise ValueError(
                f"{where}: class {c!r} has {n_train} training and {n_valid} validation rows"
                f"{' (expected from the split fractions)' if expected else ''} with usable "
                "features; "
                f"a class needs at least {MIN_CLASS_ROWS} training rows and one validation "
                "row: drop or merge it"
            )
    return match_class(galaxy_class, classes) if galaxy_class else ""


def match_class(name: str, classes: list[str]) -> str:
    """The class among ``classes`` called ``name``, without regard to case (a clear error
    naming the classes when there is none)."""
    exact = [c for c in classes if c == str(name).strip()]
    hits = exact or [c for c in classes if c.lower() == str(name).strip().lower()]
    if len(hits) > 1:
        raise ValueError(
            f"the galaxy class {name!r} matches {hits}, which differ only by case: name one "
            "exactly with --galaxy-class"
        )
    if not hits:
        raise ValueError(
            f"the galaxy class {name!r} is not one of the label's classes {classes}: name it "
            'with --galaxy-class (or galaxy_class in the configuration; "" for none)'
        )
    return hits[0]


def class_column_name(name: str) -> str:
    """The value-added column of a class's probability: ``p_`` + the label lower-cased, any
    character other than an ASCII letter, digit or underscore replaced by ``_`` (``QSO`` ->
    ``p_qso``)."""
    import re

    return "p_" + re.sub(r"[^0-9a-z_]", "_", str(name).strip().lower())


def default_spec(
    ts: pd.DataFrame,
    bands: tuple[str, ...],
    reference_band: str | None,
    flag_policy: str = DEFAULT_FLAG_POLICY,
    default_bands: tuple[str, ...] = (),
    magnitudes: str = DEFAULT_MAGNITUDES,
    min_bands: int = DEFAULT_MIN_BANDS,
    morphology: bool = False,
) -> FeatureSpec:
    """Colours of ``bands`` (default: the catalogue's required bands) plus a reference
    magnitude; ``magnitudes`` "asinh" (default) or "pogson", ``flag_policy`` and
    ``min_bands`` as in :mod:`photcat.features.spec`; ``morphology``: PSF − model magnitude
    of every band that has it (:func:`morphology_bands`) as well."""
    from photcat.catalogs.bands import canonical_name

    bands = tuple(canonical_name(b) for b in bands) or tuple(default_bands)
    missing = [b for b in bands if f"mag_{b}" not in ts]
    if missing or not bands:
        have = sorted(c[4:] for c in ts.columns if str(c).startswith("mag_"))
        raise ValueError(f"the training catalogue has no band(s) {missing or bands}; it has {have}")
    return FeatureSpec(
        bands=bands,
        reference_band=reference_band_for(reference_band, bands),
        flag_policy=flag_policy,
        min_bands=int(min_bands),
        magnitudes=magnitudes,
        morphology=morphology_bands(ts, bands) if morphology else (),
    )


def morphology_bands(table: pd.DataFrame, bands: tuple[str, ...]) -> tuple[str, ...]:
    """Bands whose PSF − model magnitude (canonical ``psf_model_<b>``) the table holds for
    at least :data:`MORPHOLOGY_COVERAGE` of its rows (a row without it gets no class from a
    model that uses it)."""
    out = []
    for b in bands:
        col = table.get(f"psf_model_{b}")
        have = np.isfinite(pd.to_numeric(col, errors="coerce")).mean() if col is not None else 0
        if have >= MORPHOLOGY_COVERAGE:
            out.append(b)
    return tuple(out)


def reference_band_for(name: str | None, bands: tuple[str, ...]) -> str | None:
    """The reference band among ``bands``: ``name`` itself, or for the default "r" the
    catalogue's r band under its survey name (``lsst_r``, ``decam_r``, ``hsc_r``, ``kids_r``…)."""
    if name is None or name in bands:
        return name
    if name.lower() == "r":
        survey_r = [b for b in bands if b.endswith("_r")]
        if len(survey_r) == 1:
            return survey_r[0]
    raise ValueError(
        f"reference band {name!r} is not among the bands {list(bands)}: name one of them "
        "(--reference-band, or reference_band in the configuration)"
    )


def command_training_set(
    catalog: str | Path,
    *,
    target: str,
    schema: Any = "sdss",
    validation: str | Path | None = None,
    features: tuple[str, ...] = (),
    label: str | None = None,
    bands: tuple[str, ...] = (),
    reference_band: str | None = "r",
    flag_policy: str = DEFAULT_FLAG_POLICY,
    min_bands: int = DEFAULT_MIN_BANDS,
    magnitudes: str = DEFAULT_MAGNITUDES,
    uvj_preset: str = DEFAULT_PRESET,
    split_seed: int = 42,
    object_class: str | None = None,
) -> tuple[pd.DataFrame, Any]:
    """(training table with a ``split`` column, feature specification) for ``photcat train``.

    ``features``: ready-made columns of the file (then ``label`` names the truth column);
    otherwise colours of ``bands`` (default: the catalogue's required bands) read through
    ``schema``, and the truth is z_spec, or for the quiescent target without ``label`` the
    UVJ label at z_spec; the class target's truth is the text column ``label``.
    ``validation``: a second file for the ``valid`` rows; otherwise
    :data:`TRAIN_VALID_FRACTIONS` of the catalogue, seeded by ``split_seed``.
    ``object_class``: a per-class photo-z model's class (:func:`training_set`).
    """
    from photcat.catalogs import read, read_columns
    from photcat.features.columns import ColumnSpec

    paths = [catalog] + ([validation] if validation else [])
    if features:
        frames = [read_columns(p) for p in paths]
        for f, path in zip(frames, paths, strict=True):
            missing = [c for c in (*features, label) if c not in f]
            if missing:
                raise ValueError(f"{path} lacks column(s) {missing}")
    else:
        cats = [read(p, schema, keep_columns=target == "class") for p in paths]
        frames = [c.table for c in cats]
    if validation:
        frames[0]["split"], frames[1]["split"] = "train", "valid"
        table = pd.concat(frames, ignore_index=True)
    else:
        table = frames[0]
    if features:
        if "split" not in table:
            table["split"] = assign_splits(len(table), TRAIN_VALID_FRACTIONS, split_seed)
        if target == "quiescent":
            y = pd.to_numeric(table[label], errors="coerce").to_numpy(float)
            if not np.isin(y[np.isfinite(y)], (0, 1)).all():
                raise ValueError(f"label column {label!r} must hold 0/1 (quiescent = 1)")
        return table, ColumnSpec(tuple(features))
    if target == "class":
        if not label:
            raise ValueError("the class target needs --label naming the class column")
        table = class_training_set(table, label, fractions=TRAIN_VALID_FRACTIONS, seed=split_seed)
        spec = default_spec(
            table,
            bands,
            reference_band,
            flag_policy,
            cats[0].required_bands,
            magnitudes,
            min_bands,
            morphology=True,
        )
        return table, spec
    if "z_spec" not in table:
        raise ValueError(f"{catalog} has no spectroscopic redshift column for schema {schema!r}")
    table = training_set(
        table,
        fractions=TRAIN_VALID_FRACTIONS,
        seed=split_seed,
        uvj_preset=uvj_preset,
        restframe=target == "quiescent" and not label,
        object_class=object_class,
    )
    spec = default_spec(
        table, bands, reference_band, flag_policy, cats[0].required_bands, magnitudes, min_bands
    )
    return table, spec


@dataclass
class Fitted:
    model: Any
    spec: FeatureSpec
    metrics: dict
    seconds: float
    n_train: int
    n_valid: int
    notes: dict = field(default_factory=dict)  # e.g. trained without magnitude errors
    # (min, max) of each feature over the rows the model was fitted on, band-dropout copies
    # included and masked values left out: the range outside which a prediction is flagged
    feature_range: tuple[np.ndarray, np.ndarray] | None = None


def target_values(table: pd.DataFrame, target: str, label: str | None = None) -> np.ndarray:
    """Training target: z_spec for photo-z, 1/0 quiescent label (-1 = undefined -> NaN), or
    the class names of column ``label`` ("" = none)."""
    if target == "class":
        if label is None or label not in table:
            raise ValueError(f"no class column {label!r} for the class model")
        return class_labels(table, label)
    if target == "photoz":
        return table["z_spec" if label is None else label].to_numpy(float)
    col = "uvj_quiescent" if label is None else label
    if col not in table:
        raise ValueError(
            f"no label column {col!r} for the quiescent model: enable rest-frame colours or pass a label"
        )
    y = table[col].to_numpy(float)
    return np.where(y >= 0, y, np.nan)


def fit_model(
    trainset: pd.DataFrame,
    *,
    target: str,
    model: str,
    params: dict | None,
    spec: FeatureSpec,
    seed: int = 0,
    label: str | None = None,
    band_dropout: float | None = None,
) -> Fitted:
    """Fit the named model on the ``train`` rows, validating on ``valid`` rows.

    ``band_dropout``: the fraction of rows copied with one band made missing
    (:mod:`photcat.features.dropout`); None = :data:`DEFAULT_BAND_DROPOUT` when the spec masks
    or imputes missing bands, else none. Networks are sized to the number of training rows
    (:mod:`photcat.models.sizing`).

    The ``valid`` rows serve early stopping and calibration (committee widths, classifier
    probabilities), so the metrics returned for them are calibration-set metrics (a
    calibrated committee's 68 % coverage there is 0.683 by construction); the test split
    (:func:`evaluate_split`) gives the independent ones.
    """
    if registry.model_task(model) != target:
        raise ValueError(f"model {model!r} is a {registry.model_task(model)} model, not {target}")
    if getattr(spec, "flag_policy", None) == "impute" and spec.limits is None:
        spec = spec.with_limits(trainset[trainset["split"] == "train"])
    notes: dict[str, Any] = {}
    no_errors = bands_without_errors(trainset, spec.bands) if hasattr(spec, "bands") else []
    if no_errors:
        if getattr(spec, "include_errors", False):
            raise ValueError(
                f"the training catalogue has no magnitude errors for band(s) {no_errors}: "
                "error features (include_errors) cannot be built"
            )
        params, changed = registry.without_error_inputs(model, params)
        notes = {"magnitude_errors": False, "bands_without_errors": no_errors}
        if changed:
            notes["error_mode"] = "none (the catalogue has no magnitude errors)"
            log.warning(
                "the training catalogue has no magnitude errors (band(s) %s): model %s is "
                "trained without error inputs (error_mode none)",
                ", ".join(no_errors),
                model,
            )
    n_original = len(trainset)
    if band_dropout is None:
        masks = isinstance(spec, FeatureSpec) and spec.flag_policy in ("mask", "impute")
        band_dropout = DEFAULT_BAND_DROPOUT if masks else 0.0
    if band_dropout > 0:
        if not isinstance(spec, FeatureSpec) or spec.flag_policy == "drop":
            raise ValueError("band dropout needs a FeatureSpec that masks or imputes missing bands")
        # copies of training rows only: the validation rows that stop training and calibrate
        # a committee's width stay the catalogue's own
        train_rows = trainset[trainset["split"].to_numpy() == "train"]
        copies = band_dropout_rows(train_rows, spec, band_dropout, seed)
        trainset = pd.concat([trainset, copies], ignore_index=True)
        notes["band_dropout"] = {"fraction": float(band_dropout), "rows_added": len(copies)}
    feats = spec.build(trainset)
    y = target_values(trainset, target, label)
    ok = feats.usable & has_truth(y)
    split = trainset["split"].to_numpy()
    tr, va = ok & (split == "train"), ok & (split == "valid")
    original = np.arange(len(trainset)) < n_original
    if tr.sum() < 10:
        raise ValueError(
            f"only {int(tr.sum())} usable training rows for the {target} model"
            + _why_unusable(trainset, getattr(spec, "bands", ()))
        )
    est = registry.build(model, params, seed=seed, n_rows=int((tr & original).sum()))
    t0 = time.perf_counter()
    E = None if no_errors else feats.errors
    est.fit(
        feats.X[tr],
        y[tr],
        validation=(
            (feats.X[va], y[va]) + (() if E is None else (E[va],)) if va.sum() >= 10 else None
        ),
        errors=None if E is None else E[tr],
    )
    seconds = time.perf_counter() - t0
    va &= original  # validation metrics on the catalogue's own rows
    ev = None if E is None else E[va]
    metrics = evaluate_arrays(est, feats.X[va], y[va], target, ev) if va.sum() else {}
    return Fitted(
        est,
        spec,
        metrics,
        seconds,
        int((tr & original).sum()),
        int(va.sum()),
        notes,
        feats.value_range(tr),
    )


def has_truth(y: np.ndarray) -> np.ndarray:
    """Rows whose target is defined: finite numbers, or non-empty class names."""
    if y.dtype == object:
        return y != ""
    return np.isfinite(y)


def _why_unusable(table: pd.DataFrame, bands) -> str:
    """The bands that most rows lack, and why (for an error message)."""
    from photcat.catalogs.flags import ERR_INVALID, describe

    parts = []
    for b in bands:
        flag = table.get(f"flag_{b}")
        if flag is None or not (bad := flag.to_numpy() != 0).any():
            continue
        top = pd.Series(describe(flag.to_numpy()[bad])).value_counts().index[0]
        hint = ""
        if (flag.to_numpy() & ERR_INVALID).all():
            hint = " (no valid error at all: for a catalogue without errors, leave magerr out of the schema)"  # fmt: skip
        parts.append(f"{b}: {int(bad.sum())} rows flagged, mostly {top}{hint}")
    return ("; " + "; ".join(parts)) if parts else ""


def evaluate_arrays(
    est, X: np.ndarray, y: np.ndarray, target: str, errors: np.ndarray | None = None
) -> dict:
    """Metrics (docs/definitions.md) of a fitted estimator on (X, y), feature errors passed when used."""
    pred = predict_dist(est, X, errors)
    if target == "photoz":
        return M.photoz_metrics(pred, y)
    if target == "class":
        return M.class_metrics(y, pred)
    return M.classifier_metrics(y, pred.p)


def evaluate_split(
    est, spec: FeatureSpec, trainset: pd.DataFrame, target: str, split: str = "test", label=None
) -> dict:
    """Metrics on one split of the training set, with the number of rows used and skipped."""
    no_errors = bands_without_errors(trainset, spec.bands) if hasattr(spec, "bands") else []
    feats = spec.build(trainset)
    y = target_values(trainset, target, label)
    sel = trainset["split"].to_numpy() == split
    ok = sel & feats.usable & has_truth(y)
    out = {"split": split, "rows": int(sel.sum()), "rows_evaluated": int(ok.sum())}
    if ok.sum():
        E = None if no_errors else feats.errors[ok]
        out.update(evaluate_arrays(est, feats.X[ok], y[ok], target, E))
    return out
