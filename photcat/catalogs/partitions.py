"""Partitions of a seekable catalogue: pieces a worker can read by itself, in order.

- Parquet (one file or a folder of files): consecutive row groups of one file, about
  ``partition_rows`` rows each (a row group is never split);
- FITS: row ranges of the table, read memory-mapped;
- HATS (the HEALPix-partitioned Parquet layout of LSDB; needs the ``hats`` package): one
  partition per HEALPix pixel leaf file.

CSV, HDF5 and ANNz ASCII cannot be read from the middle: :func:`photcat.catalogs.iter_read`
reads them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from photcat.catalogs.formats import (
    CatalogError,
    RawChunk,
    arrow_chunk,
    arrow_units,
    count_rows,
    detect_format,
    fits_chunk,
    open_fits_table,
    parquet_provenance,
)
from photcat.catalogs.reader import canonicalise, raw_frame

PART_DIGITS = 5  # part-00003: the one width of partition numbers in file names
SEEKABLE = ("parquet", "fits", "hats")


def part_name(index: int) -> str:
    """The file stem of partition ``index`` (``part-00003``)."""
    return f"part-{index:0{PART_DIGITS}d}"


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
                    name = part_name(len(parts))
                    parts.append(
                        Partition(len(parts), "parquet", str(f), start, i + 1, offset, acc, name)
                    )
                    offset += acc
                    start, acc = i + 1, 0
    elif fmt == "fits":
        if path.name.lower().endswith(".gz"):
            raise CatalogError(f"{path} is gzip-compressed FITS: it cannot be read in row ranges")
        n = count_rows(path, "fits") or 0
        for start in range(0, max(n, 1), rows):
            stop = min(start + rows, n)
            name = part_name(len(parts))
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


def read_raw(part: Partition) -> RawChunk:
    """Raw columns of one partition (FITS vector columns as ``NAME[i]``), read with the same
    column and provenance helpers as :func:`photcat.catalogs.formats.iter_raw`."""
    if part.kind in ("parquet", "hats"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(part.path)
        rgs = list(range(part.start, part.stop)) if part.kind == "parquet" else None
        t = pf.read_row_groups(rgs) if rgs is not None else pf.read()
        md = t.schema.metadata
        return arrow_chunk(t, part.offset, arrow_units(t.schema), parquet_provenance(md))
    if part.kind == "fits":
        with open_fits_table(Path(part.path)) as hdu:
            chunk = fits_chunk(hdu, part.start, part.stop)
        return RawChunk(chunk.columns, part.offset, chunk.nrows, chunk.units, chunk.meta)
    raise ValueError(f"unknown partition kind {part.kind!r}")


def read_partition(part: Partition, schema: Any) -> tuple[pd.DataFrame, dict]:
    """(table, meta) of one partition: canonical columns (plus the input's other columns) for
    a schema, or the raw columns as they are (``NAME[i]`` -> ``NAME_i``) when ``schema`` is None
    (photcat's canonical files and tables of ready-made columns).

    ``meta``: ``schema``, ``extinction_corrected``, ``input_units`` and ``upstream`` (the
    provenance an earlier photcat run recorded in the file).
    """
    chunk = read_raw(part)
    if schema is None:  # photcat's canonical files, or models trained on ready-made columns
        up = chunk.meta
        units = {**(up.get("input_units") or {}), **{k: v for k, v in chunk.units.items() if v}}
        keys = ("schema", "extinction_corrected", "input_sha256")
        meta = {k: up[k] for k in keys if k in up}
        return raw_frame(chunk), {**meta, "input_units": units, "upstream": up}
    cat = canonicalise(chunk, schema, part.path, keep_columns=True)
    meta = {k: cat.meta[k] for k in ("schema", "extinction_corrected", "input_units")}
    return cat.table, {**meta, "upstream": cat.meta["provenance"]}
