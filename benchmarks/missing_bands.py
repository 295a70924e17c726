"""What photcat does today with BOSS rows that miss a band: the flag policies measured.

Run from the repository root::

    .venv/bin/python benchmarks/missing_bands.py [--seeds 0] [--policies drop,mask,impute]

The first measurement of the faint-survey issue (issue 16): on the shared BOSS DR10 file
(``annz2`` preset), the default photo-z committee (``normal-committee``, default parameters,
ugriz colours + r, asinh magnitudes) is trained with each flag policy of
:class:`photcat.features.spec.FeatureSpec` (``min_bands`` 3 for ``mask`` and ``impute``) on
the same seeded 60/20/20 split. Reported on the test rows with a usable z_spec: the fraction
that gets a photo-z, σ_NMAD, σ_rms, outlier fraction and 68 % coverage on the rows with every
band and on the rows missing one or more bands. Writes
``benchmarks/results/missing_bands.json``. Nothing here is tuned on the test split.
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
from accuracy import versions, write_json_atomic  # noqa: E402  (benchmarks/accuracy.py)

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
    }


def run(seeds: list[int], policies: list[str]) -> dict:
    from photcat.catalogs import read
    from photcat.features.spec import FeatureSpec
    from photcat.models.base import predict_dist
    from photcat.pipeline.training import assign_splits, fit_model

    table = read(BOSS, "annz2").table
    zok = table["flag_zspec"].to_numpy() == 0
    complete = (np.column_stack([table[f"flag_{b}"].to_numpy() for b in "ugriz"]) == 0).all(1)
    out = []
    for seed in seeds:
        split = assign_splits(len(table), (0.6, 0.2), seed)
        test = (split == "test") & zok
        ts = table.assign(split=split)[zok].reset_index(drop=True)
        for policy in policies:
            spec = FeatureSpec(
                tuple("ugriz"),
                reference_band="r",
                flag_policy=policy,
                min_bands=2 if policy == "drop" else 3,
                magnitudes="asinh",
            )
            t0 = time.perf_counter()
            fitted = fit_model(
                ts, target="photoz", model="normal-committee", params={}, spec=spec, seed=seed
            )
            seconds = time.perf_counter() - t0
            feats = fitted.spec.build(table)
            use = feats.usable & test
            idx = np.flatnonzero(use)
            pred = predict_dist(fitted.model, feats.X[idx], feats.errors[idx])
            z = table["z_spec"].to_numpy(float)[idx]
            full = complete[idx]
            row = {
                "seed": seed,
                "policy": policy,
                "min_bands": spec.min_bands,
                "fit_seconds": round(seconds, 1),
                "test_rows": int(test.sum()),
                "test_rows_missing_a_band": int((test & ~complete).sum()),
                "fraction_with_photoz": float(use.sum() / test.sum()),
                "complete_rows": _scores(_take(pred, full), z[full]),
                "rows_missing_bands": _scores(_take(pred, ~full), z[~full]),
            }
            print(json.dumps(row), flush=True)
            out.append(row)
    return {"boss_dr10": out}


def _take(pred, mask: np.ndarray):
    from photcat.models.predictions import MixturePrediction

    return MixturePrediction(pred.weights[mask], pred.means[mask], pred.stds[mask], pred.lower)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--policies", default="drop,mask,impute")
    ap.add_argument("--output", type=Path, default=RESULTS / "missing_bands.json")
    args = ap.parse_args(argv)
    if not BOSS.exists():
        print(f"{BOSS} is absent: nothing measured", file=sys.stderr)
        return 0
    t0 = time.time()
    res = run([int(s) for s in args.seeds.split(",")], args.policies.split(","))
    doc = {
        "benchmark": "missing_bands",
        "command": " ".join(
            [".venv/bin/python", "benchmarks/missing_bands.py", *(argv or sys.argv[1:])]
        ),  # fmt: skip
        "model": "normal-committee (default parameters), ugriz colours + r, asinh magnitudes",
        "versions": versions(),
        "datasets": res,
        "seconds": round(time.time() - t0, 1),
    }
    write_json_atomic(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
