"""Missing and noisy bands on BOSS: the approaches compared, and the network width checked.

Run from the repository root::

    .venv/bin/python benchmarks/missing_bands.py [--seeds 0] [--configs measured,masked,...]

On the shared BOSS DR10 file (``annz2`` preset; about 16 % of its rows have a band, almost
always u, with an error above 5 mag) the default photo-z committee (``normal-committee``,
sized by :mod:`photcat.models.sizing`, ugriz colours + r, asinh magnitudes) is trained on
the same seeded 60/20/20 split (:func:`photcat.pipeline.training.assign_splits`) with each
way of handling those bands:

* ``measured_dropout`` (the default since issue 16): as ``measured``, and 10 % of the
  training rows are copied with one good band made missing
  (:mod:`photcat.features.dropout`), so that the masked inputs are learnt.
* ``measured``: a non-detection is a measurement. Its flux and
  flux error (the catalogue's magnitude and linearised error inverted) give an asinh
  magnitude near the band's softening limit with a large error, and the error is a network
  input; a band with no measurement at all is masked (policy ``mask``, at least 3 bands).
* ``masked``: a band with an error above 5 mag is missing (its flux is discarded, as before
  issue 16) and masked: zeroed, with a 0/1 mask input per band.
* ``imputed``: as ``masked`` but the band is set to its survey limit (99th percentile of the
  training magnitudes) with a 1 mag error (policy ``impute``).
* ``dropped``: as ``masked`` but such rows get no photo-z (policy ``drop``, the old default).
* ``measured_64``: ``measured`` with three 64-unit layers, to check the sizing rule's width.
  It is judged on the validation rows only (``valid``), never on the test rows.

Reported: the validation metrics (what any choice here may look at), and on the test rows
with a usable z_spec the fraction with a photo-z, σ_NMAD, σ_rms, outlier fraction, 68 %
coverage and the median 68 % interval width, on the rows with every band usable at ingest
and on the rows with a band flagged there, and on every test row again with u (then z) made
missing: what a survey whose rows lack a band gets. Writes ``benchmarks/results/missing_bands.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import _take, versions, write_json_atomic  # noqa: E402  (benchmarks/accuracy.py)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BOSS = DATA / "boss_dr10_annz2" / "boss_dr10_ugriz_specz.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"


def _scores(pred, z: np.ndarray) -> dict:
    from photcat.models import metrics as M

    if z.size == 0:
        return {"n": 0}
    m = M.point_metrics(pred.mean(), z)
    lo, hi = pred.quantile(np.array([0.15865, 0.84135])).T
    return {
        "n": int(z.size),
        "sigma_nmad": m["sigma_nmad"],
        "sigma_rms": m["sigma_rms"],
        "outlier_fraction": m["outlier_fraction"],
        "coverage_68": float(np.mean((z >= lo) & (z <= hi))),
        "median_width_68": float(np.median(hi - lo)),
    }


# name -> (flag policy, non-detections kept as fluxes, band dropout, member parameters)
CONFIGS = {
    "measured_dropout": ("mask", True, 0.1, {}),
    "measured": ("mask", True, 0.0, {}),
    "measured_64": ("mask", True, 0.0, {"hidden_layers": (64, 64, 64)}),
    "masked": ("mask", False, 0.0, {}),
    "imputed": ("impute", False, 0.0, {}),
    "dropped": ("drop", False, 0.0, {}),
}


def run(seeds: list[int], configs: list[str]) -> dict:
    from photcat.catalogs import read
    from photcat.features.spec import FeatureSpec
    from photcat.models.base import predict_dist
    from photcat.pipeline.training import assign_splits, fit_model

    full_table = read(BOSS, "annz2").table
    pogson_fluxes = [c for c in full_table.columns if c.startswith(("flux_", "fluxerr_"))]
    zok = full_table["flag_zspec"].to_numpy() == 0
    flags = np.column_stack([full_table[f"flag_{b}"].to_numpy() for b in "ugriz"])
    complete = (flags == 0).all(1)
    out = []
    for seed in seeds:
        split = assign_splits(len(full_table), (0.6, 0.2), seed)
        test = (split == "test") & zok
        for name in configs:
            policy, keep_fluxes, dropout, params = CONFIGS[name]
            table = full_table if keep_fluxes else full_table.drop(columns=pogson_fluxes)
            ts = table.assign(split=split)[zok].reset_index(drop=True)
            spec = FeatureSpec(
                tuple("ugriz"),
                reference_band="r",
                flag_policy=policy,
                min_bands=3,
                magnitudes="asinh",
            )
            t0 = time.perf_counter()
            fitted = fit_model(
                ts,
                target="photoz",
                model="normal-committee",
                params=params,
                spec=spec,
                seed=seed,
                band_dropout=dropout,
            )
            seconds = time.perf_counter() - t0
            feats = fitted.spec.build(table)
            use = feats.usable & test
            idx = np.flatnonzero(use)
            pred = predict_dist(fitted.model, feats.X[idx], feats.errors[idx])
            z = table["z_spec"].to_numpy(float)[idx]
            full = complete[idx]
            member = fitted.model.estimator.get_params()
            row = {
                "seed": seed,
                "config": name,
                "flag_policy": policy,
                "non_detections_kept_as_fluxes": keep_fluxes,
                "hidden_layers": list(member["hidden_layers"]),
                "batch_size": member["batch_size"],
                "fit_seconds": round(seconds, 1),
                "n_train": fitted.n_train,
                "valid": {k: fitted.metrics.get(k) for k in VALID_KEYS},
                "test_rows": int(test.sum()),
                "test_rows_with_a_band_flagged": int((test & ~complete).sum()),
                "fraction_with_photoz": float(use.sum() / test.sum()),
                "complete_rows": _scores(_take(pred, full), z[full]),
                "rows_with_a_band_flagged": _scores(_take(pred, ~full), z[~full]),
                "band_dropout": dropout,
            }
            if policy != "drop":  # every test row again, with one band made missing
                for b in SYNTHETIC_MISSING:
                    f = fitted.spec.build(_without(table, b))
                    i = np.flatnonzero(f.usable & test)
                    p = predict_dist(fitted.model, f.X[i], f.errors[i])
                    row[f"all_rows_without_{b}"] = _scores(p, table["z_spec"].to_numpy(float)[i])
            print(json.dumps(row), flush=True)
            out.append(row)
    return {"boss_dr10": out}


SYNTHETIC_MISSING = ("u", "z")


def _without(table, b: str):
    """``table`` with band ``b`` missing in every row (flag ``missing``, values NaN)."""
    from photcat.features.dropout import make_missing

    out = table.copy()
    make_missing(out, b, np.ones(len(out), bool))
    return out


VALID_KEYS = ("rows", "sigma_rms", "sigma_nmad", "outlier_fraction", "coverage_68", "crps")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated CONFIGS")
    ap.add_argument("--output", type=Path, default=RESULTS / "missing_bands.json")
    args = ap.parse_args(argv)
    if not BOSS.exists():
        print(f"{BOSS} is absent: nothing measured", file=sys.stderr)
        return 0
    t0 = time.time()
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        ap.error(f"unknown config(s) {unknown}; known: {', '.join(CONFIGS)}")
    res = run([int(s) for s in args.seeds.split(",")], configs)
    doc = {
        "benchmark": "missing_bands",
        "command": " ".join(
            [".venv/bin/python", "benchmarks/missing_bands.py", *(argv or sys.argv[1:])]
        ),  # fmt: skip
        "model": "normal-committee (sized by photcat.models.sizing), ugriz colours + r, asinh "
        "magnitudes",
        "versions": versions(),
        "datasets": res,
        "seconds": round(time.time() - t0, 1),
    }
    write_json_atomic(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
