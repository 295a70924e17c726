"""The pipeline through a real central scheduler (luigid) on 127.0.0.1 with two workers."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
from astropy.table import Table

from tests.conftest import free_port

pytestmark = pytest.mark.slow  # runs the whole pipeline

PHOTCAT = [sys.executable, "-m", "photcat.pipeline.cli"]


@pytest.fixture
def luigid(tmp_path):
    port = free_port()
    proc = subprocess.Popen(  # `photcat scheduler` execs luigid, state file in the output folder
        [*PHOTCAT, "scheduler", "--out", str(tmp_path / "out"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("luigid did not start listening")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)
    assert (tmp_path / "out" / "luigid" / "logs" / "luigi-server.log").exists()


def test_run_through_luigid_with_two_workers(tmp_path, luigid):
    cfg = tmp_path / "photcat.toml"
    cfg.write_text(
        '[RunPipeline]\nphotoz_model = "knn"\nquiescent_model = "logistic"\n'
        "partition_rows = 2500\nvac_restframe = false\n"
    )
    out = tmp_path / "out"
    cmd = [
        *PHOTCAT,
        "run",
        "--config",
        str(cfg),
        "--out",
        str(out),
        "--workers",
        "2",
        "--scheduler-url",
        luigid,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert re.search(r"photcat: pipeline success: \d+ task\(s\) ran", res.stderr)
    assert "ran successfully" in (out / "luigi-summary.log").read_text()  # Luigi's own
    (vac,) = (out / "catalog").glob("*.fits")
    t = Table.read(vac)
    assert len(t) == 10000 and "uv" not in t.colnames  # vac_restframe=false came from the TOML file
    assert len(list(out.glob("predict/*/part-*.parquet"))) == 4
    # a second run through the same scheduler has nothing to do
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "0 task(s) ran" in again.stderr
    assert "Did not run any tasks" in (out / "luigi-summary.log").read_text()
