"""Band dropout: training rows copied with one good band made missing.

A model whose features mask (or impute) missing bands only learns what a missing band means
from training rows that miss one. A catalogue's training rows often miss none (BOSS, once
its non-detections are measurements), while the catalogues it is applied to do (a band
outside the footprint, a saturated or masked measurement). :func:`band_dropout` adds, for a
seeded random ``fraction`` of the rows that keep at least ``min_bands`` good bands without
it, a copy with one of its good bands (chosen uniformly) marked missing (``flag_<b>``
``missing``, magnitude, error and flux NaN). The copies keep their row's ``split``;
:func:`photcat.pipeline.training.fit_model` copies training rows only, so the validation
rows that stop training and calibrate a committee's width stay the catalogue's own
(measured in ``benchmarks/missing_bands.py``, ``docs/photoz.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from photcat.catalogs.flags import MISSING
from photcat.features.spec import FeatureSpec, _read_bands

DROPPED_BAND = "dropped_band"  # column of the copies: the band made missing


def band_dropout(
    table: pd.DataFrame, spec: FeatureSpec, fraction: float, seed: int = 0
) -> pd.DataFrame:
    """The copies described in the module docstring (an empty frame when none qualify)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"band dropout fraction must be in [0, 1], got {fraction}")
    _, _, good = _read_bands(table, spec.bands, spec.magnitudes)
    n = len(table)
    rng = np.random.default_rng(seed)
    keeps = good.sum(axis=1) - 1 >= min(spec.min_bands, len(spec.bands))
    pick = np.flatnonzero(keeps & (rng.random(n) < float(fraction)))
    copies = table.iloc[pick].copy()
    # one of each picked row's good bands, uniformly: the largest of uniform draws over them
    which = np.argmax(rng.random((pick.size, len(spec.bands))) * good[pick], axis=1)
    names = np.asarray(spec.bands, dtype=object)[which] if pick.size else np.array([], object)
    for k, b in enumerate(spec.bands):
        make_missing(copies, b, which == k)
    copies[DROPPED_BAND] = names.astype(str) if pick.size else np.array([], dtype=str)
    return copies.reset_index(drop=True)


def make_missing(table: pd.DataFrame, band: str, rows: np.ndarray) -> None:
    """Mark ``band`` missing in ``rows`` (bool) of ``table``, in place: magnitude, error and
    flux NaN, ``flag_<band>`` ``missing``."""
    for col in (f"mag_{band}", f"magerr_{band}", f"flux_{band}", f"fluxerr_{band}"):
        if col in table:
            values = table[col].to_numpy(dtype=float, copy=True)
            values[rows] = np.nan
            table[col] = values
    if f"flag_{band}" in table:
        flag = table[f"flag_{band}"].to_numpy().astype(np.uint16)
        flag[rows] |= np.uint16(MISSING)
        table[f"flag_{band}"] = flag
