"""Streaming, partitioned prediction: a catalogue of any size in, a value-added catalogue out.

The input is split into partitions that a worker can read on its own:

- Parquet (one file or a folder of files): consecutive row groups of one file, about
  ``partition_rows`` rows each (a row group is never split);
- FITS: row ranges of the table, read memory-mapped;
- HATS (the HEALPix-partitioned Parquet layout of LSDB; needs the ``hats`` package): one
  partition per HEALPix pixel leaf file, and the output keeps the same
  ``dataset/Norder=/Dir=/Npix=`` layout;
- CSV, HDF5 and ANNz ASCII cannot be read from the middle: they are read in order by the
  calling process (one process; convert them to Parquet with ``photcat ingest`` to scale).

Each partition goes through :func:`photcat.pipeline.vac.predict_columns` and is written as
its own Parquet part file (folder output), or appended as row groups to one Parquet file
(``.parquet`` output, streamed with a ``ParquetWriter``), or — FITS output — gathered and
written once, so FITS output memory grows with the catalogue: use Parquet for large ones.
A manifest (``manifest.json`` in a folder output, ``<file>.manifest.json`` beside a file)
lists every partition with its source, row count and SHA-256, and is written atomically.

Partitions are processed in the calling process (``workers=1``), by local processes
(``workers>1``; spawned; they receive the models from the calling process once, networks as
their compiled numpy forward pass, so they never start TensorFlow), or by the workers of a
Dask cluster
(``dask_scheduler="tcp://host:8786"``; each worker loads the models once from the model
folders' paths and writes its own part files, so model folders and output must be on a
file system every worker sees). The output is identical in every case: each partition's
numbers depend only on its rows and the models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat import __version__
from photcat.catalogs.formats import CatalogError, RawChunk, detect_format
from photcat.catalogs.io_atomic import atomic_path, write_json
from photcat.catalogs.writer import to_arrow

log = logging.getLogger("photcat")

MANIFEST_FORMAT = "photcat.stream-manifest/1"
PART_DIGITS = 5
SEEKABLE = ("parquet", "fits", "hats")
# zstd level 1 with byte-stream-split floats: as small as default zstd, much faster to write
# (dictionary encoding is off: it never pays for measured floats)
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": False,
    "use_byte_stream_split": True,
}


# ----------------------------------------------------------------------------- partitions


@dataclass(frozen=True)
class Partition:
    """A piece of the input a worker can read by itself.

    ``kind``: ``parquet`` (row groups ``start``..``stop``-1 of ``path``), ``fits`` (rows
    ``start``..``stop``-1), ``hats`` (the whole leaf file ``path`` of HEALPix ``pixel``).
    ``offset`` is the global index of the partition's first row (the default object_id).
    ``name`` is the relative output name (``part-00003`` or ``dataset/Norder=.../Npix=...``).
    """

    index: int
    kind: str
    path: str
    start: int
    stop: int
    offset: int
    rows: int
    name: str
    pixel: tuple[int, int] | None = None


def is_hats(path: Path) -> bool:
    """True for a HATS catalogue folder (``hats.properties`` or ``properties`` at its root)."""
    return path.is_dir() and any((path / n).is_file() for n in ("hats.properties", "properties"))


def input_format(path: Path) -> str:
    """``hats``, ``parquet``, ``fits``, ``csv``, ``hdf5`` or ``ascii``."""
    if not path.exists():
        raise CatalogError(f"catalogue file not found: {path}")
    if is_hats(path):
        return "hats"
    return detect_format(path)


def _parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [
        p
        for p in sorted(path.rglob("*.parquet"))
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    ]
    if not files:
        raise CatalogError(f"no Parquet files in folder {path}")
    return files


def plan(path: str | Path, partition_rows: int) -> list[Partition]:
    """The partitions of a seekable catalogue (Parquet, FITS, HATS), in order."""
    import pyarrow.parquet as pq

    path = Path(path)
    fmt = input_format(path)
    rows = max(int(partition_rows), 1)
    parts: list[Partition] = []
    offset = 0
    if fmt == "hats":
        for pixel, leaf in hats_leaf_files(path):
            n = pq.ParquetFile(leaf).metadata.num_rows
            name = str(Path(leaf).relative_to(path).with_suffix(""))
            parts.append(Partition(len(parts), "hats", str(leaf), 0, n, offset, n, name, pixel))
            offset += n
    elif fmt == "parquet":
        for f in _parquet_files(path):
            md = pq.ParquetFile(f).metadata
            sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
            start, acc = 0, 0
            for i, k in enumerate(sizes):
                acc += k
                if acc >= rows or i == len(sizes) - 1:
                    name = f"part-{len(parts):0{PART_DIGITS}d}"
                    parts.append(
                        Partition(len(parts), "parquet", str(f), start, i + 1, offset, acc, name)
                    )
                    offset += acc
                    start, acc = i + 1, 0
    elif fmt == "fits":
        from photcat.catalogs.formats import count_rows

        if path.name.lower().endswith(".gz"):
            raise CatalogError(f"{path} is gzip-compressed FITS: it cannot be read in row ranges")
        n = count_rows(path, "fits") or 0
        for start in range(0, max(n, 1), rows):
            stop = min(start + rows, n)
            name = f"part-{len(parts):0{PART_DIGITS}d}"
            parts.append(
                Partition(len(parts), "fits", str(path), start, stop, start, stop - start, name)
            )
    else:
        raise CatalogError(
            f"{path} is {fmt}: it can only be read in order (convert it to Parquet to partition it)"
        )
    return parts


def hats_leaf_files(path: Path) -> list[tuple[tuple[int, int], str]]:
    """((order, pixel), leaf Parquet file) of every HEALPix pixel of a HATS catalogue."""
    try:
        import hats
        from hats.io import paths as hats_paths
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise CatalogError(
            f"{path} is a HATS catalogue: install the optional extra: pip install 'photcat[scale]'"
        ) from exc
    cat = hats.read_hats(path)
    out = []
    for pix in cat.get_healpix_pixels():
        leaf = hats_paths.pixel_catalog_file(cat.catalog_base_dir, pix)
        out.append(((int(pix.order), int(pix.pixel)), str(leaf)))
    return out


def _raw_chunk(part: Partition) -> RawChunk:
    """Raw columns of one partition (FITS vector columns as ``NAME[i]``)."""
    if part.kind in ("parquet", "hats"):
        import pyarrow.parquet as pq

        from photcat.catalogs.formats import parquet_provenance

        pf = pq.ParquetFile(part.path)
        t = (
            pf.read_row_groups(list(range(part.start, part.stop)))
            if part.kind == "parquet"
            else pf.read()
        )
        units = {
            f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in t.schema if f.metadata
        }
        cols = {name: t.column(name).to_numpy() for name in t.column_names}
        return RawChunk(cols, part.offset, t.num_rows, units, parquet_provenance(t.schema.metadata))
    if part.kind == "fits":
        from astropy.io import fits

        from photcat.catalogs.formats import fits_columns, fits_provenance, fits_table_hdu

        with fits.open(part.path, memmap=True) as hdul:
            hdu = fits_table_hdu(hdul, Path(part.path))
            data = hdu.data[part.start : part.stop]
            cols = fits_columns(data)
            units = {c.name: (c.unit or "") for c in data.columns}
            return RawChunk(cols, part.offset, part.rows, units, fits_provenance(hdu.header))
    raise ValueError(f"unknown partition kind {part.kind!r}")


def read_partition(part: Partition, schema: Any) -> tuple[pd.DataFrame, dict]:
    """(table, meta) of one partition: canonical columns (plus the input's other columns) for
    a schema, or the raw columns as they are (``NAME[i]`` -> ``NAME_i``) when ``schema`` is None.
    """
    chunk = _raw_chunk(part)
    if schema is None:
        cols = {
            k.replace("[", "_").replace("]", ""): np.asarray(v) for k, v in chunk.columns.items()
        }
        return pd.DataFrame(cols), {"provenance": chunk.meta}
    from photcat.catalogs.reader import canonicalise

    cat = canonicalise(chunk, schema, part.path, keep_columns=True)
    table = cat.table
    meta = {k: cat.meta[k] for k in ("schema", "extinction_corrected", "input_units", "provenance")}
    return table, meta


# ----------------------------------------------------------------------------- one partition


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to predict one partition (plain, picklable data)."""

    part: Partition | None  # None: the table is passed in-process (CSV/ASCII/HDF5 input)
    schema: Any
    model_dirs: tuple[str, ...]
    grid: tuple[float, float, int] | None
    restframe: bool
    uvj_preset: str
    out: str | None  # part file to write; None: return the Arrow table
    meta: dict = field(default_factory=dict)


_SHIPPED: dict[str, Any] = {}  # model folder -> model handed over by the parent process


def _models(model_dirs: tuple[str, ...]):
    from photcat.pipeline.stages import load_predictor

    # cached per process, keyed by path and modification time; networks are read as their
    # numpy forward pass, so no prediction process (local or Dask worker) starts TensorFlow
    return [_SHIPPED[d] if d in _SHIPPED else load_predictor(Path(d)) for d in model_dirs]


def shippable(model_dirs: tuple[str, ...]) -> dict[str, Any]:
    """The loaded models as plain data for local worker processes (loaded once, here)."""
    from dataclasses import replace

    from photcat.pipeline import vac

    out = {}
    for d, lm in zip(model_dirs, _models(model_dirs), strict=True):
        fw = vac.predictor(lm)
        out[d] = replace(lm, model=None, forward=fw, _compiled=True) if fw is not lm.model else lm
    return out


def predict_table(
    table: pd.DataFrame,
    models: list,
    *,
    grid: tuple[float, float, int] | None,
    restframe: bool,
    uvj_preset: str,
    meta: dict,
    input_units: dict | None = None,
):
    """The value-added Arrow table of one partition (input columns + predictions + arrays)."""
    from photcat.pipeline import vac

    zgrid = vac.pdf_grid(*grid) if grid and grid[2] > 0 else None
    cols, arrays = vac.predict_columns(
        table, models, grid=zgrid, restframe=restframe, uvj_preset=uvj_preset
    )
    base = table.drop(columns=[c for c in cols.columns if c in table.columns])
    return to_arrow(pd.concat([base, cols], axis=1), arrays, meta, input_units or {})


def run_job(job: Job, table: pd.DataFrame | None = None, table_meta: dict | None = None) -> dict:
    """Predict one partition; write its part file (``job.out``) or return the Arrow table.

    Returns the partition's manifest entry (with ``table`` when nothing was written).
    """
    if job.part is not None:
        table, table_meta = read_partition(job.part, job.schema)
    assert table is not None
    table_meta = table_meta or {}
    meta = {**job.meta, **{k: v for k, v in table_meta.items() if k != "input_units"}}
    if job.part is not None:
        meta["partition"] = _part_info(job.part)
    at = predict_table(
        table,
        _models(job.model_dirs),
        grid=job.grid,
        restframe=job.restframe,
        uvj_preset=job.uvj_preset,
        meta=meta,
        input_units=table_meta.get("input_units"),
    )
    entry: dict[str, Any] = {"rows": at.num_rows}
    if job.part is not None:
        entry.update(_part_info(job.part))
    if job.out is None:
        entry["table"] = at
        return entry
    import pyarrow.parquet as pq

    out = Path(job.out)
    with atomic_path(out) as tmp:
        pq.write_table(at, tmp, **PARQUET_OPTIONS)
    entry["file"] = f"{job.part.name}.parquet" if job.part is not None else out.name
    entry["sha256"] = _sha256(out)
    entry["bytes"] = out.stat().st_size
    return entry


def _part_info(part: Partition) -> dict:
    info = {
        "index": part.index,
        "source": part.path,
        "input_rows": part.rows,
        "row_offset": part.offset,
    }
    if part.kind == "parquet":
        info["row_groups"] = [part.start, part.stop]
    elif part.kind == "fits":
        info["row_range"] = [part.start, part.stop]
    if part.pixel is not None:
        info["healpix"] = {"order": part.pixel[0], "pixel": part.pixel[1]}
    return info


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _ipc_sha256(table) -> str:
    """SHA-256 of a table's Arrow IPC stream: the checksum of a partition inside one file."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


# ----------------------------------------------------------------------------- executors


def _init_worker(models: dict[str, Any]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _SHIPPED.update(models)


class _Local:
    """Jobs in this process, in order."""

    def map(self, jobs: list[Job]) -> Iterator[dict]:
        for job in jobs:
            yield run_job(job)

    def close(self) -> None:
        pass


class _Processes:
    """Jobs on local spawned processes; results in order, at most ``2 * workers`` in flight."""

    def __init__(self, workers: int, models: dict[str, Any]) -> None:
        import multiprocessing as mp

        self.workers = workers
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(models,),
        )

    def map(self, jobs: list[Job]) -> Iterator[dict]:
        pending: list[Future] = []
        it = iter(jobs)
        for job in it:
            pending.append(self.pool.submit(run_job, job))
            if len(pending) >= 2 * self.workers:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """Jobs on a dask.distributed cluster; results in order, bounded in flight."""

    def __init__(self, scheduler: Any) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
            raise RuntimeError("--dask-scheduler needs the 'distributed' package") from exc
        if isinstance(scheduler, Client):
            self.client, self.own = scheduler, False
        else:
            self.client, self.own = Client(scheduler), True
        info = self.client.scheduler_info()
        self.workers = max(len(info.get("workers", {})), 1)

    def map(self, jobs: list[Job]) -> Iterator[dict]:
        pending = []
        for job in jobs:
            digest = hashlib.sha1(repr(job).encode()).hexdigest()[:12]
            key = f"photcat-predict-{job.part.index if job.part else 'x'}-{digest}"
            pending.append(self.client.submit(run_job, job, key=key, pure=False))
            if len(pending) >= 2 * self.workers:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()

    def close(self) -> None:
        if self.own:
            self.client.close()


# ----------------------------------------------------------------------------- the driver


def output_layout(out: str | Path) -> str:
    """``parquet`` or ``fits`` for a file name, else ``folder``."""
    name = str(out).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".fits", ".fit")):
        return "fits"
    return "folder"


def manifest_path(out: str | Path) -> Path:
    """Where the manifest of an output goes."""
    out = Path(out)
    if output_layout(out) == "folder":
        return out / "manifest.json"
    return out.with_name(out.name + ".manifest.json")


def predict_catalog(
    catalog: str | Path,
    model_dirs: list[str | Path],
    out: str | Path,
    *,
    schema: Any = "sdss",
    partition_rows: int = 500_000,
    grid: tuple[float, float, int] | None = (0.0, 1.0, 101),
    restframe: bool = False,
    uvj_preset: str = "williams09",
    workers: int = 1,
    dask_scheduler: Any = None,
    provenance: dict | None = None,
) -> dict:
    """Predict ``catalog`` partition by partition into ``out``; return the manifest.

    ``out`` ending in ``.parquet``/``.pq`` is one Parquet file, in ``.fits`` one FITS file
    (held in memory before writing: small catalogues only), anything else a folder of
    Parquet part files (HATS input: the HATS leaf layout). ``schema=None`` keeps the input
    columns as they are (models trained on ready-made columns). ``dask_scheduler``: address of
    a Dask scheduler (or a ``distributed.Client``); else ``workers`` local processes.
    """
    catalog, out = Path(catalog), Path(out)
    fmt = input_format(catalog)
    layout = output_layout(out)
    model_dirs = tuple(str(Path(d).resolve()) for d in model_dirs)
    for d in model_dirs:
        if not (Path(d) / "manifest.json").is_file():
            raise FileNotFoundError(
                f"{d}/manifest.json not found: not a saved photcat model folder"
            )
    grid = (
        None
        if grid is None or int(grid[2]) == 0
        else (float(grid[0]), float(grid[1]), int(grid[2]))
    )
    meta = {
        **(provenance or {}),
        "source": str(catalog),
        "input_format": fmt,
        "models": list(model_dirs),
        "pdf_grid": list(grid) if grid else None,
        "restframe": bool(restframe),
        "uvj_preset": uvj_preset,
        "flag_photcat_bits": _flag_bits(),
    }
    if fmt in SEEKABLE:
        parts = plan(catalog, partition_rows)
        if not parts:
            raise CatalogError(f"{catalog} holds no rows to predict")
        executor = (
            _Dask(dask_scheduler)
            if dask_scheduler is not None
            else (
                _Processes(workers, shippable(model_dirs))
                if workers > 1 and len(parts) > 1
                else _Local()
            )
        )
    else:
        parts, executor = [], _Local()
        if dask_scheduler is not None or workers > 1:
            log.warning("photcat: %s is %s, read in order by this process only", catalog, fmt)
    try:
        args = (catalog, fmt, parts, schema, model_dirs, grid, restframe, uvj_preset, meta, out)
        if layout == "folder":
            entries = _to_folder(*args, executor, partition_rows)
        else:
            entries = _to_file(*args, executor, partition_rows, layout)
    finally:
        executor.close()
    manifest = {
        "format": MANIFEST_FORMAT,
        "photcat_version": __version__,
        "output": str(out),
        "layout": "hats" if (layout == "folder" and fmt == "hats") else layout,
        "input": {"path": str(catalog), "format": fmt},
        "rows": int(sum(e["rows"] for e in entries)),
        "partitions": entries,
        "config": {k: v for k, v in meta.items() if k != "flag_photcat_bits"},
        "flag_photcat_bits": meta["flag_photcat_bits"],
    }
    if layout != "folder":
        manifest["sha256"] = _sha256(out)
    write_json(manifest_path(out), manifest)
    return manifest


def _flag_bits() -> dict:
    from photcat.pipeline.vac import FLAG_BITS

    return dict(FLAG_BITS)


def _jobs(parts, schema, model_dirs, grid, restframe, uvj_preset, meta, outdir: Path | None):
    return [
        Job(
            p,
            schema,
            model_dirs,
            grid,
            restframe,
            uvj_preset,
            None if outdir is None else str(outdir / f"{p.name}.parquet"),
            meta,
        )
        for p in parts
    ]


def _sequential(catalog, fmt, schema, model_dirs, grid, restframe, uvj_preset, meta, rows):
    """(job, table, table meta) for formats read in order (CSV, ASCII, HDF5)."""
    from photcat.catalogs import iter_read, read_columns

    if schema is None:
        yield (
            Job(None, None, model_dirs, grid, restframe, uvj_preset, None, meta),
            read_columns(catalog),
            {},
        )
        return
    for i, c in enumerate(iter_read(catalog, schema, rows=rows, keep_columns=True, checksum=False)):
        tmeta = {
            "schema": c.meta.get("schema"),
            "extinction_corrected": c.meta.get("extinction_corrected"),
            "input_units": c.meta.get("input_units", {}),
            "provenance": c.meta.get("provenance", {}),
            "partition": {
                "index": i,
                "source": str(catalog),
                "row_offset": c.meta.get("rows_offset"),
            },
        }
        job = Job(None, schema, model_dirs, grid, restframe, uvj_preset, None, meta)
        yield job, c.table, tmeta


def _to_folder(
    catalog,
    fmt,
    parts,
    schema,
    model_dirs,
    grid,
    restframe,
    uvj_preset,
    meta,
    out: Path,
    executor,
    rows,
) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    old = out / "manifest.json"
    stale = set()
    if old.is_file():  # a previous run: unmark it as complete now, drop its leftover parts last
        stale = {e["file"] for e in json.loads(old.read_text()).get("partitions", [])}
        old.unlink()
    entries = []
    if parts:
        for e in executor.map(
            _jobs(parts, schema, model_dirs, grid, restframe, uvj_preset, meta, out)
        ):
            entries.append(_relative(e, out))
            log.info("photcat: partition %d: %d rows", e["index"], e["rows"])
    else:
        import pyarrow.parquet as pq

        for i, (job, table, tmeta) in enumerate(
            _sequential(catalog, fmt, schema, model_dirs, grid, restframe, uvj_preset, meta, rows)
        ):
            e = run_job(job, table, tmeta)
            path = out / f"part-{i:0{PART_DIGITS}d}.parquet"
            with atomic_path(path) as tmp:
                pq.write_table(e.pop("table"), tmp, **PARQUET_OPTIONS)
            e.update(index=i, file=path.name, sha256=_sha256(path), bytes=path.stat().st_size)
            e.update(tmeta.get("partition", {}))
            entries.append(e)
    if fmt == "hats":
        _hats_metadata(catalog, out)
    for name in stale - {e["file"] for e in entries}:
        (out / name).unlink(missing_ok=True)
    return entries


def _relative(e: dict, out: Path) -> dict:
    e = dict(e)
    e.pop("table", None)
    return e


def _to_file(
    catalog,
    fmt,
    parts,
    schema,
    model_dirs,
    grid,
    restframe,
    uvj_preset,
    meta,
    out: Path,
    executor,
    rows,
    layout,
) -> list[dict]:
    """One output file: Parquet streamed row group by row group; FITS gathered then written."""
    import pyarrow.parquet as pq

    staging = None
    if parts and not isinstance(executor, _Local):
        staging = Path(
            tempfile.mkdtemp(
                prefix=f".{out.name}.parts-", dir=out.parent if out.parent.exists() else None
            )
        )
    entries: list[dict] = []
    tables = []

    def results() -> Iterator[tuple[dict, Any]]:
        if parts:
            for e in executor.map(
                _jobs(parts, schema, model_dirs, grid, restframe, uvj_preset, meta, staging)
            ):
                if "table" in e:
                    yield e, e.pop("table")
                else:  # written by a worker: read it back and drop the staging file
                    f = staging / e.pop("file")
                    t = pq.read_table(f)
                    f.unlink()
                    e.pop("sha256", None)
                    e.pop("bytes", None)
                    yield e, t
        else:
            for job, table, tmeta in _sequential(
                catalog, fmt, schema, model_dirs, grid, restframe, uvj_preset, meta, rows
            ):
                e = run_job(job, table, tmeta)
                e.update(tmeta.get("partition", {}))
                yield e, e.pop("table")

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out) as tmp:
            writer = None
            n_groups = 0
            try:
                for i, (e, t) in enumerate(results()):
                    e["index"] = i
                    e["sha256"] = _ipc_sha256(t)
                    e["sha256_of"] = "arrow-ipc-stream"
                    if layout == "parquet":
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, t.schema, **PARQUET_OPTIONS)
                        elif t.schema != writer.schema:
                            t = t.cast(writer.schema)
                        if t.num_rows:
                            e["row_group"] = n_groups
                            writer.write_table(t, row_group_size=t.num_rows)
                            n_groups += 1
                    else:
                        tables.append(t)
                    entries.append(e)
                    log.info("photcat: partition %d: %d rows", i, e["rows"])
            finally:
                if writer is not None:
                    writer.close()
            if layout == "fits":
                _write_fits(tables, tmp)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return entries


def _write_fits(tables: list, tmp: Path) -> None:
    """Gather the partitions (memory grows with the catalogue) and write one FITS file."""
    import pyarrow as pa

    from photcat.catalogs.writer import write

    if not tables:
        raise CatalogError("no rows to write")
    whole = pa.concat_tables(tables, promote_options="permissive")
    meta = json.loads((whole.schema.metadata or {}).get(b"photcat", b"{}"))
    units = {
        f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in whole.schema if f.metadata
    }
    arrays = {}
    for name in list(whole.column_names):
        col = whole.column(name)
        if pa.types.is_fixed_size_list(col.type):
            flat = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            arrays[name] = flat.reshape(whole.num_rows, col.type.list_size)
            whole = whole.drop_columns([name])
    meta.pop("partition", None)
    meta["input_units"] = {k: v for k, v in units.items() if v}
    write(whole.to_pandas(), tmp, arrays=arrays, meta=meta, format="fits")


def _hats_metadata(catalog: Path, out: Path) -> None:
    """Make the output folder a HATS catalogue too: same pixels, properties, metadata."""
    try:
        from hats.catalog import TableProperties
        from hats.io.parquet_metadata import write_parquet_metadata
    except ImportError:  # pragma: no cover
        return
    for name in ("partition_info.csv",):
        if (catalog / name).is_file():
            shutil.copyfile(catalog / name, out / name)
    props = TableProperties.read_from_dir(catalog)
    total = sum(pq_rows(p) for p in (out / "dataset").rglob("Npix=*.parquet"))
    props = props.copy_and_update(catalog_name=f"{props.catalog_name}_photcat", total_rows=total)
    props.to_properties_file(out)
    write_parquet_metadata(out, create_thumbnail=False)


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def read_manifest(out: str | Path) -> dict:
    """The manifest of a streamed output (folder or file)."""
    return json.loads(manifest_path(out).read_text())


def verify(out: str | Path) -> dict:
    """Check a folder output against its manifest (every part present, row counts, SHA-256)."""
    import pyarrow.parquet as pq

    manifest = read_manifest(out)
    out = Path(out)
    if manifest["layout"] in ("folder", "hats"):
        for e in manifest["partitions"]:
            f = out / e["file"]
            if not f.is_file():
                raise CatalogError(f"{f} is listed in the manifest but missing")
            if _sha256(f) != e["sha256"]:
                raise CatalogError(f"{f} failed its checksum (sha256 differs from the manifest)")
            if pq.ParquetFile(f).metadata.num_rows != e["rows"]:
                raise CatalogError(f"{f} row count differs from the manifest")
    elif _sha256(out) != manifest["sha256"]:
        raise CatalogError(f"{out} failed its checksum (sha256 differs from the manifest)")
    return manifest


__all__ = [
    "Job",
    "Partition",
    "input_format",
    "is_hats",
    "manifest_path",
    "output_layout",
    "plan",
    "predict_catalog",
    "predict_table",
    "read_manifest",
    "read_partition",
    "run_job",
    "verify",
]
