"""End-to-end pipeline on the shipped default sample: catalogue, report, metrics, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from photcat.catalogs import sample
from photcat.catalogs.writer import read_with_arrays
from photcat.pipeline import runner
from photcat.pipeline.report import catalog_metrics
from photcat.pipeline.vac import FLAG_BITS
from tests.test_prediction_path import PREDICTED

pytestmark = pytest.mark.slow  # runs the whole pipeline

SMALL = {
    "photoz_params": {"n_members": 2, "epochs": 40, "patience": 10},
    "quiescent_params": {"n_members": 2, "epochs": 40, "patience": 10},
    "partition_rows": 3000,
}


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    task, result = runner.run(output_dir=str(out), **SMALL)
    assert result.status.name == "SUCCESS", result.summary_text
    return out, task, result


def _vac_path(task) -> Path:
    return Path(task.requires().requires()["catalog"].output().path)


def test_catalogue_has_every_input_row_with_units(pipeline_run):
    out, task, _ = pipeline_run
    vac = _vac_path(task)
    t = Table.read(vac)
    src = sample("sdss-gst")
    assert len(t) == len(src) == 10000
    np.testing.assert_array_equal(np.sort(t["object_id"]), np.arange(10000))
    for col in (
        *PREDICTED,
        "photoz_pdf",
        "z_spec",
        "mag_r",
        "split",
    ):
        assert col in t.colnames, col
    assert (
        str(t["mag_r"].unit) == "mag" and str(t["ra"].unit) == "deg" and str(t["uv"].unit) == "mag"
    )
    assert t["photoz_pdf"].shape == (10000, 101)
    assert t.meta["PHOTCATV"] and t.meta["PCSHA256"] == src.meta["input_sha256"]
    # the 16 rows without a Pogson magnitude in some band (12 negative u fluxes, faint or
    # huge-error ones) are measurements all the same: the ingest report counts them usable,
    # and the default model's asinh magnitudes give every row a photo-z, flagged (bit 8)
    assert src.report.rows_all_required_good == 9984
    assert src.report.rows_unusable_prediction == 0
    unusable = ~np.isfinite(np.asarray(t["photoz_mean"]))
    assert unusable.sum() == 0
    no_pogson = (np.column_stack([np.asarray(t[f"flag_{b}"]) for b in "ugriz"]) != 0).any(axis=1)
    assert no_pogson.sum() == 16 and np.isfinite(np.asarray(t["photoz_mean"])[no_pogson]).all()
    bit8 = (np.asarray(t["flag_photcat"]) & FLAG_BITS["predicted_with_missing_bands"]) > 0
    np.testing.assert_array_equal(bit8, no_pogson)
    # every predicted value is finite and ordered
    ok = ~unusable
    q16, q50, q84 = (np.asarray(t[c])[ok] for c in ("photoz_q16", "photoz_q50", "photoz_q84"))
    assert np.all(q16 < q50) and np.all(q50 < q84)
    p = np.asarray(t["p_quiescent"])[ok]
    assert np.all((p >= 0) & (p <= 1))


def test_report_metrics_agree_with_catalogue_and_beat_trivial(pipeline_run):
    out, task, _ = pipeline_run
    report_dir = Path(task.output().path).parent
    metrics = json.loads((report_dir / "metrics.json").read_text())
    table, arrays, _ = read_with_arrays(_vac_path(task))
    again = catalog_metrics(table, arrays)
    for key in ("sigma_nmad", "sigma_rms", "outlier_fraction", "coverage_68", "pit_ks", "crps"):
        assert again["photoz"][key] == pytest.approx(metrics["photoz"][key], rel=1e-9), key
    for key in ("accuracy", "roc_auc", "brier"):
        assert again["quiescent"][key] == pytest.approx(metrics["quiescent"][key], rel=1e-9), key
    # the catalogue's test rows give the same numbers as the Evaluate task on the training set
    evals = {e["target"]: e for e in metrics["evaluations"]}
    assert evals["photoz"]["sigma_nmad"] == pytest.approx(metrics["photoz"]["sigma_nmad"], rel=1e-4)
    assert evals["quiescent"]["roc_auc"] == pytest.approx(metrics["quiescent"]["roc_auc"], rel=1e-4)
    # and they are useful: far better than predicting the median redshift for everyone
    z = table["z_spec"].to_numpy()[table["split"].to_numpy() == "test"]
    trivial_nmad = 1.4826 * np.median(np.abs((np.median(z) - z) / (1 + z)))
    assert metrics["photoz"]["sigma_nmad"] < 0.4 * trivial_nmad
    assert metrics["quiescent"]["roc_auc"] > 0.85
    assert metrics["quiescent"]["accuracy"] > metrics["quiescent"]["accuracy_majority"] + 0.05
    for png in (
        "photoz_scatter.png",
        "pit.png",
        "photoz_binned.png",
        "nz.png",
        "uvj.png",
        "reliability.png",
    ):
        assert (report_dir / png).stat().st_size > 5000, png
    html = (report_dir / "index.html").read_text()
    assert "photoz_scatter.png" in html and "sigma_nmad" in html


def test_rerun_runs_nothing(pipeline_run):
    out, task, _ = pipeline_run
    vac = _vac_path(task)
    before = vac.stat().st_mtime_ns
    task2, result = runner.run(output_dir=str(out), **SMALL)
    assert result.status.name == "SUCCESS"
    assert "Did not run any tasks" in result.summary_text
    assert vac.stat().st_mtime_ns == before


def test_changed_parameter_makes_new_targets(pipeline_run):
    out, task, _ = pipeline_run
    from photcat.pipeline.tasks import RunPipeline

    t2 = RunPipeline(output_dir=str(out), **{**SMALL, "pdf_nz": 51})
    assert _vac_path(t2) != _vac_path(task)
    # the models do not depend on the PDF grid: same model folders, nothing retrained
    assert [m.output().path for m in t2.model_tasks()] == [
        m.output().path for m in task.model_tasks()
    ]
