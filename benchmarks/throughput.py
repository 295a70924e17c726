"""Prediction throughput and peak memory: end to end, bare forward pass, references, scaling.

Run from the repository root::

    .venv/bin/python benchmarks/throughput.py            # 1 M and 10 M rows (about 12 min on 2 busy cores)
    .venv/bin/python benchmarks/throughput.py --quick    # 200 k and 1 M rows, fewer epochs

Writes ``benchmarks/results/throughput.json`` and the table between the ``throughput``
markers of ``docs/performance.md`` (both atomically).

What it measures (all on this machine; the load average before each step is recorded, since
other processes sharing the cores slow every figure down):

1. training time of the default photo-z committee (``normal-committee``: 5 ``NormalMLP``)
   on the BOSS DR10 training split with ``--epochs`` epochs (the default model trains up to
   300 epochs with early stopping; the time per epoch is reported so it can be scaled), and
   of the default quiescent committee (``bernoulli-committee``) on the shipped SDSS sample;
2. input catalogues of 1 M and 10 M rows made by resampling the real BOSS rows with a
   0.01 mag Gaussian jitter on every magnitude, written as Parquet in 250 k-row row groups;
3. end to end (``photcat predict``: read Parquet -> features -> photo-z committee + quiescent
   committee -> PDF on 101 points, quantiles -> write a folder of Parquet parts + manifest),
   each size in a fresh subprocess, with ``--workers`` local processes; wall time with and
   without the one-off model loading (TensorFlow start-up), peak RSS of the largest process
   (``ru_maxrss``) and of the whole process tree (psutil, sampled every 0.1 s);
4. in the same run, the bare compiled forward pass (both committees) on an in-memory float32
   feature array of the 1 M rows (one thread, and two threads on two halves), the estimator's
   own numpy forward pass, Keras ``model.predict`` on 100 k rows, and scikit-learn's
   ``HistGradientBoostingRegressor.predict`` (fitted on the BOSS training split) on the same
   rows;
5. scaling with 1 and 2 Dask workers (``LocalCluster``, one thread each, models loaded on the
   workers before timing) on the 1 M-row catalogue;
6. rest-frame U−V, V−J (kcorrect), which is optional per run (``--no-restframe``), measured
   separately on 20 k rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BOSS = DATA / "boss_dr10_annz2" / "boss_dr10_ugriz_specz.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"
PARTITION_ROWS = 250_000
SEED = 20261127


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_child(code: str, env: dict | None = None) -> dict:
    """Run python ``code`` in a fresh process; its last stdout line is JSON. Adds memory use."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        cwd=ROOT,
    )
    peak_tree = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [ps, *ps.children(recursive=True)]
            peak_tree = max(peak_tree, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_tree_mb"] = round(peak_tree / 2**20, 1)
    return res


# ----------------------------------------------------------------------------- steps


def train_models(work: Path, epochs: int) -> dict:
    """Default committees with ``epochs`` epochs, trained through ``photcat train``."""
    out = {}
    jobs = {
        "photoz": [
            "--catalog", str(BOSS), "--schema", "annz2", "--target", "photoz",
            "--model", "normal-committee",
        ],
        "quiescent": [
            "--target", "quiescent", "--model", "bernoulli-committee", "--bands", "u,g,r,i,z",
        ],
    }  # fmt: skip
    for target, args in jobs.items():
        folder = work / f"{target}-model"
        cmd = [
            sys.executable, "-m", "photcat.pipeline.cli", "train", *args,
            "--params", json.dumps({"epochs": epochs}), "--out", str(folder),
        ]  # fmt: skip
        if target == "quiescent":  # the shipped SDSS+2MASS sample, UVJ labels from kcorrect
            from photcat.catalogs import sample_path

            cmd[cmd.index("--target") : cmd.index("--target")] = ["--catalog", str(sample_path())]
        la = loadavg()
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
        if res.returncode:
            raise RuntimeError(res.stderr[-3000:])
        manifest = json.loads((folder / "manifest.json").read_text())
        cfg = manifest["config"]
        out[target] = {
            "model": cfg["model"],
            "folder": str(folder),
            "epochs": epochs,
            "n_train": cfg["n_train"],
            "fit_seconds": round(cfg["training_seconds"], 1),
            "command_seconds": round(time.perf_counter() - t0, 1),
            "fit_seconds_per_epoch": round(cfg["training_seconds"] / epochs, 2),
            "validation": {
                k: round(v, 4)
                for k, v in (manifest.get("metrics") or {}).items()
                if isinstance(v, float)
            },
            "loadavg_before": la,
        }
        log(f"trained {target}: {out[target]['fit_seconds']} s")
    return out


def make_catalog(path: Path, n: int) -> dict:
    """``n`` BOSS rows resampled with 0.01 mag jitter, streamed to Parquet."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = pd.read_csv(BOSS).drop(columns=["src_file"])
    rng = np.random.default_rng(SEED + n)
    t0 = time.perf_counter()
    writer = None
    try:
        for start in range(0, n, PARTITION_ROWS):
            k = min(PARTITION_ROWS, n - start)
            df = src.iloc[rng.integers(0, len(src), k)].reset_index(drop=True)
            for b in "UGRIZ":
                df[f"MAG_{b}"] += rng.normal(0.0, 0.01, k)
            t = pa.Table.from_pandas(df, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, t.schema, compression="zstd")
            writer.write_table(t, row_group_size=k)
    finally:
        if writer is not None:
            writer.close()
    return {"rows": n, "bytes": path.stat().st_size, "seconds": round(time.perf_counter() - t0, 1)}


E2E = """
import json, os, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from photcat.pipeline import stream
from photcat.pipeline.loader import load_model
from photcat.pipeline.vac import PredictConfig
models = [load_model(m) for m in {models!r}]
t1 = time.perf_counter()
man = stream.predict_catalog({catalog!r}, {models!r}, {out!r}, schema="annz2",
    partition_rows={rows}, config=PredictConfig((0.0, 1.0, {nz}), restframe=False),
    workers={workers})
t2 = time.perf_counter()
ru_self = resource.getrusage(resource.RUSAGE_SELF)
ru_ch = resource.getrusage(resource.RUSAGE_CHILDREN)
# this process's own peak (VmHWM): ru_maxrss would include the peak of the benchmark process
# it was forked from, which has read a whole catalogue to measure the compute limits
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"rows": man["rows"], "partitions": len(man["partitions"]),
    "load_seconds": t1 - t0, "predict_seconds": t2 - t1,
    "cpu_seconds": ru_self.ru_utime + ru_self.ru_stime + ru_ch.ru_utime + ru_ch.ru_stime,
    "peak_rss_self_mb": hwm / 1024, "peak_rss_children_mb": ru_ch.ru_maxrss / 1024,
    "output_bytes": sum(e["bytes"] for e in man["partitions"])}}))
"""


def end_to_end(catalog: Path, models: list[str], out: Path, workers: int, nz: int = 101) -> dict:
    la = loadavg()
    t0 = time.perf_counter()
    res = run_child(
        E2E.format(
            models=models,
            catalog=str(catalog),
            out=str(out),
            rows=PARTITION_ROWS,
            workers=workers,
            nz=nz,
        )
    )
    wall = time.perf_counter() - t0
    n = res["rows"]
    res.update(
        workers=workers,
        pdf_nz=nz,
        wall_seconds=round(wall, 2),
        objects_per_s_wall=round(n / wall),
        objects_per_s_predict=round(n / res["predict_seconds"]),
        peak_rss_mb=round(max(res["peak_rss_self_mb"], res["peak_rss_children_mb"]), 1),
        loadavg_before=la,
    )
    for k in ("load_seconds", "predict_seconds", "cpu_seconds", "peak_rss_self_mb",
              "peak_rss_children_mb"):  # fmt: skip
        res[k] = round(res[k], 2)
    log(f"end to end {n:,} rows, {workers} workers: {res['objects_per_s_predict']:,}/s")
    return res


def compute_limits(catalog: Path, models: list[str]) -> dict:
    """Bare forward pass, the estimators' own predict, Keras predict, HGBR predict."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.ensemble import HistGradientBoostingRegressor

    from photcat.catalogs import read
    from photcat.catalogs.partitions import plan, read_partition
    from photcat.models import persistence
    from photcat.models.base import predict_dist
    from photcat.models.forward import single_thread_blas
    from photcat.pipeline.loader import load_model

    pz, q = (load_model(m) for m in models)
    est_pz, est_q = (persistence.load_model(m) for m in models)  # through Keras
    table, _ = read_partition(plan(catalog, 10**12)[0], "annz2")
    feats = pz.spec.build(table)
    X = np.ascontiguousarray(feats.X[feats.usable])
    E = np.ascontiguousarray(feats.errors[feats.usable])  # the photo-z networks take errors too
    fz, fq = pz.predictor, q.predictor
    out: dict = {"rows": int(len(X)), "loadavg_before": loadavg()}

    def forward(Xs, Es):
        return predict_dist(fz, Xs, Es), predict_dist(fq, Xs, Es)

    with single_thread_blas():
        forward(X[:10_000], E[:10_000])
        t0 = time.perf_counter()
        forward(X, E)
        dt = time.perf_counter() - t0
        out["forward_1_thread_objects_per_s"] = round(len(X) / dt)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(forward, np.array_split(X, 2), np.array_split(E, 2)))
        dt = time.perf_counter() - t0
        out["forward_2_threads_objects_per_s"] = round(len(X) / dt)
        m = 200_000
        t0 = time.perf_counter()
        predict_dist(est_pz, X[:m], E[:m]), predict_dist(est_q, X[:m], E[:m])
        out["estimator_predict_dist_objects_per_s"] = round(m / (time.perf_counter() - t0))
    k = 100_000
    t0 = time.perf_counter()
    for member in [*est_pz.members_, *est_q.members_]:
        errors = E[:k] if member.error_mode in ("inputs", "both") else None
        member.keras_raw_outputs(X[:k], errors)  # model(Z, training=False) in 65,536-row blocks
    out["keras_predict_objects_per_s"] = round(k / (time.perf_counter() - t0))
    boss = read(BOSS, "annz2").table
    boss = boss[boss["flag_zspec"].to_numpy() == 0]
    fb = pz.spec.build(boss)
    hgb = HistGradientBoostingRegressor(random_state=0).fit(
        fb.X[fb.usable], boss["z_spec"].to_numpy()[fb.usable]
    )
    hgb.predict(X[:10_000])
    t0 = time.perf_counter()
    hgb.predict(X)
    out["hgbr_predict_objects_per_s"] = round(len(X) / (time.perf_counter() - t0))
    out["hgbr_threads"] = "OpenMP, all cores"
    log(f"compute limits: {out}")
    return out


DASK = """
import json, time
from pathlib import Path
from distributed import Client, LocalCluster
from photcat.pipeline import stream
def warm(models):
    from photcat.pipeline.loader import load_model
    for m in models:
        load_model(m)
    return True
if __name__ == "__main__":
    with LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        client.run(warm, {models!r})
        t1 = time.perf_counter()
        man = stream.predict_catalog({catalog!r}, {models!r}, {out!r}, schema="annz2",
            partition_rows={rows}, dask_scheduler=client)
        t2 = time.perf_counter()
    print(json.dumps({{"rows": man["rows"], "warm_seconds": t1 - t0, "predict_seconds": t2 - t1}}))
"""


def dask_scaling(catalog: Path, models: list[str], work: Path) -> list[dict]:
    rows = []
    for w in (1, 2):
        script = work / f"dask_{w}.py"
        script.write_text(
            DASK.format(
                workers=w,
                models=models,
                catalog=str(catalog),
                out=str(work / f"dask-out-{w}"),
                rows=PARTITION_ROWS,
            )  # fmt: skip
        )
        la = loadavg()
        res = run_child(f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')")
        res.update(
            workers=w,
            objects_per_s=round(res["rows"] / res["predict_seconds"]),
            warm_seconds=round(res["warm_seconds"], 1),
            predict_seconds=round(res["predict_seconds"], 2),
            loadavg_before=la,
        )
        rows.append(res)
        log(f"dask {w} workers: {res['objects_per_s']:,}/s")
    return rows


def restframe_rate(catalog: Path, models: list[str], n: int = 20_000) -> dict:
    from photcat.catalogs.partitions import plan, read_partition
    from photcat.pipeline import vac
    from photcat.pipeline.loader import load_model

    table, _ = read_partition(plan(catalog, 1)[0], "annz2")
    table = table.iloc[:n].reset_index(drop=True)
    lms = [load_model(m) for m in models]
    vac.predict_columns(table.iloc[:2000], lms, grid=None, restframe=True)  # kcorrect set-up
    t0 = time.perf_counter()
    vac.predict_columns(table, lms, grid=None, restframe=True)
    with_rf = time.perf_counter() - t0
    t0 = time.perf_counter()
    vac.predict_columns(table, lms, grid=None, restframe=False)
    without = time.perf_counter() - t0
    return {
        "rows": n,
        "objects_per_s_with_restframe": round(n / with_rf),
        "objects_per_s_restframe_only": round(n / max(with_rf - without, 1e-9)),
        "note": "rest-frame U-V, V-J (kcorrect templates) at z_spec (BOSS rows have one), else photoz_q50",
    }


# ----------------------------------------------------------------------------- report


def table_md(res: dict) -> str:
    e2e = res["end_to_end"]
    lim = res["compute_limits"]
    lines = [
        "| path | rows | objects/s | peak RSS (MB) | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in [*e2e, *([res["end_to_end_no_pdf"]] if "end_to_end_no_pdf" in res else [])]:
        pdf = "" if r.get("pdf_nz", 101) else ", no gridded PDF (`--pdf-nz 0`)"
        lines.append(
            f"| end to end, {r['workers']} local processes{pdf} | {r['rows']:,} | "
            f"{r['objects_per_s_predict']:,} ({r['objects_per_s_wall']:,} incl. start-up) | "
            f"{r['peak_rss_mb']:,} per process, {r['peak_rss_tree_mb']:,} all | "
            f"{r['partitions']} partitions; load avg {r['loadavg_before']} |"
        )
    n = lim["rows"]
    lines += [
        f"| bare forward pass, 1 thread | {n:,} | {lim['forward_1_thread_objects_per_s']:,} | | in-memory float32 features, both committees |",
        f"| bare forward pass, 2 threads | {n:,} | {lim['forward_2_threads_objects_per_s']:,} | | two halves in two threads (numpy releases the GIL) |",
        f"| estimators' own numpy predict (float64) | 200,000 | {lim['estimator_numpy_float64_objects_per_s']:,} | | before this work's forward pass |",
        f"| Keras `model.predict`, 10 networks | 100,000 | {lim['keras_predict_objects_per_s']:,} | | |",
        f"| scikit-learn HistGradientBoostingRegressor.predict | {n:,} | {lim['hgbr_predict_objects_per_s']:,} | | default 100 trees, OpenMP on all cores |",
    ]
    for r in res["dask"]:
        lines.append(
            f"| Dask LocalCluster, {r['workers']} worker(s) | {r['rows']:,} | {r['objects_per_s']:,} | "
            f"{r['peak_rss_tree_mb']:,} all | models pre-loaded ({r['warm_seconds']} s) |"
        )
    rf = res.get("restframe")
    if rf:
        lines.append(
            f"| with rest-frame UVJ (kcorrect), 1 process | {rf['rows']:,} | {rf['objects_per_s_with_restframe']:,} | | optional, `--no-restframe` skips it |"
        )
    return "\n".join(lines)


def targets(res: dict) -> dict:
    e2e = {r["rows"]: r for r in res["end_to_end"]}
    small, big = min(e2e), max(e2e)
    best = max(r["objects_per_s_predict"] for r in res["end_to_end"])
    lim = res["compute_limits"]
    fwd = max(lim["forward_1_thread_objects_per_s"], lim["forward_2_threads_objects_per_s"])
    mem_ratio = e2e[big]["peak_rss_tree_mb"] / e2e[small]["peak_rss_tree_mb"]
    return {
        "end_to_end_objects_per_s": best,
        "target_1e6_per_s_met": best >= 1_000_000,
        "peak_memory_ratio_big_over_small": round(mem_ratio, 3),
        "memory_within_10_percent": mem_ratio <= 1.10,
        "end_to_end_over_forward": round(best / fwd, 3),
        "end_to_end_at_least_half_forward": best >= 0.5 * fwd,
    }


def write_outputs(res: dict, command: str) -> None:
    from photcat.fileio import write_bytes, write_json

    write_json(RESULTS / "throughput.json", res)
    if not DOC.exists():
        return
    text = DOC.read_text()
    begin, end = "<!-- throughput:begin -->", "<!-- throughput:end -->"
    if begin in text and end in text:
        t = res["targets"]
        block = (
            f"{begin}\nMeasured {res['date']} with `{command}` on {res['machine']}.\n\n"
            + table_md(res)
            + "\n\nTargets: end to end "
            + f"{t['end_to_end_objects_per_s']:,} objects/s (target 1,000,000: "
            + ("met" if t["target_1e6_per_s_met"] else "not met")
            + f"); peak memory {max(res['sizes']):,} rows / {min(res['sizes']):,} rows = "
            + f"{t['peak_memory_ratio_big_over_small']} (target <= 1.10: "
            + ("met" if t["memory_within_10_percent"] else "not met")
            + f"); end to end / best bare forward pass = {t['end_to_end_over_forward']} "
            + "(target >= 0.5: "
            + ("met" if t["end_to_end_at_least_half_forward"] else "not met")
            + ").\n"
            + end
        )
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
        write_bytes(DOC, text.encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 k and 1 M rows, 3 epochs")
    ap.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default 10; quick 3)"
    )
    ap.add_argument("--workers", type=int, default=2, help="local processes end to end")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--models", nargs=2, default=None, help="reuse two trained model folders")
    args = ap.parse_args()
    if not BOSS.exists():
        sys.exit(f"BOSS data not found at {BOSS}: set PHOTCAT_SHARED_DATA")
    sizes = [200_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
    epochs = args.epochs or (3 if args.quick else 10)
    work = Path(args.work or tempfile.mkdtemp(prefix="photcat-throughput-"))
    work.mkdir(parents=True, exist_ok=True)
    from photcat import __version__
    from photcat.models.persistence import package_versions

    res: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Linux",
        "photcat_version": __version__,
        "versions": package_versions(),
        "sizes": sizes,
        "partition_rows": PARTITION_ROWS,
        "pdf_grid": [0.0, 1.0, 101],
        "seed": SEED,
    }
    if args.models:
        res["training"] = {"reused_models": args.models}
        models = [str(Path(m).resolve()) for m in args.models]
    else:
        res["training"] = train_models(work, epochs)
        models = [res["training"]["photoz"]["folder"], res["training"]["quiescent"]["folder"]]
    cats = {}
    for n in sizes:
        cats[n] = work / f"boss-{n}.parquet"
        if not cats[n].exists():
            res.setdefault("inputs", {})[n] = make_catalog(cats[n], n)
            log(f"made {n:,} rows")
    res["compute_limits"] = compute_limits(
        cats[min(sizes, key=lambda s: abs(s - 1_000_000))], models
    )
    res["end_to_end"] = []
    for n in sizes:
        res["end_to_end"].append(end_to_end(cats[n], models, work / f"out-{n}", args.workers))
        shutil.rmtree(work / f"out-{n}", ignore_errors=True)
    mid = min(sizes, key=lambda s: abs(s - 1_000_000))
    res["end_to_end_no_pdf"] = end_to_end(cats[mid], models, work / "out-nopdf", args.workers, 0)
    shutil.rmtree(work / "out-nopdf", ignore_errors=True)
    res["dask"] = dask_scaling(cats[min(sizes, key=lambda s: abs(s - 1_000_000))], models, work)
    res["restframe"] = restframe_rate(cats[min(sizes)], models)
    res["targets"] = targets(res)
    write_outputs(res, res["command"])
    print(table_md(res))
    print(json.dumps(res["targets"], indent=1))


if __name__ == "__main__":
    main()
