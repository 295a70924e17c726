"""Fast version of benchmarks/fault_injection.py: SIGKILL, disk full and a corrupted file.

Two SIGKILL trials at seeded random moments, one simulated ENOSPC write, a partition and
the final catalogue truncated by hand, on 1,000 rows in 10 partitions. Each must end with a catalogue equal to
the uninterrupted run's: no row lost, none duplicated, no temporary file left, every seal
intact. The predict probes (benchmarks/predict_probes.py) run with fewer flips, kills and
concurrent pairs. The full run (20+ trials, a real tmpfs) is the script itself; see docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # whole pipeline runs in subprocesses

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_injection.py"


@pytest.fixture(scope="module")
def fi():
    spec = importlib.util.spec_from_file_location("fault_injection", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def results(fi, tmp_path_factory):
    return fi.run_all(
        trials=2,
        seed=7,
        rows=1000,
        partition_rows=100,
        work=tmp_path_factory.mktemp("faults"),
        disk_full=1,
        tmpfs=False,
        corruptions=("partition", "catalogue"),
        properties=False,
        probe_counts=(4, 1, 2),
        log=lambda *a: None,
    )


def _whole(r: dict) -> None:
    assert r["finished"] and r["rows"] == 1000
    assert r["rows_lost"] == 0 and r["rows_duplicated"] == 0
    assert r["identical"], r["columns_differing"]
    assert not r["leftover_temp_files"] and not r["seal_problems"]


def test_sigkill_trials_resume_to_the_uninterrupted_catalogue(results):
    trials = results["kill_trials"]
    assert len(trials) == 2 and [t["seed"] for t in trials] == sorted(
        {t["seed"] for t in trials}, key=[t["seed"] for t in trials].index
    )
    for t in trials:
        assert t["kills"], t
        _whole(t)
    assert sum(t["faults_injected"] for t in trials) >= 1  # at least one kill hit a live run


def test_disk_full_fails_cleanly_then_resumes(results):
    (r,) = results["disk_full_simulated"]
    assert r["failed_with_enospc"] and r["exit_code"] != 0
    # after the failure, nothing half-written is left or counted as done
    assert not r["after_failure"]["leftover_temp_files"]
    assert not r["after_failure"]["seal_problems"]
    _whole(r)


def test_truncated_partition_and_catalogue_are_detected_rebuilt_and_reported(results):
    part, catalogue = results["corruption"]
    assert "predict/" in part["corrupted"] and part["corrupted"].endswith(".parquet")
    assert catalogue["corrupted"].startswith("catalog/")  # the final catalogue itself
    for r in (part, catalogue):
        assert r["exit_code"] == 0
        assert r["detected_and_said_so"], r["log"]
        _whole(r)


def test_table_reports_zero_lost_and_duplicated(fi, results):
    text = fi.table(results)
    rows = [line for line in text.splitlines()[2:]]
    assert len(rows) == 4  # kills, simulated disk full, two corruptions
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[4] == "0" and cells[5] == "0", line


def test_predict_probes_refuse_and_touch_nothing_outside(results):
    """The hostile-user probes of photcat predict (benchmarks/predict_probes.py): every probe
    that must be refused is, in one line; no row lost or duplicated; nothing outside the
    output touched; no temporary left after a SIGKILL and a rerun."""
    import sys

    sys.path.insert(0, str(SCRIPT.parent))
    from predict_probes import probes_ok

    probes = results["probes"]
    assert len(probes) == 1 + 2 + 2 + 1 + 4 + 1 + 2
    assert sum(r["expect_refusal"] for r in probes) == 9
    for r in probes:
        assert not r["files_outside_touched"] and not r["rows_lost"], r
        assert not r["rows_duplicated"] and not r.get("temporaries_left"), r
    assert probes_ok(probes)
