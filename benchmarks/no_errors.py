"""Photo-z from a catalogue without magnitude errors against the same catalogue with them.

Run from the repository root::

    .venv/bin/python benchmarks/no_errors.py [--seeds 0,1,2]

For each shared data set (BOSS DR10 via the ``annz2`` preset; ANNz SDSS train + valid files
via ``annz``) the file is read twice: as it is, and with a schema that has no error columns
(what ``photcat train`` sees for a SkyServer-style table). The default photo-z committee
(``normal-committee``, default parameters) is trained on each through
:func:`photcat.pipeline.training.fit_model` (without errors it drops its error inputs by
itself), with the same seeded 60/20/20 split of rows, and scored on the test rows usable in
both readings. Reported per seed: σ_NMAD, σ_rms and outlier fraction of both, the ratio of
σ_NMAD (no errors / errors) with a paired-bootstrap 95 % interval (1,000 resamples of the
test rows). Writes ``benchmarks/results/no_errors.json``.
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
import pandas as pd
from accuracy import versions, write_json_atomic  # noqa: E402  (benchmarks/accuracy.py)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"


def _tables() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    from photcat.catalogs import read

    out = {}
    boss = DATA / "boss_dr10_annz2" / "boss_dr10_ugriz_specz.csv.gz"
    if boss.exists():
        out["boss_dr10"] = (
            read(boss, "annz2").table,
            read(boss, {"preset": "annz2", "magerr": None}).table,
        )
    annz = [DATA / "annz_sdss" / f"sdss.ugriz.{k}" for k in ("train", "valid")]
    if all(p.exists() for p in annz):
        noerr = {"bands": list("ugriz"), "mag": "{b}", "z": "z_spec"}
        out["annz_sdss"] = (
            pd.concat([read(p, "annz").table for p in annz], ignore_index=True),
            pd.concat([read(p, noerr).table for p in annz], ignore_index=True),
        )
    return out


def _metrics(pred_mean: np.ndarray, z: np.ndarray) -> dict[str, float]:
    from photcat.models import metrics as M

    m = M.point_metrics(pred_mean, z)
    return {k: m[k] for k in ("sigma_nmad", "sigma_rms", "outlier_fraction")}


def run(seeds: list[int]) -> dict:
    from photcat.features.spec import FeatureSpec
    from photcat.models import metrics as M
    from photcat.models.base import predict_dist
    from photcat.pipeline.training import assign_splits, fit_model

    results: dict = {}
    for name, (with_err, without) in _tables().items():
        per_seed = []
        for seed in seeds:
            split = assign_splits(len(with_err), (0.6, 0.2), seed)
            spec = FeatureSpec(tuple("ugriz"), reference_band="r", magnitudes="asinh")
            preds, usable = {}, {}
            for label, table in (("errors", with_err), ("no_errors", without)):
                ts = table.assign(split=split)
                ok = ts["flag_zspec"].to_numpy() == 0
                ts = ts[ok].reset_index(drop=True)
                t0 = time.perf_counter()
                fitted = fit_model(
                    ts, target="photoz", model="normal-committee", params={}, spec=spec, seed=seed
                )
                feats = fitted.spec.build(table)
                E = None if fitted.notes.get("magnitude_errors") is False else feats.errors
                use = feats.usable & (split == "test") & (table["flag_zspec"].to_numpy() == 0)
                mean = np.full(len(table), np.nan)
                idx = np.flatnonzero(use)
                mean[idx] = predict_dist(
                    fitted.model, feats.X[idx], None if E is None else E[idx]
                ).mean()
                preds[label], usable[label] = mean, use
                print(f"{name} seed {seed} {label}: fit {time.perf_counter() - t0:.0f} s, "
                      f"notes {fitted.notes}", flush=True)  # fmt: skip
            both = usable["errors"] & usable["no_errors"]
            z = with_err["z_spec"].to_numpy(float)[both]
            a, b = preds["errors"][both], preds["no_errors"][both]
            rng = np.random.default_rng(seed)
            ratios = []
            for _ in range(1000):
                k = rng.integers(0, z.size, z.size)
                eb, ea = (b[k] - z[k]) / (1 + z[k]), (a[k] - z[k]) / (1 + z[k])
                ratios.append(M.sigma_nmad(eb) / M.sigma_nmad(ea))
            row = {
                "seed": seed,
                "test_rows_both": int(both.sum()),
                "test_rows_errors": int(usable["errors"].sum()),
                "test_rows_no_errors": int(usable["no_errors"].sum()),
                "errors": _metrics(a, z),
                "no_errors": _metrics(b, z),
            }
            row["ratio_sigma_nmad"] = row["no_errors"]["sigma_nmad"] / row["errors"]["sigma_nmad"]
            row["ratio_ci95"] = [float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))]  # fmt: skip
            per_seed.append(row)
            print(json.dumps(row), flush=True)
        results[name] = per_seed
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--output", type=Path, default=RESULTS / "no_errors.json")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    t0 = time.time()
    res = run(seeds)
    if not res:
        print(f"no shared data under {DATA}: nothing measured", file=sys.stderr)
        return 0
    out = {
        "benchmark": "no_errors",
        "command": " ".join(
            [".venv/bin/python", "benchmarks/no_errors.py", *(argv or sys.argv[1:])]
        ),
        "model": "normal-committee (default parameters), FeatureSpec ugriz colours + r, asinh",
        "seeds": seeds,
        "versions": versions(),
        "datasets": res,
        "seconds": time.time() - t0,
    }
    write_json_atomic(out, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
