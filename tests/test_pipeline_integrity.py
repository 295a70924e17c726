"""Intermediate files are sealed: a corrupted or unsealed one is detected and rebuilt."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from photcat.catalogs.writer import read_with_arrays
from photcat.pipeline import runner

pytestmark = pytest.mark.slow  # runs the whole pipeline

FAST = {
    "photoz_model": "knn",
    "quiescent_model": "logistic",
    "vac_restframe": False,
    "partition_rows": 2500,
}


def _vac(task) -> Path:
    return Path(task.requires().requires()["catalog"].output().path)


def test_truncated_partition_is_detected_and_rebuilt(tmp_path, caplog):
    task, result = runner.run(output_dir=str(tmp_path), **FAST)
    assert result.status.name == "SUCCESS"
    before, arrays_before, _ = read_with_arrays(_vac(task))
    part = sorted(tmp_path.glob("predict/*/part-00001.parquet"))[0]
    part.write_bytes(part.read_bytes()[:1000])  # truncated by hand
    # ... in a run that stopped before assembling (a complete catalogue would need nothing)
    _vac(task).unlink()
    report = Path(task.output().path).parent
    shutil.rmtree(report)
    model_file = next(tmp_path.glob("models/photoz-*/*.json"))

    with caplog.at_level(logging.WARNING, logger="photcat"):
        task, result = runner.run(output_dir=str(tmp_path), **FAST)
    assert result.status.name == "SUCCESS"
    assert any("part-00001.parquet is not intact" in r.getMessage() for r in caplog.records)
    assert "1 PredictPartition" in result.summary_text  # only that partition ran again
    after, arrays_after, _ = read_with_arrays(_vac(task))
    for col in before.columns:
        x, y = before[col].to_numpy(), after[col].to_numpy()
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), col
    assert model_file.exists()


def test_output_without_seal_is_redone(tmp_path):
    task, result = runner.run(output_dir=str(tmp_path), **FAST)
    seal = next(tmp_path.glob("evaluate/*.json.seal.json"))
    seal.unlink()  # as if the process died between writing the file and sealing it,
    shutil.rmtree(Path(task.output().path).parent)  # so nothing downstream was made either
    task, result = runner.run(output_dir=str(tmp_path), **FAST)
    assert result.status.name == "SUCCESS"
    assert "2 EvaluateModel" in result.summary_text or "1 EvaluateModel" in result.summary_text
    assert seal.exists()
