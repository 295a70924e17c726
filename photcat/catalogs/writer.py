"""``write``: a table (plus provenance) to FITS or Parquet, atomically.

FITS gets a unit on every physical column and header keywords ``PHOTCATV`` (photcat
version), ``PCSHA256`` (input checksum), ``PCSCHEMA`` and ``PCMETA`` (JSON provenance:
configuration, versions); Parquet gets the same provenance as schema metadata under
``photcat`` and each column's unit as field metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat import __version__
from photcat.catalogs.columns import description, unit_for
from photcat.catalogs.io_atomic import atomic_path


def output_format(path: Path, fmt: str | None = None) -> str:
    """``fits`` or ``parquet`` from an explicit format or the file name."""
    if fmt:
        return fmt
    name = path.name.lower()
    if name.endswith((".fits", ".fit")):
        return "fits"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(f"cannot tell the output format of {path}: use .fits or .parquet")


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


def _write_fits(df, arrays, tmp: Path, meta: dict, input_units: dict) -> None:
    from astropy.table import Table

    t = Table()
    for name in df.columns:
        values = df[name].to_numpy()
        if values.dtype == object or str(df[name].dtype) in ("string", "str"):
            values = values.astype(str)
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
    ``arrays`` as fixed-size lists, provenance (with the photcat version) under ``photcat``."""
    import pyarrow as pa

    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    for name, arr in (arrays or {}).items():
        arr = np.ascontiguousarray(arr)
        flat = pa.array(arr.reshape(-1))
        table = table.append_column(name, pa.FixedSizeListArray.from_arrays(flat, arr.shape[1]))
    fields = []
    for f in table.schema:
        unit = unit_for(f.name, (input_units or {}).get(f.name))
        md = {b"unit": unit.encode()} if unit is not None else {}
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

    pq.write_table(to_arrow(df, arrays, meta, input_units), tmp, compression="zstd")


def read_with_arrays(
    path: str | Path,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, Any]]:
    """Read back a file written by :func:`write`: (1-D columns, 2-D array columns, provenance)."""
    path = Path(path)
    if output_format(path) == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        meta = json.loads((t.schema.metadata or {}).get(b"photcat", b"{}"))
        arrays = {}
        for name in list(t.column_names):
            col = t.column(name)
            if pa.types.is_fixed_size_list(col.type):
                flat = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
                arrays[name] = flat.reshape(len(t), col.type.list_size)
                t = t.drop_columns([name])
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
