#!/usr/bin/env python
"""Fault injection for the photcat pipeline: nothing lost, nothing duplicated, same result.

Runs the pipeline (fast models: knn photo-z, logistic quiescent, no rest-frame columns in the
catalogue, small partitions so there are many) on a partitioned catalogue and:

* SIGKILL at random moments (``--trials``, each trial with its own recorded seed; 1–2 kills
  per trial, the first at a uniform random time in [0, 0.9 T], the second in [0, 0.5 T]
  after the restart, T = the uninterrupted run's duration), then
  restarts until the run finishes;
* disk full: (a) a real tmpfs of a fraction of the output's size (when ``mount`` is allowed,
  i.e. root with CAP_SYS_ADMIN), then the tmpfs is grown and the run restarted; (b) always: an
  ``OSError(ENOSPC)`` raised by the N-th atomic write, through a hook that only this script
  installs in its own child process (``PHOTCAT_FAULT_ENOSPC_AT``; photcat has no such hook);
* corrupted intermediate files (truncated or edited by hand): a prediction partition, the
  final catalogue and a model file; the restarted pipeline must say it rebuilt them;
* the bad-input property suite (tests/test_properties_*.py), to count the inputs tried;
* hostile- and careless-user probes of ``photcat predict`` (benchmarks/predict_probes.py):
  a manifest naming paths outside the output, output over the input or a model, foreign
  files in the output folder, a byte flipped anywhere in a model folder, two runs into one
  output at once, SIGKILL then rerun. Their table is the second one in docs/reliability.md.

After each scenario the final catalogue must hold every object exactly once and equal an
uninterrupted run's catalogue column by column; every sealed output must match its seal and
no temporary file may be left. Results go to benchmarks/results/reliability.json and the
table in docs/reliability.md.

    .venv/bin/python benchmarks/fault_injection.py [--trials 20] [--seed N] [--probes-only]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
DOC = ROOT / "docs" / "reliability.md"
TABLE_START, TABLE_END = "<!-- reliability-table:start -->", "<!-- reliability-table:end -->"
PROBES_START, PROBES_END = "<!-- reliability-probes:start -->", "<!-- reliability-probes:end -->"
ENOSPC_ENV = "PHOTCAT_FAULT_ENOSPC_AT"


# ----------------------------------------------------------------------------- child hook


def _child_cli(argv: list[str]) -> int:
    """Run ``photcat`` with the N-th atomic write failing with ENOSPC (N from the env var)."""
    fail_at = int(os.environ.get(ENOSPC_ENV, "0"))
    from photcat import fileio as io_atomic
    from photcat.catalogs import writer
    from photcat.pipeline import stages

    real = io_atomic.atomic_path
    count = [0]

    @contextlib.contextmanager
    def atomic_path_disk_full(path):
        with real(path) as tmp:
            yield tmp
            count[0] += 1
            if count[0] == fail_at:  # the bytes were half written when the disk filled up
                if tmp.is_file():
                    with open(tmp, "r+b") as fh:
                        fh.truncate(tmp.stat().st_size // 2)
                raise OSError(errno.ENOSPC, "No space left on device (simulated)", str(tmp))

    for mod in (io_atomic, writer, stages):
        mod.atomic_path = atomic_path_disk_full
    from photcat.pipeline.cli import main

    return main(argv)


# ----------------------------------------------------------------------------- helpers


def make_inputs(work: Path, rows: int, partition_rows: int) -> Path:
    """A canonical Parquet catalogue of the shipped sample's first ``rows`` rows, and a config."""
    from photcat.catalogs import sample, write

    cat = sample("sdss-gst")
    path = work / f"catalogue-{rows}.parquet"
    write(cat.table.iloc[:rows], path, meta=cat.meta)
    cfg = work / "fast.toml"
    cfg.write_text(
        "[RunPipeline]\n"
        f'catalog = "{path}"\nschema = "canonical"\n'
        'photoz_model = "knn"\nquiescent_model = "logistic"\n'
        f"partition_rows = {partition_rows}\nvac_restframe = false\n"
    )
    return cfg


def _cmd(cfg: Path, out: Path, extra: list[str] | None = None, hook: bool = False) -> list[str]:
    base = (
        [sys.executable, str(Path(__file__).resolve()), "--child-cli"]
        if hook
        else [
            sys.executable,
            "-m",
            "photcat.pipeline.cli",
        ]
    )
    return [*base, "run", "--config", str(cfg), "--out", str(out), *(extra or [])]


def run_cli(cfg: Path, out: Path, *, env: dict | None = None, hook: bool = False, extra=None):
    """One pipeline run to its end: (return code, stderr)."""
    res = subprocess.run(
        _cmd(cfg, out, extra, hook),
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    return res.returncode, res.stderr


def run_and_kill(cfg: Path, out: Path, at: float) -> tuple[bool, float]:
    """Start a run and SIGKILL its process group ``at`` s later.

    Returns (whether it was still running, seconds it ran)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        _cmd(cfg, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        proc.wait(timeout=at)
        return False, time.perf_counter() - t0  # finished before the kill moment
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True, time.perf_counter() - t0


def vac_path(out: Path) -> Path | None:
    found = sorted((out / "catalog").glob("*-vac-*.fits")) if (out / "catalog").exists() else []
    return found[0] if found else None


def compare(ref: Path, out: Path) -> dict:
    """Rows lost / duplicated against the reference run, and column-by-column equality."""
    from photcat.catalogs.writer import read_with_arrays

    a, b = vac_path(ref), vac_path(out)
    if b is None:
        return {"finished": False, "rows": 0, "rows_lost": None, "rows_duplicated": None}
    ta, arr_a, _ = read_with_arrays(a)
    tb, arr_b, _ = read_with_arrays(b)
    ids_a, ids_b = ta["object_id"].to_numpy(), tb["object_id"].to_numpy()
    lost = len(set(ids_a.tolist()) - set(ids_b.tolist()))
    dup = int(len(ids_b) - len(np.unique(ids_b)))
    differ = [c for c in ta.columns if c not in tb.columns]
    for c in ta.columns:
        if c in tb.columns:
            x, y = ta[c].to_numpy(), tb[c].to_numpy()
            if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                differ.append(c)
    for k in arr_a:
        if k not in arr_b or not np.array_equal(arr_a[k], arr_b[k], equal_nan=True):
            differ.append(k)
    return {
        "finished": True,
        "rows": int(len(tb)),
        "rows_lost": int(lost),
        "rows_duplicated": dup,
        "identical": not differ and list(ta.columns) == list(tb.columns),
        "columns_differing": differ,
    }


def leftovers(out: Path) -> list[str]:
    """Temporary files or folders left behind (atomic writes must clean up after themselves)."""
    return sorted(
        str(p.relative_to(out)) for p in out.rglob(".*") if ".tmp" in p.name or ".old-" in p.name
    )


def seal_problems(out: Path) -> list[str]:
    """Every sealed output must match its seal (size, mtime or sha256)."""
    from photcat.pipeline import integrity

    problems = []
    for seal in sorted(out.rglob("*.seal.json")):
        try:
            record = json.loads(seal.read_text())["files"]
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{seal.relative_to(out)}: unreadable ({exc})")
            continue
        paths = [seal.parent / rel for rel in record]
        missing = [str(p.relative_to(out)) for p in paths if not p.exists()]
        if missing:
            problems.append(f"{seal.relative_to(out)}: missing {missing[:3]}")
            continue
        why = integrity.check(paths, seal)
        if why:
            problems.append(f"{seal.relative_to(out)}: {why}")
    return problems


def finish(cfg: Path, out: Path, max_runs: int = 3) -> tuple[int, str]:
    """Restart until the run succeeds (at most ``max_runs`` times): (runs made, stderr)."""
    err = ""
    for k in range(1, max_runs + 1):
        rc, err = run_cli(cfg, out)
        if rc == 0:
            return k, err
    raise RuntimeError(f"pipeline in {out} did not finish after {max_runs} runs:\n{err[-3000:]}")


def _outcome(ref: Path, out: Path) -> dict:
    return {
        **compare(ref, out),
        "leftover_temp_files": leftovers(out),
        "seal_problems": seal_problems(out),
    }


# ----------------------------------------------------------------------------- scenarios


def kill_trial(i: int, seed: int, cfg: Path, ref: Path, timing: dict, work: Path) -> dict:
    """SIGKILL the pipeline 1–2 times at random moments, then let it finish.

    The first kill comes at a uniform random time in [0, 0.9 T], T = how long a whole run
    takes (``timing["T"]``); a run that finished before its kill moment shows T was too long
    (the machine got faster): T becomes that run's duration and the trial starts again from
    an empty folder (at most 5 times), so every trial injects at least one fault. The second
    kill hits the restarted run at a uniform time in [0, 0.5 T] (or misses, and is recorded).
    """
    rng = np.random.default_rng(seed)
    out = work / f"kill-{i:03d}"
    kills, injected = [], 0
    n_kills = int(rng.integers(1, 3))
    for _ in range(5):
        at = float(rng.uniform(0.0, 0.9 * timing["T"]))
        hit, ran = run_and_kill(cfg, out, at)
        kills.append({"at_s": round(at, 3), "killed_running_process": hit})
        if hit:
            injected += 1
            break
        timing["T"] = ran  # finished early: a whole run is this fast now
        shutil.rmtree(out, ignore_errors=True)
    if n_kills == 2:
        at = float(rng.uniform(0.0, 0.5 * timing["T"]))
        hit, _ = run_and_kill(cfg, out, at)
        kills.append({"at_s": round(at, 3), "killed_running_process": hit})
        injected += hit
    runs, _ = finish(cfg, out)
    res = {"trial": i, "seed": seed, "kills": kills, "faults_injected": injected}
    res.update(runs_resumed=injected, restarts_needed=runs, **_outcome(ref, out))
    shutil.rmtree(out, ignore_errors=True)
    return res


def disk_full_hook(k: int, seed: int, cfg: Path, ref: Path, n_writes: int, work: Path) -> dict:
    """The N-th atomic write raises OSError(ENOSPC) (simulated in the child process)."""
    at = int(np.random.default_rng(seed).integers(1, n_writes + 1))
    out = work / f"enospc-{k}"
    rc, err = run_cli(cfg, out, env={ENOSPC_ENV: str(at)}, hook=True)
    failed_cleanly = rc != 0 and "No space left on device" in err
    after_failure = {"leftover_temp_files": leftovers(out), "seal_problems": seal_problems(out)}
    runs, _ = finish(cfg, out)
    res = {
        "kind": "simulated ENOSPC (OSError raised by the N-th atomic write)",
        "seed": seed,
        "failing_write": at,
        "failed_with_enospc": failed_cleanly,
        "exit_code": rc,
        "after_failure": after_failure,
        "faults_injected": int(failed_cleanly),
        "runs_resumed": int(failed_cleanly),
        **_outcome(ref, out),
    }
    shutil.rmtree(out, ignore_errors=True)
    return res


def disk_full_tmpfs(cfg: Path, ref: Path, work: Path, fraction: float) -> dict:
    """A real tmpfs that fills up mid-run; then it is grown and the run restarted."""
    out = work / f"tmpfs-{int(fraction * 100)}"
    out.mkdir()
    need = sum(p.stat().st_size for p in ref.rglob("*") if p.is_file())
    size = max(int(need * fraction), 64 * 1024)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(out)], capture_output=True
    )
    if mount.returncode != 0:
        return {"kind": "tmpfs", "skipped": f"mount not allowed: {mount.stderr.decode().strip()}"}
    try:
        rc, err = run_cli(cfg, out)
        enospc = rc != 0 and ("No space left on device" in err or "ENOSPC" in err)
        after_failure = {"leftover_temp_files": leftovers(out), "seal_problems": seal_problems(out)}
        subprocess.run(["mount", "-o", f"remount,size={need * 3}", str(out)], check=True)
        runs, _ = finish(cfg, out)
        res = {
            "kind": f"real tmpfs of {size:,} bytes ({fraction:.0%} of a full run's {need:,})",
            "exit_code": rc,
            "failed_with_enospc": enospc,
            "after_failure": after_failure,
            "faults_injected": int(enospc),
            "runs_resumed": int(enospc),
            "restarts_needed": runs,
            **_outcome(ref, out),
        }
    finally:
        subprocess.run(["umount", str(out)], check=False)
        shutil.rmtree(out, ignore_errors=True)
    return res


def corruption(kind: str, cfg: Path, ref: Path, work: Path, seed: int) -> dict:
    """Corrupt one sealed output of a finished run by hand; the rerun must detect and rebuild it."""
    rng = np.random.default_rng(seed)
    out = work / f"corrupt-{kind}"
    # a run of its own: target paths are signed with the output folder's absolute path, so a
    # copied folder would not be recognised as done
    finish(cfg, out, max_runs=1)
    vac = vac_path(out)
    if kind == "partition":  # truncated; the crash happened before assembling
        parts = sorted(out.glob("predict/*/part-*.parquet"))
        victim = parts[int(rng.integers(len(parts)))]
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
        vac.unlink()
        for rep in (out / "report").iterdir():
            shutil.rmtree(rep) if rep.is_dir() else rep.unlink()
    elif kind == "catalogue":  # the final catalogue itself, truncated
        victim = vac
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    elif kind == "model":  # same size, one byte changed: only the sha256 can tell
        victim = sorted(out.glob("models/photoz-*/model.skops"))[0]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        vac.unlink()
        for rep in (out / "report").iterdir():
            shutil.rmtree(rep) if rep.is_dir() else rep.unlink()
    else:
        raise ValueError(kind)
    rel = str(victim.relative_to(out))
    rc, err = run_cli(cfg, out)
    said = [line for line in err.splitlines() if "is not intact" in line]
    res = {
        "kind": kind,
        "seed": seed,
        "corrupted": rel,
        "exit_code": rc,
        "detected_and_said_so": any(_mentions(line, rel) for line in said),
        "log": said[:3],
        "faults_injected": 1,
        "runs_resumed": 1,
        **_outcome(ref, out),
    }
    shutil.rmtree(out, ignore_errors=True)
    return res


def _mentions(line: str, rel: str) -> bool:
    """The log line names the corrupted file, or the model folder holding it."""
    p = Path(rel)
    return p.name in line or (p.parent.name in line and p.parent.name.startswith("photoz-"))


def property_suite() -> dict:
    """Run the bad-input property suite and count the inputs hypothesis generated."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_properties_*.py"))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore",
            "--hypothesis-show-statistics",
            *files,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    text = res.stdout + res.stderr
    # hypothesis statistics: "- 54 passing, 0 failing, and 0 invalid test cases" per phase
    examples = sum(int(n) for n in re.findall(r"(\d+) passing(?:,| examples)", text))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing(?:,| examples)", text))
    m = re.search(r"(\d+) passed", text)
    items = int(m.group(1)) if m else 0
    hypo_tests = len(re.findall(r"Stopped because", text))
    return {
        "files": files,
        "exit_code": res.returncode,
        "hypothesis_examples": examples,
        "failing_examples": failing,
        "test_items_passed": items,
        "inputs_tried": examples + items - hypo_tests,
        "summary": text.strip().splitlines()[-1] if text.strip() else "",
    }


# ----------------------------------------------------------------------------- report


def _row(name, inputs, faults, resumed, lost, dup, ok) -> str:
    return f"| {name} | {inputs} | {faults} | {resumed} | {lost} | {dup} | {ok} |"


def table(results: dict) -> str:
    lines = [
        "| scenario | inputs tried | faults injected | runs resumed | rows lost | rows duplicated | final catalogue identical |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]

    def tot(items, key):
        return sum(int(x.get(key) or 0) for x in items)

    def ok(items):
        good = sum(
            bool(x.get("identical"))
            and not x.get("leftover_temp_files")
            and not x.get("seal_problems")
            for x in items
        )
        return f"{good}/{len(items)}"

    groups = [
        ("SIGKILL at random moments", results["kill_trials"]),
        ("disk full: simulated OSError(ENOSPC)", results["disk_full_simulated"]),
        ("disk full: real tmpfs", [x for x in results["disk_full_tmpfs"] if "skipped" not in x]),
    ] + [
        (
            f"corrupted by hand: {c['kind']} ({'detected' if c['detected_and_said_so'] else 'NOT reported'})",
            [c],
        )
        for c in results["corruption"]
    ]
    for name, items in groups:
        if not items:
            continue
        lines.append(
            _row(
                name,
                len(items),
                tot(items, "faults_injected"),
                tot(items, "runs_resumed"),
                tot(items, "rows_lost"),
                tot(items, "rows_duplicated"),
                ok(items),
            )
        )
    p = results.get("property_suite")
    if p:
        lines.append(
            _row(
                "bad input (tests/test_properties_*.py)",
                p["inputs_tried"],
                "–",
                "–",
                "0" if p["exit_code"] == 0 else "see tests",
                "0" if p["exit_code"] == 0 else "see tests",
                "all properties hold" if p["exit_code"] == 0 else f"FAILED: {p['summary']}",
            )
        )
    return "\n".join(lines)


def _replace_block(text: str, start: str, end: str, body: str) -> str:
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip() + "\n\n" + block + "\n"


def write_doc(results: dict) -> None:
    text = DOC.read_text() if DOC.exists() else "# Reliability\n"
    if results.get("kill_trials") is not None:
        text = _replace_block(
            text,
            TABLE_START,
            TABLE_END,
            f"Produced by `{results['command']}` on {results['date']} "
            f"({results['catalogue_rows']:,} rows in {results['partitions']} partitions, "
            f"seed {results['seed']}, {results['seconds']:.0f} s).\n\n{table(results)}",
        )
    if results.get("probes"):
        from predict_probes import probe_table

        text = _replace_block(
            text,
            PROBES_START,
            PROBES_END,
            f"Produced by `{results['command']}` on {results['date']} "
            f"({results['catalogue_rows']:,} input rows, seed {results['seed']}, "
            f"{results['probe_seconds']:.0f} s).\n\n{probe_table(results['probes'])}",
        )
    DOC.write_text(text)


# ----------------------------------------------------------------------------- main


def run_all(
    *,
    trials: int,
    seed: int,
    rows: int,
    partition_rows: int,
    work: Path,
    disk_full: int = 3,
    tmpfs: bool = True,
    corruptions: tuple[str, ...] = ("partition", "catalogue", "model"),
    properties: bool = True,
    probes: bool = True,
    faults: bool = True,
    probe_counts: tuple[int, int, int] = (12, 3, 4),
    log=print,
) -> dict:
    """Every scenario; ``faults=False`` runs only the reference run and the probes."""
    t0 = time.perf_counter()
    cfg = make_inputs(work, rows, partition_rows)
    ref = work / "reference"
    t = time.perf_counter()
    rc, err = run_cli(cfg, ref)
    duration = time.perf_counter() - t
    if rc != 0:
        raise RuntimeError(f"the uninterrupted reference run failed:\n{err[-3000:]}")
    n_parts = len(list(ref.glob("predict/*/part-*.parquet")))
    n_writes = 2 * n_parts + 10  # partitions and their seals, plus the other targets
    log(f"reference run: {duration:.1f} s, {n_parts} partitions")
    results: dict = {
        "command": " ".join(
            [
                ".venv/bin/python",
                "benchmarks/fault_injection.py",
                "--trials",
                str(trials),
                "--seed",
                str(seed),
            ]
            + ([] if rows == 10000 else ["--rows", str(rows)])
            + ([] if partition_rows == 250 else ["--partition-rows", str(partition_rows)])
        ),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seed": seed,
        "catalogue_rows": rows,
        "partitions": n_parts,
        "reference_seconds": round(duration, 2),
        "kill_trials": [],
        "disk_full_simulated": [],
        "disk_full_tmpfs": [],
        "corruption": [],
    }
    if not faults:
        trials, disk_full, tmpfs, corruptions, properties = 0, 0, False, (), False
        results["kill_trials"] = None
    seeds = np.random.SeedSequence(seed).generate_state(trials + disk_full + 8)
    timing = {"T": duration}
    for i in range(trials):
        r = kill_trial(i, int(seeds[i]), cfg, ref, timing, work)
        results["kill_trials"].append(r)
        log(
            f"kill trial {i}: kills at {[k['at_s'] for k in r['kills']]} s, injected "
            f"{r['faults_injected']}, lost {r['rows_lost']}, duplicated {r['rows_duplicated']}, "
            f"identical {r['identical']}"
        )
    for k in range(disk_full):
        r = disk_full_hook(k, int(seeds[trials + k]), cfg, ref, n_writes, work)
        results["disk_full_simulated"].append(r)
        log(
            f"disk full (simulated) at write {r['failing_write']}: ENOSPC {r['failed_with_enospc']}, identical {r['identical']}"
        )
    if tmpfs:
        for frac in (0.3, 0.7):
            r = disk_full_tmpfs(cfg, ref, work, frac)
            results["disk_full_tmpfs"].append(r)
            log(
                f"disk full (tmpfs {frac:.0%}): {r.get('skipped') or ('ENOSPC ' + str(r['failed_with_enospc']) + ', identical ' + str(r['identical']))}"
            )
            if "skipped" in r:
                break
    for j, kind in enumerate(corruptions):
        r = corruption(kind, cfg, ref, work, int(seeds[trials + disk_full + j]))
        results["corruption"].append(r)
        log(
            f"corrupted {r['corrupted']}: detected {r['detected_and_said_so']}, identical {r['identical']}"
        )
    if properties:
        results["property_suite"] = property_suite()
        log(f"property suite: {results['property_suite']['summary']}")
    if probes:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from predict_probes import run_probes

        tp = time.perf_counter()
        flips, concurrent, kills = probe_counts
        models = sorted(p for p in (ref / "models").iterdir() if p.is_dir())
        results["probes"] = run_probes(
            work, work / f"catalogue-{rows}.parquet", models, seed=seed,
            flips=flips, concurrent=concurrent, kills=kills,
        )  # fmt: skip
        results["probe_seconds"] = round(time.perf_counter() - tp, 1)
        log(f"probes: {len(results['probes'])} in {results['probe_seconds']:.0f} s")
    results["kill_T_final_s"] = round(timing["T"], 2)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child-cli"]:
        return _child_cli(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20, help="SIGKILL trials (default 20)")
    p.add_argument("--seed", type=int, default=20261127, help="master seed (default 20261127)")
    p.add_argument("--rows", type=int, default=10000, help="catalogue rows (default all 10,000)")
    p.add_argument("--partition-rows", type=int, default=250, help="rows per partition")
    p.add_argument("--disk-full", type=int, default=3, help="simulated ENOSPC runs (default 3)")
    p.add_argument("--no-tmpfs", action="store_true", help="skip the real tmpfs disk-full runs")
    p.add_argument("--no-properties", action="store_true", help="skip the property suite")
    p.add_argument("--no-probes", action="store_true", help="skip the photcat predict probes")
    p.add_argument(
        "--probes-only", action="store_true", help="only the predict probes (second table)"
    )
    p.add_argument("--workdir", help="scratch folder (default: a temporary folder, removed)")
    p.add_argument(
        "--no-write", action="store_true", help="do not write the JSON and the doc table"
    )
    args = p.parse_args(argv)
    ctx = (
        contextlib.nullcontext(args.workdir)
        if args.workdir
        else tempfile.TemporaryDirectory(prefix="photcat-faults-")
    )
    with ctx as work:
        Path(work).mkdir(parents=True, exist_ok=True)
        results = run_all(
            trials=args.trials,
            seed=args.seed,
            rows=args.rows,
            partition_rows=args.partition_rows,
            work=Path(work),
            disk_full=args.disk_full,
            tmpfs=not args.no_tmpfs,
            properties=not args.no_properties,
            probes=not args.no_probes,
            faults=not args.probes_only,
        )
    if args.probes_only:
        results["command"] += " --probes-only"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from predict_probes import probe_table, probes_ok

    if results["kill_trials"] is not None:
        print(table(results))
    if results.get("probes"):
        print(probe_table(results["probes"]))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        if results["kill_trials"] is None:  # --probes-only: keep the fault results on record
            saved.update(probes=results["probes"], probes_command=results["command"])
            saved.update(probe_seconds=results["probe_seconds"], probes_date=results["date"])
        else:
            saved = results
        RESULTS.write_text(json.dumps(saved, indent=1, default=str) + "\n")
        write_doc(results)
        print(f"wrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")
    if results.get("probes") and not probes_ok(results["probes"]):
        return 1
    if results["kill_trials"] is None:
        return 0
    everything = (
        results["kill_trials"]
        + results["disk_full_simulated"]
        + [x for x in results["disk_full_tmpfs"] if "skipped" not in x]
        + results["corruption"]
    )
    bad = [
        x
        for x in everything
        if not x.get("identical") or x.get("rows_lost") or x.get("rows_duplicated")
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
