"""Prediction on a dask.distributed LocalCluster with 2 worker processes equals the local run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from photcat.pipeline import stream
from photcat.pipeline.vac import PredictConfig
from tests.test_stream import (
    GRID,
    canonical_sample,
    read_folder,
    train_models,
    write_parquet_dataset,
)

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")


def test_dask_cluster_output_identical_to_local(tmp_path):
    models = train_models(tmp_path / "models")
    data = write_parquet_dataset(tmp_path / "cat", canonical_sample(), 2, 1000)
    local = stream.predict_catalog(
        data,
        models,
        tmp_path / "local",
        schema="canonical",
        partition_rows=2000,
        config=PredictConfig(GRID),
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = stream.predict_catalog(
            data,
            models,
            tmp_path / "dask",
            schema="canonical",
            partition_rows=2000,
            config=PredictConfig(GRID),
            dask_scheduler=client,
        )
        # both worker processes took part (each loads the models once, from their folders)
        ran_on = client.run(
            lambda: (
                __import__("photcat.pipeline.loader").pipeline.loader._load.cache_info().currsize
            )
        )
    assert len(local["partitions"]) == len(remote["partitions"]) == 6
    assert sum(1 for v in ran_on.values() if v > 0) == 2
    # byte-identical part files: same rows, same numbers, same metadata
    assert [e["sha256"] for e in remote["partitions"]] == [e["sha256"] for e in local["partitions"]]
    a, arr_a = read_folder(tmp_path / "local")
    b, arr_b = read_folder(tmp_path / "dask")
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(arr_a["photoz_pdf"], arr_b["photoz_pdf"])
    assert remote["rows"] == 10_000
