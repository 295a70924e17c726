"""The pipeline's stages as functions of paths: what each Luigi task runs.

Each function reads its inputs, calls photcat.catalogs / features / models / pipeline
functions, and writes its output atomically. None of them imports Luigi.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat.catalogs.io_atomic import atomic_path
from photcat.catalogs.reader import iter_read
from photcat.catalogs.writer import read_with_arrays, write
from photcat.features.columns import spec_from_dict
from photcat.features.spec import FeatureSpec
from photcat.pipeline import training, vac


def ingest(
    path: Path,
    schema: Any,
    out: Path,
    *,
    rows: int,
    provenance: dict | None = None,
    input_sha256: str | bool = True,
) -> dict:
    """Stream a catalogue into canonical Parquet, one row group per partition of ``rows`` rows.

    Returns the ingest report (as a dict) with the partition count and the input checksum.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    report = None
    n_parts = 0
    meta: dict = {}
    bands: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    with atomic_path(out) as tmp:
        writer = None
        try:
            for part in iter_read(
                path, schema, rows=rows, keep_columns=True, checksum=input_sha256
            ):
                table = pa.Table.from_pandas(part.table, preserve_index=False)
                if writer is None:
                    meta, bands, required = part.meta, part.bands, part.required_bands
                    md = {
                        b"photcat": json.dumps(
                            {**meta, "provenance": provenance}, default=str
                        ).encode()
                    }
                    writer = pq.ParquetWriter(
                        tmp, table.schema.with_metadata(md), compression="zstd"
                    )
                    report = part.report
                else:
                    try:
                        table = table.cast(writer.schema)
                    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                        raise ValueError(
                            f"{path}: partition {n_parts} has column types that differ from the "
                            f"first partition ({exc})"
                        ) from exc
                    report = report.merge(part.report)
                if len(part.table):
                    writer.write_table(table, row_group_size=max(len(part.table), 1))
                    n_parts += 1
        finally:
            if writer is not None:
                writer.close()
    out_report = report.to_dict()
    out_report.update(
        partitions=n_parts,
        partition_rows=rows,
        bands=list(bands),
        required_bands=list(required),
        input_sha256=meta.get("input_sha256"),
        source=str(path),
    )
    return out_report


def read_ingest_report(ingest_dir: Path) -> dict:
    return json.loads((ingest_dir / "report.json").read_text())


def default_spec(
    ts: pd.DataFrame,
    bands: tuple[str, ...],
    reference_band: str | None,
    flag_policy: str,
    default_bands: tuple[str, ...] = (),
) -> FeatureSpec:
    """Colours of ``bands`` (default: the catalogue's required bands) plus a reference magnitude."""
    bands = tuple(bands) or tuple(default_bands)
    missing = [b for b in bands if f"mag_{b}" not in ts]
    if missing or not bands:
        have = sorted(c[4:] for c in ts.columns if str(c).startswith("mag_"))
        raise ValueError(f"the training catalogue has no band(s) {missing or bands}; it has {have}")
    return FeatureSpec(bands=bands, reference_band=reference_band, flag_policy=flag_policy)


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
) -> dict:
    """Fit a model on a training-set table (``split`` column) and save it with its spec."""
    from photcat.models.persistence import save_model

    fitted = training.fit_model(
        ts, target=target, model=model, params=params, spec=spec, seed=seed, label=label
    )
    feats = fitted.spec.build(ts[ts["split"] == "train"])
    X = feats.X[feats.usable]
    config = {
        **provenance,
        "target": target,
        "model": model,
        "label": label,
        "training_seconds": fitted.seconds,
        "n_train": fitted.n_train,
        "n_valid": fitted.n_valid,
        "feature_names": list(feats.names),
        "feature_min": X.min(axis=0).tolist(),
        "feature_max": X.max(axis=0).tolist(),
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


def _loaded(manifest: dict, model: Any, forward: Any = None) -> vac.LoadedModel:
    cfg = manifest.get("config") or {}
    return vac.LoadedModel(
        target=manifest["task"],
        model=model,
        spec=spec_from_dict(manifest["feature_spec"]),
        feature_min=np.asarray(cfg.get("feature_min", []), dtype=np.float32),
        feature_max=np.asarray(cfg.get("feature_max", []), dtype=np.float32),
        forward=forward,
        _compiled=forward is not None,
        manifest=manifest,
    )


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> vac.LoadedModel:
    from photcat.models.persistence import load_model

    model = load_model(path)
    return _loaded(model.manifest_, model)


@lru_cache(maxsize=8)
def _load_predictor_cached(path: str, mtime_ns: int) -> vac.LoadedModel:
    from photcat.models.keras_archive import forward_from_manifest
    from photcat.models.persistence import check_model_folder, load_estimator

    manifest = check_model_folder(path)  # checksums read once, for either route
    forward = forward_from_manifest(path, manifest)
    if forward is None:
        return _loaded(manifest, load_estimator(manifest["estimator"], Path(path)))
    return _loaded(manifest, None, forward)


def load(model_dir: Path) -> vac.LoadedModel:
    """A saved model (verified through its manifest), loaded once per process."""
    manifest = Path(model_dir) / "manifest.json"
    return _load_cached(str(Path(model_dir).resolve()), manifest.stat().st_mtime_ns)


def load_predictor(model_dir: Path) -> vac.LoadedModel:
    """A saved model for prediction only: networks come as their numpy forward pass, read
    from the files without TensorFlow (:mod:`photcat.models.keras_archive`); other models
    as :func:`load` gives them."""
    manifest = Path(model_dir) / "manifest.json"
    return _load_predictor_cached(str(Path(model_dir).resolve()), manifest.stat().st_mtime_ns)


def evaluate_saved(model_dir: Path, trainset_path: Path) -> dict:
    """Test-split metrics of a saved model on its training-set file."""
    lm = load(model_dir)
    ts = pd.read_parquet(trainset_path)
    label = (lm.manifest.get("config") or {}).get("label")
    metrics = training.evaluate_split(lm.model, lm.spec, ts, lm.target, "test", label=label)
    return {
        "target": lm.target,
        "model": (lm.manifest.get("config") or {}).get("model"),
        **metrics,
    }


def predict_partition(
    canonical: Path,
    index: int,
    model_dirs: list[Path],
    out: Path,
    *,
    grid: tuple[float, float, int] | None,
    restframe: bool,
    uvj_preset: str,
    provenance: dict,
    splits: Path | None = None,
) -> int:
    """Predict one row group of a canonical Parquet file into a value-added partition file.

    ``splits``: a training-set file whose ``split`` column is joined on ``object_id`` (rows
    that were not in the training set get an empty string).
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(canonical)
    if not 0 <= index < pf.num_row_groups:
        raise IndexError(f"partition {index} does not exist in {canonical} ({pf.num_row_groups})")
    table = pf.read_row_group(index).to_pandas()
    models = [load_predictor(d) for d in model_dirs]
    zgrid = vac.pdf_grid(*grid) if grid and grid[2] > 0 else None
    cols, arrays = vac.predict_columns(
        table, models, grid=zgrid, restframe=restframe, uvj_preset=uvj_preset
    )
    overlap = [c for c in cols.columns if c in table.columns]
    table = table.drop(columns=overlap)  # a re-predicted catalogue replaces old predictions
    if splits is not None:
        ts = pd.read_parquet(splits, columns=["object_id", "split"])
        cols["split"] = (
            table["object_id"]
            .map(ts.set_index("object_id")["split"])
            .fillna("")
            .astype(str)
            .to_numpy()
        )
    meta = {
        **provenance,
        "partition": index,
        "pdf_grid": None if zgrid is None else [float(grid[0]), float(grid[1]), int(grid[2])],
        "flag_photcat_bits": vac.FLAG_BITS,
        "models": [
            {k: lm.manifest.get(k) for k in ("class", "task", "photcat_version", "versions")}
            | {"folder": str(d), "config": (lm.manifest.get("config") or {}).get("model")}
            for lm, d in zip(models, model_dirs, strict=True)
        ],
        "upstream": json.loads(parquet_meta(canonical)),
    }
    write(pd.concat([table, cols], axis=1), out, arrays=arrays, meta=meta)
    return len(table)


def assemble(parts: list[Path], out: Path, *, provenance: dict) -> int:
    """Concatenate partition files, in order, into the value-added catalogue."""
    frames, arrays, meta = [], {}, {}
    for i, p in enumerate(parts):
        df, arr, m = read_with_arrays(p)
        if m.get("partition") != i:
            raise ValueError(f"{p} holds partition {m.get('partition')}, expected {i}")
        frames.append(df)
        for k, v in arr.items():
            arrays.setdefault(k, []).append(v)
        meta = meta or m
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    merged = {k: np.concatenate(v) for k, v in arrays.items()}
    final_meta = {
        **provenance,
        "partitions": len(parts),
        "pdf_grid": meta.get("pdf_grid"),
        "flag_photcat_bits": meta.get("flag_photcat_bits"),
        "models": meta.get("models"),
        "upstream": meta.get("upstream"),
        "input_sha256": (meta.get("upstream") or {}).get("input_sha256"),
        "extinction_corrected": (meta.get("upstream") or {}).get("extinction_corrected"),
        "schema": (meta.get("upstream") or {}).get("schema"),
        "input_units": (meta.get("upstream") or {}).get("input_units", {}),
    }
    write(table, out, arrays=merged, meta=final_meta)
    return len(table)
