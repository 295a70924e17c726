"""The pipeline's stages as functions of paths: what each Luigi task runs.

Each function reads its inputs, calls photcat.catalogs / features / models / pipeline
functions, and writes its output atomically. None of them imports Luigi.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from photcat.catalogs.reader import iter_read
from photcat.catalogs.report import IngestReport
from photcat.console import Progress
from photcat.pipeline import training
from photcat.pipeline.loader import load_model
from photcat.pipeline.vac import PredictConfig


def ingest(
    path: Path,
    schema: Any,
    out: Path | None,
    *,
    rows: int,
    provenance: dict | None = None,
    input_sha256: str | bool = True,
) -> tuple[IngestReport, dict]:
    """Stream a catalogue into a canonical table file (Parquet: one row group per partition
    of ``rows`` rows; FITS: gathered), every input column kept; ``out=None`` only checks it.

    Returns the ingest report and its dict form with the partition count, bands and the
    input checksum.
    """
    from photcat.catalogs.writer import to_arrow, write_tables

    first: dict[str, Any] = {}
    counts = {"parts": 0}

    def tables():
        with Progress("ingesting", None, "rows") as progress:
            for part in iter_read(
                path, schema, rows=rows, keep_columns=True, checksum=input_sha256
            ):
                progress.advance(len(part.table))
                yield part

    def arrow_tables():
        for part in tables():
            if not first:
                first.update(catalog=part, report=part.report)
            else:
                first["report"] = first["report"].merge(part.report)
            counts["parts"] += bool(len(part.table))
            meta = {**part.meta, "provenance": provenance}
            meta.pop("rows_offset", None)
            yield to_arrow(part.table, None, meta, part.meta.get("input_units"))

    if out is None:
        for _ in arrow_tables():
            pass
    else:
        write_tables(arrow_tables(), out)
    cat = first["catalog"]
    out_report = first["report"].to_dict()
    out_report.update(
        partitions=counts["parts"],
        partition_rows=rows,
        bands=list(cat.bands),
        required_bands=list(cat.required_bands),
        input_sha256=cat.meta.get("input_sha256"),
        source=str(path),
    )
    return first["report"], out_report


def train_and_save(
    ts: pd.DataFrame,
    out_dir: Path,
    *,
    target: str,
    model: str,
    params: dict,
    spec,
    seed: int,
    provenance: dict,
    label: str | None = None,
    galaxy_class: str = training.DEFAULT_GALAXY_CLASS,
) -> dict:
    """Fit a model on a training-set table (``split`` column) and save it with its spec.

    A class model records its classes and which of them is the galaxy class
    (``galaxy_class``, matched without regard to case; flag bit ``probably_not_galaxy``)."""
    from photcat.models.persistence import save_model

    extra = {}
    if target == "class":  # checked before a long fit
        source = provenance.get("catalog") or (provenance.get("params") or {}).get("catalog")
        usable = spec.build(ts).usable
        extra["galaxy_class"] = training.check_classes(
            ts, label, galaxy_class, str(source or ""), usable=usable
        )
    fitted = training.fit_model(
        ts, target=target, model=model, params=params, spec=spec, seed=seed, label=label
    )
    if target == "class":
        extra["classes"] = [str(c) for c in fitted.model.classes_]
    feats = fitted.spec.build(ts[ts["split"] == "train"])
    lo, hi = fitted.feature_range or feats.value_range(feats.usable)
    config = {
        **provenance,
        "target": target,
        "model": model,
        "label": label,
        "training_seconds": fitted.seconds,
        "n_train": fitted.n_train,
        "n_valid": fitted.n_valid,
        "feature_names": list(feats.names),
        "feature_min": lo.tolist(),
        "feature_max": hi.tolist(),
        **extra,
        **fitted.notes,
    }
    save_model(
        fitted.model,
        out_dir,
        feature_spec=fitted.spec.to_dict(),
        metrics=fitted.metrics,
        config=config,
    )
    return {**config, "validation_metrics": fitted.metrics}


def parquet_meta(path: Path) -> str:
    """The ``photcat`` provenance JSON stored in a Parquet file's schema metadata."""
    import pyarrow.parquet as pq

    md = pq.read_schema(path).metadata or {}
    return md.get(b"photcat", b"{}").decode()


def evaluate_saved(model_dir: Path, trainset_path: Path) -> dict:
    """Test-split metrics of a saved model on its training-set file, predicted exactly as
    the value-added catalogue is (:func:`photcat.pipeline.loader.load_model`)."""
    lm = load_model(model_dir)
    ts = pd.read_parquet(trainset_path)
    label = lm.config.get("label")
    metrics = training.evaluate_split(lm.predictor, lm.spec, ts, lm.target, "test", label=label)
    return {"target": lm.target, "model": lm.config.get("model"), **metrics}


def predict_partition(
    canonical: Path,
    index: int,
    model_dirs: list[Path],
    out: Path,
    *,
    config: PredictConfig,
    provenance: dict,
    splits: tuple[Path, ...] = (),
) -> int:
    """Predict row group ``index`` of a canonical Parquet file into a part file, through the
    same :func:`photcat.pipeline.stream.run_job` as ``photcat predict``; returns its rows.

    ``splits``: training-set files whose ``split`` column is joined on the input row number
    (a row in several takes the first file's).
    """
    from photcat.catalogs.partitions import plan
    from photcat.pipeline.stream import Job, run_job

    parts = plan(canonical, 1)  # one partition per row group
    if not 0 <= index < len(parts):
        raise IndexError(f"partition {index} does not exist in {canonical} ({len(parts)})")
    dirs = tuple(str(d) for d in model_dirs)
    job = Job(
        parts[index],
        None,
        dirs,
        config,
        str(out),
        provenance,
        tuple(str(p) for p in splits),
    )
    return run_job(job)["rows"]


def assemble(parts: list[Path], out: Path, *, provenance: dict) -> int:
    """Concatenate partition files, in order, into the value-added catalogue (Parquet
    streamed, FITS gathered: :func:`photcat.catalogs.writer.write_tables`)."""
    import pyarrow.parquet as pq

    from photcat.catalogs.writer import arrow_meta, write_tables

    def tables():
        for i, p in enumerate(parts):
            t = pq.read_table(p)
            got = (arrow_meta(t).get("partition") or {}).get("index")
            if got != i:
                raise ValueError(f"{p} holds partition {got}, expected {i}")
            yield t

    return write_tables(tables(), out, meta={**provenance, "partitions": len(parts)})
