"""Throughput and peak memory of `photcat predict` as a user runs it, on the same rows.

Run from the repository root::

    .venv/bin/python benchmarks/throughput.py                      # 1 M and 10 M rows
    .venv/bin/python benchmarks/throughput.py --quick              # 200 k and 1 M rows
    .venv/bin/python benchmarks/throughput.py --before ../old      # also an older checkout's photcat

Writes ``benchmarks/results/throughput.json`` and the tables between the ``throughput``
markers of ``docs/performance.md`` (both atomically).

What it measures, in one run (the load average before each step is recorded, since other
processes sharing the cores slow every figure down):

1. the default committees (``normal-committee`` photo-z on the BOSS DR10 training split,
   ``bernoulli-committee`` quiescent on the shipped SDSS sample) trained through
   ``photcat train`` with ``--epochs`` epochs (prediction cost does not depend on epochs);
2. input catalogues of 1 M and 10 M rows made by resampling the real BOSS rows with a
   0.01 mag Gaussian jitter on every magnitude, Parquet in 250,000-row row groups;
3. the command line exactly as a user types it, with every default (all cores, rest-frame
   UVJ, the 101-point gridded PDF, one Parquet file)::

       photcat predict --model PHOTOZ --model QUIESCENT --catalog boss-N.parquet --schema annz2 --out vac.parquet

   (``--schema annz2``: the resampled rows keep the BOSS file's column names), then the same
   with ``--no-restframe``, with ``--pdf-nz 0``, and with both; each at both sizes in a fresh
   process. Reported: wall time, the marginal rate (N_big − N_small) / (t_big − t_small),
   which leaves out start-up, the CPU seconds of the whole process tree, and peak RSS (psutil,
   sampled every 0.1 s: the sum over the process tree and the largest single process);
   ``--before PATH`` runs the default command with the photcat of another checkout too
   (``PYTHONPATH=PATH``), same rows, same models;
4. the bare forward pass of both committees (photcat's compiled float32 forward pass on an
   in-memory feature array of the small catalogue's rows; one thread, and two threads on two
   halves) and, as the peer, ANNz-equivalent scikit-learn prediction: a committee of five
   5:10:10:1 ``MLPRegressor`` (``SklearnMLPCommittee``, fitted on the BOSS training split),
   ``predict`` on the same rows, one and two threads;
5. CPU time per stage (read, features, networks, quantiles, PDF, rest-frame fit, encode,
   write), the default configuration predicted in one process on the small catalogue
   (:mod:`photcat.timing`), in µs per object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHOTCAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BOSS = DATA / "boss_dr10_annz2" / "boss_dr10_ugriz_specz.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"
PARTITION_ROWS = 250_000
SEED = 20261127
VARIANTS = {  # name -> extra arguments of photcat predict
    "default": [],
    "no rest-frame fit": ["--no-restframe"],
    "no gridded PDF": ["--pdf-nz", "0"],
    "no rest-frame fit, no gridded PDF": ["--no-restframe", "--pdf-nz", "0"],
}


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_command(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall time, CPU seconds of its process tree, peak RSS (tree, largest)."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )  # fmt: skip
    peak_tree = peak_one = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = [p.memory_info().rss for p in [ps, *ps.children(recursive=True)]]
            peak_tree, peak_one = max(peak_tree, sum(rss)), max(peak_one, max(rss))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_tree_mb": round(peak_tree / 2**20, 1),
        "peak_rss_process_mb": round(peak_one / 2**20, 1),
        "stdout": out.strip().splitlines()[-1:] or [""],
    }


def run_child(code: str) -> dict:
    """Run python ``code`` in a fresh process; its last stdout line is JSON."""
    res = run_command([sys.executable, "-c", code])
    out = json.loads(res.pop("stdout")[0])
    return {**res, **out}


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


def photcat_cli(before: str | None = None) -> tuple[list[str], dict]:
    """The ``photcat`` command this virtualenv installs, and the environment that makes it run
    another checkout's photcat (``PYTHONPATH`` comes before the editable install)."""
    exe = Path(sys.executable).parent / "photcat"
    return [str(exe)], ({"PYTHONPATH": str(Path(before).resolve())} if before else {})


def cli_run(catalog: Path, n: int, models: list[str], out: Path, extra: list[str],
            before: str | None = None) -> dict:  # fmt: skip
    """One ``photcat predict`` exactly as typed (plus ``extra``), in a fresh process."""
    exe, env = photcat_cli(before)
    cmd = [
        *exe, "predict", "--model", models[0], "--model", models[1],
        "--catalog", str(catalog), "--schema", "annz2", "--out", str(out), *extra,
    ]  # fmt: skip
    la = loadavg()
    res = run_command(cmd, env)
    res.pop("stdout")
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    assert manifest["rows"] == n, (manifest["rows"], n)
    res.update(
        rows=n,
        command=" ".join(["photcat", *cmd[1:]]),
        workers=manifest.get("workers", 1),
        partitions=len(manifest["partitions"]),
        output_bytes=out.stat().st_size,
        objects_per_s_wall=round(n / res["wall_seconds"]),
        cpu_us_per_object=round(1e6 * res["cpu_seconds"] / n, 2),
        loadavg_before=la,
        photcat=before or "this checkout",
    )
    out.unlink()
    Path(f"{out}.manifest.json").unlink()
    log(
        f"{' '.join(extra) or 'default'} {n:,} rows ({before or 'now'}): {res['objects_per_s_wall']:,}/s"
    )
    return res


def marginal(small: dict, big: dict) -> int:
    """Objects per second between two sizes: start-up (imports, models, spawning) cancels."""
    return round(
        (big["rows"] - small["rows"]) / max(big["wall_seconds"] - small["wall_seconds"], 1e-9)
    )


def compute_limits(catalog: Path, models: list[str]) -> dict:
    """Bare forward pass of both committees and the scikit-learn ANNz-style peer."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from photcat.catalogs import read
    from photcat.catalogs.partitions import plan, read_partition
    from photcat.models.base import predict_dist
    from photcat.models.classical import SklearnMLPCommittee
    from photcat.models.forward import single_thread_blas
    from photcat.pipeline.loader import load_model

    pz, q = (load_model(m) for m in models)
    table, _ = read_partition(plan(catalog, 10**12)[0], "annz2")
    feats = pz.spec.build(table)
    X = np.ascontiguousarray(feats.X[feats.usable])
    E = np.ascontiguousarray(feats.errors[feats.usable])  # the photo-z networks take errors too
    fz, fq = pz.predictor, q.predictor
    out: dict = {"rows": int(len(X)), "loadavg_before": loadavg()}

    def forward(Xs, Es):
        return predict_dist(fz, Xs, Es), predict_dist(fq, Xs, Es)

    def rate(fn, threads: int) -> int:
        fn(X[:10_000], E[:10_000])
        t0 = time.perf_counter()
        if threads == 1:
            fn(X, E)
        else:
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(fn, np.array_split(X, threads), np.array_split(E, threads)))
        return round(len(X) / (time.perf_counter() - t0))

    with single_thread_blas():
        out["forward_1_thread_objects_per_s"] = rate(forward, 1)
        out["forward_2_threads_objects_per_s"] = rate(forward, 2)
    boss = read(BOSS, "annz2").table
    boss = boss[boss["flag_zspec"].to_numpy() == 0]
    fb = pz.spec.build(boss)
    rng = np.random.default_rng(SEED)
    train = rng.random(len(boss)) < 0.8
    ok = fb.usable & train
    t0 = time.perf_counter()
    # 300 L-BFGS iterations (the accuracy benchmark's fit runs to 3000): prediction cost does
    # not depend on how far the fit went
    peer = SklearnMLPCommittee(max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at 300 iterations
        peer.fit(fb.X[ok], boss["z_spec"].to_numpy()[ok])
    out["peer"] = {
        "model": "SklearnMLPCommittee(max_iter=300): 5 x MLPRegressor 5:10:10:1 tanh, L-BFGS "
        "(ANNz stand-in)",
        "fit_rows": int(ok.sum()),
        "fit_seconds": round(time.perf_counter() - t0, 1),
    }
    with threadpool_limits(limits=1):
        out["peer"]["predict_1_thread_objects_per_s"] = rate(lambda x, e: peer.predict(x), 1)
        out["peer"]["predict_2_threads_objects_per_s"] = rate(lambda x, e: peer.predict(x), 2)
    log(f"compute limits: {out}")
    return out


STAGES = """
import json, time
from photcat.pipeline import stream
from photcat.pipeline.vac import PredictConfig
from photcat.timing import record
config = PredictConfig(restframe=True)  # photcat predict's defaults: 101-point grid, rest-frame UVJ
stream.predict_catalog({catalog!r}, {models!r}, {out!r}, schema="annz2", config=config,
                       workers=1)  # warm-up: kcorrect matrices, Numba caches
t0, c0 = time.perf_counter(), time.process_time()
with record() as times:
    man = stream.predict_catalog({catalog!r}, {models!r}, {out!r}, schema="annz2",
                                 config=config, workers=1, overwrite=True)
print(json.dumps({{"rows": man["rows"], "stages": times, "process_cpu": time.process_time() - c0,
                  "wall": time.perf_counter() - t0}}))
"""


def stage_profile(catalog: Path, models: list[str], out: Path) -> dict:
    """CPU µs per object and stage, the default configuration in one process."""
    la = loadavg()
    res = run_child(STAGES.format(catalog=str(catalog), models=models, out=str(out)))
    n = res["rows"]
    stages = {k: round(1e6 * v / n, 3) for k, v in res["stages"].items()}
    stages["other"] = round(1e6 * res["process_cpu"] / n - sum(stages.values()), 3)
    log(f"stages (µs/object): {stages}")
    return {
        "rows": n,
        "us_per_object": stages,
        "cpu_us_per_object": round(1e6 * res["process_cpu"] / n, 3),
        "objects_per_cpu_second": round(n / res["process_cpu"]),
        "loadavg_before": la,
    }


# ----------------------------------------------------------------------------- report


def table_md(res: dict) -> str:
    runs = res["predict"]
    small, big = min(res["sizes"]), max(res["sizes"])
    lines = [
        "| `photcat predict --model PZ --model Q --catalog boss-N.parquet --schema annz2` ... | photcat | workers | objects/s at "
        f"{small:,} | objects/s at {big:,} | marginal objects/s | CPU µs/object at {big:,} "
        f"| peak RSS at {small:,} / {big:,} (MB, all processes) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs.values():
        a, b = r[str(small)], r[str(big)]
        extra = " ".join(VARIANTS[r["variant"]])
        lines.append(
            f"| `photcat predict ... --out vac.parquet{' ' + extra if extra else ''}` | "
            f"{b['photcat']} | {b['workers']} | {a['objects_per_s_wall']:,} | "
            f"{b['objects_per_s_wall']:,} | {r['marginal_objects_per_s']:,} | "
            f"{b['cpu_us_per_object']} | {a['peak_rss_tree_mb']:,} / {b['peak_rss_tree_mb']:,} |"
        )
    lim = res["compute_limits"]
    peer = lim["peer"]
    lines += [
        "",
        "| in-memory reference | rows | objects/s, 1 thread | objects/s, 2 threads |",
        "|---|---:|---:|---:|",
        f"| bare forward pass, both committees (photcat) | {lim['rows']:,} | "
        f"{lim['forward_1_thread_objects_per_s']:,} | {lim['forward_2_threads_objects_per_s']:,} |",
        f"| peer: scikit-learn ANNz-style committee predict (5 x 5:10:10:1 MLP) | {lim['rows']:,} | "
        f"{peer['predict_1_thread_objects_per_s']:,} | {peer['predict_2_threads_objects_per_s']:,} |",
    ]
    st = res["stages"]
    lines += [
        "",
        f"| stage (default configuration, one process, {st['rows']:,} rows) | CPU µs per object | share |",
        "|---|---:|---:|",
    ]
    total = st["cpu_us_per_object"]
    for k, v in st["us_per_object"].items():
        lines.append(f"| {k} | {v:.2f} | {100 * v / total:.0f} % |")
    lines.append(
        f"| all | {total:.2f} | 100 % ({st['objects_per_cpu_second']:,} objects per CPU-second) |"
    )
    return "\n".join(lines)


def targets(res: dict) -> dict:
    small, big = str(min(res["sizes"])), str(max(res["sizes"]))
    d = res["predict"]["default"]
    bare = res["predict"]["no rest-frame fit, no gridded PDF"]
    fwd2 = res["compute_limits"]["forward_2_threads_objects_per_s"]
    mem = d[big]["peak_rss_tree_mb"] / d[small]["peak_rss_tree_mb"]
    return {
        "default_marginal_objects_per_s": d["marginal_objects_per_s"],
        "default_at_least_250k": d["marginal_objects_per_s"] >= 250_000,
        "peak_memory_big_over_small": round(mem, 3),
        "memory_within_10_percent": mem <= 1.10,
        "no_restframe_no_grid_over_2_thread_forward": round(
            bare["marginal_objects_per_s"] / fwd2, 3
        ),
        "no_restframe_no_grid_at_least_half": bare["marginal_objects_per_s"] >= 0.5 * fwd2,
    }


def write_outputs(res: dict) -> None:
    from photcat.fileio import write_bytes, write_json

    write_json(RESULTS / "throughput.json", res)
    if not DOC.exists():
        return
    text = DOC.read_text()
    begin, end = "<!-- throughput:begin -->", "<!-- throughput:end -->"
    if begin in text and end in text:
        t = res["targets"]
        yes = {True: "met", False: "not met"}
        block = (
            f"{begin}\nMeasured {res['date']} with `{res['command']}` on {res['machine']}; "
            f"models trained {res['training'].get('photoz', {}).get('epochs', '?')} epochs.\n\n"
            + table_md(res)
            + f"\n\nTargets: default command {t['default_marginal_objects_per_s']:,} objects/s "
            f"marginal (target ≥ 250,000: {yes[t['default_at_least_250k']]}); peak memory "
            f"{max(res['sizes']):,} / {min(res['sizes']):,} rows = {t['peak_memory_big_over_small']} "
            f"(target ≤ 1.10: {yes[t['memory_within_10_percent']]}); without rest-frame fit and "
            f"grid / bare two-thread forward pass = {t['no_restframe_no_grid_over_2_thread_forward']}"
            f" (target ≥ 0.5: {yes[t['no_restframe_no_grid_at_least_half']]}).\n" + end
        )
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
        write_bytes(DOC, text.encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 k and 1 M rows, 3 epochs")
    ap.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default 10; quick 3)"
    )
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--models", nargs=2, default=None, help="reuse two trained model folders")
    ap.add_argument(
        "--before", default=None, help="also run the default command with this checkout's photcat"
    )
    ap.add_argument("--sizes", type=int, nargs=2, default=None, help="the two catalogue sizes")
    args = ap.parse_args()
    if not BOSS.exists():
        sys.exit(f"BOSS data not found at {BOSS}: set PHOTCAT_SHARED_DATA")
    sizes = [200_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
    sizes = sorted(args.sizes) if args.sizes else sizes
    epochs = args.epochs or (3 if args.quick else 10)
    work = Path(args.work or tempfile.mkdtemp(prefix="photcat-throughput-"))
    work.mkdir(parents=True, exist_ok=True)
    from photcat import __version__
    from photcat.models.persistence import package_versions
    from photcat.pipeline.stream import available_cores

    res: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        "machine": f"{available_cores()} cores, {platform.machine()}, Linux",
        "photcat_version": __version__,
        "versions": package_versions(),
        "sizes": sizes,
        "partition_rows": PARTITION_ROWS,
        "seed": SEED,
    }
    if args.before:
        rev = subprocess.run(
            ["git", "-C", args.before, "rev-parse", "HEAD"], capture_output=True, text=True
        )
        res["before"] = {"path": args.before, "commit": rev.stdout.strip() or None}
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
    res["compute_limits"] = compute_limits(cats[min(sizes)], models)
    res["stages"] = stage_profile(cats[min(sizes)], models, work / "stages.parquet")
    runs = [(name, extra, None) for name, extra in VARIANTS.items()]
    if args.before:
        runs.append(("default", [], args.before))
    res["predict"] = {}
    for name, extra, before in runs:
        key = name if before is None else f"{name}, before"
        r = {"variant": name}
        for n in sizes:
            r[str(n)] = cli_run(cats[n], n, models, work / "vac.parquet", extra, before)
        r["marginal_objects_per_s"] = marginal(r[str(min(sizes))], r[str(max(sizes))])
        res["predict"][key] = r
    res["targets"] = targets(res)
    write_outputs(res)
    print(table_md(res))
    print(json.dumps(res["targets"], indent=1))


if __name__ == "__main__":
    main()
