"""The photcat command line: stage commands, and plain errors that write nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from photcat.pipeline.cli import main
from photcat.pipeline.vac import FLAG_BITS
from tests.conftest import shared_path

PHOTCAT = [sys.executable, "-m", "photcat.pipeline.cli"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("photcat: error:"), err
    return err[0]


def test_unknown_model_name(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "o"), "--photoz-model", "deep-magic"]) == 2
    assert "deep-magic" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_missing_input_file(tmp_path, capsys):
    assert (
        main(["run", "--out", str(tmp_path / "o"), "--catalog", str(tmp_path / "nope.fits")]) == 2
    )
    assert "nope.fits" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_band_the_catalogue_lacks(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "o"), "--bands", "g,r,i,z,y"]) == 2
    line = _one_line_error(capsys)
    assert "'y'" in line and "gst_tests_small" in line
    assert not (tmp_path / "o").exists()


def test_unknown_configuration_key(tmp_path, capsys):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("[RunPipeline]\nphotoz_modle = knn\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    line = _one_line_error(capsys)
    assert "photoz_modle" in line and "bad.cfg" in line and "[RunPipeline]" in line
    assert not (tmp_path / "o").exists()


def test_failed_task_exits_nonzero_naming_the_task(tmp_path):
    # a catalogue whose redshifts are all unusable passes the column checks but cannot train
    df = pd.DataFrame(
        {f"MAG_{b}": np.linspace(17, 19, 50) for b in "UGRIZ"}
        | {f"MAGERR_{b}": 0.05 for b in "UGRIZ"}
    )
    df["Z"] = np.linspace(0.05, 0.3, 50)
    df.loc[5:, "Z"] = -1.0
    path = tmp_path / "few.csv"
    df.to_csv(path, index=False)
    res = subprocess.run(
        [
            *PHOTCAT,
            "run",
            "--catalog",
            str(path),
            "--schema",
            "annz2",
            "--no-restframe",
            "--photoz-model",
            "knn",
            "--quiescent-model",
            "logistic",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 3, res.stderr[-2000:]
    assert "TrainModel" in res.stderr and "usable training rows" in res.stderr
    assert not list((tmp_path / "o").glob("models/*"))
    # Luigi's summary shortened to what failed or did not run; the full one in the output
    assert re.search(
        r"  2 failed: TrainModel \[photoz knn\], TrainModel \[quiescent logistic\]", res.stderr
    )
    assert "not run: a task they need failed" in res.stderr
    assert "Luigi Execution Summary" in (tmp_path / "o" / "luigi-summary.log").read_text()


def test_train_predict_evaluate_on_annz_files(tmp_path, capsys):
    train = shared_path("annz_sdss", "sdss.ugriz.train")
    valid = shared_path("annz_sdss", "sdss.ugriz.valid")
    model = tmp_path / "knn"
    assert (
        main(
            [
                "train",
                "--catalog",
                str(train),
                "--validation",
                str(valid),
                "--schema",
                "annz",
                "--target",
                "photoz",
                "--model",
                "knn",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    assert json.loads((model / "manifest.json").read_text())["feature_spec"]["bands"] == list(
        "ugriz"
    )
    vac = tmp_path / "valid_vac.parquet"
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--catalog",
                str(valid),
                "--schema",
                "annz",
                "--no-restframe",
                "--out",
                str(vac),
            ]
        )
        == 0
    )
    t = pd.read_parquet(vac)
    assert len(t) == 1000 and "z_spec" in t
    # the two rows with placeholder magnitudes (> 31 mag with small errors) in two bands keep
    # three good bands: predicted with those bands masked (the default policy), and flagged
    flag = t["flag_photcat"].to_numpy()
    with_missing = (flag & FLAG_BITS["predicted_with_missing_bands"]) > 0
    assert t["photoz_mean"].notna().all()
    assert with_missing.sum() == 2 and not np.any(flag & FLAG_BITS["photoz_not_predicted"])
    assert (t["mag_g"].isna() | t["mag_i"].isna()).to_numpy()[with_missing].all()
    capsys.readouterr()
    assert main(["evaluate", "--catalog", str(vac), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    z = t["z_spec"].to_numpy()
    trivial = np.sqrt(np.mean((np.median(z) - z) ** 2))
    assert metrics["photoz"]["sigma_rms"] < 0.5 * trivial
    assert metrics["photoz"]["rows"] == 1000


def test_train_on_existing_columns_and_label(tmp_path):
    src = shared_path("zfourge_uvj", "zfourge_v3.4_restframe_uvj.csv.gz")
    z = pd.read_csv(src, usecols=["z", "UV", "VJ", "lssfr", "nfilt_fit"])
    z = z[(z["nfilt_fit"] >= 5) & (z["z"] > 0)].iloc[:4000].copy()
    z["quiescent"] = (z["lssfr"] < -10.5).astype(int)
    path = tmp_path / "zf.parquet"
    z.to_parquet(path)
    model = tmp_path / "q"
    assert (
        main(
            [
                "train",
                "--catalog",
                str(path),
                "--target",
                "quiescent",
                "--model",
                "logistic",
                "--features",
                "UV,VJ,z",
                "--label",
                "quiescent",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    out = tmp_path / "zf_vac.fits"
    assert main(["predict", "--model", str(model), "--catalog", str(path), "--out", str(out)]) == 0
    t = Table.read(out)
    assert len(t) == len(z)
    p = np.asarray(t["p_quiescent"])
    ok = np.isfinite(p)
    acc = np.mean((p[ok] >= 0.5) == (np.asarray(t["quiescent"])[ok] == 1))
    assert acc > max(z["quiescent"].mean(), 1 - z["quiescent"].mean()) + 0.03


def test_help_explains_every_option():
    res = subprocess.run([*PHOTCAT, "run", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for opt in (
        "--catalog",
        "--schema",
        "--config",
        "--workers",
        "--scheduler-url",
        "--photoz-model",
    ):
        assert opt in res.stdout


def test_output_paths_that_cannot_be_written_are_one_line_errors(tmp_path, capsys):
    """An output under a file, and an ingest report over its own input: exit 2, one line,
    the input untouched (hostile-user probe)."""
    src = shared_path("annz_sdss", "sdss.ugriz.valid")
    local = tmp_path / "cat.valid"
    local.write_bytes(src.read_bytes())
    args = ["ingest", "--catalog", str(local), "--schema", "annz"]
    assert main([*args, "--report-json", str(local)]) == 2
    assert "is the input catalogue" in _one_line_error(capsys)
    assert local.read_bytes() == src.read_bytes()
    assert main([*args, "--out", str(local / "x.parquet")]) == 2
    assert str(local) in _one_line_error(capsys)
    assert local.read_bytes() == src.read_bytes()


def test_run_luigi_workers(tmp_path, monkeypatch):
    """photcat run: one Luigi worker unless asked (Luigi forks a process per task, which can
    deadlock after OpenMP has run in the same process); --workers 0 = one per core."""
    import photcat.pipeline.runner as runner
    from photcat.pipeline import stream

    seen = []

    def fake_build(tasks, workers=1, scheduler_url=None):
        seen.append(workers)
        raise KeyboardInterrupt  # stop before any task runs

    monkeypatch.setattr(runner, "build", fake_build)
    monkeypatch.setattr(stream, "available_cores", lambda: 3)
    for extra, expected in (([], 1), (["--workers", "0"], 3), (["--workers", "2"], 2)):
        with pytest.raises(KeyboardInterrupt):
            main(["run", "--out", str(tmp_path / "o"), *extra])
        assert seen[-1] == expected
    assert main(["run", "--out", str(tmp_path / "o"), "--workers", "-1"]) == 2
