"""photcat's photo-z PDFs as ``qp.Ensemble`` objects and qp files (LSST DESC ``qp-prob``).

A photcat photo-z is a Gaussian mixture truncated at z = 0 (:mod:`photcat.models.predictions`).
qp has no truncated mixture, so it is written in one of three representations
(``docs/rail.md``):

- ``interp``: the truncated density evaluated at the grid points (qp interpolates linearly
  between them and renormalises over the grid: mass beyond the last point is dropped);
- ``hist``: the catalogue's ``photoz_pdf`` cells as a histogram. photcat's first cell starts
  at z = 0 and its last is open above; qp needs finite bins, so the last cell is closed half
  a grid step above the last point, holding the open tail's mass;
- ``mixmod``: the untruncated mixture (weights, means, standard deviations) exactly as the
  networks give it; it puts mass below z = 0 where the network did.

Every ensemble carries ancil columns in photcat's names and RAIL's: ``zmean``
(``photoz_mean``), ``zmedian`` (``photoz_q50``), ``zmode`` (the truncated density's largest
grid point), ``photoz_q16``, ``photoz_q84``, ``photoz_std``, ``flag_photcat`` and the
catalogue's ``object_id`` when it has one, in the catalogue's row order. Rows photcat could not
predict (flag ``photoz_not_predicted``) are kept, with NaN PDFs and NaN point estimates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from photcat.models.predictions import MixturePrediction

log = logging.getLogger("photcat")

REPRESENTATIONS = ("interp", "hist", "mixmod")
# ancil name -> value-added catalogue column
ANCIL_COLUMNS = {
    "zmean": "photoz_mean",
    "zmedian": "photoz_q50",
    "photoz_q16": "photoz_q16",
    "photoz_q84": "photoz_q84",
    "photoz_std": "photoz_std",
    "flag_photcat": "flag_photcat",
}
MIXTURE_ARRAYS = ("photoz_weights", "photoz_means", "photoz_stds")
OUTSIDE_WARN = 0.01  # warn about objects with more of their PDF than this above the grid


def _qp():
    try:
        import qp
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "qp is not installed: pip install 'photcat[rail]' (qp-prob, pz-rail-base)"
        ) from exc
    return qp


def mixture(
    weights: np.ndarray, means: np.ndarray, stds: np.ndarray
) -> tuple[MixturePrediction, np.ndarray]:
    """(the truncated mixture of catalogue rows, mask of rows without one: NaN parameters,
    given a placeholder mixture the caller replaces with NaN)."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0)
    bad = ~(w.sum(axis=1) > 0)
    w[bad] = 1.0  # a placeholder the caller overwrites with NaN (rows not predicted)
    m = np.where(np.isfinite(means), means, 0.0)
    s = np.where(np.isfinite(stds), stds, 1.0)
    return MixturePrediction(w, m, s, lower=0.0), bad


def hist_edges(grid: np.ndarray) -> np.ndarray:
    """Bin edges of the catalogue's PDF cells (z): 0 (the truncation) or the first grid
    point's lower midpoint, whichever is lower, the midpoints, and the last point plus half
    a grid step (the open top cell closed)."""
    grid = np.asarray(grid, dtype=np.float64)
    mid = 0.5 * (grid[1:] + grid[:-1])
    top = grid[-1] + 0.5 * (grid[-1] - grid[-2])
    return np.concatenate([[min(0.0, grid[0])], mid, [top]])


def ensemble(
    weights: np.ndarray,
    means: np.ndarray,
    stds: np.ndarray,
    grid: np.ndarray | None,
    *,
    representation: str = "interp",
    cells: np.ndarray | None = None,
    ancil: dict[str, np.ndarray] | None = None,
) -> Any:
    """A ``qp.Ensemble`` of photo-z PDFs from mixture parameters (n_objects, n_components).

    ``grid`` (z): the points of ``interp`` and the cells of ``hist`` (``cells``: the
    catalogue's cell probabilities, else computed from the mixture); not used by ``mixmod``.
    ``ancil``: per-object columns to attach (e.g. :func:`ancil_from_columns`); ``zmode`` is
    added for ``interp`` and ``hist``."""
    qp = _qp()
    if representation not in REPRESENTATIONS:
        raise ValueError(
            f"qp representation must be one of {REPRESENTATIONS}, got {representation!r}"
        )
    ancil = dict(ancil or {})
    pred, bad = mixture(weights, means, stds)
    if representation == "mixmod":
        w, m, s = (np.array(a, dtype=np.float64) for a in (weights, means, stds))
        w[bad], m[bad], s[bad] = np.nan, np.nan, np.nan
        ens = qp.Ensemble(qp.mixmod, data=dict(weights=w, means=m, stds=s))
    else:
        if grid is None or len(grid) < 2:
            raise ValueError(
                f"the {representation} representation needs a grid of 2 or more points"
            )
        grid = np.asarray(grid, dtype=np.float64)
        if representation == "interp":
            y = pred.pdf_grid(grid)
        else:
            p = cells if cells is not None else pred.cell_probabilities(grid)
            edges = hist_edges(grid)
            y = np.asarray(p, dtype=np.float64) / np.diff(edges)[None, :]
        y[bad] = np.nan
        mode = np.full(len(y), np.nan)
        ok = ~bad
        if ok.any():
            mode[ok] = grid[np.argmax(y[ok], axis=1)]
        ancil.setdefault("zmode", mode)
        if representation == "interp":
            ens = qp.Ensemble(qp.interp, data=dict(xvals=grid, yvals=y))
        else:
            ens = qp.Ensemble(qp.hist, data=dict(bins=edges, pdfs=y))
    if ancil:
        ens.set_ancil({k: _ancil_array(v) for k, v in ancil.items()})
    return ens


def _ancil_array(values) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype == object:  # text identifiers: fixed-width unicode, which qp writes to HDF5
        a = a.astype(str)
    return a


def ancil_from_columns(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ancil columns (photcat and RAIL names) of a value-added catalogue's rows."""
    out = {a: table[c].to_numpy() for a, c in ANCIL_COLUMNS.items() if c in table}
    if "object_id" in table:
        out["object_id"] = table["object_id"].to_numpy()
    return out


def vac_ensemble(
    vac: str | Path | pd.DataFrame, representation: str = "interp", arrays=None, grid=None
) -> Any:
    """A value-added catalogue's photo-z PDFs (file path, or its 1-D columns with ``arrays``
    and ``grid``) as one ``qp.Ensemble``: the mixture columns ``photoz_weights``,
    ``photoz_means``, ``photoz_stds`` and, for ``hist``, the ``photoz_pdf`` cells. The grid
    defaults to the catalogue's own (provenance ``pdf_grid``)."""
    qp = _qp()
    parts = list(_chunks(vac, arrays, grid))
    if not parts:
        raise ValueError(f"{vac}: no rows")
    ens = [_chunk_ensemble(df, arr, g, representation, str(vac)) for df, arr, g in parts]
    return ens[0] if len(ens) == 1 else qp.concatenate(ens)


def _chunk_ensemble(df: pd.DataFrame, arrays: dict, grid, representation: str, source: str):
    missing = [a for a in MIXTURE_ARRAYS if a not in arrays]
    if missing:
        raise ValueError(
            f"{source} has no photo-z mixture columns {missing}: not a photcat value-added catalogue with a photo-z"
        )
    if representation != "mixmod" and grid is None:
        raise ValueError(
            f"{source} was written without a PDF grid (--pdf-nz 0): only the mixmod representation can be made"
        )
    return ensemble(
        *(arrays[a] for a in MIXTURE_ARRAYS),
        grid,
        representation=representation,
        cells=arrays.get("photoz_pdf") if representation == "hist" else None,
        ancil=ancil_from_columns(df),
    )


def _grid_of(meta: dict) -> np.ndarray | None:
    g = meta.get("pdf_grid")
    return None if not g else np.linspace(float(g[0]), float(g[1]), int(g[2]))


def _part_files(path: Path) -> list[Path]:
    """A file output itself, or a folder output's parts in its manifest's order."""
    if not path.is_dir():
        return [path]
    man = json.loads((path / "manifest.json").read_bytes())
    return [path / e["file"] for e in man.get("partitions", []) if e.get("rows")]


def _chunks(
    vac, arrays, grid, files: list[Path] | None = None, fmt: str | None = None
) -> Iterator[tuple[pd.DataFrame, dict, np.ndarray | None]]:
    """(1-D columns, array columns, grid) of a catalogue, one Parquet row group at a time."""
    if isinstance(vac, pd.DataFrame):
        yield vac, dict(arrays or {}), None if grid is None else np.asarray(grid, float)
        return
    from photcat.catalogs.writer import output_format, read_with_arrays, split_arrays

    for f in files if files is not None else _part_files(Path(vac)):
        if (fmt or output_format(f)) != "parquet":
            df, arr, meta = read_with_arrays(f, format="fits")
            yield df, arr, _grid_of(meta) if grid is None else np.asarray(grid, float)
            continue
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(f)
        meta = json.loads((pf.schema_arrow.metadata or {}).get(b"photcat", b"{}"))
        g = _grid_of(meta) if grid is None else np.asarray(grid, float)
        for i in range(pf.num_row_groups):
            t, arr = split_arrays(pf.read_row_group(i))
            yield t.to_pandas(), arr, g


def write_qp(
    vac: str | Path,
    out: str | Path,
    representation: str = "interp",
    *,
    files: list[Path] | None = None,
    atomic: bool = True,
    fmt: str | None = None,
) -> int:
    """Write a value-added catalogue's photo-z PDFs (a file, or a folder output; ``files``:
    its part files, in order) to the qp HDF5 file ``out`` one row group at a time (memory
    bounded by a row group), atomically unless ``atomic`` is False (``out`` is then the
    caller's temporary; ``fmt``: the files' format when their names do not say it); returns
    the rows written.

    Text identifiers are stored as UTF-8 bytes of one width (the longest in the catalogue),
    which HDF5 can hold; numbers stay numbers. A warning counts the objects with more than
    :data:`OUTSIDE_WARN` of their PDF above the grid (``interp`` and ``hist`` lose it)."""
    import contextlib

    from photcat.fileio import atomic_path

    _qp()
    out = Path(out)
    files = files if files is not None else _part_files(Path(vac))
    total = sum(_rows(f, fmt) for f in files)
    width = _id_width(files, fmt)
    above = 0
    with atomic_path(out) if atomic else contextlib.nullcontext(out) as tmp:
        start, fh, groups, last = 0, None, None, None
        try:
            for df, arr, g in _chunks(vac, None, None, files, fmt):
                if not len(df):
                    continue
                if width is not None and "object_id" in df:
                    df = df.assign(object_id=_id_bytes(df["object_id"], width))
                ens = _chunk_ensemble(df, arr, g, representation, str(vac))
                if representation != "mixmod" and g is not None:
                    above += int(
                        np.sum(mass_above(*(arr[a] for a in MIXTURE_ARRAYS), g[-1]) > OUTSIDE_WARN)
                    )
                if fh is None:
                    groups, fh = ens.initializeHdf5Write(str(tmp), total)
                ens.writeHdf5Chunk(groups, start, start + len(df))
                start += len(df)
                last = ens
            if last is None:
                raise ValueError(f"{vac}: no rows to write to {out}")
            last.finalizeHdf5Write(fh)
            fh = None
        finally:
            if fh is not None:
                fh.close()
    if above:
        log.warning(
            "photcat: %d of %d objects have more than %g %% of their photo-z PDF above the "
            "grid's top (z = %g): the qp %s file leaves it out; raise --pdf-zmax to keep it",
            above, start, 100 * OUTSIDE_WARN, float(g[-1]), representation,
        )  # fmt: skip
    return start


def mass_above(weights, means, stds, top: float) -> np.ndarray:
    """Probability of each row's truncated PDF above ``top`` (NaN rows give NaN)."""
    pred, bad = mixture(weights, means, stds)
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.exp(pred.log_sf(top) - pred.log_sf(0.0))
    p[bad] = np.nan
    return p


def _id_width(files: list[Path], fmt: str | None = None) -> int | None:
    """The longest text identifier in bytes (UTF-8), or None when they are not text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from photcat.catalogs.writer import output_format

    width = None
    for f in files:
        if (fmt or output_format(f)) == "parquet":
            import pyarrow.parquet as pq

            if "object_id" not in pq.read_schema(f).names:
                return None
            col = pq.read_table(f, columns=["object_id"])["object_id"]
        else:
            from astropy.table import Table

            t = Table.read(f, format="fits")
            if "object_id" not in t.colnames:
                return None
            ids = np.asarray(t["object_id"])
            col = pa.chunked_array([pa.array(np.char.encode(ids.astype(str), "utf-8"))])
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            if not pa.types.is_binary(col.type):
                return None
        n = pc.max(pc.binary_length(col)).as_py() or 0
        width = max(width or 1, int(n))
    return width


def _id_bytes(ids: pd.Series, width: int) -> np.ndarray:
    return np.char.encode(np.asarray(ids, dtype=str), "utf-8").astype(f"S{width}")


def _rows(path: Path, fmt: str | None = None) -> int:
    from photcat.catalogs.writer import output_format

    if (fmt or output_format(path)) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        return int(hdul[1].header["NAXIS2"])
