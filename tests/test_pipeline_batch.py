"""Scheduled batch runs over a folder of catalogue partitions: only new files are processed."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from photcat.catalogs import sample, write
from photcat.pipeline import runner
from photcat.pipeline.tasks import PredictFolder

pytestmark = pytest.mark.slow  # runs the whole pipeline

FAST = {
    "photoz_model": "knn",
    "quiescent_model": "logistic",
    "vac_restframe": False,
    "target_schema": "canonical",
}


def test_folder_run_processes_only_new_partitions(tmp_path):
    cat = sample("sdss-gst")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for i in range(2):
        write(
            cat.table.iloc[i * 1000 : (i + 1) * 1000], incoming / f"night{i}.parquet", meta=cat.meta
        )
    out = tmp_path / "out"
    task = PredictFolder(output_dir=str(out), target_folder=str(incoming), **FAST)
    result = runner.build([task])
    assert result.status.name == "SUCCESS", result.summary_text
    vacs = sorted(out.glob("catalog/night*-vac-*.fits"))
    assert [v.name.split("-")[0] for v in vacs] == ["night0", "night1"]
    first = {v: v.stat().st_mtime_ns for v in vacs}

    # a new partition arrives; the next scheduled run handles it and leaves the others alone
    write(cat.table.iloc[2000:2500], incoming / "night2.parquet", meta=cat.meta)
    (incoming / ".night3.parquet.tmp").write_bytes(b"partial upload")  # ignored: hidden file
    result = runner.build([PredictFolder(output_dir=str(out), target_folder=str(incoming), **FAST)])
    assert result.status.name == "SUCCESS", result.summary_text
    assert "1 AssembleCatalog" in result.summary_text and "ran successfully" in result.summary_text
    assert all(v.stat().st_mtime_ns == t for v, t in first.items())
    (new,) = out.glob("catalog/night2-vac-*.fits")
    t = Table.read(new)
    np.testing.assert_array_equal(t["object_id"], cat.table["object_id"].iloc[2000:2500])
