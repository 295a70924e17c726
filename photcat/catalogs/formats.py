"""Raw readers for each file format: path -> column source, whole or in row ranges.

Each reader yields :class:`RawChunk` objects (a dict of 1-D column arrays plus the global row
offset), so the canonicaliser never cares where columns came from. Vector columns (FITS
``5E``) are exposed as ``NAME[i]``. Memory is bounded by the chunk size for Parquet (row
groups / record batches), FITS (memory-mapped rows), CSV and ANNz ASCII (chunked parsing).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ANNZ_BAND_COLUMNS = ("u", "g", "r", "i", "z")


class CatalogError(ValueError):
    """A catalogue cannot be read as asked; the message names the file and the problem."""


@dataclass
class RawChunk:
    columns: dict[str, Any]  # name -> 1-D array-like
    offset: int  # global index of the first row in the file
    nrows: int
    units: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # provenance found in the file


# file-name ending -> format: the single table (readers, writers, folder scans); longest first
SUFFIX_FORMATS: tuple[tuple[str, str], ...] = (
    (".fits.gz", "fits"),
    (".fits", "fits"),
    (".fit", "fits"),
    (".fz", "fits"),
    (".csv.gz", "csv"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
    (".h5", "hdf5"),
    (".hdf5", "hdf5"),
)
WRITABLE_FORMATS = ("fits", "parquet")


def format_from_name(path: str | Path) -> str | None:
    """The format a file name's ending says (``fits``, ``csv``, ``parquet``, ``hdf5``), or None."""
    name = Path(path).name.lower()
    return next((fmt for suffix, fmt in SUFFIX_FORMATS if name.endswith(suffix)), None)


def detect_format(path: Path) -> str:
    """File format from its name, or by sniffing content for extension-less ASCII."""
    fmt = format_from_name(path)
    if fmt is not None:
        return fmt
    if path.is_dir():
        return "parquet"
    with open(path, "rb") as fh:
        head = fh.read(80)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"PAR1"):
        return "parquet"
    return "ascii"  # whitespace-separated, no header: the ANNz format


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CatalogError(f"catalogue file not found: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise CatalogError(f"catalogue file is empty (0 bytes): {path}")


def iter_raw(
    path: Path, fmt: str, rows: int | None, columns: list[str] | None
) -> Iterator[RawChunk]:
    """Yield raw chunks of at most ``rows`` rows (all rows at once when ``rows`` is None)."""
    _check_readable(path)
    try:
        if fmt == "fits":
            yield from _iter_fits(path, rows)
        elif fmt == "parquet":
            yield from _iter_parquet(path, rows, columns)
        elif fmt == "csv":
            yield from _iter_csv(path, rows)
        elif fmt == "ascii":
            yield from _iter_annz(path, rows)
        elif fmt == "hdf5":
            yield from _iter_hdf5(path, rows)
        else:
            raise CatalogError(f"unknown format {fmt!r} for {path}")
    except CatalogError:
        raise
    except (OSError, ValueError, TypeError, EOFError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read {path} as {fmt}: {exc}") from exc
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/ArrowException types
        if type(exc).__module__.startswith("pyarrow"):
            raise CatalogError(f"cannot read {path} as {fmt}: {exc}") from exc
        raise


# --- FITS -----------------------------------------------------------------------------------


def fits_table_hdu(hdul, path: Path):
    for hdu in hdul:
        if hdu.header.get("XTENSION") in ("BINTABLE", "TABLE"):
            return hdu
    raise CatalogError(f"{path} has no table extension (HDUs: {[h.name for h in hdul]})")


@contextlib.contextmanager
def open_fits_table(path: Path) -> Iterator[Any]:
    """The first table HDU of a FITS file (memory-mapped unless gzipped), after checking that
    the file holds every byte its header declares (a truncated file is a CatalogError)."""
    import warnings

    from astropy.io import fits

    compressed = path.name.lower().endswith(".gz")
    try:
        hdul = fits.open(path, memmap=not compressed, lazy_load_hdus=True)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise CatalogError(f"cannot read {path} as fits: {exc}") from exc
    with hdul:
        with warnings.catch_warnings():  # astropy's truncation warning: our error says it
            warnings.filterwarnings("ignore", message="File may have been truncated")
            hdu = fits_table_hdu(hdul, path)
        hdr = hdu.header
        n = int(hdr["NAXIS2"])
        if not compressed:
            expected = hdu._data_offset + int(hdr["NAXIS1"]) * n + int(hdr.get("PCOUNT", 0))
            actual = path.stat().st_size
            if actual < expected:
                raise CatalogError(
                    f"FITS file is truncated: {path} holds {actual:,} bytes but its table "
                    f"header declares {n:,} rows needing {expected:,} bytes"
                )
        yield hdu


def fits_chunk(hdu, start: int, stop: int) -> RawChunk:
    """Rows ``start``..``stop``-1 of a FITS table HDU as a raw chunk."""
    data = hdu.data[start:stop]
    units = {c.name: (c.unit or "") for c in data.columns}
    return RawChunk(fits_columns(data), start, stop - start, units, fits_provenance(hdu.header))


def _iter_fits(path: Path, rows: int | None) -> Iterator[RawChunk]:
    with open_fits_table(path) as hdu:
        n = int(hdu.header["NAXIS2"])
        step = rows or max(n, 1)
        for start in range(0, max(n, 1), step):
            yield fits_chunk(hdu, start, min(start + step, n))


def arrow_chunk(table, offset: int, units: dict[str, str], meta: dict[str, Any]) -> RawChunk:
    """An Arrow table's columns as a raw chunk starting at global row ``offset``."""
    cols = {name: table.column(name).to_numpy() for name in table.column_names}
    return RawChunk(cols, offset, table.num_rows, units, meta)


def arrow_units(schema) -> dict[str, str]:
    """Column units stored as Arrow field metadata (``unit``)."""
    return {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in schema if f.metadata}


def fits_columns(rows) -> dict[str, Any]:
    """Native-endian column arrays of a FITS table slice; vector columns as ``NAME[i]``."""
    cols: dict[str, Any] = {}
    for name in rows.columns.names:
        arr = np.asarray(rows[name])
        if arr.ndim == 2:
            for i in range(arr.shape[1]):
                cols[f"{name}[{i}]"] = arr[:, i].astype(arr.dtype.newbyteorder("="))
        elif arr.dtype.kind in "SU":
            cols[name] = arr.astype(str)
        else:
            cols[name] = arr.astype(arr.dtype.newbyteorder("="))
    return cols


def fits_provenance(hdr) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if "PHOTCATV" in hdr:
        meta["photcat_version"] = hdr["PHOTCATV"]
    if "PCMETA" in hdr:
        try:
            meta.update(json.loads(hdr["PCMETA"]))
        except json.JSONDecodeError:
            pass
    return meta


# --- Parquet --------------------------------------------------------------------------------


def _iter_parquet(path: Path, rows: int | None, columns: list[str] | None) -> Iterator[RawChunk]:
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet")
    schema = dataset.schema
    meta = parquet_provenance(schema.metadata)
    units = arrow_units(schema)
    present = set(schema.names)
    cols = [c for c in columns if c in present] if columns else None
    offset = 0
    step = rows or 1 << 20
    scanner = dataset.scanner(columns=cols, batch_size=min(step, 1 << 20))
    pending: list = []  # record batches not yet emitted, fewer than ``step`` rows in all
    n_pending = 0

    def emit(batches) -> RawChunk:
        import pyarrow as pa

        return arrow_chunk(pa.Table.from_batches(batches).combine_chunks(), offset, units, meta)

    for batch in scanner.to_batches():
        while batch.num_rows:
            take = min(step - n_pending, batch.num_rows)
            pending.append(batch.slice(0, take))
            n_pending += take
            batch = batch.slice(take)
            if n_pending == step:
                yield emit(pending)
                offset += n_pending
                pending, n_pending = [], 0
    if n_pending or offset == 0:
        if not pending:
            yield RawChunk({n: np.array([]) for n in (cols or schema.names)}, 0, 0, units, meta)
        else:
            yield emit(pending)


def parquet_provenance(md: dict | None) -> dict[str, Any]:
    if md and b"photcat" in md:
        try:
            return json.loads(md[b"photcat"])
        except json.JSONDecodeError:
            return {}
    return {}


# --- CSV and ANNz ASCII ---------------------------------------------------------------------


def _open_text(path: Path):
    # utf-8-sig: a byte-order mark (Excel's CSV export) is not part of the first line
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


class _WithoutCommentLines:
    """A text stream without its whole-line comments (first non-blank character ``#``).

    pandas' ``comment="#"`` would also cut every value at a ``#`` ("NGC #12"); this removes
    only whole lines, block by block with one regular expression (no per-row Python). A
    quoted value spanning lines whose continuation line starts with ``#`` is not supported
    (that line is taken for a comment)."""

    _COMMENT = re.compile(r"(?m)^[ \t]*#[^\n]*(?:\n|$)")

    def __init__(self, fh, block: int = 1 << 20):
        self._fh, self._block = fh, block
        self._buf, self._tail, self._eof = "", "", False

    def read(self, size: int = -1) -> str:
        while not self._eof and (size < 0 or len(self._buf) < size):
            chunk = self._fh.read(self._block)
            if not chunk:  # end of file: the last line may lack its newline
                self._eof = True
                text, self._tail = self._tail, ""
            else:  # whole lines only; an incomplete last line waits for the next block
                text = self._tail + chunk
                cut = text.rfind("\n") + 1
                text, self._tail = text[:cut], text[cut:]
            self._buf += self._COMMENT.sub("", text)
        if size < 0:
            out, self._buf = self._buf, ""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out

    def __iter__(self):
        return iter(self.read().splitlines(keepends=True))


def _csv_header(path: Path) -> list[str]:
    """The header's column names (after whole-line comments); duplicates are refused."""
    import csv

    with _open_text(path) as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                names = [c.strip() for c in next(csv.reader([line]))]
                break
        else:
            return []
    lower = [c.lower() for c in names]  # schemas match names case-insensitively
    dup = sorted({c for c in names if lower.count(c.lower()) > 1})
    if dup:
        raise CatalogError(
            f"CSV {path} repeats column name(s) {dup} (names are matched without regard to "
            "case): rename them so that each column is read once"
        )
    return names


def _iter_csv(path: Path, rows: int | None) -> Iterator[RawChunk]:
    # CasJobs exports may start with a "#Table1" line: whole-line comments are skipped, a
    # "#" inside a value is kept.
    _csv_header(path)
    with _open_text(path) as fh:
        reader = pd.read_csv(
            _WithoutCommentLines(fh), chunksize=rows or 1 << 62, skipinitialspace=True
        )
        offset = 0
        try:
            for df in reader:
                yield RawChunk({c: df[c] for c in df.columns}, offset, len(df))
                offset += len(df)
        except pd.errors.ParserError as exc:
            raise CatalogError(f"malformed CSV {path}: {exc}") from exc
        except pd.errors.EmptyDataError as exc:
            raise CatalogError(f"CSV file has no header or data: {path}") from exc


def _iter_annz(path: Path, rows: int | None) -> Iterator[RawChunk]:
    """ANNz ASCII: n magnitudes, n errors, then z_spec (optional) per line, no header."""
    with _open_text(path) as fh:
        first = ""
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                first = line
                break
    ncol = len(first.split())
    if ncol == 0:
        raise CatalogError(f"no data lines in {path}")
    nb = ncol // 2
    if ncol not in (2 * nb, 2 * nb + 1) or nb < 1:
        raise CatalogError(f"{path}: {ncol} columns is not an ANNz layout (n mags, n errors, z)")
    bands = ANNZ_BAND_COLUMNS[:nb] if nb <= 5 else tuple(f"b{i}" for i in range(nb))
    names = [*bands, *(f"{b}_err" for b in bands)] + (["z_spec"] if ncol % 2 else [])
    with _open_text(path) as fh:
        reader = pd.read_csv(
            fh, sep=r"\s+", header=None, names=names, comment="#", chunksize=rows or 1 << 62
        )
        offset = 0
        try:
            for df in reader:
                yield RawChunk({c: df[c] for c in df.columns}, offset, len(df))
                offset += len(df)
        except pd.errors.ParserError as exc:
            raise CatalogError(f"malformed ANNz ASCII file {path}: {exc}") from exc


def _iter_hdf5(path: Path, rows: int | None) -> Iterator[RawChunk]:
    from astropy.table import Table

    t = Table.read(path, format="hdf5")
    step = rows or max(len(t), 1)
    for start in range(0, max(len(t), 1), step):
        part = t[start : start + step]
        yield RawChunk(
            {c: np.asarray(part[c]) for c in part.colnames},
            start,
            len(part),
            {c: str(part[c].unit or "") for c in part.colnames},
        )


def count_rows(path: Path, fmt: str) -> int | None:
    """Row count from metadata where cheap (FITS header, Parquet footer), else None."""
    if fmt == "fits" and not path.name.lower().endswith(".gz"):
        with open_fits_table(path) as hdu:  # a truncated file is refused here
            return int(hdu.header["NAXIS2"])
    if fmt == "parquet":
        import pyarrow.dataset as ds

        return ds.dataset(path, format="parquet").count_rows()
    return None


__all__ = ["CatalogError", "RawChunk", "detect_format", "iter_raw", "count_rows"]
