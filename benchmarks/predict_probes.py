"""Hostile- and careless-user probes of ``photcat predict`` (issue 13), run by
benchmarks/fault_injection.py (``--probes-only`` runs just these).

Each probe runs the real command line in a subprocess, in a sandbox folder holding the input
catalogue, the model folders and any bystander files. Recorded per probe: whether it was
refused with a clear error (exit status 2, one line naming the problem) when it should be,
rows lost and rows duplicated in the final output (object_id against the input), and files
outside the output touched (every file in the sandbox but the output, compared by size,
mtime and SHA-256 before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PHOTCAT = [sys.executable, "-m", "photcat.pipeline.cli"]


def _state(root: Path, skip: list[Path]) -> dict[str, tuple]:
    """(size, mtime, SHA-256) of every file under ``root`` but the outputs ``skip`` (with a
    file output's manifest, lock and temporaries beside it)."""
    skip = [s.resolve() for s in skip]
    out = {}
    for p in sorted(root.rglob("*")):
        r = p.resolve()
        if any(r == s or r.is_relative_to(s) for s in skip) or not p.is_file():
            continue
        beside = [n for s in skip for n in (f"{s.name}.manifest.json", f".{s.name}.")]
        if any(p.name == n or (n.startswith(".") and p.name.startswith(n)) for n in beside):
            continue
        st = p.stat()
        out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, _sha(p))
    return out


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _touched(before: dict, after: dict) -> int:
    return sum(before.get(k) != after.get(k) for k in set(before) | set(after))


def _args(models: list[Path], catalog: Path, out: Path, *extra: str) -> list[str]:
    a = [*PHOTCAT, "predict", "--catalog", str(catalog), "--schema", "canonical"]
    a += ["--out", str(out), "--no-restframe", "--pdf-nz", "11", "--partition-rows", "500"]
    for m in models:
        a += ["--model", str(m)]
    return [*a, *extra]


def _run(argv: list[str]) -> tuple[int, str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    return res.returncode, res.stderr


def _clear(rc: int, err: str) -> bool:
    lines = err.strip().splitlines()
    return rc == 2 and len(lines) == 1 and lines[0].startswith("photcat: error:")


def _rows(out: Path, ids: np.ndarray) -> tuple[int, int]:
    """(rows lost, rows duplicated) of an output against the input's object ids."""
    from photcat.pipeline import stream

    stream.verify(out)
    got = stream.read_output(out)[0]["object_id"].to_numpy()
    return len(set(ids.tolist()) - set(got.tolist())), int(len(got) - len(np.unique(got)))


class Probes:
    """A sandbox with the input catalogue and models; one record per probe."""

    def __init__(self, work: Path, catalog: Path, models: list[Path]) -> None:
        import pyarrow.parquet as pq

        self.box = work / "probes"
        self.box.mkdir(parents=True, exist_ok=True)
        self.catalog = self.box / "input.parquet"
        shutil.copyfile(catalog, self.catalog)
        self.models = [Path(shutil.copytree(m, self.box / "models" / m.name)) for m in models]
        (self.box / "bystander.txt").write_text("a file nobody asked photcat to touch\n")
        self.ids = pq.read_table(self.catalog, columns=["object_id"])["object_id"].to_numpy()
        self.records: list[dict] = []
        self.n = 0

    def out(self, name: str) -> Path:
        self.n += 1
        return self.box / "outputs" / f"{self.n:03d}-{name}"

    def record(self, probe: str, expect_refusal: bool, runs: list[tuple[int, str]], out: Path,
               before: dict, existed: bool = False, **extra) -> dict:  # fmt: skip
        after = _state(self.box, [out])
        lost = dup = 0
        if (out.exists() and any(rc == 0 for rc, _ in runs)) and not expect_refusal:
            lost, dup = _rows(out, self.ids)
        refused = [_clear(rc, err) for rc, err in runs]
        r = {
            "probe": probe,
            "expect_refusal": expect_refusal,
            "exit_codes": [rc for rc, _ in runs],
            "refused_clearly": any(refused) if expect_refusal else None,
            "messages": [err.strip().splitlines()[-1][:300] for _, err in runs if err.strip()],
            "rows_lost": lost,
            "rows_duplicated": dup,
            "files_outside_touched": _touched(before, after),
            "output_created_though_refused": bool(expect_refusal and not existed and out.exists()),
            **extra,
        }
        self.records.append(r)
        return r

    # ------------------------------------------------------------------------- the probes

    def manifest_traversal(self) -> None:
        out = self.out("traversal")
        assert _run(_args(self.models, self.catalog, out))[0] == 0
        victim = self.box / "bystander.txt"
        man = json.loads((out / "manifest.json").read_text())
        man["partitions"] += [{"file": "../../bystander.txt"}, {"file": str(victim)}]
        (out / "manifest.json").write_text(json.dumps(man))
        before = _state(self.box, [out])
        runs = [_run(_args(self.models, self.catalog, out))]
        self.record("manifest naming ../ and absolute paths, then rerun", False, runs, out, before)

    def output_over_input(self) -> None:
        for name, out in (("is", self.catalog), ("contains", self.box)):
            before = _state(self.box, [])
            runs = [_run(_args(self.models, self.catalog, out))]
            self.record(f"--out {name} the input catalogue", True, runs, self.out("x"), before)

    def output_over_model(self) -> None:
        m = self.models[0]
        for name, out in (("is", m), ("inside", m / "vac.parquet")):
            before = _state(self.box, [])
            runs = [_run(_args(self.models, self.catalog, out))]
            self.record(f"--out {name} a model folder", True, runs, self.out("x"), before)

    def foreign_files(self) -> None:
        out = self.out("foreign")
        out.mkdir(parents=True)
        (out / "notes.txt").write_text("mine\n")
        before = _state(self.box, [out]) | {"notes": (_sha(out / "notes.txt"),)}
        runs = [_run(_args(self.models, self.catalog, out))]
        after = {"notes": (_sha(out / "notes.txt"),)}
        self.record("output folder holding a foreign file", True, runs, out,
                    {k: v for k, v in before.items() if k != "notes"}, existed=True,
                    foreign_file_kept=after["notes"] == before["notes"])  # fmt: skip

    def byte_flips(self, n: int, rng: np.random.Generator) -> None:
        src = self.models[0]
        files = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
        for k in range(n):
            rel = files[k % len(files)]
            copy = Path(shutil.copytree(src, self.box / "flipped" / f"{k:03d}"))
            data = bytearray((copy / rel).read_bytes())
            at = int(rng.integers(0, len(data)))
            data[at] ^= 1 << int(rng.integers(0, 8))
            (copy / rel).write_bytes(bytes(data))
            before = _state(self.box, [])
            out = self.out("flip")
            runs = [_run(_args([copy], self.catalog, out))]
            self.record(f"model byte flip: {rel} byte {at}", True, runs, out, before)

    def concurrent(self, n: int) -> None:
        for _ in range(n):
            out = self.out("concurrent")
            before = _state(self.box, [out])
            procs = [
                subprocess.Popen(_args(self.models, self.catalog, out, "--pdf-nz", nz),
                                 stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
                for nz in ("11", "21")
            ]  # fmt: skip
            runs = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
            r = self.record("two predicts into one folder at once", False, runs, out, before)
            r["one_refused"] = any(_clear(rc, e) for rc, e in runs)
            r["both_exit_0_or_refused"] = all(rc == 0 or _clear(rc, e) for rc, e in runs)

    def kill_and_rerun(self, n: int, rng: np.random.Generator) -> None:
        t0 = time.perf_counter()
        assert _run(_args(self.models, self.catalog, self.out("timing")))[0] == 0
        duration = time.perf_counter() - t0
        for k in range(n):
            out = self.out("killed" if k % 2 else "killed.parquet")
            before = _state(self.box, [out])
            at = float(rng.uniform(0.3, 0.95) * duration)
            p = subprocess.Popen(_args(self.models, self.catalog, out), start_new_session=True,
                                 stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
            try:
                p.wait(timeout=at)
                hit = False
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                hit = True
            runs = [_run(_args(self.models, self.catalog, out))]
            left = [q.name for q in out.parent.rglob(".*") if "tmp" in q.name or "staging" in q.name or ".parts-" in q.name]  # fmt: skip
            self.record("SIGKILL, then rerun", False, runs, out, before, kill_at_s=round(at, 2),
                        kill_hit_running_process=hit, temporaries_left=left)  # fmt: skip


def run_probes(work: Path, catalog: Path, models: list[Path], *, seed: int, flips: int = 12,
               concurrent: int = 3, kills: int = 4) -> list[dict]:  # fmt: skip
    rng = np.random.default_rng(seed)
    p = Probes(work, catalog, models)
    p.manifest_traversal()
    p.output_over_input()
    p.output_over_model()
    p.foreign_files()
    p.byte_flips(flips, rng)
    p.concurrent(concurrent)
    p.kill_and_rerun(kills, rng)
    return p.records


def probe_table(records: list[dict]) -> str:
    groups: dict[str, list[dict]] = {}
    for r in records:
        key = "model byte flip (every file of the folder)" if r["probe"].startswith("model byte flip") else r["probe"]  # fmt: skip
        groups.setdefault(key, []).append(r)
    lines = [
        "| probe | tried | refused with a clear error | rows lost | rows duplicated | files outside the output touched | other checks |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, rs in groups.items():
        refused = (
            f"{sum(bool(r['refused_clearly']) for r in rs)}/{len(rs)}"
            if rs[0]["expect_refusal"]
            else "– (runs)"
        )
        other = []
        if "temporaries_left" in rs[0]:
            other.append(f"kills that hit a running process {sum(r['kill_hit_running_process'] for r in rs)}/{len(rs)}; temporaries left after rerun {sum(len(r['temporaries_left']) for r in rs)}")  # fmt: skip
        if "one_refused" in rs[0]:
            other.append(f"second run refused {sum(r['one_refused'] for r in rs)}/{len(rs)}; each run exit 0 or refused {sum(r['both_exit_0_or_refused'] for r in rs)}/{len(rs)}")  # fmt: skip
        if "foreign_file_kept" in rs[0]:
            other.append(f"foreign file kept {sum(r['foreign_file_kept'] for r in rs)}/{len(rs)}")
        if not rs[0]["expect_refusal"] and "one_refused" not in rs[0]:
            ok = sum(all(c == 0 for c in r["exit_codes"][-1:]) for r in rs)
            other.append(f"final run exit 0 and output verified {ok}/{len(rs)}")
        lines.append(
            f"| {name} | {len(rs)} | {refused} | {sum(r['rows_lost'] for r in rs)} | "
            f"{sum(r['rows_duplicated'] for r in rs)} | "
            f"{sum(r['files_outside_touched'] for r in rs)} | {'; '.join(other) or '–'} |"
        )
    return "\n".join(lines)


def probes_ok(records: list[dict]) -> bool:
    return all(
        (r["refused_clearly"] if r["expect_refusal"] else r["exit_codes"][-1] == 0 or r.get("both_exit_0_or_refused"))
        and not r["rows_lost"]
        and not r["rows_duplicated"]
        and not r["files_outside_touched"]
        and not r["output_created_though_refused"]
        and not r.get("temporaries_left")
        and r.get("foreign_file_kept", True)
        for r in records
    )  # fmt: skip
