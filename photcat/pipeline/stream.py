"""Streaming, partitioned prediction: a catalogue of any size in, a value-added catalogue out.

The input is split into partitions a worker can read on its own
(:func:`photcat.catalogs.partitions.plan`: Parquet row groups, FITS row ranges, HATS pixel
leaves); CSV, HDF5 and ANNz ASCII cannot be read from the middle and are read in order by the
calling process (one process; convert them to Parquet with ``photcat ingest`` to scale).

Each partition goes through :func:`photcat.pipeline.vac.predict_partition` and is written as
its own Parquet part file (folder output; HATS input keeps its ``dataset/Norder=/Dir=/Npix=``
layout), or streamed into one Parquet file or gathered into one FITS file
(:func:`photcat.catalogs.writer.write_tables`; FITS memory grows with the catalogue: use
Parquet for large ones). A manifest (``manifest.json`` in a folder output,
``<file>.manifest.json`` beside a file) lists every partition with its source, row count and
SHA-256, and is written atomically.

Partitions are processed by local processes (``photcat predict``'s default: one per available
core, at most one per partition and per 500,000 rows, :func:`resolve_workers`; spawned; they receive the loaded
models from the calling process once, so they never start TensorFlow; memory per process is
bounded by the partition size), in the calling process (``workers=1``, this function's
default, or a small catalogue), or by the workers of a Dask cluster (``dask_scheduler="tcp://host:8786"``; each
worker loads the models once from the model folders' paths and writes its own part files,
so model folders and output must be on a file system every worker sees). The output is identical in every case: each partition's
numbers depend only on its rows and the models. The Luigi predict task runs the same
:func:`run_job`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat import __version__
from photcat.catalogs.formats import CatalogError
from photcat.catalogs.partitions import (
    SEEKABLE,
    Partition,
    input_format,
    part_name,
    plan,
    read_partition,
)
from photcat.catalogs.writer import write_part, write_tables
from photcat.console import Progress
from photcat.fileio import remove_temporaries, sha256_file, umask, write_json
from photcat.pipeline.outputs import (
    MANIFEST_FORMAT,
    OWN_PART,
    QP_REPRESENTATIONS,
    STAGING_PREFIX,
    check_output,
    manifest_path,
    output_layout,
    output_lock,
    own_entries,
    own_qp_files,
    qp_path,
)
from photcat.pipeline.vac import FLAG_BITS, NoErrorsError, PredictConfig, predict_partition
from photcat.timing import stage

log = logging.getLogger("photcat")


# ----------------------------------------------------------------------------- one partition


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to predict one partition (plain, picklable data)."""

    part: Partition | None  # None: the table is passed in-process (CSV/ASCII/HDF5 input)
    schema: Any  # schema of the input; None: the columns as they are (canonical tables)
    model_dirs: tuple[str, ...]
    config: PredictConfig
    out: str | None  # part file to write; None: return the Arrow table
    meta: dict = field(default_factory=dict)
    # training-set files whose ``split`` column is joined in (the first file's wins)
    splits: tuple[str, ...] = ()
    model_sha256: tuple[str | None, ...] = ()  # pinned folder digests, one per model (or none)


_SHIPPED: dict[str, Any] = {}  # model folder -> LoadedModel handed over by the parent process


def _models(model_dirs: tuple[str, ...], pins: tuple[str | None, ...] = ()) -> list:
    from photcat.pipeline.loader import load_model

    pins = pins or (None,) * len(model_dirs)
    return [
        _SHIPPED[d] if d in _SHIPPED else load_model(d, pin)
        for d, pin in zip(model_dirs, pins, strict=True)
    ]


def shippable(model_dirs: tuple[str, ...]) -> dict[str, Any]:
    """The loaded models that can be sent to local worker processes (loaded once, here)."""
    return {d: lm for d, lm in zip(model_dirs, _models(model_dirs), strict=True) if lm.shippable()}


def run_job(job: Job, table: pd.DataFrame | None = None, table_meta: dict | None = None) -> dict:
    """Predict one partition; write its part file (``job.out``) or return the Arrow table.

    Returns the partition's manifest entry (with ``table`` when nothing was written).
    """
    with _no_cyclic_gc():
        return _run_job(job, table, table_meta)


def _run_job(job: Job, table: pd.DataFrame | None, table_meta: dict | None) -> dict:
    if job.part is not None:
        with stage("read"):
            table, table_meta = read_partition(job.part, job.schema)
    if table is None:
        raise ValueError("run_job needs a partition or a table")
    table_meta = dict(table_meta or {})
    input_units = table_meta.pop("input_units", None)
    meta = {**job.meta, **table_meta}
    if job.part is not None:
        meta["partition"] = _part_info(job.part)
    splits = None
    for path in job.splits:
        more = _splits(path, Path(path).stat().st_mtime_ns)
        splits = more if splits is None else splits.combine_first(more)
    first = job.part.offset if job.part is not None else 0
    try:
        at = predict_partition(
            table,
            _models(job.model_dirs, job.model_sha256),
            job.config,
            meta=meta,
            input_units=input_units,
            splits=splits,
            rows=np.arange(first, first + len(table), dtype=np.int64),
        )
    except NoErrorsError as exc:
        where = job.part.path if job.part is not None else "the catalogue"
        raise NoErrorsError(f"{where}: {exc}") from None
    entry: dict[str, Any] = {"rows": at.num_rows, **meta.get("partition", {})}
    entry["flagged"] = flag_counts(at)
    if job.out is None:  # for one output file: its checksum here, where the work is spread
        with stage("write"):
            entry.update(table=at, sha256=_ipc_sha256(at), sha256_of="arrow-ipc-stream")
        return entry
    with stage("write"):
        out = write_part(at, job.out)
        entry["sha256"] = sha256_file(out)
    entry["file"] = f"{job.part.name}.parquet" if job.part is not None else out.name
    entry["bytes"] = out.stat().st_size
    return entry


def flag_counts(table) -> dict[str, int]:
    """Rows of an Arrow value-added table (or of a ``flag_photcat`` array) with each flag
    bit set (bits set nowhere left out)."""
    if isinstance(table, np.ndarray):
        flag = table
    elif "flag_photcat" not in table.column_names:
        return {}
    else:
        flag = table["flag_photcat"].to_numpy(zero_copy_only=False)
    counts = {name: int(np.count_nonzero(flag & bit)) for name, bit in FLAG_BITS.items()}
    return {k: v for k, v in counts.items() if v}


def summary_lines(manifest: dict, seconds: float) -> list[str]:
    """The end-of-run summary of ``photcat predict``: outputs, rows, rows flagged by reason,
    time and rate."""
    rows = int(manifest["rows"])
    flagged = dict.fromkeys(FLAG_BITS, 0)  # in bit order
    for e in manifest["partitions"]:
        for k, v in (e.get("flagged") or {}).items():
            flagged[k] = flagged.get(k, 0) + int(v)
    flagged = {k: v for k, v in flagged.items() if v}
    lines = [
        f"value-added catalogue: {manifest['output']} ({rows:,} rows in, {rows:,} out, "
        f"{len(manifest['partitions'])} partition(s); manifest {manifest_path(manifest['output'])})"
    ]
    lines += [
        f"qp {e['representation']} PDFs: {qp_path(manifest['output'], e['representation'])}"
        for e in manifest.get("qp") or []
    ]
    if flagged:
        lines.append("rows flagged (flag_photcat; a row can have several reasons):")
        lines += [
            f"  {k:<30} {v:>12,}  ({100 * v / max(rows, 1):.1f} %)" for k, v in flagged.items()
        ]
    else:
        lines.append("rows flagged: none")
    lines.append(f"time: {seconds:,.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)")
    return lines


@lru_cache(maxsize=2)
def _splits(path: str, mtime_ns: int) -> pd.Series:
    """train/valid/test labels of a training-set file by input row number (``source_row``;
    by ``object_id`` for training sets written before it existed), read once per process."""
    import pyarrow.parquet as pq

    key = "source_row" if "source_row" in pq.read_schema(path).names else "object_id"
    return pd.read_parquet(path, columns=[key, "split"]).set_index(key)["split"]


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


def _ipc_sha256(table) -> str:
    """SHA-256 of a table's Arrow IPC stream: the checksum of a partition inside one file."""
    import pyarrow as pa

    digest = hashlib.sha256()
    # the stream is hashed as it is written: never held whole in memory (a growing buffer of
    # ~100 MB a partition cost more in fresh pages and copies than the hash itself)
    with pa.ipc.new_stream(pa.PythonFile(_HashSink(digest), mode="w"), table.schema) as w:
        w.write_table(table)
    return digest.hexdigest()


class _HashSink:
    """A write-only file object that feeds what is written to a hash."""

    closed = False

    def __init__(self, digest) -> None:
        self.digest = digest

    def write(self, data) -> int:
        self.digest.update(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


# ----------------------------------------------------------------------------- executors


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


# a spawned process costs about 2 CPU-seconds to start (imports, models); below about
# 500,000 rows a process the start costs more than it saves (measured on 300,000 rows)
AUTO_ROWS_PER_PROCESS = 500_000


def resolve_workers(workers: int | None, parts: list[Partition] | None = None) -> int:
    """``workers`` local processes; ``None`` or 0 = one per available core, but no more
    than the partitions (``parts``) or one per :data:`AUTO_ROWS_PER_PROCESS` rows, so that
    a small catalogue is not slowed down by starting processes."""
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be at least 1 (or 0 for all cores), got {workers}")
    if workers:
        return int(workers)
    n = available_cores()
    if parts is not None:
        rows = sum(p.rows for p in parts)
        n = min(n, len(parts), rows // AUTO_ROWS_PER_PROCESS)
    return max(n, 1)


def _init_worker(models: dict[str, Any], parent: int | None = None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _die_with_parent(parent)
    _SHIPPED.update(models)
    try:  # one process per core: BLAS threads would only spin against the other workers
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        pass


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector paused while a partition is predicted (reference counting
    still frees its arrays): the many objects of a partition's tables triggered collections
    that scanned the whole heap, about a tenth of the CPU time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _die_with_parent(parent: int | None) -> None:
    """Linux: SIGKILL this worker when the process that started it dies (a killed
    ``photcat predict`` must not leave workers writing into its staging folder)."""
    import ctypes
    import signal
    import sys

    if parent is None or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


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
            initargs=(models, os.getpid()),
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


def predict_catalog(
    catalog: str | Path,
    model_dirs: list[str | Path],
    out: str | Path,
    *,
    schema: Any = "sdss",
    partition_rows: int = 500_000,
    config: PredictConfig | None = None,
    workers: int | None = 1,
    dask_scheduler: Any = None,
    provenance: dict | None = None,
    overwrite: bool = False,
    model_sha256: list[str | None] | None = None,
    qp: tuple[str, ...] = (),
) -> dict:
    """Predict ``catalog`` partition by partition into ``out``; return the manifest.

    ``out`` ending in ``.parquet``/``.pq`` is one Parquet file, in ``.fits`` one FITS file
    (held in memory before writing: small catalogues only), anything else a folder of
    Parquet part files (HATS input: the HATS leaf layout). ``schema=None`` keeps the input
    columns as they are (models trained on ready-made columns). ``config``: the PDF grid,
    rest-frame and UVJ options (default :class:`PredictConfig`). ``dask_scheduler``: address
    of a Dask scheduler (or a ``distributed.Client``); else ``workers`` local processes (1,
    the default here: this process; None or 0, the command line's default: one per available
    core, at most one per partition and per :data:`AUTO_ROWS_PER_PROCESS` rows,
    :func:`resolve_workers`; the spawned processes import the calling script, so a script
    asking for them needs an ``if __name__ == "__main__":`` guard).

    The output is checked first (:func:`photcat.pipeline.outputs.check_output`: never over an
    input or a model, never replacing files photcat did not write; ``overwrite`` allows a
    folder holding other files, which are kept) and locked for the whole run. A folder
    output is built in a staging folder inside it and moved into place only when every
    partition has succeeded, so a failed run leaves the previous output as it was.
    ``model_sha256``: folder digests to pin, one per model (None: not pinned). ``qp``: qp
    representations (``interp``, ``hist``, ``mixmod``) of the photo-z PDFs to write as qp
    HDF5 files too (:func:`photcat.pipeline.outputs.qp_path`; needs the ``rail`` extra).
    """
    catalog, out = Path(catalog), Path(out)
    config = config or PredictConfig()
    if partition_rows < 1:
        raise ValueError(f"partition_rows must be at least 1, got {partition_rows}")
    fmt = input_format(catalog)
    layout = output_layout(out)
    model_dirs = tuple(str(Path(d).resolve()) for d in model_dirs)
    pins = tuple(model_sha256 or (None,) * len(model_dirs))
    if len(pins) != len(model_dirs):
        raise ValueError(f"{len(pins)} model digest(s) pinned for {len(model_dirs)} model(s)")
    for d in model_dirs:
        if not (Path(d) / "manifest.json").is_file():
            raise FileNotFoundError(
                f"{d}/manifest.json not found: not a saved photcat model folder"
            )
    qp = tuple(dict.fromkeys(qp))
    bad = [r for r in qp if r not in QP_REPRESENTATIONS]
    if bad:
        raise ValueError(f"qp representation(s) {bad}: choose from {', '.join(QP_REPRESENTATIONS)}")
    if qp:
        from photcat.interop.qp_ensembles import _qp

        _qp()  # the extra is there, before any prediction
    check_output(out, [catalog], list(model_dirs), overwrite=overwrite, qp=qp)
    loaded = _models(model_dirs, pins)  # verified (and pins checked) before any output exists
    meta = {**(provenance or {}), "source": str(catalog), "input_format": fmt}
    jobs = _Jobs(schema, model_dirs, config, meta, pins)
    parts: list[Partition] = []
    if fmt in SEEKABLE:
        parts = plan(catalog, partition_rows)
        if not parts:
            raise CatalogError(f"{catalog} holds no rows to predict")
    workers = resolve_workers(workers, parts)  # auto: one process for CSV, HDF5, ASCII
    created = not out.exists()
    try:
        with output_lock(out, remove_on_error=created):
            _remove_leftovers(out, layout)
            qp_files = _QpFiles(out, qp)  # photcat's qp files of the run before, if any
            executor: Any = _Local()
            if parts and dask_scheduler is not None:
                executor = _Dask(dask_scheduler)
            elif parts and workers > 1 and len(parts) > 1:
                executor = _Processes(workers, shippable(model_dirs))
            elif not parts and (dask_scheduler is not None or workers > 1):
                log.warning("photcat: %s is %s, read in order by this process only", catalog, fmt)
            try:
                args = (catalog, fmt, parts, jobs, out, executor, partition_rows)
                total = sum(p.rows for p in parts) if parts else None
                try:  # the qp files are written from the staged catalogue, before it commits
                    with Progress("predicting", total, "rows") as progress:
                        kw = dict(before_commit=qp_files.prepare, progress=progress)
                        if layout == "folder":
                            entries = _to_folder(*args, **kw)
                        else:
                            entries = _to_file(*args, **kw)
                except BaseException:
                    qp_files.discard()
                    raise
            finally:
                executor.close()
            manifest = {
                "format": MANIFEST_FORMAT,
                "photcat_version": __version__,
                "output": str(out),
                "layout": "hats" if (layout == "folder" and fmt == "hats") else layout,
                "input": {"path": str(catalog), "format": fmt},
                "workers": (
                    "dask"
                    if isinstance(executor, _Dask)
                    else executor.workers
                    if isinstance(executor, _Processes)
                    else 1
                ),
                "rows": int(sum(e["rows"] for e in entries)),
                "partitions": entries,
                "models": [{"folder": m.folder, "sha256": m.sha256} for m in loaded],
                "config": {**meta, **config.to_dict(), "models": list(model_dirs)},
                "flag_photcat_bits": dict(FLAG_BITS),
            }
            if layout != "folder":
                manifest["sha256"] = sha256_file(out)
            manifest["qp"] = qp_files.commit()
            write_json(manifest_path(out), manifest)
    except BaseException:
        if created and layout == "folder":
            _remove_if_empty(out)
        raise
    return manifest


class _QpFiles:
    """The qp files of one run: written beside the staged catalogue (:meth:`prepare`, as
    temporaries), moved into place once the catalogue is (:meth:`commit`), so a failure
    leaves the previous output, qp files included, as it was."""

    def __init__(self, out: Path, representations: tuple[str, ...]) -> None:
        self.out, self.representations = out, representations
        self.old = own_qp_files(out)  # before the new parts replace the old manifest
        layout = output_layout(out)
        self.fmt = "parquet" if layout == "folder" else layout  # staged files' names say none
        self.pending: dict[str, tuple[Path, int]] = {}

    def prepare(self, staged) -> None:
        if not self.representations:
            return
        from photcat.interop import qp_ensembles

        files = [Path(staged)] if isinstance(staged, (str, Path)) else list(staged)
        for r in self.representations:
            final = qp_path(self.out, r)
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            os.close(fd)
            self.pending[r] = (Path(tmp), 0)
            rows = qp_ensembles.write_qp(
                self.out, Path(tmp), r, files=files, atomic=False, fmt=self.fmt
            )
            self.pending[r] = (Path(tmp), rows)

    def discard(self) -> None:
        for tmp, _ in self.pending.values():
            tmp.unlink(missing_ok=True)
        self.pending.clear()

    def commit(self) -> list[dict]:
        """Move the new files into place; remove photcat's own files of representations
        this run did not write (they would describe other predictions)."""
        written = []
        for r, (tmp, rows) in self.pending.items():
            final = qp_path(self.out, r)
            os.chmod(tmp, 0o666 & ~umask())
            os.replace(tmp, final)
            written.append(
                {
                    "representation": r,
                    "file": final.name,
                    "rows": rows,
                    "sha256": sha256_file(final),
                }
            )
        self.pending.clear()
        for r, p in self.old.items():
            if r not in self.representations:
                p.unlink(missing_ok=True)
        return written


def _remove_leftovers(out: Path, layout: str) -> None:
    """Temporaries and staging folders a killed run into ``out`` left (we hold the lock)."""
    if layout == "folder":
        own, _ = own_entries(out)
        gone = [out / n for n in own if n.startswith(STAGING_PREFIX) or n.endswith(".tmp")]
        for p in gone:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    else:
        gone = remove_temporaries(out) + remove_temporaries(manifest_path(out))
        for r in QP_REPRESENTATIONS:
            gone += remove_temporaries(qp_path(out, r))
    if gone:
        log.info("photcat: removed %d temporary file(s) a killed run left in %s", len(gone), out)


def _remove_if_empty(out: Path) -> None:
    """A folder this failed run created and left empty: remove it."""
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        out.rmdir()


@dataclass(frozen=True)
class _Jobs:
    """The parts of a :class:`Job` shared by every partition of one run."""

    schema: Any
    model_dirs: tuple[str, ...]
    config: PredictConfig
    meta: dict
    pins: tuple[str | None, ...] = ()

    def job(self, part: Partition | None, out: Path | None) -> Job:
        out_path = None if out is None or part is None else str(out / f"{part.name}.parquet")
        return Job(
            part,
            self.schema,
            self.model_dirs,
            self.config,
            out_path,
            self.meta,
            model_sha256=self.pins,
        )

    def sequential(self, catalog: Path, rows: int) -> Iterator[tuple[Job, pd.DataFrame, dict]]:
        """(job, table, table meta) for formats read in order (CSV, ASCII, HDF5)."""
        from photcat.catalogs import iter_read, read_columns

        job = self.job(None, None)
        if self.schema is None:
            yield job, read_columns(catalog), {"partition": {"index": 0, "source": str(catalog)}}
            return
        chunks = iter_read(catalog, self.schema, rows=rows, keep_columns=True, checksum=False)
        for i, c in enumerate(chunks):
            keys = ("schema", "extinction_corrected", "input_units")
            tmeta = {k: c.meta.get(k) for k in keys} | {"upstream": c.meta.get("provenance")}
            tmeta["partition"] = {
                "index": i,
                "source": str(catalog),
                "row_offset": c.meta.get("rows_offset"),
            }
            yield job, c.table, tmeta


def _results(parts, jobs: _Jobs, catalog, executor, rows, outdir: Path | None):
    """Each partition's manifest entry, in order (``table`` in it unless a worker wrote it)."""
    if parts:
        yield from executor.map([jobs.job(p, outdir) for p in parts])
        return
    for job, table, tmeta in jobs.sequential(catalog, rows):
        yield run_job(job, table, tmeta)


def _to_folder(
    catalog, fmt, parts, jobs: _Jobs, out: Path, executor, rows, before_commit=None, progress=None
) -> list[dict]:
    """Part files into a staging folder inside ``out``, moved into place once all succeeded;
    then the earlier run's parts that this run did not write again are removed (only files
    :func:`~photcat.pipeline.outputs.own_entries` says photcat wrote)."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    try:
        entries = []
        for e in _results(parts, jobs, catalog, executor, rows, staging):
            if "table" in e:  # read in order by this process: write the part here
                e.pop("sha256_of", None)  # the part file's checksum replaces the table's
                path = write_part(e.pop("table"), staging / f"{part_name(e['index'])}.parquet")
                e.update(file=path.name, sha256=sha256_file(path), bytes=path.stat().st_size)
            entries.append(e)
            if progress is not None:
                progress.advance(e["rows"])
        if not sum(e["rows"] for e in entries):
            raise CatalogError(f"{catalog} holds no rows to predict")
        if before_commit is not None:
            before_commit([staging / e["file"] for e in entries if e["rows"]])
        own_before, _ = own_entries(out)
        (out / "manifest.json").unlink(missing_ok=True)  # incomplete until the new one is written
        for e in entries:
            dst = out / e["file"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / e["file"], dst)
        if fmt == "hats":
            _hats_metadata(catalog, out)
        new = {e["file"] for e in entries}
        for name in own_before:
            if OWN_PART.fullmatch(name) and name not in new:
                (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entries


def _to_file(
    catalog, fmt, parts, jobs: _Jobs, out: Path, executor, rows, before_commit=None, progress=None
) -> list[dict]:
    """One output file: Parquet streamed row group by row group; FITS gathered then written."""
    import pyarrow.parquet as pq

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = None  # local processes send their tables back; Dask workers write part files
    if parts and isinstance(executor, _Dask):
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.parts-", dir=out.parent))
    entries: list[dict] = []

    def tables():
        n_groups = 0
        for i, e in enumerate(_results(parts, jobs, catalog, executor, rows, staging)):
            if "table" in e:
                t = e.pop("table")
            else:  # written by a Dask worker: read it back and drop the staging file
                f = staging / e.pop("file")
                t = pq.read_table(f)
                f.unlink()
                e.pop("bytes", None)
                with stage("write"):  # the partition's checksum
                    e.update(sha256=_ipc_sha256(t), sha256_of="arrow-ipc-stream")
            e["index"] = i
            if output_layout(out) == "parquet" and t.num_rows:
                e["row_group"] = n_groups
                n_groups += 1
            entries.append(e)
            if progress is not None:
                progress.advance(e["rows"])
            yield t
        if not sum(e["rows"] for e in entries):  # raised inside the atomic write: no file
            raise CatalogError(f"{catalog} holds no rows to predict")

    try:
        write_tables(tables(), out, before_commit=before_commit)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return entries


def _hats_metadata(catalog: Path, out: Path) -> None:
    """Make the output folder a HATS catalogue too: same pixels, properties, metadata."""
    try:
        from hats.catalog import TableProperties
        from hats.io.parquet_metadata import write_parquet_metadata
    except ImportError:  # pragma: no cover
        return
    from photcat.pipeline.outputs import HATS_FILES

    for name in HATS_FILES:  # ours (check_output): removed, so no write follows a link
        (out / name).unlink(missing_ok=True)
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
    """The manifest of a streamed output (folder or file), shape-checked: a CatalogError
    naming the manifest when it is not one ``photcat predict`` wrote."""
    path = manifest_path(out)
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CatalogError(f"{path} not found: not an output of photcat predict") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CatalogError(f"{path} was not written by photcat predict")
    parts = manifest.get("partitions")
    keys = ("file", "rows", "sha256") if manifest.get("layout") in ("folder", "hats") else ("rows",)
    if (
        manifest.get("layout") not in ("folder", "hats", "parquet", "fits")
        or not isinstance(parts, list)
        or not parts
        or not all(isinstance(e, dict) and all(k in e for k in keys) for e in parts)
    ):
        raise CatalogError(f"{path}: damaged manifest (layout or partition list)")
    return manifest


def read_output(out: str | Path) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """A value-added catalogue as (1-D columns, 2-D array columns, provenance): a file, or a
    folder written by ``photcat predict`` (its parts in manifest order, checked first)."""
    import numpy as np

    from photcat.catalogs.writer import read_with_arrays

    out = Path(out)
    if not out.is_dir():
        return read_with_arrays(out)
    if not manifest_path(out).is_file():
        raise CatalogError(f"{out} is a folder without the manifest.json photcat predict writes")
    manifest = verify(out)
    frames, arrays, meta = [], {}, {}
    for e in manifest["partitions"]:
        name = e.get("file")
        if not isinstance(name, str) or not OWN_PART.fullmatch(name):
            raise CatalogError(f"{manifest_path(out)}: bad part file name {name!r}")
        df, arr, meta = read_with_arrays(out / name)
        frames.append(df)
        for k, v in arr.items():
            arrays.setdefault(k, []).append(v)
    table = pd.concat(frames, ignore_index=True)
    return table, {k: np.concatenate(v) for k, v in arrays.items()}, meta


def verify(out: str | Path) -> dict:
    """Check an output against its manifest (every part present, row counts, SHA-256)."""
    manifest = read_manifest(out)
    out = Path(out)
    if manifest["layout"] in ("folder", "hats"):
        for e in manifest["partitions"]:
            if not OWN_PART.fullmatch(str(e.get("file"))):
                raise CatalogError(f"{manifest_path(out)}: bad part file name {e.get('file')!r}")
            f = out / e["file"]
            if not f.is_file():
                raise CatalogError(f"{f} is listed in the manifest but missing")
            if sha256_file(f) != e["sha256"]:
                raise CatalogError(f"{f} failed its checksum (sha256 differs from the manifest)")
            if pq_rows(f) != e["rows"]:
                raise CatalogError(f"{f} row count differs from the manifest")
    elif sha256_file(out) != manifest.get("sha256"):
        raise CatalogError(f"{out} failed its checksum (sha256 differs from the manifest)")
    return manifest


__all__ = [
    "Job",
    "manifest_path",
    "output_layout",
    "predict_catalog",
    "read_manifest",
    "read_output",
    "run_job",
    "verify",
]
