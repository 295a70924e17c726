"""``write``: a table (plus provenance) to FITS or Parquet, atomically.

FITS gets a unit on every physical column and header keywords ``PHOTCATV`` (photcat
version), ``PCSHA256`` (input checksum), ``PCSCHEMA`` and ``PCMETA`` (JSON provenance:
configuration, versions); Parquet gets the same provenance as schema metadata under
``photcat`` and each column's unit as field metadata.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat import __version__
from photcat.catalogs.columns import description, unit_for
from photcat.catalogs.formats import WRITABLE_FORMATS, format_from_name
from photcat.fileio import atomic_path
from photcat.timing import stage


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """``fits`` or ``parquet`` from an explicit format or the file name."""
    if fmt:
        return fmt
    found = format_from_name(path)
    if found in WRITABLE_FORMATS and not str(path).lower().endswith((".gz", ".fz")):
        return found
    raise ValueError(f"cannot tell the output format of {path}: use .fits or .parquet")


def parquet_options(schema) -> dict[str, Any]:
    """Parquet writer options for an Arrow schema: zstd level 1, byte-stream-split encoding
    for float columns, packed float arrays and the leaves of float fixed-size lists (other
    types do not support it), no dictionaries (they never pay for measured floats). As small
    as default zstd and much faster to write."""
    import pyarrow as pa

    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    floats += [
        f"{f.name}.list.element"  # the leaf column of a fixed-size list
        for f in schema
        if pa.types.is_fixed_size_list(f.type) and pa.types.is_floating(f.type.value_type)
    ]
    floats += [f.name for f in schema if (packed_layout(f) or {}).get("dtype", "")[1:2] == "f"]
    return {
        "compression": "zstd",
        "compression_level": 1,
        "use_dictionary": False,
        "use_byte_stream_split": floats or False,
    }


# 2-D array columns at least this wide (the gridded PDF) are stored packed: one Parquet
# FIXED_LEN_BYTE_ARRAY value per row holding the row's numbers in little-endian order, so
# that Parquet writes no repetition level per number; narrower ones (mixture parameters)
# stay fixed-size lists. The field metadata ``photcat_array`` gives dtype and width.
PACKED_MIN_WIDTH = 16


def packed_layout(field) -> dict | None:
    """``{"dtype": "<f4", "width": n}`` of a packed array field, else None."""
    raw = (field.metadata or {}).get(b"photcat_array")
    return json.loads(raw) if raw else None


def array_width(field) -> int | None:
    """Values per row of a 2-D array field (packed or fixed-size list), else None."""
    import pyarrow as pa

    if (layout := packed_layout(field)) is not None:
        return int(layout["width"])
    return field.type.list_size if pa.types.is_fixed_size_list(field.type) else None


def _pack(arr: np.ndarray):
    """A 2-D array as a fixed-size binary Arrow array (one row per value, little-endian)."""
    import pyarrow as pa

    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    size = le.dtype.itemsize * le.shape[1]
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(size), le.shape[0], [None, pa.py_buffer(le)]
    )


def split_arrays(table) -> tuple[Any, dict[str, np.ndarray]]:
    """An Arrow table from :func:`to_arrow` without its 2-D array columns, and those columns
    as numpy arrays (rows x width): fixed-size lists and packed arrays alike."""
    import pyarrow as pa

    arrays = {}
    for f in table.schema:
        col = table.column(f.name)
        layout = packed_layout(f)
        if layout is not None:
            chunk = col.combine_chunks()
            width, dtype = int(layout["width"]), np.dtype(layout["dtype"])
            flat = np.frombuffer(chunk.buffers()[1], dtype=dtype)
            flat = flat[chunk.offset * width : (chunk.offset + len(chunk)) * width]
            arrays[f.name] = flat.reshape(len(chunk), width).astype(dtype.newbyteorder("="))
        elif pa.types.is_fixed_size_list(f.type):
            flat = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            arrays[f.name] = flat.reshape(table.num_rows, f.type.list_size)
    return table.drop_columns(list(arrays)), arrays


def write(
    table: pd.DataFrame | Any,
    path: str | Path,
    *,
    meta: dict[str, Any] | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    format: str | None = None,
) -> Path:
    """Write ``table`` (a DataFrame or a :class:`~photcat.catalogs.reader.Catalog`) atomically.

    ``arrays`` holds extra 2-D columns (for example a PDF on a redshift grid), one row per
    object. ``meta`` is provenance (configuration, checksums); the photcat version is added.
    """
    path = Path(path)
    if hasattr(table, "table") and hasattr(table, "meta"):
        meta = {**table.meta, **(meta or {})}
        table = table.table
    meta = {**(meta or {}), "photcat_version": __version__}
    arrays = arrays or {}
    for name, arr in arrays.items():
        if len(arr) != len(table):
            raise ValueError(f"array column {name!r} has {len(arr)} rows, table has {len(table)}")
    fmt = output_format(path, format)
    input_units = meta.get("input_units", {}) or {}
    with atomic_path(path) as tmp:
        if fmt == "fits":
            _write_fits(table, arrays, tmp, meta, input_units)
        elif fmt == "parquet":
            _write_parquet(table, arrays, tmp, meta, input_units)
        else:
            raise ValueError(f"unsupported output format {fmt!r} (fits or parquet)")
    return path


def _is_sequences(values: np.ndarray) -> bool:
    """True for an object column whose every entry is a list or array (a list column)."""
    return all(isinstance(v, list | tuple | np.ndarray) for v in values)


def _sequence_column(values: np.ndarray) -> np.ndarray:
    """A list column for FITS: a 2-D column when every row has the same length, else a
    variable-length array column (astropy writes object arrays of arrays as ``P`` format)."""
    arrays = [np.asarray(v) for v in values]
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    kinds = [a.dtype for a in arrays if a.size]
    dtype = np.result_type(*kinds) if kinds else np.float64
    out = np.empty(len(arrays), dtype=object)
    out[:] = [a.astype(dtype) for a in arrays]  # one type: an empty list is not a float one
    return out


def _write_fits(df, arrays, tmp: Path, meta: dict, input_units: dict) -> None:
    from astropy.table import Table

    t = Table()
    for name in df.columns:
        values = df[name].to_numpy()
        if values.dtype == object and len(values) and _is_sequences(values):
            values = _sequence_column(values)
        elif values.dtype == object or str(df[name].dtype) in ("string", "str"):
            values = values.astype(str)
        elif values.dtype == np.int8:  # astropy writes int8 as FITS logical (L): widen
            values = values.astype(np.int16)
        t[name] = values
        unit = unit_for(name, input_units.get(name))
        if unit is not None:
            t[name].unit = unit
        if desc := description(name):
            t[name].description = desc
    for name, arr in arrays.items():
        t[name] = np.asarray(arr)
        if (unit := unit_for(name)) is not None:
            t[name].unit = unit
    t.meta["PHOTCATV"] = __version__
    if meta.get("input_sha256"):
        t.meta["PCSHA256"] = meta["input_sha256"]
    if meta.get("schema"):
        t.meta["PCSCHEMA"] = meta["schema"]
    if "extinction_corrected" in meta:
        t.meta["EXTCORR"] = bool(meta["extinction_corrected"])
    t.meta["PCMETA"] = json.dumps(meta, sort_keys=True, default=str)
    t.write(tmp, format="fits", overwrite=True)


def to_arrow(
    df: pd.DataFrame,
    arrays: dict[str, np.ndarray] | None = None,
    meta: dict | None = None,
    input_units: dict | None = None,
):
    """The Arrow table :func:`write` stores: units and descriptions as field metadata, 2-D
    ``arrays`` as fixed-size lists or, from :data:`PACKED_MIN_WIDTH` values a row, packed
    (:func:`split_arrays` reads both back), provenance (with the photcat version) under ``photcat``."""
    import pyarrow as pa

    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    packed = {}
    for name, arr in (arrays or {}).items():
        arr = np.ascontiguousarray(arr)
        if arr.shape[1] >= PACKED_MIN_WIDTH:
            table = table.append_column(name, _pack(arr))
            packed[name] = {"dtype": arr.dtype.newbyteorder("<").str, "width": arr.shape[1]}
        else:
            flat = pa.array(arr.reshape(-1))
            table = table.append_column(name, pa.FixedSizeListArray.from_arrays(flat, arr.shape[1]))
    fields = []
    for f in table.schema:
        unit = unit_for(f.name, (input_units or {}).get(f.name))
        md = {b"unit": unit.encode()} if unit is not None else {}
        if f.name in packed:
            md[b"photcat_array"] = json.dumps(packed[f.name]).encode()
        if desc := description(f.name):
            md[b"description"] = desc.encode()
        fields.append(f.with_metadata(md) if md else f)
    schema_md = dict(table.schema.metadata or {})
    schema_md[b"photcat"] = json.dumps(
        {**(meta or {}), "photcat_version": __version__}, sort_keys=True, default=str
    ).encode()
    return table.cast(pa.schema(fields, metadata=schema_md))


def _write_parquet(df, arrays, tmp: Path, meta: dict, input_units: dict) -> None:
    import pyarrow.parquet as pq

    table = to_arrow(df, arrays, meta, input_units)
    pq.write_table(table, tmp, **parquet_options(table.schema))


def write_part(table, path: str | Path) -> Path:
    """Write one partition's Arrow table (from :func:`to_arrow`) as a Parquet file, atomically."""
    import pyarrow.parquet as pq

    path = Path(path)
    with stage("write"), atomic_path(path) as tmp:
        pq.write_table(table, tmp, **parquet_options(table.schema))
    return path


def arrow_meta(table) -> dict[str, Any]:
    """The ``photcat`` provenance stored in an Arrow table's schema metadata."""
    return json.loads((table.schema.metadata or {}).get(b"photcat", b"{}"))


def write_tables(
    tables: Iterable[Any],
    path: str | Path,
    *,
    meta: dict | None = None,
    format: str | None = None,
    before_commit: Callable[[Path], None] | None = None,
) -> int:
    """Write Arrow tables (from :func:`to_arrow`, one per partition, in order) as one
    catalogue file, atomically; return the row count. ``before_commit`` is called with the
    complete temporary file before it replaces ``path`` (an exception there leaves ``path``
    as it was).

    Parquet is streamed (one row group per non-empty table, memory bounded by one table);
    FITS is gathered and written once (memory grows with the catalogue). The file's
    provenance is the first table's, without its ``partition`` entry, updated with ``meta``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    fmt = output_format(path, format)
    gathered: list = []
    rows = 0
    with atomic_path(path) as tmp:
        writer = schema = None
        try:
            for i, t in enumerate(tables):
                if schema is None:
                    md = {k: v for k, v in arrow_meta(t).items() if k != "partition"}
                    md.update(meta or {})
                    schema = _with_meta(t.schema, md)
                    if fmt == "parquet":
                        writer = pq.ParquetWriter(tmp, schema, **parquet_options(schema))
                try:
                    t = t.cast(schema) if t.schema != schema else t
                except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                    raise ValueError(
                        f"{path}: partition {i} has column types that differ from the first "
                        f"partition's ({exc})"
                    ) from exc
                rows += t.num_rows
                if fmt == "fits":
                    gathered.append(t)
                elif t.num_rows:
                    with stage("write"):
                        writer.write_table(t, row_group_size=t.num_rows)
        finally:
            if writer is not None:
                writer.close()
        if schema is None:
            raise ValueError(f"no partitions to write into {path}")
        if fmt == "fits":
            _arrow_to_fits(pa.concat_tables(gathered), tmp)
        if before_commit is not None:
            before_commit(tmp)
    return rows


def _with_meta(schema, meta: dict):
    md = dict(schema.metadata or {})
    md[b"photcat"] = json.dumps(meta, sort_keys=True, default=str).encode()
    return schema.with_metadata(md)


def _arrow_to_fits(whole, tmp: Path) -> None:
    """An Arrow table from :func:`to_arrow` (fixed-size lists = 2-D arrays) as a FITS file."""

    meta = arrow_meta(whole)
    units = {
        f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in whole.schema if f.metadata
    }
    whole, arrays = split_arrays(whole)
    meta["input_units"] = {
        **(meta.get("input_units") or {}),
        **{k: v for k, v in units.items() if v},
    }
    _write_fits(whole.to_pandas(), arrays, tmp, meta, meta["input_units"])


def read_with_arrays(
    path: str | Path, format: str | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, Any]]:
    """Read back a file written by :func:`write`: (1-D columns, 2-D array columns, provenance)."""
    path = Path(path)
    if output_format(path, format) == "parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        meta = arrow_meta(t)
        t, arrays = split_arrays(t)
        return t.to_pandas(), arrays, meta
    from astropy.table import Table

    t = Table.read(path, format="fits")
    meta = json.loads(t.meta.get("PCMETA", "{}"))
    arrays = {c: np.asarray(t[c]) for c in t.colnames if t[c].ndim > 1}
    t.remove_columns(list(arrays))
    for c in t.colnames:
        if t[c].dtype.kind == "S":  # FITS strings are bytes: give back the str that was written
            t[c] = np.char.decode(np.asarray(t[c]), "ascii")
    return t.to_pandas(), arrays, meta
