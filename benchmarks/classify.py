"""Object classes (STAR / GALAXY / QSO) from colours: photcat's Categorical committee against
scikit-learn baselines, and the class-weighted photo-z of QSOs, on the shared SkyServer set.

Run from the repository root::

    .venv/bin/python benchmarks/classify.py                 # seeds 0 1 2 (~25 min on 2 cores)
    .venv/bin/python benchmarks/classify.py --seeds 0 --quick

Data: ``../shared/data/sdss_skyserver_dr14/skyserver_dr14_10k.csv.gz`` (10,000 SDSS DR14
objects with spectroscopic class, ugriz, redshift, no magnitude errors), read with photcat's
``skyserver`` schema. For each seed the rows are split 80/20 at random (numpy
``default_rng(seed)``); the 20 % test rows are used for the reported numbers only.

Classification (every model is trained on the same 80 % rows):

- ``photcat_categorical_committee``: ``photcat train --target class`` as a user runs it
  (``pipeline.training.fit_model``: the default ``categorical-committee`` of five
  ``CategoricalMLP``, asinh colours u-g, g-r, r-i, i-z and r, missing bands masked, band
  dropout), whose own 20 % of the training rows stop training (validation);
- ``photcat_gradient_boosting_classes`` and ``photcat_random_forest_classes``: photcat's
  calibrated classical models on the same features and rows;
- ``baseline_hist_gradient_boosting``, ``baseline_random_forest``: scikit-learn
  ``HistGradientBoostingClassifier()`` and ``RandomForestClassifier()`` with default settings
  (random_state = seed) on all 80 % rows, features u-g, g-r, r-i, i-z and r from the file's
  magnitudes as they are.

Every model gets :func:`photcat.models.metrics.class_metrics`; the committee gets a paired
bootstrap (2,000 resamples of the test rows) of its log loss, Brier score and error rate
against each baseline (negative = photcat better).

Photo-z of QSOs (``photoz``): three photo-z models (``normal-committee``, photcat's default,
features as ``photcat train`` builds them) trained on the training rows with z_spec >= 0:
``galaxy_only`` on galaxies (what a galaxy catalogue gives every object), ``qso_only`` on QSOs,
``single_all`` on galaxies and QSOs together; ``class_weighted`` is the mixture
P(GALAXY) p_galaxy(z) + P(QSO) p_qso(z) + P(STAR) delta(z) with the committee's class
probabilities (:func:`photcat.models.predictions.mix_by_class`). Scored on the test split's
QSOs and galaxies by their true class with :func:`photcat.models.metrics.photoz_metrics`
(point estimate: the mean) and the median of each PDF as well.

Writes ``benchmarks/results/classify.json`` (atomically) with versions, configuration and
seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import SHARED, _clean_nan, log, raw_features, versions, write_json_atomic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED / "sdss_skyserver_dr14" / "skyserver_dr14_10k.csv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "classify.json"
BANDS = ("u", "g", "r", "i", "z")
LABEL = "class"


def load(seed: int):
    """(table with a ``split`` column: train/valid/test, labels) for one seed: 80/20
    train+valid/test at random, and photcat train's 80/20 train/valid inside the 80 %."""
    from photcat.catalogs import read
    from photcat.pipeline.training import (
        TRAIN_VALID_FRACTIONS,
        assign_splits,
        class_labels,
    )

    table = read(DATA, "skyserver", keep_columns=True).table
    rng = np.random.default_rng(seed)
    test = rng.random(len(table)) < 0.2
    split = np.full(len(table), "test", dtype=object)
    split[~test] = assign_splits(int((~test).sum()), TRAIN_VALID_FRACTIONS, seed)
    table["split"] = split.astype(str)
    table["source_row"] = np.arange(len(table))
    return table, class_labels(table, LABEL)


def fit_photcat(table, target: str, model: str, seed: int, quick: bool, label=None):
    """A model fitted exactly as ``photcat train`` fits it (pipeline.training.fit_model)."""
    from photcat.pipeline.training import default_spec, fit_model

    spec = default_spec(table, BANDS, "r", morphology=target == "class")
    params = {"n_members": 2, "epochs": 40} if quick and "committee" in model else None
    t0 = time.perf_counter()
    fitted = fit_model(
        table, target=target, model=model, params=params, spec=spec, seed=seed, label=label
    )
    return fitted, time.perf_counter() - t0


def classification(table, labels, seed: int, quick: bool) -> tuple[dict, object]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from photcat.models import metrics as M
    from photcat.models.base import predict_dist
    from photcat.models.predictions import CategoricalPrediction

    split = table["split"].to_numpy()
    test, fit_rows = split == "test", split != "test"
    out, preds = {}, {}
    for name, model in (
        ("photcat_categorical_committee", "categorical-committee"),
        ("photcat_gradient_boosting_classes", "gradient-boosting-classes"),
        ("photcat_random_forest_classes", "random-forest-classes"),
    ):
        log(f"seed {seed}: {name}")
        fitted, secs = fit_photcat(table, "class", model, seed, quick, label=LABEL)
        feats = fitted.spec.build(table)
        if not feats.usable[test].all():
            raise RuntimeError(f"{name}: {int((~feats.usable[test]).sum())} test rows unusable")
        preds[name] = predict_dist(fitted.model, feats.X[test])
        out[name] = {"fit_seconds": secs, "n_train": fitted.n_train, "n_valid": fitted.n_valid}
    mags = np.column_stack([table[f"mag_{b}"].to_numpy(float) for b in BANDS])
    X = raw_features(mags)
    for name, est in (
        ("baseline_hist_gradient_boosting", HistGradientBoostingClassifier(random_state=seed)),
        ("baseline_random_forest", RandomForestClassifier(random_state=seed, n_jobs=2)),
    ):
        log(f"seed {seed}: {name}")
        t0 = time.perf_counter()
        est.fit(X[fit_rows], labels[fit_rows])
        preds[name] = CategoricalPrediction(est.predict_proba(X[test]), tuple(est.classes_))
        out[name] = {"fit_seconds": time.perf_counter() - t0, "n_train": int(fit_rows.sum())}
    y = labels[test]
    for name, pred in preds.items():
        out[name].update(M.class_metrics(y, pred))
    ours = M.class_scores(y, preds["photcat_categorical_committee"])
    out["comparisons"] = {}
    for name in ("baseline_hist_gradient_boosting", "baseline_random_forest"):
        theirs = M.class_scores(y, preds[name])
        out["comparisons"][f"photcat_categorical_committee - {name}"] = {
            k: M.paired_bootstrap_means(ours[k], theirs[k], seed=seed) for k in M.CLASS_SCORES
        }
    return out, preds["photcat_categorical_committee"]


def photoz(table, labels, probs, seed: int, quick: bool) -> dict:
    """Galaxy-only, QSO-only, single and class-weighted photo-z on the test QSOs/galaxies."""
    from photcat.models import metrics as M
    from photcat.models.base import predict_dist
    from photcat.models.predictions import mix_by_class

    split = table["split"].to_numpy()
    z = table["z_spec"].to_numpy(float)
    has_z = table["flag_zspec"].to_numpy() == 0
    test = split == "test"
    fits = {}
    for name, classes in (
        ("galaxy_only", ("GALAXY",)),
        ("qso_only", ("QSO",)),
        ("single_all", ("GALAXY", "QSO")),
    ):
        rows = (split == "test") | (np.isin(labels, classes) & has_z)
        sub = table[rows].reset_index(drop=True)
        log(f"seed {seed}: photo-z {name} on {int((rows & ~test).sum())} training rows")
        fitted, secs = fit_photcat(sub, "photoz", "normal-committee", seed, quick)
        feats = fitted.spec.build(table)
        fits[name] = (predict_dist(fitted.model, feats.X[test], None), secs, fitted.n_train)
    preds = {k: v[0] for k, v in fits.items()}
    preds["class_weighted"] = mix_by_class(
        probs, {"GALAXY": preds["galaxy_only"], "QSO": preds["qso_only"]}, {"STAR": 0.0}
    )
    out = {
        "fit_seconds": {k: v[1] for k, v in fits.items()},
        "n_train": {k: v[2] for k, v in fits.items()},
    }
    yt, zt, ht = labels[test], z[test], has_z[test]
    for cls in ("QSO", "GALAXY"):
        sel = (yt == cls) & ht
        out[cls] = {"n": int(sel.sum())}
        for name, pred in preds.items():
            p = pred[sel]
            m = M.photoz_metrics(p, zt[sel])
            med = M.point_metrics(p.quantile(0.5), zt[sel])
            out[cls][name] = {**m, "median": med}
    a, b = preds["class_weighted"][(yt == "QSO") & ht], preds["galaxy_only"][(yt == "QSO") & ht]
    out["QSO"]["class_weighted - galaxy_only"] = M.paired_bootstrap(
        a.mean(), b.mean(), zt[(yt == "QSO") & ht], seed=seed
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="2 members, 40 epochs (a smoke run)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: {DATA} not found (shared data absent)")
        return 0
    # threadpoolctl only limits libraries already loaded: load scikit-learn's OpenMP first
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    result = {
        "command": "benchmarks/classify.py " + " ".join(argv or sys.argv[1:]),
        "data": str(DATA.relative_to(SHARED)),
        "versions": versions(),
        "seeds": args.seeds,
        "quick": args.quick,
        "split": "80/20 train+valid/test at random per seed; photcat's own train/valid 80/20 "
        "inside the 80 %",
        "runs": {},
    }
    with threadpool_limits(limits=1):
        for seed in args.seeds:
            table, labels = load(seed)
            cls, probs = classification(table, labels, seed, args.quick)
            result["runs"][str(seed)] = {
                "classification": cls,
                "photoz": photoz(table, labels, probs, seed, args.quick),
            }
            write_json_atomic(_clean_nan(result), args.output)
            log(f"seed {seed} written to {args.output}")
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """The tables of docs/classes.md from a results file."""
    lines = ["| seed | model | accuracy | macro F1 | log loss | Brier | max per-class ECE |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    cmp_lines = ["| seed | committee − baseline | Δ log loss [95 %] | Δ Brier [95 %] | Δ error rate [95 %] |", "|---|---|---|---|---|"]  # fmt: skip
    pz = ["| seed | true class | model | n | σ_NMAD | outliers | σ_NMAD (median) | outliers (median) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for seed, run in result["runs"].items():
        c = run["classification"]
        for name, m in c.items():
            if name == "comparisons":
                continue
            lines.append(
                f"| {seed} | {name} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
                f"{m['log_loss']:.4f} | {m['brier']:.4f} | {m['ece_max']:.4f} |"
            )
        for name, d in c["comparisons"].items():
            cells = [
                f"{d[k]['diff']:+.4f} [{d[k]['ci95'][0]:+.4f}, {d[k]['ci95'][1]:+.4f}]"
                for k in ("log_loss", "brier", "error_rate")
            ]
            cmp_lines.append(f"| {seed} | {name.split(' - ')[1]} | " + " | ".join(cells) + " |")
        for cls in ("QSO", "GALAXY"):
            p = run["photoz"][cls]
            for name in ("galaxy_only", "qso_only", "single_all", "class_weighted"):
                m = p[name]
                pz.append(
                    f"| {seed} | {cls} | {name} | {p['n']} | {m['sigma_nmad']:.4f} | "
                    f"{m['outlier_fraction']:.4f} | {m['median']['sigma_nmad']:.4f} | "
                    f"{m['median']['outlier_fraction']:.4f} |"
                )
    return "\n".join([*lines, "", *cmp_lines, "", *pz])


if __name__ == "__main__":
    raise SystemExit(main())
