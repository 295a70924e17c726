"""``read`` and ``iter_read``: any supported file -> canonical table + ingest report.

The canonical table (pandas) has ``object_id``, ``ra``, ``dec`` (deg), ``mag_<b>`` (AB mag,
Galactic-extinction corrected when extinction columns exist), ``magerr_<b>`` (mag),
``flag_<b>`` (uint16, see :mod:`photcat.catalogs.flags`), ``extinction_<b>`` (mag) when
present, ``flux_<b>`` / ``fluxerr_<b>`` (maggies, zero and negative measurements kept) for
bands read from asinh magnitudes or fluxes, and ``z_spec`` / ``flag_zspec`` when the file has
a redshift. No row is ever dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat import __version__
from photcat.catalogs import validate as V
from photcat.catalogs.bands import band, is_known, register_band, sort_bands, user_band_facts
from photcat.catalogs.formats import CatalogError, RawChunk, detect_format, iter_raw
from photcat.catalogs.report import IngestReport
from photcat.catalogs.schema import FLUX_UNITS, Schema, get_schema
from photcat.fileio import sha256_file


@dataclass
class Catalog:
    """A canonical table with its bands, schema, ingest report and provenance."""

    table: pd.DataFrame
    bands: tuple[str, ...]  # all bands present, blue to red
    required_bands: tuple[str, ...]
    schema: Schema
    report: IngestReport
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class _Resolved:
    """A schema matched to a file's actual column names."""

    schema: Schema
    required: tuple[str, ...]
    optional: tuple[str, ...]
    cols: dict[str, str]  # canonical role -> actual file column name


def _resolve(schemas: tuple[Schema, ...], names: list[str], path: Path) -> _Resolved:
    lower = {n.lower(): n for n in names}
    clash: dict[str, list[str]] = {}
    for n in names:
        clash.setdefault(n.lower(), []).append(n)
    failures = []
    for s in schemas:
        if s.name == "canonical":  # photcat's own output: every band it holds
            mags = [n[4:] for n in lower if n.startswith("mag_") and f"magerr_{n[4:]}" in lower]
            unknown = [b for b in mags if not is_known(b)]
            if unknown:
                raise CatalogError(
                    f"canonical table {path} holds band(s) {unknown} that photcat does not "
                    'know: declare them again, e.g. --schema \'{"preset": "canonical", '
                    '"band_info": {...}}\''
                )
            if mags:
                s = replace(s, bands=sort_bands(mags))
        cols: dict[str, str] = {}
        missing: list[str] = []

        def need(
            role: str, col: str, required: bool = True, cols=cols, missing=missing, s=s
        ) -> None:
            hit = lower.get(col.lower())
            if hit is not None and len(clash[col.lower()]) > 1:
                raise CatalogError(
                    f"{path} has columns {clash[col.lower()]} that differ only in case; schema "
                    f"{s.name!r} matches names without regard to case: rename one"
                )
            if hit is not None:
                cols[role] = hit
            elif required:
                missing.append(f"{col!r} ({role})")

        for b in s.bands:
            if s.mag is not None:
                need(f"mag_{b}", s.column(s.mag, b))
                if s.magerr is not None:
                    need(f"magerr_{b}", s.column(s.magerr, b))
            else:
                need(f"flux_{b}", s.column(s.flux, b))
                if s.flux_ivar is not None:
                    need(f"ivar_{b}", s.column(s.flux_ivar, b))
                else:
                    need(f"fluxerr_{b}", s.column(s.flux_err, b))
            if s.psf_mag and s.model_mag:
                need(f"psfmag_{b}", s.column(s.psf_mag, b), required=False)
                need(f"modelmag_{b}", s.column(s.model_mag, b), required=False)
            if s.extinction:
                need(f"extinction_{b}", s.column(s.extinction, b), required=False)
            elif s.mw_transmission:
                need(f"mwtrans_{b}", s.column(s.mw_transmission, b), required=False)
        for role in ("id", "ra", "dec", "z", "obj_type", "spec_class"):
            col = getattr(s, role)
            if col:
                need(role, col, required=False)
        optional = []
        for b, bc in s.optional_bands.items():
            if bc.mag.lower() in lower and (bc.magerr is None or bc.magerr.lower() in lower):
                cols[f"mag_{b}"] = lower[bc.mag.lower()]
                if bc.magerr is not None:
                    cols[f"magerr_{b}"] = lower[bc.magerr.lower()]
                if bc.extinction is not None and bc.extinction.lower() in lower:
                    cols[f"extinction_{b}"] = lower[bc.extinction.lower()]
                optional.append(b)
        if not missing:
            if s.extinction and any(f"extinction_{b}" not in cols for b in s.bands):
                for b in s.bands:  # correct all bands or none
                    cols.pop(f"extinction_{b}", None)
            if s.mw_transmission and any(f"mwtrans_{b}" not in cols for b in s.bands):
                for b in s.bands:
                    cols.pop(f"mwtrans_{b}", None)
            return _Resolved(s, s.bands, sort_bands(optional), cols)
        failures.append(f"form {s.mag or s.flux!r}: missing {', '.join(missing)}")
    shown = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
    raise CatalogError(
        f"catalogue {path} lacks columns required by schema {schemas[0].name!r}: "
        + "; ".join(failures)
        + f". Columns present: {shown}"
    )


def _canonicalise(chunk, res: _Resolved, path: Path, keep_columns: bool) -> pd.DataFrame:
    c, s, n = res.cols, res.schema, chunk.nrows
    raw = chunk.columns
    out: dict[str, Any] = {}
    if "id" in c:
        ids, text = V.to_float(raw[c["id"]]) if not _is_text(raw[c["id"]]) else (None, None)
        if (
            ids is not None
            and not text.any()
            and np.isfinite(ids).all()
            and np.all(ids == np.round(ids))
        ):
            out["object_id"] = np.asarray(raw[c["id"]]).astype(np.int64)
        elif ids is not None and not text.any():
            out["object_id"] = _numeric_ids_as_text(ids)
        else:
            out["object_id"] = np.asarray(raw[c["id"]]).astype(str)
    else:
        out["object_id"] = np.arange(chunk.offset, chunk.offset + n, dtype=np.int64)
    for role in ("ra", "dec"):
        if role in c:
            out[role] = V.to_float(raw[c[role]])[0]
    corrected = (
        any(k.startswith(("extinction_", "mwtrans_")) for k in c) and not s.extinction_applied
    )
    for b in (*res.required, *res.optional):
        flux = fluxerr = None  # kept measurements in maggies, negative ones included
        if f"flux_{b}" in c:
            unit = FLUX_UNITS[s.flux_unit]
            ivar = raw[c[f"ivar_{b}"]] if f"ivar_{b}" in c else V.ivar_from_sigma(raw[c[f"fluxerr_{b}"]])  # fmt: skip
            mag, err, flag = V.band_from_fluxes(raw[c[f"flux_{b}"]], ivar, unit)
            flux, fluxerr = V.flux_from_fluxes(raw[c[f"flux_{b}"]], ivar, unit)
        elif b not in s.optional_bands and s.mag_system == "asinh":
            err_raw = raw[c[f"magerr_{b}"]] if f"magerr_{b}" in c else None
            mag, err, flag = V.band_from_asinh(raw[c[f"mag_{b}"]], err_raw, band(b).asinh_b)
            flux, fluxerr = V.flux_from_asinh(raw[c[f"mag_{b}"]], err_raw, band(b).asinh_b)
        elif s.name == "canonical" and f"flag_{b}" in raw:
            # photcat's own table: errors were checked at ingest and the flags say where they
            # were bad; a NaN error with flag 0 is a catalogue without errors
            mag, _, flag = V.band_from_mags(raw[c[f"mag_{b}"]], None)
            err = np.where(flag == 0, V.to_float(raw[c[f"magerr_{b}"]])[0], np.nan)
            if f"flux_{b}" in raw and f"fluxerr_{b}" in raw:
                flux = V.to_float(raw[f"flux_{b}"])[0]  # corrected already
                fluxerr = V.to_float(raw[f"fluxerr_{b}"])[0]
        else:
            bc = s.optional_bands.get(b)
            system = bc.system if bc else s.system
            kw = {
                "vega_to_ab": band(b).vega_to_ab if system == "Vega" else 0.0,
                "missing_values": bc.missing_values if bc else (),
            }
            err_raw = raw[c[f"magerr_{b}"]] if f"magerr_{b}" in c else None
            mag, err, flag = V.band_from_mags(raw[c[f"mag_{b}"]], err_raw, **kw)
            if bc is None:  # a survey band: its non-detections are kept as fluxes
                flux, fluxerr = V.flux_from_pogson(raw[c[f"mag_{b}"]], err_raw, **kw)
        if b in s.ab_offsets:
            mag = mag + s.ab_offsets[b]
            if flux is not None:
                scale = 10.0 ** (-0.4 * s.ab_offsets[b])
                flux, fluxerr = flux * scale, fluxerr * scale
        ext = None
        if f"extinction_{b}" in c:
            ext = V.to_float(raw[c[f"extinction_{b}"]])[0]
        elif f"mwtrans_{b}" in c:  # Milky Way transmission T: A = -2.5 log10 T
            t = V.to_float(raw[c[f"mwtrans_{b}"]])[0]
            with np.errstate(divide="ignore", invalid="ignore"):  # T outside (0, 1]: invalid
                ok_t = (t > 0) & (t <= 1)
                ext = np.where(ok_t, -2.5 * np.log10(np.where(ok_t, t, 1.0)), np.nan)
        elif (ref := derived_extinction_ref(s, b, c)) is not None:
            # E(B-V) from the reference band's extinction, times this band's A/E(B-V)
            a_ref = V.to_float(raw[c[f"extinction_{ref}"]])[0]
            ext = a_ref / band(ref).a_ebv * band(b).a_ebv
        if ext is not None:
            bad_ext = ~np.isfinite(ext) & (flag == 0)
            flag[bad_ext] |= V.F.ERR_INVALID
            # a band with derived extinction (2MASS) is never dereddened upstream
            derived = f"extinction_{b}" not in c
            if corrected or (derived and s.name != "canonical"):
                mag = np.where(flag == 0, mag - ext, np.nan)
                if flux is not None and s.name != "canonical":
                    scale = np.where(np.isfinite(ext), 10.0 ** (0.4 * ext), np.nan)
                    flux, fluxerr = flux * scale, fluxerr * scale
            err = np.where(flag == 0, err, np.nan)
            out[f"extinction_{b}"] = ext
        if s.name == "canonical" and f"flag_{b}" in raw:  # keep the reasons found upstream
            stored = np.asarray(raw[f"flag_{b}"]).astype(np.uint16)
            flag = np.where(stored != 0, stored, flag).astype(np.uint16)
        out[f"mag_{b}"], out[f"magerr_{b}"], out[f"flag_{b}"] = mag, err, flag
        if flux is not None:
            out[f"flux_{b}"], out[f"fluxerr_{b}"] = flux, fluxerr
    for b in res.required:
        if f"psfmag_{b}" in c and f"modelmag_{b}" in c:
            out[f"psf_model_{b}"] = V.psf_minus_model(
                raw[c[f"psfmag_{b}"]], raw[c[f"modelmag_{b}"]]
            )
    if "obj_type" in c or "spec_class" in c:
        out["object_class"] = _object_class(raw, c, s.name == "canonical")
    if "z" in c:
        out["z_spec"], out["flag_zspec"] = V.redshift_flags(raw[c["z"]])
        if s.name == "canonical" and "flag_zspec" in raw:
            stored = np.asarray(raw["flag_zspec"]).astype(np.uint16)
            out["flag_zspec"] = np.where(stored != 0, stored, out["flag_zspec"]).astype(np.uint16)
    table = pd.DataFrame(out)
    if keep_columns:
        # identifiers and object types are kept as they came as well (a text class, an id a
        # spreadsheet rounded); photometry and redshift live on in their canonical columns
        used = {v for k, v in c.items() if k not in ("id", "obj_type", "spec_class")}
        vectors = {u.split("[")[0] for u in used if "[" in u}
        for name, values in raw.items():
            if name in used or name.split("[")[0] in vectors:
                continue
            if s.name == "canonical" and name in table:  # photcat's own columns, rebuilt above
                continue
            key = name.replace("[", "_").replace("]", "")
            table[key if key not in table else f"input_{key}"] = np.asarray(values)
    return table


def _object_class(raw, c: dict[str, str], canonical: bool) -> np.ndarray:
    """object_class codes (photcat.catalogs.flags.OBJECT_CLASSES) from the catalogue's
    photometric type and spectroscopic class columns; the spectroscopic class wins."""
    from photcat.catalogs.flags import OBJECT_CLASSES, SDSS_PHOTO_TYPES

    n = len(next(iter(raw.values())))
    out = np.zeros(n, dtype=np.uint8)
    if "obj_type" in c:
        t, _ = V.to_float(raw[c["obj_type"]])
        if canonical:  # photcat's own codes
            ok = np.isin(t, list(OBJECT_CLASSES.values()))
            out[ok] = t[ok].astype(np.uint8)
        else:
            for code, name in SDSS_PHOTO_TYPES.items():
                out[t == code] = OBJECT_CLASSES[name]
    if "spec_class" in c:
        text = pd.Series(np.asarray(raw[c["spec_class"]])).astype("string").str.strip().str.lower()
        for name in ("galaxy", "star", "qso"):
            out[(text == name).fillna(False).to_numpy(dtype=bool)] = OBJECT_CLASSES[name]
    return out


def _register_recorded_bands(meta: dict) -> None:
    """Declare again the bands a photcat table recorded (``band_info`` of its provenance, or
    of the provenance it carries from upstream)."""
    for m in (meta, meta.get("provenance") or {}):
        for name, facts in (m.get("band_info") or {}).items():
            register_band(name, **facts)


def derived_extinction_ref(schema: Schema, b: str, cols: dict[str, str]) -> str | None:
    """The band whose extinction column gives band ``b`` its extinction through E(B-V)
    (``schema.extinction_ref``), when ``b`` has no extinction column of its own; else None."""
    ref = schema.extinction_ref
    if (
        ref is None
        or ref == b
        or f"extinction_{b}" in cols
        or f"extinction_{ref}" not in cols
        or band(b).a_ebv is None
    ):
        return None
    return ref


def _numeric_ids_as_text(ids: np.ndarray) -> np.ndarray:
    """Numeric identifiers with gaps (NaN) or fractions, as text: whole numbers without a
    trailing ``.0`` (so ``1`` stays ``"1"``), missing ones as ``""``; vectorised."""
    out = np.full(ids.shape, "", dtype=object)
    finite = np.isfinite(ids)
    whole = finite & (ids == np.round(ids))
    out[whole] = ids[whole].astype(np.int64).astype(str)
    out[finite & ~whole] = ids[finite & ~whole].astype(str)
    return out.astype(str)


def _is_text(values) -> bool:
    arr = values.dtype if hasattr(values, "dtype") else np.asarray(values).dtype
    return getattr(arr, "kind", "O") in "OUS" or str(arr) in ("string", "str")


def _check_types(table: pd.DataFrame, res: _Resolved, path: Path) -> None:
    """A required column with values but not one number is a wrong-type file, not bad rows."""
    from photcat.catalogs import flags as F

    if not len(table):
        return
    for b in res.required:
        if np.all(table[f"flag_{b}"].to_numpy() & F.NONNUMERIC):
            col = res.cols.get(f"mag_{b}", res.cols.get(f"flux_{b}"))
            raise CatalogError(
                f"column {col!r} in {path} holds text, not numbers (schema {res.schema.name!r}, band {b})"
            )


def iter_read(
    path: str | Path,
    schema: str | dict | Schema = "sdss",
    *,
    rows: int = 1_000_000,
    format: str | None = None,
    keep_columns: bool = False,
    checksum: bool | str = True,
) -> Iterator[Catalog]:
    """Yield the catalogue in partitions of at most ``rows`` rows; memory bounded by ``rows``.

    Each partition is a :class:`Catalog` whose report counts that partition only; merge them
    with :meth:`IngestReport.merge`. ``object_id`` defaults to the global row index.
    ``checksum``: hash the file for provenance (True), skip it (False), or a known SHA-256.
    """
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"catalogue file not found: {path}")
    fmt = format or detect_format(path)
    schemas = get_schema(schema)
    meta_base = {
        "source": str(path),
        "format": fmt,
        # a string is a checksum the caller already computed
        "input_sha256": checksum
        if isinstance(checksum, str)
        else (sha256_file(path) if checksum else None),
        "photcat_version": __version__,
    }
    for chunk in iter_raw(path, fmt, rows, None):
        yield canonicalise(chunk, schemas, path, keep_columns=keep_columns, meta=meta_base)


def canonicalise(
    chunk: RawChunk,
    schema: str | dict | Schema | tuple[Schema, ...],
    path: str | Path,
    *,
    keep_columns: bool = False,
    meta: dict[str, Any] | None = None,
) -> Catalog:
    """One raw chunk of a file -> a canonical :class:`Catalog` with its own ingest report."""
    path = Path(path)
    schemas = schema if isinstance(schema, tuple) else get_schema(schema)
    _register_recorded_bands(chunk.meta or {})
    res = _resolve(schemas, list(chunk.columns), path)
    table = _canonicalise(chunk, res, path, keep_columns)
    _check_types(table, res, path)
    if res.schema.name == "canonical":  # photcat's own output: as recorded upstream
        corrected = bool(chunk.meta.get("extinction_corrected", False))
    elif res.schema.extinction_applied:  # the user says the magnitudes come dereddened
        corrected = True
    else:
        corrected = any(k.startswith(("extinction_", "mwtrans_")) for k in res.cols)
    report = IngestReport.from_table(
        table,
        source=str(path),
        schema=res.schema.name,
        required=res.required,
        optional=res.optional,
        extinction_corrected=corrected,
    )
    s = res.schema
    present = [*res.required, *res.optional]
    derived = {
        b: f"extinction_{ref} / {band(ref).a_ebv} x {band(b).a_ebv} (SFD98 A/E(B-V))"
        for b in present
        if (ref := derived_extinction_ref(s, b, res.cols)) is not None
    }
    user = {b: user_band_facts(b) for b in present if user_band_facts(b) is not None}
    out_meta = {
        **(meta or {}),
        "band_info": user,  # bands declared in the schema, so that photcat can read them back
        "provenance": chunk.meta,  # what an upstream photcat run recorded in the file
        "schema": res.schema.name,
        "extinction_corrected": corrected,
        "extinction_upstream": bool(s.extinction_applied and s.name != "canonical"),
        "extinction_derived": derived if s.name != "canonical" else {},
        "mag_system": s.mag_system if s.mag else "flux",
        "ab_offsets": {b: v for b, v in s.ab_offsets.items() if b in present},
        "rows_offset": chunk.offset,
        "input_units": {k: v for k, v in chunk.units.items() if v},
    }
    bands = sort_bands(list(res.required) + list(res.optional))
    return Catalog(table, bands, res.required, res.schema, report, out_meta)


def read(
    path: str | Path,
    schema: str | dict | Schema = "sdss",
    *,
    format: str | None = None,
    keep_columns: bool = False,
) -> Catalog:
    """Read a whole catalogue (FITS, CSV, Parquet, HDF5 or ANNz ASCII) into a :class:`Catalog`.

    ``schema`` is a preset name (``sdss``, ``annz``, ``annz2``, ``canonical``), a mapping
    (see :meth:`Schema.from_dict`) or a :class:`Schema`. Missing required columns raise
    :class:`CatalogError` naming the columns, the file and the schema.
    """
    parts = list(iter_read(path, schema, rows=None, format=format, keep_columns=keep_columns))  # type: ignore[arg-type]
    if len(parts) == 1:
        return parts[0]
    table = pd.concat([p.table for p in parts], ignore_index=True)
    report = parts[0].report
    for p in parts[1:]:
        report = report.merge(p.report)
    first = parts[0]
    return Catalog(table, first.bands, first.required_bands, first.schema, report, first.meta)


def read_columns(path: str | Path, *, format: str | None = None) -> pd.DataFrame:
    """Every column of a catalogue file as it is (vector columns as ``NAME_i``), no schema.

    For tables whose features are ready-made columns (rest-frame colours, a label). Values
    are not validated here: the feature builder flags NaN, inf and sentinels.
    """
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"catalogue file not found: {path}")
    fmt = format or detect_format(path)
    frames = [raw_frame(chunk) for chunk in iter_raw(path, fmt, None, None)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def raw_frame(chunk: RawChunk) -> pd.DataFrame:
    """A raw chunk's columns as they are, vector elements ``NAME[i]`` renamed ``NAME_i``."""
    return pd.DataFrame(
        {k.replace("[", "_").replace("]", ""): np.asarray(v) for k, v in chunk.columns.items()}
    )
