"""Accuracy benchmark: photcat's models vs baselines on real data, one process, same splits.

Run from the repository root::

    .venv/bin/python benchmarks/accuracy.py            # full run (~20 min on 2 cores)
    .venv/bin/python benchmarks/accuracy.py --quick    # smaller models, a few minutes

Writes ``benchmarks/results/accuracy.json`` (atomically) with package versions, configuration,
seeds, and for each data set and model every metric of :mod:`photcat.models.metrics` plus the
training time in seconds. Data sets (from ``../shared/data``, skipped with a message if absent):

- ``annz_sdss``  photo-z: train on ``sdss.ugriz.train``, report on ``sdss.ugriz.valid``
- ``boss_dr10``  photo-z: fixed seeded 80/20 split of ``boss_dr10_ugriz_specz.csv.gz``
- ``zfourge_uvj`` SF/Q: U-V, V-J, z -> sSFR label (FAST log sSFR < log 1/(3 t_U(z)), t_U the age); networks
  and classical classifiers vs each UVJ boundary preset used as a classifier
- ``kcorrect_gst`` SF/Q: ugriz colours + z -> UVJ label from kcorrect fits WITH 2MASS J/H/Ks;
  classifiers vs the same label computed from ugriz-only kcorrect extrapolation

For photo-z the training file is split (seeded) into a fitting part and a validation part; the
validation part is used for early stopping and PDF-width calibration only, never for the
reported numbers. ``photcat_normal_committee5`` is the pipeline's default photo-z model as
``photcat.models.registry`` builds it (five ``NormalMLP`` with the magnitude errors as extra
inputs, beta-NLL, weights kept at the best validation MSE, width calibrated on the validation
part); ``photcat_normal_committee5_colours`` is the same committee on the features alone. Each
photo-z data set ends with a paired bootstrap of the default committee against every baseline
(``paired_bootstrap``).
Baselines (``baseline_*``) are plain scikit-learn regressors with default settings (kNN k=5 on standardised features, random forest, histogram gradient boosting) on the
same features, giving point estimates only (their PDF metrics are absent); the ANNz stand-in
(``baseline_annz_mlp_committee5``, five 5:10:10:1 MLPs) gives a committee mixture PDF and, like
photcat's models, uses the validation part for its member widths.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"

SEED = 12345
BANDS = ("u", "g", "r", "i", "z")


# --------------------------------------------------------------------------- helpers


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("photcat", "numpy", "scipy", "scikit-learn", "pandas", "tensorflow", "keras",
                 "tensorflow-probability", "astropy", "kcorrect"):  # fmt: skip
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_json_atomic(obj: dict, path: Path) -> None:
    """Write JSON to a temp file in the same folder, fsync, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, allow_nan=False, default=_json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def _clean_nan(obj):
    """NaN/inf -> None so the JSON is standard."""
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_nan(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- photo-z data


def photoz_features(table, spec=None):
    """Colours u-g, g-r, r-i, i-z and r magnitude as the pipeline builds them for a new model
    (photcat.features; the defaults of ``photcat train``: asinh magnitudes, missing bands
    masked, at least three good bands)."""
    from photcat.features import FeatureSpec, build
    from photcat.features.spec import DEFAULT_FLAG_POLICY, DEFAULT_MAGNITUDES, DEFAULT_MIN_BANDS

    spec = spec or FeatureSpec(
        bands=BANDS,
        reference_band="r",
        flag_policy=DEFAULT_FLAG_POLICY,
        min_bands=DEFAULT_MIN_BANDS,
        magnitudes=DEFAULT_MAGNITUDES,
    )
    return build(table, spec), spec


def raw_features(mags: np.ndarray) -> np.ndarray:
    """The baselines' features: colours u-g, g-r, r-i, i-z and r from the catalogue's
    magnitudes exactly as the file gives them (non-detections and placeholders included, as
    ANNz takes them); ``mags`` (n, 5)."""
    return np.column_stack([mags[:, :-1] - mags[:, 1:], mags[:, 2]]).astype(np.float32)


def _usable(cat, feats, raw):
    z = cat.table["z_spec"].to_numpy(dtype=float)
    z_ok = np.isfinite(z) & (z > 0)
    if "flag_zspec" in cat.table.columns:
        z_ok &= cat.table["flag_zspec"].to_numpy() == 0
    raw_ok = np.isfinite(raw).all(axis=1)
    ok = z_ok & raw_ok
    complete = (np.column_stack([cat.table[f"flag_{b}"].to_numpy() for b in BANDS]) == 0).all(
        axis=1
    )
    excl = {
        "rows_in": int(len(z)),
        "rows_used": int(ok.sum()),
        "rows_used_without_photcat_photoz": int((ok & ~feats.usable).sum()),
        "rows_used_with_a_band_flagged_at_ingest": int((ok & ~complete).sum()),
        "excluded_bad_zspec": int((~z_ok).sum()),
        "excluded_nonfinite_catalogue_value": int((z_ok & ~raw_ok).sum()),
        "ingest_rows_flagged_by_reason": dict(cat.report.rows_flagged_by_reason),
        "ingest_band_flags": {b: dict(v) for b, v in cat.report.band_flags.items()},
    }
    return ok, z, complete, excl


EXCLUSION_RULE = (
    "every row with a usable z_spec (finite, > 0, not flagged) and finite catalogue magnitudes "
    "is used, whatever its band flags: photcat predicts the rows with at least three good bands "
    "(non-detections with errors above 5 mag are measurements in its asinh features, missing "
    "bands are masked); the baselines take the catalogue's magnitudes as given"
)


def _photoz_data(cat, raw, fit, val, test, seed: int) -> dict:
    from photcat.features.dropout import band_dropout
    from photcat.pipeline.training import DEFAULT_BAND_DROPOUT

    feats, spec = photoz_features(cat.table)
    ok, z, complete, excl = _usable(cat, feats, raw)
    fit, val, test = (np.flatnonzero(ok & m) for m in (fit, val, test))
    X, E, B = feats.X, feats.errors, raw_features(raw)
    # photcat's training adds band-dropout copies of its fitting rows
    # (photcat.pipeline.training.fit_model): the same here, for photcat's models only
    copies = band_dropout(cat.table.iloc[fit], spec, DEFAULT_BAND_DROPOUT, seed)
    fc = spec.build(copies)
    u = fc.usable
    drop = {"X_drop": fc.X[u], "E_drop": fc.errors[u],
            "y_drop": copies["z_spec"].to_numpy(float)[u]}  # fmt: skip
    return drop | {
        "X": X[fit], "y": z[fit], "E": E[fit], "B": B[fit], "P": feats.usable[fit],
        "X_val": X[val], "y_val": z[val], "E_val": E[val], "B_val": B[val],
        "P_val": feats.usable[val],
        "X_test": X[test], "y_test": z[test], "E_test": E[test], "B_test": B[test],
        "P_test": feats.usable[test], "complete_test": complete[test],
        "r_test": raw[test, 2],
        "feature_names": list(feats.names),
        "exclusions": excl,
        "exclusion_rule": EXCLUSION_RULE,
        "n": (int(fit.size), int(val.size), int(test.size)),
    }  # fmt: skip


def load_annz(rng_seed: int) -> dict:
    from photcat.catalogs import read

    folder = SHARED / "annz_sdss"
    tr = read(folder / "sdss.ugriz.train", "annz")
    va = read(folder / "sdss.ugriz.valid", "annz")
    raw_tr = np.loadtxt(folder / "sdss.ugriz.train", usecols=range(5))
    raw_va = np.loadtxt(folder / "sdss.ugriz.valid", usecols=range(5))
    n_tr = len(tr.table)
    if raw_tr.shape[0] != n_tr or raw_va.shape[0] != len(va.table):
        raise ValueError("the raw ANNz files and photcat's reading of them differ in row count")
    cat = _Joined(tr, va)
    perm = np.random.default_rng(rng_seed).permutation(n_tr)
    n_val = int(round(0.2 * n_tr))
    is_val = np.zeros(len(cat.table), bool)
    is_val[perm[:n_val]] = True
    is_test = np.arange(len(cat.table)) >= n_tr
    data = _photoz_data(
        cat, np.vstack([raw_tr, raw_va]), ~is_val & ~is_test, is_val, is_test, rng_seed
    )
    n_fit, n_val, n_test = data.pop("n")
    data["split"] = {"train_file": "sdss.ugriz.train (80 % fit / 20 % validation, seeded)",
                     "test_file": "sdss.ugriz.valid", "n_fit": n_fit, "n_val": n_val,
                     "n_test": n_test}  # fmt: skip
    return data


class _Joined:
    """Two read catalogues as one (table and report of the first)."""

    def __init__(self, a, b):
        import pandas as pd

        self.table = pd.concat([a.table, b.table], ignore_index=True)
        self.report = a.report


def load_boss(rng_seed: int) -> dict:
    import pandas as pd

    from photcat.catalogs import read

    path = SHARED / "boss_dr10_annz2" / "boss_dr10_ugriz_specz.csv.gz"
    cat = read(path, "annz2")
    raw = pd.read_csv(path, usecols=[f"MAG_{b.upper()}" for b in BANDS])
    raw = raw[[f"MAG_{b.upper()}" for b in BANDS]].to_numpy(float)
    n = len(cat.table)
    if raw.shape[0] != n:
        raise ValueError("the raw BOSS file and photcat's reading of it differ in row count")
    perm = np.random.default_rng(rng_seed).permutation(n)
    n_test = int(round(0.2 * n))
    is_test = np.zeros(n, bool)
    is_test[perm[:n_test]] = True
    train_rows = np.flatnonzero(~is_test)
    perm2 = np.random.default_rng(rng_seed + 1).permutation(train_rows.size)
    is_val = np.zeros(n, bool)
    is_val[train_rows[perm2[: int(round(0.2 * train_rows.size))]]] = True
    data = _photoz_data(cat, raw, ~is_test & ~is_val, is_val, is_test, rng_seed)
    n_fit, n_val, n_test = data.pop("n")
    data["split"] = {"method": f"numpy default_rng({rng_seed}).permutation: 20 % test; training "
                     f"part split again (default_rng({rng_seed + 1})) 80 % fit / 20 % validation",
                     "n_fit": n_fit, "n_val": n_val, "n_test": n_test}  # fmt: skip
    return data


# --------------------------------------------------------------------------- photo-z models


def nn_settings(quick: bool) -> dict:
    """Network training overrides: none (the networks are sized to their training set by
    photcat.models.sizing, as ``photcat train`` sizes them), or with --quick fewer epochs."""
    return {"epochs": 60, "patience": 10} if quick else {}


def photoz_models(quick: bool, seed: int, n_fit: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from photcat.models.classical import (
        GradientBoostingPhotoZ,
        KNNPhotoZ,
        RandomForestPhotoZ,
        SklearnMLPCommittee,
    )

    models = {}
    try:
        from photcat.models import registry
        from photcat.models.networks import MixtureMLP
        from photcat.models.sizing import sized_params

        nn_kw = nn_settings(quick)
        # the pipeline's default photo-z model, exactly as the registry builds it for
        # `photcat train` (sized to the number of fitting rows)
        models["photcat_normal_committee5"] = (
            "photcat",
            lambda: registry.build(registry.DEFAULTS["photoz"], nn_kw, seed=seed, n_rows=n_fit),
        )
        models["photcat_normal_committee5_colours"] = (
            "photcat",
            lambda: registry.build(
                registry.DEFAULTS["photoz"],
                {**nn_kw, "error_mode": "none"},
                seed=seed,
                n_rows=n_fit,
            ),
        )
        models["photcat_mixture_mlp"] = (
            "photcat",
            lambda: MixtureMLP(
                n_components=3, random_state=seed, **{**sized_params(n_fit), **nn_kw}
            ),
        )
    except ImportError as exc:  # networks not available: say so in the results
        models["photcat_networks_unavailable"] = ("error", str(exc))
    n_trees = 100 if quick else 300
    models |= {
        "photcat_knn": ("photcat", lambda: KNNPhotoZ(n_neighbors=15, random_state=seed)),
        "photcat_random_forest": (
            "photcat",
            lambda: RandomForestPhotoZ(n_estimators=n_trees, n_jobs=2, random_state=seed),
        ),
        "photcat_gradient_boosting": ("photcat", lambda: GradientBoostingPhotoZ(random_state=seed)),
        "baseline_knn": (
            "baseline",
            lambda: make_pipeline(StandardScaler(), KNeighborsRegressor()),
        ),
        "baseline_random_forest": (
            "baseline",
            lambda: RandomForestRegressor(n_estimators=n_trees, n_jobs=2, random_state=seed),
        ),
        "baseline_hist_gradient_boosting": (
            "baseline",
            lambda: HistGradientBoostingRegressor(random_state=seed),
        ),
        "baseline_annz_mlp_committee5": (
            "baseline_pdf",
            lambda: SklearnMLPCommittee(random_state=seed),
        ),
    }
    return models


def run_photoz(
    data: dict, quick: bool, seed: int, only: set[str] | None
) -> tuple[dict, dict[str, np.ndarray]]:
    """Every photo-z model's record, and its point estimates on the test rows.

    photcat's models see photcat's features of the rows it predicts (``P``); the baselines
    see the catalogue's magnitudes as given (``B``). Metrics are reported on every test row
    photcat predicts ("all rows": all of BOSS's) and on those with every band usable at
    ingest ("complete rows", ``metrics_complete_rows``)."""
    from photcat.models import metrics
    from photcat.models.base import predict_dist

    out, points = {}, {}
    P, Pv, Pt = data["P"], data["P_val"], data["P_test"]
    rows = {"all": Pt, "complete": Pt & data["complete_test"]}
    yt = data["y_test"]
    trivial = np.full(yt.size, np.median(data["y"]))
    out["trivial_median"] = {
        "kind": "trivial",
        "metrics": metrics.point_metrics(trivial[rows["all"]], yt[rows["all"]]),
        "metrics_complete_rows": metrics.point_metrics(
            trivial[rows["complete"]], yt[rows["complete"]]
        ),
    }
    # networks sized to the catalogue's fitting rows, as fit_model sizes them
    for name, (kind, factory) in photoz_models(quick, seed, int(P.sum())).items():
        if only and name not in only:
            continue
        if kind == "error":
            out[name] = {"kind": kind, "error": factory}
            log(f"  {name}: {factory}")
            continue
        model = factory()
        t0 = time.perf_counter()
        try:
            if kind == "baseline":
                model.fit(data["B"], data["y"])
            elif kind == "baseline_pdf":  # the ANNz stand-in: catalogue magnitudes as given
                model.fit(data["B"], data["y"], validation=(data["B_val"], data["y_val"]))
            else:  # feature errors go to the models that use them (error_mode="inputs")
                model.fit(
                    np.vstack([data["X"][P], data["X_drop"]]),
                    np.concatenate([data["y"][P], data["y_drop"]]),
                    validation=(data["X_val"][Pv], data["y_val"][Pv], data["E_val"][Pv]),
                    errors=np.vstack([data["E"][P], data["E_drop"]]),
                )
        except Exception as exc:  # keep the other models' results
            out[name] = {"kind": kind, "error": f"{type(exc).__name__}: {exc}"}
            log(f"  {name}: FAILED {exc}")
            continue
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if kind.startswith("baseline"):
            pred = predict_dist(model, data["B_test"][Pt], None)
        else:
            pred = predict_dist(model, data["X_test"][Pt], data["E_test"][Pt])
        pred_s = time.perf_counter() - t0
        sub = {k: m[Pt] for k, m in rows.items()}  # row masks within the predicted rows
        y = yt[Pt]
        if kind == "baseline":
            score = {k: metrics.point_metrics(pred[m], y[m]) for k, m in sub.items()}
            zp = pred
        else:
            score = {k: metrics.photoz_metrics(_take(pred, m), y[m]) for k, m in sub.items()}
            zp = pred.mean()
            if not kind.startswith("baseline"):
                width = pred.quantile(np.array([0.15865, 0.84135]))
                width = width[:, 1] - width[:, 0]
                miss = ~data["complete_test"][Pt]
                score["all"]["median_width_68_band_flagged"] = float(np.median(width[miss])) if miss.any() else None  # fmt: skip
                score["all"]["median_width_68_complete"] = float(np.median(width[~miss]))
        full = np.full(yt.size, np.nan)
        full[Pt] = zp
        m = score["all"]
        rec = {
            "kind": kind,
            "class": type(model).__name__,
            "params": _params(model),
            "train_seconds": fit_s,
            "predict_seconds": pred_s,
            "metrics": m,
            "metrics_complete_rows": score["complete"],
            "binned_by_r_mag": metrics.binned_point_metrics(zp, y, data["r_test"][Pt], [14, 16, 17, 18, 19, 20, 21, 22, 23]),
            "binned_by_z_spec": metrics.binned_point_metrics(zp, y, y, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0]),
        }  # fmt: skip
        if hasattr(model, "width_scale_"):
            rec["width_scale"] = model.width_scale_
        out[name] = rec
        points[name] = full
        mc = score["complete"]
        log(f"  {name:34s} fit {fit_s:6.1f}s  all: rms {m['sigma_rms']:.4f} "
            f"nmad {m['sigma_nmad']:.4f} out {m['outlier_fraction']:.4f} "
            f"cov68 {m.get('coverage_68', float('nan')):.3f} | complete: rms "
            f"{mc['sigma_rms']:.4f} nmad {mc['sigma_nmad']:.4f} "
            f"cov68 {mc.get('coverage_68', float('nan')):.3f}")  # fmt: skip
    return out, points


def _take(pred, mask: np.ndarray):
    """The rows ``mask`` of a photo-z prediction."""
    from photcat.models.predictions import MixturePrediction

    if isinstance(pred, MixturePrediction):
        return MixturePrediction(pred.weights[mask], pred.means[mask], pred.stds[mask], pred.lower)
    return pred[mask]


DEFAULT_PHOTOZ = "photcat_normal_committee5"


def photoz_comparisons(models: dict, points: dict, data: dict, seed: int) -> dict:
    """Paired bootstrap (2,000 resamples of the test rows) of the default committee against each
    baseline: difference committee - baseline in sigma_rms, sigma_NMAD and outlier fraction, on
    all predicted test rows and on the complete ones."""
    from photcat.models.metrics import paired_bootstrap

    if DEFAULT_PHOTOZ not in points:
        return {}
    rows = {"all": data["P_test"], "complete": data["P_test"] & data["complete_test"]}
    out = {}
    for name, zp in points.items():
        if models[name]["kind"] not in ("baseline", "baseline_pdf"):
            continue
        out[name] = {}
        for label, m in rows.items():
            out[name][label] = r = paired_bootstrap(
                points[DEFAULT_PHOTOZ][m], zp[m], data["y_test"][m], seed=seed
            )
            log(f"  {DEFAULT_PHOTOZ} - {name} ({label}): " + "  ".join(
                f"{k} {r[k]['diff']:+.4f} [{r[k]['ci95'][0]:+.4f}, {r[k]['ci95'][1]:+.4f}]"
                for k in ("sigma_rms", "sigma_nmad", "outlier_fraction")))  # fmt: skip
    return out


def _params(model) -> dict:
    try:
        from photcat.models.persistence import to_json

        return to_json(model.get_params(deep=False))
    except Exception:  # noqa: BLE001 - params are informative only
        return {k: repr(v) for k, v in model.get_params(deep=False).items()}


# --------------------------------------------------------------------------- classifiers


def classifier_models(quick: bool, seed: int, n_fit: int) -> dict:
    from photcat.models.classical import (
        GradientBoostingQuiescent,
        LogisticQuiescent,
        RandomForestQuiescent,
    )

    models = {}
    try:
        from photcat.models.networks import BernoulliMLP

        nn_kw = nn_settings(quick, n_fit)
        models["photcat_bernoulli_mlp"] = (
            "photcat",
            lambda: BernoulliMLP(random_state=seed, **nn_kw),
        )
    except ImportError as exc:
        models["photcat_bernoulli_mlp"] = ("error", str(exc))
    models |= {
        "photcat_logistic": ("photcat", lambda: LogisticQuiescent(random_state=seed)),
        "photcat_random_forest": (
            "photcat",
            lambda: RandomForestQuiescent(
                n_estimators=100 if quick else 300, n_jobs=2, random_state=seed
            ),
        ),
        "photcat_gradient_boosting": (
            "photcat",
            lambda: GradientBoostingQuiescent(random_state=seed),
        ),
    }
    return models


def run_classifiers(data: dict, quick: bool, seed: int, only: set[str] | None) -> dict:
    from photcat.models import metrics

    out = {}
    for name, (kind, factory) in classifier_models(quick, seed, len(data["y"])).items():
        if only and name not in only:
            continue
        if kind == "error":
            out[name] = {"kind": kind, "error": factory}
            continue
        model = factory()
        t0 = time.perf_counter()
        try:
            model.fit(data["X"], data["y"], validation=(data["X_val"], data["y_val"]))
        except Exception as exc:
            out[name] = {"kind": kind, "error": f"{type(exc).__name__}: {exc}"}
            log(f"  {name}: FAILED {exc}")
            continue
        fit_s = time.perf_counter() - t0
        pred = model.predict_dist(data["X_test"])
        m = metrics.classifier_metrics(data["y_test"], pred)
        out[name] = {"kind": kind, "class": type(model).__name__, "params": _params(model),
                     "train_seconds": fit_s, "metrics": m}  # fmt: skip
        log(f"  {name:34s} fit {fit_s:6.1f}s  acc {m['accuracy']:.4f}  auc {m['roc_auc']:.4f}  "
            f"brier {m['brier']:.4f}  ece {m['reliability']['ece']:.4f}")  # fmt: skip
    return out


def _split3(n: int, seed: int, fractions=(0.6, 0.2, 0.2)):
    perm = np.random.default_rng(seed).permutation(n)
    a = int(round(fractions[0] * n))
    b = a + int(round(fractions[1] * n))
    return perm[:a], perm[a:b], perm[b:]


def load_zfourge(seed: int, ssfr_threshold) -> dict:
    import pandas as pd

    from photcat.features import ssfr_label

    path = SHARED / "zfourge_uvj" / "zfourge_v3.4_restframe_uvj.csv.gz"
    d = pd.read_csv(path, usecols=["field", "id", "z", "nfilt_fit", "UV", "VJ", "lssfr", "lmass"])
    # lssfr = -99 with a valid mass is FAST's zero-SFR fit: log sSFR = -inf (quiescent), as in
    # benchmarks/uvj_agreement.py; lmass <= 0 marks a failed FAST fit (excluded)
    zero_sfr = (d["lmass"] > 0) & (d["lssfr"] <= -90)
    reasons = {
        "nfilt_fit_below_5": ~(d["nfilt_fit"] >= 5),
        "z_not_finite_or_nonpositive": ~(np.isfinite(d["z"]) & (d["z"] > 0)),
        "UV_or_VJ_not_finite": ~(np.isfinite(d["UV"]) & np.isfinite(d["VJ"])),
        "fast_fit_failed_lmass_le_0": ~(d["lmass"] > 0),
    }
    bad = np.zeros(len(d), bool)
    for v in reasons.values():
        bad |= v.to_numpy()
    n_zero_sfr_used = int((zero_sfr & ~bad).sum())
    d = d[~bad].reset_index(drop=True)
    log_ssfr = np.where(d["lssfr"] <= -90, -np.inf, d["lssfr"].to_numpy(dtype=float))
    lab = ssfr_label(log_ssfr, d["z"].to_numpy(), threshold=ssfr_threshold)
    y = lab.quiescent.astype(int)
    X = d[["UV", "VJ", "z"]].to_numpy(dtype=np.float64)
    a, b, c = _split3(len(y), seed)
    return {
        "X": X[a], "y": y[a], "X_val": X[b], "y_val": y[b], "X_test": X[c], "y_test": y[c],
        "uv_test": X[c, 0], "vj_test": X[c, 1], "z_test": X[c, 2],
        "feature_names": ["UV", "VJ", "z"],
        "label": f"quiescent when FAST log sSFR < threshold={ssfr_threshold!r} "
                 "('age' = log10 1/(3 t_U(z)), t_U = age of the Universe, Planck18); FAST zero-SFR fits "
                 "(lssfr = -99) count as quiescent",
        "split": {"method": f"default_rng({seed}) permutation 60/20/20 fit/validation/test",
                  "n_fit": int(a.size), "n_val": int(b.size), "n_test": int(c.size)},
        "exclusions": {"rows_in": int(len(bad)), "rows_used": int((~bad).sum()),
                       "by_reason": {k: int(v.sum()) for k, v in reasons.items()},
                       "zero_sfr_fits_kept_as_quiescent": n_zero_sfr_used},
    }  # fmt: skip


def uvj_preset_results(uv, vj, z, y) -> dict:
    """Each UVJ preset used as a classifier: hard label as p (0/1), signed distance as AUC score."""
    from photcat.features import UVJ_PRESETS, uvj_distance
    from photcat.models import metrics

    out = {}
    for name in UVJ_PRESETS:
        d = uvj_distance(uv, vj, z, name)
        defined = np.isfinite(d)
        p = (d > 0).astype(float)
        score = np.where(defined, d, -np.inf)  # undefined (z outside preset) -> star-forming
        score = np.where(np.isfinite(score), score, np.nanmin(d) - 1.0)
        m = metrics.classifier_metrics(y, p, score=score)
        out[f"uvj_preset_{name}"] = {
            "kind": "uvj_preset",
            "metrics": m,
            "n_outside_preset_redshift_range": int((~defined).sum()),
            "note": "p = 1 inside the quiescent box else 0 (objects outside the preset's "
            "redshift range count as star-forming); ROC AUC from the signed distance",
        }
        log(
            f"  uvj_preset_{name:24s} acc {m['accuracy']:.4f}  auc {m['roc_auc']:.4f}  brier {m['brier']:.4f}"
        )
    return out


def load_gst(seed: int, preset: str) -> dict:
    """kcorrect gst sample: ugriz colours + z -> UVJ label from kcorrect fits with 2MASS."""
    from photcat.catalogs import sample
    from photcat.features import FeatureSpec, build, fit_restframe, uvj_label
    from photcat.features import flags as ff

    cat = sample("sdss-gst")
    t = cat.table
    t0 = time.perf_counter()
    rf_all = fit_restframe(t, z="z_spec")  # ugriz + J H Ks
    rf_opt = fit_restframe(t, z="z_spec", use_bands=BANDS)  # ugriz only: J extrapolated
    rf_seconds = time.perf_counter() - t0
    z = t["z_spec"].to_numpy(dtype=float)
    lab_nir = uvj_label(rf_all["UV"], rf_all["VJ"], z, preset)
    lab_opt = uvj_label(rf_opt["UV"], rf_opt["VJ"], z, preset)
    feats = build(t, FeatureSpec(bands=BANDS, reference_band="r", flag_policy="drop"))
    nir_ok = (rf_all["rf_flag"].to_numpy() & ff.RF_BAD) == 0
    nir_ok &= (rf_all["rf_flag"].to_numpy() & ff.RF_J_EXTRAPOLATED) == 0
    ok = feats.usable & lab_nir.defined & lab_opt.defined & nir_ok & np.isfinite(z)
    X = np.column_stack([feats.X[:, :4], z])[ok]  # colours + redshift
    y = lab_nir.quiescent[ok].astype(int)
    a, b, c = _split3(int(ok.sum()), seed)
    return {
        "X": X[a], "y": y[a], "X_val": X[b], "y_val": y[b], "X_test": X[c], "y_test": y[c],
        "opt_label_test": lab_opt.quiescent[ok][c].astype(float),
        "opt_score_test": lab_opt.score[ok][c],
        "feature_names": [*feats.names[:4], "z_spec"],
        "label": f"UVJ preset {preset!r} on kcorrect rest-frame U-V, V-J fitted to ugriz+2MASS JHKs",
        "restframe_seconds": rf_seconds,
        "split": {"method": f"default_rng({seed}) permutation 60/20/20", "n_fit": int(a.size),
                  "n_val": int(b.size), "n_test": int(c.size)},
        "exclusions": {"rows_in": int(len(t)), "rows_used": int(ok.sum()),
                       "bad_ugriz_photometry": int((~feats.usable).sum()),
                       "restframe_fit_bad_or_J_not_covered": int((~nir_ok).sum()),
                       "label_undefined": int((~(lab_nir.defined & lab_opt.defined)).sum())},
    }  # fmt: skip


# --------------------------------------------------------------------------- tables

PHOTOZ_COLUMNS = ("sigma_rms", "sigma_nmad", "sigma_68", "bias_mean", "bias_median",
                  "outlier_fraction", "pit_ks", "coverage_68", "coverage_95", "crps")  # fmt: skip
CLASSIFIER_COLUMNS = ("accuracy", "roc_auc", "brier", "log_loss")


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"
    return str(v)


def markdown_tables(result: dict) -> str:
    """Markdown tables (one per data set) of every model's metrics and training time."""
    lines = []
    for ds, entry in result.get("datasets", {}).items():
        lines.append(f"\n### {ds}\n")
        if "models" not in entry:
            lines.append(f"not run: {entry.get('skipped') or entry.get('error')}")
            continue
        photoz = entry.get("task") == "photoz"
        cols = PHOTOZ_COLUMNS if photoz else (*CLASSIFIER_COLUMNS, "ece")
        lines.append("| model | " + " | ".join(cols) + " | train s |")
        lines.append("|---" * (len(cols) + 2) + "|")
        for name, rec in entry["models"].items():
            if "metrics" not in rec:
                lines.append(f"| {name} | error: {rec.get('error')} |")
                continue
            m = rec["metrics"]
            vals = [m.get(c) if c != "ece" else m["reliability"]["ece"] for c in cols]
            t = rec.get("train_seconds")
            lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in vals) + f" | {_fmt(t)} |")
        boot = entry.get("paired_bootstrap") or {}
        if boot.get("against"):
            lines.append(f"\n{boot['model']} minus each baseline, paired bootstrap of the test "
                         "rows: difference [95 % interval] (P(committee better))\n")  # fmt: skip
            lines.append("| baseline | Δ sigma_rms | Δ sigma_nmad | Δ outlier_fraction |")
            lines.append("|---|---|---|---|")
            for name, by_rows in boot["against"].items():
                if "sigma_rms" in by_rows:  # results written before the row sets
                    by_rows = {"all": by_rows}
                for label, r in by_rows.items():
                    cells = [
                        f"{r[k]['diff']:+.4f} [{r[k]['ci95'][0]:+.4f}, {r[k]['ci95'][1]:+.4f}] "
                        f"({r[k]['p_a_better']:.2f})"
                        for k in ("sigma_rms", "sigma_nmad", "outlier_fraction")
                    ]
                    lines.append(f"| {name} ({label} rows) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller models/epochs (a few minutes)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--datasets", default="annz_sdss,boss_dr10,zfourge_uvj,kcorrect_gst",
                    help="comma-separated subset of data sets")  # fmt: skip
    ap.add_argument("--models", default="", help="comma-separated subset of model names")
    ap.add_argument("--ssfr-threshold", default="age",
                    help="zfourge label: 'age' (1/(3 t_U(z))) or a log sSFR number such as -10")  # fmt: skip
    ap.add_argument("--gst-preset", default="williams09", help="UVJ preset for the gst label")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only the data sets run in an existing --output file and "
        "record the rerun under 'reruns'",
    )
    ap.add_argument("--why", default="", help="with --merge: why the data sets were rerun")
    ap.add_argument("--table", type=Path, metavar="JSON",
                    help="only print Markdown tables of an existing results file and exit")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads for scikit-learn (1 avoids oversubscription on a "
                         "shared 2-core machine; random forests use n_jobs=2 regardless)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.table is not None:
        print(markdown_tables(json.loads(args.table.read_text())))
        return 0
    # threadpoolctl only limits libraries already loaded: load scikit-learn's OpenMP/BLAS first
    import sklearn.ensemble  # noqa: F401
    import sklearn.neighbors  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        return _run(args, argv)


def _run(args, argv) -> int:
    try:
        thr = float(args.ssfr_threshold)
    except ValueError:
        thr = args.ssfr_threshold
    only = {m for m in args.models.split(",") if m} or None
    datasets = [d for d in args.datasets.split(",") if d]

    result = {
        "benchmark": "accuracy",
        "command": " ".join([".venv/bin/python", "benchmarks/accuracy.py", *(argv or sys.argv[1:])]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg())},
        "config": {"quick": args.quick, "seed": args.seed, "datasets": datasets,
                   "models": sorted(only) if only else "all", "ssfr_threshold": thr,
                   "gst_preset": args.gst_preset, "threads": args.threads,
                   "photoz_features": "photcat's models: u-g, g-r, r-i, i-z, r as photcat "
                                      "train builds them (asinh, mask, 3 bands, band dropout "
                                      "0.1); baselines: the same from the catalogue's "
                                      "magnitudes as given",
                   "metrics": "photcat.models.metrics (docs/definitions.md)"},
        "seeds": {"split": args.seed, "models": args.seed},
        "datasets": {},
    }  # fmt: skip
    loaders = {
        "annz_sdss": ("photoz", lambda: load_annz(args.seed), SHARED / "annz_sdss"),
        "boss_dr10": ("photoz", lambda: load_boss(args.seed), SHARED / "boss_dr10_annz2"),
        "zfourge_uvj": ("classifier", lambda: load_zfourge(args.seed, thr), SHARED / "zfourge_uvj"),
        "kcorrect_gst": ("classifier", lambda: load_gst(args.seed, args.gst_preset), None),
    }
    t_all = time.perf_counter()
    for ds in datasets:
        if ds not in loaders:
            raise SystemExit(f"unknown data set {ds!r}; known: {', '.join(loaders)}")
        task, loader, folder = loaders[ds]
        if folder is not None and not folder.exists():
            result["datasets"][ds] = {"skipped": f"data folder {folder} is absent"}
            log(f"{ds}: skipped, {folder} absent")
            continue
        log(f"{ds}: loading")
        t0 = time.perf_counter()
        try:
            data = loader()
        except Exception as exc:
            result["datasets"][ds] = {
                "error": f"could not prepare data: {type(exc).__name__}: {exc}"
            }
            log(f"{ds}: FAILED to load: {exc}")
            continue
        entry = {k: data[k] for k in ("feature_names", "split", "exclusions", "exclusion_rule",
                                      "label", "restframe_seconds") if k in data}  # fmt: skip
        entry["task"] = task
        if task == "photoz":
            entry["models"], points = run_photoz(data, args.quick, args.seed, only)
            entry["paired_bootstrap"] = {
                "model": DEFAULT_PHOTOZ,
                "rows": "all: every test row photcat predicts; complete: those with every "
                "band usable at ingest",
                "against": photoz_comparisons(entry["models"], points, data, args.seed),
            }
        else:
            entry["base_rate_test"] = float(np.mean(data["y_test"]))
            entry["models"] = run_classifiers(data, args.quick, args.seed, only)
            if ds == "zfourge_uvj":
                entry["models"] |= uvj_preset_results(
                    data["uv_test"], data["vj_test"], data["z_test"], data["y_test"]
                )
            if ds == "kcorrect_gst":
                from photcat.models import metrics

                m = metrics.classifier_metrics(
                    data["y_test"], data["opt_label_test"], score=data["opt_score_test"]
                )
                entry["models"]["ugriz_only_kcorrect_uvj"] = {
                    "kind": "uvj_from_ugriz_extrapolation",
                    "metrics": m,
                    "note": "same preset applied to kcorrect U-V, V-J fitted to ugriz only "
                    "(rest-frame J extrapolated); AUC from its signed distance",
                }
                log(
                    f"  ugriz_only_kcorrect_uvj             acc {m['accuracy']:.4f}  auc {m['roc_auc']:.4f}"
                )
        entry["seconds"] = time.perf_counter() - t0
        result["datasets"][ds] = entry
        if not args.merge:  # partial results survive a crash
            write_json_atomic(_clean_nan(result), args.output)
    result["total_seconds"] = time.perf_counter() - t_all
    result["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    if args.merge and args.output.exists():
        old = json.loads(args.output.read_text())
        old["datasets"].update(result["datasets"])
        old.setdefault("reruns", []).append(
            {"datasets": datasets, "command": result["command"], "config": result["config"],
             "started_utc": result["started_utc"], "versions": result["versions"],
             "why": args.why}
        )  # fmt: skip
        result = old
    write_json_atomic(_clean_nan(result), args.output)
    log(f"wrote {args.output} ({result['total_seconds']:.0f} s)")
    print(markdown_tables(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
