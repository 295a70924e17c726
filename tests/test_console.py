"""The console a person sees: no TensorFlow/absl start-up chatter unless -v, progress on a
terminal (and plain lines in cron logs, nothing with --quiet), a summary at the end,
--version and run --dry-run."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from photcat import __version__
from photcat.console import CHATTER
from tests.conftest import shared_path

PHOTCAT = [sys.executable, "-m", "photcat.pipeline.cli"]
# what TensorFlow and absl print at start-up on this kind of machine
TF_LINES = re.compile(
    r"oneDNN custom operations|Could not find cuda drivers|absl::InitializeLog|cuda_platform|"
    r"^[IWEF]\d{4} \d\d:\d\d:",
    re.M,
)


def _run(args: list[str], env: dict | None = None, timeout: int = 600):
    return subprocess.run(
        [*PHOTCAT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_chatter_pattern_matches_tensorflow_lines_only():
    lines = [
        "I0000 00:00:1796185564.236333   32149 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796184100.327736   14530 cuda_platform.cc:52] failed call to cuInit",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ]
    assert all(CHATTER.match(x) for x in lines)
    kept = [
        "F0000 00:00:1796185564.236333   32149 tensor_shape.cc:587] Check failed: 0 <= new_num",
        "W0000 00:00:1796185564.236333   32149 bfc_allocator.cc:291] RESOURCE_EXHAUSTED: OOM",
        "E0000 00:00:1796185564.236333   32149 bfc_allocator.cc:91] Failed to allocate 8.0GiB",
        "photcat: error: /x.fits: no column mag_u",
        "photcat: predicting: 250 of 1,000 rows (5,000 rows/s, about 0 s left)",
        "Warning: the training catalogue has no magnitude errors",
    ]
    assert not any(CHATTER.match(x) for x in kept)


@pytest.mark.data
def test_train_and_predict_print_no_tensorflow_chatter_unless_verbose(tmp_path):
    """A network's training imports TensorFlow: its start-up lines appear only with -v; the
    summary (outputs, rows, time) is printed either way."""
    cat = shared_path("annz_sdss", "sdss.ugriz.train")
    args = ["--target", "photoz", "--model", "normal-mlp", "--params", '{"epochs": 2}']
    args += ["--catalog", str(cat), "--schema", "annz"]
    quiet = _run(["train", *args, "--out", str(tmp_path / "m")])
    assert quiet.returncode == 0, quiet.stderr
    both = quiet.stdout + quiet.stderr
    assert not TF_LINES.search(both), both
    assert "model saved" in quiet.stdout and "time:" in quiet.stdout
    assert re.search(r"rows: [\d,]+ .* trained on, [\d,]+ validated on", quiet.stdout)
    loud = _run(["-v", "train", *args, "--out", str(tmp_path / "m2")])
    assert loud.returncode == 0, loud.stderr
    assert TF_LINES.search(loud.stdout + loud.stderr)
    pred = _run(
        ["predict", "--model", str(tmp_path / "m"), "--catalog", str(cat), "--schema", "annz"]
        + ["--out", str(tmp_path / "vac.parquet"), "--workers", "1"]
    )
    assert pred.returncode == 0, pred.stderr
    assert not TF_LINES.search(pred.stdout + pred.stderr)
    assert "5,000 rows in, 5,000 out" in pred.stdout
    assert "rows flagged" in pred.stdout and re.search(r"time: [\d.]+ s", pred.stdout)


def _catalog(path: Path, copies: int = 20) -> Path:
    """The ANNz validation file repeated (20,000 rows), as ANNZ2 columns in Parquet."""
    a = np.loadtxt(shared_path("annz_sdss", "sdss.ugriz.valid"))
    a = np.tile(a, (copies, 1))
    cols = {f"MAG_{b}": a[:, i] for i, b in enumerate("UGRIZ")}
    cols |= {f"MAGERR_{b}": a[:, 5 + i] for i, b in enumerate("UGRIZ")}
    cols["Z"] = a[:, 10]
    pd.DataFrame(cols).to_parquet(path, row_group_size=2000)
    return path


@pytest.fixture(scope="module")
def knn_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console") / "knn"
    res = _run(
        ["train", "--target", "photoz", "--model", "knn", "--schema", "annz", "--catalog"]
        + [str(shared_path("annz_sdss", "sdss.ugriz.train")), "--out", str(folder)]
    )
    assert res.returncode == 0, res.stderr
    return folder


def _under_pty(args: list[str], timeout: float = 300) -> tuple[int, str]:
    """Run photcat with its standard error (and output) on a pseudo-terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*PHOTCAT, *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(slave)
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    rc = proc.wait(timeout=60)
    os.close(master)
    return rc, out.decode("utf-8", "replace")


@pytest.mark.data
def test_progress_on_a_terminal_plain_lines_in_cron_nothing_when_quiet(knn_folder, tmp_path):
    cat = _catalog(tmp_path / "in.parquet")
    args = ["predict", "--model", str(knn_folder), "--catalog", str(cat), "--schema", "annz2"]
    args += ["--partition-rows", "2000", "--workers", "1", "--no-restframe", "--pdf-nz", "0"]
    rc, tty = _under_pty([*args, "--out", str(tmp_path / "a.parquet")])
    assert rc == 0, tty
    assert "predicting" in tty and "20000/20000" in tty and "rows/s" in tty
    assert "\x1b[" in tty  # drawn with terminal control sequences
    rc, quiet = _under_pty([*args, "--out", str(tmp_path / "b.parquet"), "--quiet"])
    assert rc == 0, quiet
    assert "predicting" not in quiet and "20,000 rows in, 20,000 out" in quiet
    # cron: no terminal; a plain line every PHOTCAT_PROGRESS_SECONDS (0: each partition)
    cron = _run(
        [*args, "--out", str(tmp_path / "c.parquet")], env={"PHOTCAT_PROGRESS_SECONDS": "0"}
    )
    assert cron.returncode == 0, cron.stderr
    lines = [x for x in cron.stderr.splitlines() if x.startswith("photcat: predicting:")]
    assert len(lines) == 10 and "\x1b[" not in cron.stderr
    assert re.fullmatch(
        r"photcat: predicting: 20,000 of 20,000 rows \([\d,]+ rows/s, about 0 s left\)", lines[-1]
    )


def test_filter_passes_on_a_crash_and_survives_a_closed_stderr(tmp_path):
    """What a crashing process wrote last still arrives (the filter is its own process);
    photcat runs with standard error closed."""
    code = (
        "import os, sys; from photcat import console; console.quiet_native_stderr(); "
        "os.write(2, b'I0000 00:00:1.5   7 port.cc:1] oneDNN custom operations are on\\n'); "
        "os.write(2, b'terminate called after throwing an instance of std::bad_alloc\\n'); "
        "os.abort()"
    )
    for _ in range(3):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
        assert res.returncode != 0
        assert b"terminate called after throwing" in res.stderr
        assert b"oneDNN" not in res.stderr
    closed = subprocess.run(
        [*PHOTCAT, "models"],
        stderr=subprocess.DEVNULL,
        capture_output=False,
        stdout=subprocess.PIPE,
        timeout=60,
    )
    assert closed.returncode == 0 and b"normal-committee" in closed.stdout
    res = subprocess.run(
        " ".join([*PHOTCAT, "models"]) + " 2>&-", shell=True, capture_output=False,
        stdout=subprocess.PIPE, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0 and b"normal-committee" in res.stdout


def test_version():
    res = _run(["--version"], timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == f"photcat {__version__}"


@pytest.mark.data
def test_run_summary_log_file_and_dry_run(tmp_path):
    """A small real run: a short summary on standard error, Luigi's full one in the output
    folder, headline metrics and time on standard output; --dry-run then finds every task
    complete, and on a new output lists them all to run and creates nothing."""
    a = np.loadtxt(shared_path("annz_sdss", "sdss.ugriz.train"))
    cols = {f"MAG_{b}": a[:, i] for i, b in enumerate("UGRIZ")}
    cols |= {f"MAGERR_{b}": a[:, 5 + i] for i, b in enumerate("UGRIZ")}
    cols["Z"] = a[:, 10]
    path = tmp_path / "annz.csv"
    pd.DataFrame(cols).to_csv(path, index=False)
    args = ["run", "--catalog", str(path), "--schema", "annz2", "--no-restframe"]
    args += ["--photoz-model", "knn", "--quiescent-model", "logistic"]
    dry = _run([*args, "--out", str(tmp_path / "new"), "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"(\d+) task\(s\): \1 to run, 0 already complete", dry.stdout), dry.stdout
    assert "TrainModel [photoz knn]" in dry.stdout and not (tmp_path / "new").exists()
    out = tmp_path / "o"
    res = _run([*args, "--out", str(out)])
    assert res.returncode == 0, res.stderr
    assert re.search(
        r"photcat: pipeline success: \d+ task\(s\) ran, 0 already complete", res.stderr
    )
    assert "===== Luigi Execution Summary =====" not in res.stderr
    assert "Luigi Execution Summary" in (out / "luigi-summary.log").read_text()
    assert "headline metrics" in res.stdout and "photoz_sigma_nmad" in res.stdout
    assert re.search(r"time: [\d.,]+ s", res.stdout)
    again = _run([*args, "--out", str(out), "--dry-run"])
    assert re.search(r"(\d+) task\(s\): 0 to run, \1 already complete", again.stdout), again.stdout
