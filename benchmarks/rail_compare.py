"""photcat beside RAIL's FlexZBoost and kNN estimators, all scored by the same RAIL evaluators.

Needs ``pip install -e '.[rail-compare]'`` (pz-rail-base, qp-prob, pz-rail-flexzboost,
pz-rail-sklearn). Every estimator runs through RAIL's own ``inform`` / ``estimate`` with its
defaults (no tuning), on the same bands, the same training rows and the same test rows:

- ``annz``: the ANNz v1 SDSS example files, training ``sdss.ugriz.train`` (5,000 rows), test
  ``sdss.ugriz.valid`` (1,000 rows);
- ``boss``: BOSS DR10 from ANNZ2's examples, split as ANNZ2 split it (``src_file``): the
  ``train/`` files (22,623 rows) for training, the ``eval/`` files (1,998 rows) for test.

Each estimator's ``qp.Ensemble`` on the grid 0 ≤ z ≤ ``zmax`` (301 points) is scored with
RAIL's ``PointToPointEvaluator`` (exact mode) on the median that RAIL computes from the
ensemble (``calculated_point_estimates=["zmedian"]``, recomputed for every estimator, so the
point estimate is made the same way for all), and with ``DistToPointEvaluator`` (PIT → KS and
68 % coverage, CDE loss). photcat runs with three model seeds; the intervals are 95 %
paired-bootstrap intervals (2,000 resamples of the test rows) of photcat (seed 0) minus the
peer. Results: ``benchmarks/results/rail_compare.json`` and ``.md``.

    .venv/bin/python benchmarks/rail_compare.py [--samples annz,boss] [--seeds 0,1,2]
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
BANDS = [f"mag_{b}_sdss" for b in "ugriz"]
ERRS = [f"mag_err_{b}_sdss" for b in "ugriz"]
# used only to replace magnitudes equal to nondetect_val (99), which neither sample holds:
# SDSS 95 % completeness limits for point sources (SDSS DR7 "Imaging caveats": u 22.0,
# g 22.2, r 22.2, i 21.3, z 20.5)
MAG_LIMITS = dict(zip(BANDS, [22.0, 22.2, 22.2, 21.3, 20.5], strict=True))
NZ = 301
BOOT = 2000


def _annz(path: Path) -> dict[str, np.ndarray]:
    a = np.loadtxt(path)
    d = {c: a[:, i] for i, c in enumerate(BANDS)}
    d.update({c: a[:, 5 + i] for i, c in enumerate(ERRS)})
    d["redshift"] = a[:, 10]
    return d


def _boss() -> tuple[dict, dict]:
    df = pd.read_csv(SHARED / "boss_dr10_annz2" / "boss_dr10_ugriz_specz.csv.gz")
    out = []
    for part in ("/train/", "/eval/"):
        rows = df[df["src_file"].str.contains(part, regex=False)]
        # writable copies: FlexZBoost replaces non-detections in place
        d = {c: np.array(rows[f"MAG_{b.upper()}"], dtype=float) for c, b in zip(BANDS, "ugriz")}  # noqa: B905
        d |= {c: np.array(rows[f"MAGERR_{b.upper()}"], dtype=float) for c, b in zip(ERRS, "ugriz")}  # noqa: B905
        d["redshift"] = np.array(rows["Z"], dtype=float)
        out.append(d)
    return out[0], out[1]


def samples(names: list[str]) -> dict[str, tuple[dict, dict, float]]:
    """name -> (training table, test table, grid zmax)."""
    out = {}
    if "annz" in names:
        folder = SHARED / "annz_sdss"
        out["annz"] = (_annz(folder / "sdss.ugriz.train"), _annz(folder / "sdss.ugriz.valid"), 1.0)
    if "boss" in names:
        tr, te = _boss()
        out["boss"] = (tr, te, 1.5)
    return out


def _grid(zmax: float) -> dict:
    return dict(zmin=0.0, zmax=zmax, nzbins=NZ)


def estimators(zmax: float, seeds: list[int]) -> list[tuple[str, type, type, dict, dict]]:
    """(label, informer class, estimator class, informer config, estimator config)."""
    from rail.estimation.algos.flexzboost import FlexZBoostEstimator, FlexZBoostInformer
    from rail.estimation.algos.k_nearneigh import KNearNeighEstimator, KNearNeighInformer

    from photcat.interop.rail_stages import PhotcatEstimator, PhotcatInformer

    rail_common = dict(
        bands=BANDS,
        err_bands=ERRS,
        ref_band="mag_r_sdss",
        mag_limits=MAG_LIMITS,
        hdf5_groupname="",
        **_grid(zmax),
    )
    out = [
        ("FlexZBoost", FlexZBoostInformer, FlexZBoostEstimator, rail_common, rail_common),
        ("kNN (KNearNeigh)", KNearNeighInformer, KNearNeighEstimator, rail_common, rail_common),
    ]
    pc = dict(bands=BANDS, err_bands=ERRS, hdf5_groupname="")
    for s in seeds:
        out.append(
            (
                f"photcat seed {s}",
                PhotcatInformer,
                PhotcatEstimator,
                {**pc, "seed": s},
                {**pc, **_grid(zmax)},
            )
        )
    return out


def evaluate(ens, z: np.ndarray, tag: str, zmax: float) -> dict:
    """RAIL's evaluators on one ensemble (``zmedian`` recomputed by RAIL for every estimator)."""
    from qp.metrics.pit import PIT
    from rail.evaluation.dist_to_point_evaluator import DistToPointEvaluator
    from rail.evaluation.point_to_point_evaluator import PointToPointEvaluator

    points = ["point_stats_sigma_mad", "point_outlier_rate", "point_bias", "point_stats_iqr"]
    ev = PointToPointEvaluator.make_stage(
        name=f"pp_{tag}",
        metrics=points,
        point_estimate_key="zmedian",
        reference_dictionary_key="redshift",
        hdf5_groupname="photometry",
        force_exact=True,
        output_mode="return",
    )
    summary = ev.evaluate(ens, {"photometry": {"redshift": z}})["summary"].data
    dist = DistToPointEvaluator.make_stage(
        name=f"dp_{tag}",
        metrics=["cdeloss"],
        reference_dictionary_key="redshift",
        hdf5_groupname="",
        force_exact=True,
        output_mode="return",
        metric_integration_limits=[0.0, zmax],
    )
    d = dist.evaluate(ens, {"redshift": z})
    pit = PIT(ens, z)  # what the evaluator's "pit" metric computes
    u = np.asarray(pit.pit_samps)
    out = {k: float(v[0]) for k, v in summary.items()}
    out["cdeloss"] = float(d["summary"].data["cdeloss"][0])
    out["pit_ks"] = float(pit.evaluate_PIT_KS().statistic)
    out["coverage_68"] = float(np.mean((u >= 0.158655) & (u <= 0.841345)))
    return out


def bootstrap(za: np.ndarray, zb: np.ndarray, z: np.ndarray, seed: int = 0) -> dict:
    """95 % paired-bootstrap intervals of a − b in RAIL's sigma_MAD and outlier rate."""
    from qp.metrics.point_estimate_metric_classes import PointOutlierRate, PointSigmaMAD

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(z), size=(BOOT, len(z)))
    smad, outl = PointSigmaMAD(), PointOutlierRate()
    d_s = [smad.evaluate(za[i], z[i]) - smad.evaluate(zb[i], z[i]) for i in idx]
    d_o = [outl.evaluate(za[i], z[i]) - outl.evaluate(zb[i], z[i]) for i in idx]
    return {
        "sigma_mad": [float(np.percentile(d_s, 2.5)), float(np.percentile(d_s, 97.5))],
        "outlier_rate": [float(np.percentile(d_o, 2.5)), float(np.percentile(d_o, 97.5))],
    }


def photcat_parity(model, test: dict) -> dict:
    """photcat's own metrics (photcat.models.metrics) beside RAIL's on the same predictions."""
    from qp.metrics.point_estimate_metric_classes import PointOutlierRate, PointSigmaMAD

    from photcat.interop import rail_stages
    from photcat.interop.qp_ensembles import mixture
    from photcat.models.metrics import _outlier_fraction, pdf_metrics, point_metrics, sigma_nmad
    from photcat.pipeline.vac import predict_columns

    class _Cfg(dict):
        __getattr__ = dict.__getitem__

    cfg = _Cfg(
        bands=BANDS, err_bands=ERRS, photcat_bands=[], redshift_col="redshift", id_col="",
        nondetect_val=99.0, nonobserved_val=-99.0, mag_system="pogson",
    )  # fmt: skip
    table = rail_stages.canonical_table(test, cfg)
    cols, arrays = predict_columns(table, [model.load()], grid=None)
    pred, bad = mixture(arrays["photoz_weights"], arrays["photoz_means"], arrays["photoz_stds"])
    assert not bad.any()
    z = test["redshift"]
    ours = {**point_metrics(cols["photoz_mean"].to_numpy(), z), **pdf_metrics(pred, z)}
    e_mean = cols["photoz_mean"].to_numpy()
    return {
        "sigma_nmad (mean)": {
            "photcat": sigma_nmad((e_mean - z) / (1 + z)),
            "RAIL PointSigmaMAD exact": float(PointSigmaMAD().evaluate(e_mean, z)),
        },
        "outlier fraction (mean)": {
            "photcat |e| > 0.15": float(_outlier_fraction((e_mean - z) / (1 + z))),
            "RAIL PointOutlierRate max(0.06, 3 sigma_IQR)": float(
                PointOutlierRate().evaluate(e_mean, z)
            ),
        },
        "photcat pdf metrics": {k: ours[k] for k in ("pit_ks", "coverage_68", "crps")},
    }


def run_sample(
    name: str, train: dict, test: dict, zmax: float, seeds: list[int], work: Path
) -> dict:
    from rail.core.data import DataStore

    DataStore.allow_overwrite = True
    z = test["redshift"]
    rows, medians = [], {}
    for label, Inf, Est, icfg, ecfg in estimators(zmax, seeds):
        tag = f"{name}_{label.split()[0].lower()}_{len(rows)}"
        t0 = time.perf_counter()
        model = Inf.make_stage(name=f"inform_{tag}", **icfg).inform(train)
        t1 = time.perf_counter()
        est = Est.make_stage(
            name=f"estimate_{tag}",
            model=model,
            calculated_point_estimates=["zmedian"],
            recompute_point_estimates=True,
            output_mode="return",
            **ecfg,
        )
        ens = est.estimate(test).data
        t2 = time.perf_counter()
        medians[label] = np.squeeze(np.asarray(ens.ancil["zmedian"], dtype=float))
        m = evaluate(ens, z, tag, zmax)
        m.update(inform_seconds=t1 - t0, estimate_seconds=t2 - t1, estimator=label)
        if label.startswith("photcat") and label.endswith(" 0"):
            m["parity"] = photcat_parity(model.data, test)
        rows.append(m)
        print(
            f"{name:5s} {label:18s} "
            + " ".join(f"{k}={v:.4f}" for k, v in m.items() if isinstance(v, float)),
            flush=True,
        )
    ref = next(k for k in medians if k.startswith("photcat"))
    intervals = {
        peer: bootstrap(medians[ref], medians[peer], z)
        for peer in medians
        if not peer.startswith("photcat")
    }
    return {
        "rows": rows,
        "n_train": len(train["redshift"]),
        "n_test": len(z),
        "zmax": zmax,
        "photcat_minus_peer_95": intervals,
    }


def versions() -> dict:
    names = ["pz-rail-base", "qp-prob", "pz-rail-flexzboost", "pz-rail-sklearn", "flexcode",
             "xgboost", "scikit-learn", "numpy", "scipy", "tensorflow", "photcat"]  # fmt: skip
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def table(results: dict) -> str:
    lines = [
        "| sample | estimator | σ_MAD | outlier rate | bias | PIT KS | coverage 68 % | CDE loss | inform s | estimate s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results["samples"].items():
        for r in res["rows"]:
            lines.append(
                f"| {name} | {r['estimator']} | {r['point_stats_sigma_mad']:.4f} | "
                f"{r['point_outlier_rate']:.4f} | {r['point_bias']:+.4f} | {r['pit_ks']:.3f} | "
                f"{r['coverage_68']:.3f} | {r['cdeloss']:.2f} | {r['inform_seconds']:.1f} | "
                f"{r['estimate_seconds']:.1f} |"
            )
    lines += ["", "photcat (seed 0) minus peer, 95 % paired-bootstrap intervals:", ""]
    lines += ["| sample | peer | Δ σ_MAD | Δ outlier rate |", "|---|---|---|---|"]
    for name, res in results["samples"].items():
        for peer, iv in res["photcat_minus_peer_95"].items():
            s, o = iv["sigma_mad"], iv["outlier_rate"]
            lines.append(
                f"| {name} | {peer} | [{s[0]:+.4f}, {s[1]:+.4f}] | [{o[0]:+.4f}, {o[1]:+.4f}] |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", default="annz,boss")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    names = [s.strip() for s in args.samples.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results = {"started": started, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
               "versions": versions(), "samples": {}}  # fmt: skip
    from photcat.fileio import write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "rail_compare.json"
    if path.exists():  # samples run before (another invocation) are kept
        old = json.loads(path.read_text())
        results["samples"] = {k: v for k, v in old.get("samples", {}).items() if k not in names}
    with tempfile.TemporaryDirectory(prefix="rail-compare-") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # RAIL stages write their model files into the working folder
        try:
            for name, (tr, te, zmax) in samples(names).items():
                res = run_sample(name, tr, te, zmax, seeds, Path(tmp))
                res.update(started=started, command=results["command"], seeds=seeds)
                results["samples"][name] = res
                write_json(path, results)  # after each sample: a later failure keeps it
        finally:
            os.chdir(cwd)
    md = table(results)
    (RESULTS / "rail_compare.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
