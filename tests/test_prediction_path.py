"""One prediction path: the Luigi pipeline and ``photcat predict`` (one process, two
processes, a Dask LocalCluster) give bitwise-identical value-added columns, and evaluation
of a saved committee agrees with its predictions in the catalogue to float32 round-off.

Real parts: the shipped SDSS+2MASS sample (first 1,200 rows, as a FITS file), a real Luigi
run with the local scheduler, a small network committee trained by it (TensorFlow) and a
logistic quiescent classifier on UVJ labels from kcorrect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from photcat.catalogs.sample import sample_path
from photcat.catalogs.writer import read_with_arrays
from photcat.models import metrics
from photcat.models.predictions import MixturePrediction
from photcat.pipeline import stream
from photcat.pipeline.runner import build
from photcat.pipeline.stages import evaluate_saved
from photcat.pipeline.tasks import AssembleCatalog, EvaluateModel
from photcat.pipeline.vac import PredictConfig

pytestmark = pytest.mark.slow  # trains a committee and runs the pipeline

ROWS, PART = 1200, 400
GRID = (0.0, 0.8, 41)
PREDICTED = (
    "photoz_mean",
    "photoz_std",
    "photoz_q16",
    "photoz_q50",
    "photoz_q84",
    "p_quiescent",
    "uv",
    "vj",
    "uvj_z",
    "uvj_quiescent",
    "flag_photcat",
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A real Luigi run to the assembled catalogue; its task and catalogue file."""
    work = tmp_path_factory.mktemp("path")
    catalog = work / "gst-head.fits"
    Table.read(sample_path(), format="fits")[:ROWS].write(catalog)
    task = AssembleCatalog(
        output_dir=str(work / "out"),
        catalog=str(catalog),
        schema="sdss",
        partition_rows=PART,
        photoz_params={"n_members": 2, "hidden_layers": [8], "epochs": 4, "batch_size": 64},
        quiescent_model="logistic",
        pdf_zmin=GRID[0],
        pdf_zmax=GRID[1],
        pdf_nz=GRID[2],
        output_format="parquet",
    )
    assert build([task]).status.name == "SUCCESS"
    return task, catalog, work


def _columns(path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    table, arrays, _ = read_with_arrays(path)
    return table[list(PREDICTED)].reset_index(drop=True), arrays


def test_every_driver_gives_identical_columns(pipeline):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    task, catalog, work = pipeline
    models = [t.output().path for t in task.model_tasks()]
    luigi_cols, luigi_arrays = _columns(task.output().path)
    config = PredictConfig(GRID, restframe=True, uvj_preset=task.uvj_preset)
    kw = {"schema": "sdss", "partition_rows": PART, "config": config}
    outs = {
        "one": stream.predict_catalog(catalog, models, work / "one.parquet", **kw),
        "two": stream.predict_catalog(catalog, models, work / "two.parquet", workers=2, **kw),
    }
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        outs["dask"] = stream.predict_catalog(
            catalog, models, work / "dask.parquet", dask_scheduler=client, **kw
        )
    assert {k: m["rows"] for k, m in outs.items()} == {"one": ROWS, "two": ROWS, "dask": ROWS}
    assert np.isfinite(luigi_cols["photoz_mean"]).mean() > 0.95
    assert np.isfinite(luigi_cols["uv"]).mean() > 0.95
    for name in outs:
        cols, arrays = _columns(work / f"{name}.parquet")
        pd.testing.assert_frame_equal(cols, luigi_cols, check_exact=True)
        assert set(arrays) == set(luigi_arrays)
        for k in arrays:
            np.testing.assert_array_equal(arrays[k], luigi_arrays[k], err_msg=f"{name}: {k}")


def test_evaluation_agrees_with_the_catalogue(pipeline):
    """evaluate_saved (what EvaluateModel writes) and the catalogue's own photo-z columns on
    the test split: the same PDFs, so the same metrics to float32 round-off."""
    task, _, _ = pipeline
    ev = task.clone(
        EvaluateModel, target="photoz", model=task.photoz_model, model_params=task.photoz_params
    )
    trained = ev.requires()
    got = evaluate_saved(trained["model"].output().path, trained["trainset"].output().path)
    table, arrays, _ = read_with_arrays(task.output().path)
    test = (table["split"] == "test").to_numpy() & np.isfinite(table["photoz_mean"].to_numpy())
    assert got["rows_evaluated"] == int(test.sum()) > 100
    pred = MixturePrediction(
        arrays["photoz_weights"][test], arrays["photoz_means"][test], arrays["photoz_stds"][test]
    )
    mine = metrics.photoz_metrics(pred, table["z_spec"].to_numpy()[test])
    for k in ("sigma_rms", "sigma_nmad", "bias_mean", "outlier_fraction", "coverage_68", "crps"):
        assert got[k] == pytest.approx(mine[k], rel=1e-6, abs=1e-9), k
