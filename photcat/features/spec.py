"""Photometric feature matrices from the canonical table, described by one FeatureSpec.

A :class:`FeatureSpec` names the bands, the colours (adjacent pairs by default), an optional
reference magnitude, whether the errors are extra columns, and what to do with flagged bands.
It is saved with every model (``to_dict`` → JSON) and rebuilds exactly the same columns at
prediction time (``FeatureSpec.from_dict(d).build(table)``).

Flag policies (a band is *missing* for a row when its ``mag_<b>`` or ``magerr_<b>`` is not
finite, the error is negative, or ``flag_<b>`` is non-zero; a band with no finite error in
any row comes from a catalogue without errors, and its NaN errors do not make it missing):

* ``"drop"`` – rows with any missing band are not usable (``usable`` False, flag ``DROPPED``);
  their features stay NaN. Models train and predict on ``usable`` rows only.
* ``"impute"`` – a missing magnitude is set to that band's survey limit (the
  ``limit_quantile`` quantile, default 99th percentile, of the band's good magnitudes in the
  *training* table, stored in the spec by :meth:`FeatureSpec.with_limits`) with error
  ``imputed_error`` (default 1.0 mag), then colours are formed as usual (flag ``IMPUTED``).
* ``"mask"`` – features involving a missing band are set to 0 (errors to 0) and one 0/1 column
  ``mask_<b>`` per band (1 = missing) is appended so the model sees what is absent
  (flag ``MASKED``).

Under every policy, rows with fewer than ``min_bands`` good bands (capped at the number of
bands) are not usable (``TOO_FEW_BANDS``). Colour errors are the two magnitude errors in quadrature (mag).

Magnitudes (``magnitudes``): ``"pogson"`` uses ``mag_<b>`` as it is; ``"asinh"`` uses asinh
magnitudes (Lupton, Gunn & Szalay 1999) with the band's SDSS softening ``b``
(:mod:`photcat.catalogs.bands`) for the bands that have one, computed from ``flux_<b>`` /
``fluxerr_<b>`` where the table holds them, so a zero or negative flux measured with a valid
error (no Pogson magnitude) is a good band with a finite magnitude, else from ``mag_<b>``.
Bands without a softening stay Pogson. Specifications saved before this option read as
``"pogson"`` and rebuild exactly the features they were trained on.

Morphology (``morphology``: bands): one feature ``psf-model_<b>`` per band, the canonical
column ``psf_model_<b>`` (PSF minus model magnitude, SDSS ``psfMag − modelMag``; ≈ 0 for a
point source). A row without it is not usable under every policy (flag
``MORPHOLOGY_MISSING``): a missing value cannot be told from a point source's 0. It does not
count as a missing band.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from photcat.catalogs.flags import MAG_MAX, MAG_MIN
from photcat.features import flags as ff

POLICIES = ("drop", "impute", "mask")
MAGNITUDES = ("pogson", "asinh")
# New models use asinh magnitudes (a band measured at zero or negative flux keeps a value);
# the dataclass default stays "pogson" so that specifications saved without the key rebuild
# the features they were trained on.
DEFAULT_MAGNITUDES = "asinh"
# New models predict every row with at least three good bands (issue 16): a missing band is
# zeroed and marked (policy "mask"); the dataclass defaults stay "drop" and 2 for old specs.
# Measured against "impute" and dropping in benchmarks/missing_bands.py (docs/photoz.md).
DEFAULT_FLAG_POLICY = "mask"
DEFAULT_MIN_BANDS = 3
SPEC_FORMAT = "photcat.FeatureSpec/1"


def _table(obj: Any) -> pd.DataFrame:
    """Accept a Catalog (``.table``) or a DataFrame."""
    table = getattr(obj, "table", obj)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame or a Catalog, got {type(obj).__name__}")
    return table


@dataclass(frozen=True)
class Features:
    """A feature matrix and its per-object bookkeeping.

    ``X`` float32 (n, k); ``names`` k column names; ``errors`` float32 (n, k) 1σ errors of
    ``X`` in mag (0 for error and mask columns); ``usable`` bool (n,) rows a model may use;
    ``flags`` uint16 (n,) reason bits from :mod:`photcat.features.flags`; ``counts`` numbers of
    rows per reason and per missing band; ``masked`` bool (n, k) values set to 0 because a
    band they need is missing (policy "mask"; None otherwise).
    """

    X: np.ndarray
    names: tuple[str, ...]
    errors: np.ndarray
    usable: np.ndarray
    flags: np.ndarray
    spec: FeatureSpec
    counts: dict[str, int] = field(default_factory=dict)
    masked: np.ndarray | None = None

    def frame(self) -> pd.DataFrame:
        """The features as a DataFrame (columns = names)."""
        return pd.DataFrame(self.X, columns=list(self.names))

    def measured(self) -> np.ndarray:
        """``X`` with the values masked for a missing band set to NaN (float32 (n, k))."""
        return self.X if self.masked is None else np.where(self.masked, np.nan, self.X)

    def value_range(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature (min, max) over ``rows`` (bool or index), masked values left out; a
        feature masked in every row gets (0, 0), the value masking gives it."""
        X = self.measured()[rows]
        ok = np.isfinite(X)
        seen = ok.any(axis=0)
        lo = np.where(seen, np.where(ok, X, np.inf).min(axis=0, initial=np.inf), 0.0)
        hi = np.where(seen, np.where(ok, X, -np.inf).max(axis=0, initial=-np.inf), 0.0)
        return lo, hi


@dataclass(frozen=True)
class FeatureSpec:
    """What goes into a photometric feature matrix (see module docstring for the policies).

    ``bands`` blue→red band names; ``colours`` pairs (a, b) meaning mag_a − mag_b, ``None`` =
    adjacent pairs of ``bands``; ``reference_band`` band whose magnitude is a feature (None =
    no magnitude); ``include_errors`` add ``err_<feature>`` columns; ``limits`` per-band survey
    limits in mag (needed by "impute"; filled by :meth:`with_limits`).
    """

    bands: tuple[str, ...]
    colours: tuple[tuple[str, str], ...] | None = None
    reference_band: str | None = None
    include_errors: bool = False
    flag_policy: str = "drop"
    min_bands: int = 2
    limit_quantile: float = 0.99
    imputed_error: float = 1.0
    limits: tuple[tuple[str, float], ...] | None = None
    magnitudes: str = "pogson"
    morphology: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from photcat.catalogs.bands import canonical_name

        bands = tuple(canonical_name(b) for b in self.bands)
        if not bands:
            raise ValueError("FeatureSpec needs at least one band")
        if len(set(bands)) != len(bands):
            raise ValueError(f"FeatureSpec bands repeat: {bands}")
        object.__setattr__(self, "bands", bands)
        if self.colours is not None:
            cols = tuple((canonical_name(a), canonical_name(b)) for a, b in self.colours)
            for a, b in cols:
                for x in (a, b):
                    if x not in bands:
                        raise ValueError(f"colour {a}-{b} uses band {x!r} not in bands {bands}")
                if a == b:
                    raise ValueError(f"colour {a}-{b} is the same band twice")
            object.__setattr__(self, "colours", cols)
        if self.reference_band is not None:
            ref = canonical_name(self.reference_band)
            if ref not in bands:
                raise ValueError(f"reference_band {ref!r} is not in bands {bands}")
            object.__setattr__(self, "reference_band", ref)
        morph = tuple(canonical_name(b) for b in self.morphology)
        if len(set(morph)) != len(morph):
            raise ValueError(f"morphology bands repeat: {morph}")
        object.__setattr__(self, "morphology", morph)
        if self.flag_policy not in POLICIES:
            raise ValueError(f"flag_policy must be one of {POLICIES}, got {self.flag_policy!r}")
        if self.magnitudes not in MAGNITUDES:
            raise ValueError(f"magnitudes must be one of {MAGNITUDES}, got {self.magnitudes!r}")
        if int(self.min_bands) < 1:
            raise ValueError(f"min_bands must be >= 1, got {self.min_bands}")
        if not 0.0 < float(self.limit_quantile) <= 1.0:
            raise ValueError(f"limit_quantile must be in (0, 1], got {self.limit_quantile}")
        if not float(self.imputed_error) > 0:
            raise ValueError(f"imputed_error must be > 0 mag, got {self.imputed_error}")
        if self.limits is not None:
            pairs = self.limits.items() if isinstance(self.limits, dict) else self.limits
            lim = tuple((str(b).lower(), float(v)) for b, v in pairs)
            missing = [b for b in bands if b not in dict(lim)]
            if missing:
                raise ValueError(f"limits lack bands {missing}")
            lim = tuple((b, dict(lim)[b]) for b in bands)  # canonical order: the bands'
            if not all(np.isfinite(v) for _, v in lim):
                raise ValueError(f"limits must be finite magnitudes, got {dict(lim)}")
            object.__setattr__(self, "limits", lim)
        if not self.base_names:
            raise ValueError("FeatureSpec gives no features: name colours or a reference_band")

    # ---------------------------------------------------------------- description
    @property
    def colour_pairs(self) -> tuple[tuple[str, str], ...]:
        """The colours built: the named pairs, or adjacent pairs of ``bands``."""
        if self.colours is not None:
            return self.colours
        return tuple(zip(self.bands[:-1], self.bands[1:], strict=True))

    @property
    def base_names(self) -> tuple[str, ...]:
        names = [f"{a}-{b}" for a, b in self.colour_pairs]
        if self.reference_band is not None:
            names.append(f"mag_{self.reference_band}")
        names += [f"psf-model_{b}" for b in self.morphology]
        return tuple(names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Column names of X, in order."""
        names = list(self.base_names)
        if self.include_errors:
            names += [f"err_{n}" for n in self.base_names]
        if self.flag_policy == "mask":
            names += [f"mask_{b}" for b in self.bands]
        return tuple(names)

    def required_columns(self) -> list[str]:
        """Canonical-table columns the spec reads (flag_<b> is optional)."""
        return [c for b in self.bands for c in (f"mag_{b}", f"magerr_{b}")]

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (stored with each model)."""
        return {
            "format": SPEC_FORMAT,
            "bands": list(self.bands),
            "colours": None if self.colours is None else [list(p) for p in self.colours],
            "reference_band": self.reference_band,
            "include_errors": bool(self.include_errors),
            "flag_policy": self.flag_policy,
            "min_bands": int(self.min_bands),
            "limit_quantile": float(self.limit_quantile),
            "imputed_error": float(self.imputed_error),
            "limits": None if self.limits is None else {b: float(v) for b, v in self.limits},
            "magnitudes": self.magnitudes,
            **({"morphology": list(self.morphology)} if self.morphology else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; unknown keys or another format are errors."""
        d = dict(d)
        fmt = d.pop("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise ValueError(f"not a FeatureSpec dict: format {fmt!r} (expected {SPEC_FORMAT!r})")
        known = {
            "bands",
            "colours",
            "reference_band",
            "include_errors",
            "flag_policy",
            "min_bands",
            "limit_quantile",
            "imputed_error",
            "limits",
            "magnitudes",
            "morphology",
        }
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown FeatureSpec keys: {sorted(unknown)}")
        if "bands" not in d:
            raise ValueError("FeatureSpec dict lacks 'bands'")
        kw = dict(d)
        kw["bands"] = tuple(d["bands"])
        if d.get("colours") is not None:
            kw["colours"] = tuple(tuple(p) for p in d["colours"])
        if d.get("limits") is not None:
            kw["limits"] = tuple((b, float(v)) for b, v in d["limits"].items())
        kw["morphology"] = tuple(d.get("morphology") or ())
        return cls(**kw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))

    # ---------------------------------------------------------------- training-time state
    def with_limits(self, table: Any) -> FeatureSpec:
        """A copy with per-band survey limits (``limit_quantile`` of good mags) from ``table``.

        Call on the training table; the limits then travel with the spec.
        """
        mags, _, good = _read_bands(_table(table), self.bands, self.magnitudes)
        lims = []
        for k, b in enumerate(self.bands):
            vals = mags[good[:, k], k]
            if vals.size == 0:
                raise ValueError(f"band {b!r} has no good magnitudes: cannot set its survey limit")
            lims.append((b, float(np.quantile(vals, self.limit_quantile))))
        return FeatureSpec(**{**self._kwargs(), "limits": tuple(lims)})

    def _kwargs(self) -> dict[str, Any]:
        return {
            "bands": self.bands,
            "colours": self.colours,
            "reference_band": self.reference_band,
            "include_errors": self.include_errors,
            "flag_policy": self.flag_policy,
            "min_bands": self.min_bands,
            "limit_quantile": self.limit_quantile,
            "imputed_error": self.imputed_error,
            "limits": self.limits,
            "magnitudes": self.magnitudes,
            "morphology": self.morphology,
        }

    # ---------------------------------------------------------------- building
    def build(self, table: Any) -> Features:
        """Feature matrix for ``table`` (canonical DataFrame or Catalog); vectorised."""
        return build(table, self)


def _read_bands(table: pd.DataFrame, bands: tuple[str, ...], magnitudes: str = "pogson"):
    """(mags, errs, good) arrays of shape (n, nbands); a clear error for absent columns.

    ``magnitudes="asinh"``: asinh magnitudes for bands with an SDSS softening (module doc)."""
    n = len(table)
    mags = np.empty((n, len(bands)))
    errs = np.empty((n, len(bands)))
    flag = np.zeros((n, len(bands)), dtype=np.int64)
    available = sorted(c[4:] for c in table.columns if str(c).startswith("mag_"))
    for k, b in enumerate(bands):
        for col in (f"mag_{b}", f"magerr_{b}"):
            if col not in table.columns:
                raise KeyError(
                    f"table lacks column {col!r} needed for band {b!r} of the FeatureSpec "
                    f"(bands in table: {available})"
                )
        mags[:, k] = pd.to_numeric(table[f"mag_{b}"], errors="coerce").to_numpy(
            float, na_value=np.nan
        )
        errs[:, k] = pd.to_numeric(table[f"magerr_{b}"], errors="coerce").to_numpy(
            float, na_value=np.nan
        )
        if f"flag_{b}" in table.columns:
            flag[:, k] = table[f"flag_{b}"].fillna(1).to_numpy(np.int64)
    # the catalogue layer's plausible-magnitude range also guards hand-made tables
    with np.errstate(invalid="ignore"):
        plausible = (mags >= MAG_MIN) & (mags <= MAG_MAX)
    # a band none of whose rows has an error is from a catalogue without errors: its NaN
    # errors do not make it missing (within a band that has errors, a NaN error does)
    with np.errstate(invalid="ignore"):
        no_errors = ~np.isfinite(errs).any(axis=0)
        err_ok = (np.isfinite(errs) & (errs >= 0)) | (np.isnan(errs) & no_errors[None, :])
    good = np.isfinite(mags) & err_ok & (flag == 0) & plausible
    mags[~good] = np.nan
    errs[~good] = np.nan
    if magnitudes == "asinh":
        _to_asinh(table, bands, mags, errs, good, flag)
    return mags, errs, good


def _to_asinh(table, bands, mags, errs, good, flag) -> None:
    """Replace, in place, each softened band's magnitudes by asinh magnitudes (module doc)."""
    from photcat.catalogs.bands import band
    from photcat.catalogs.validate import FLUX_KEEPS, asinh_mag

    for k, b in enumerate(bands):
        soft = band(b).asinh_b
        if soft is None:
            continue
        f = np.where(good[:, k], 10.0 ** (-0.4 * np.where(good[:, k], mags[:, k], 0.0)), np.nan)
        e = f * errs[:, k] / 1.0857362047581294
        if f"flux_{b}" in table.columns and f"fluxerr_{b}" in table.columns:
            tf = pd.to_numeric(table[f"flux_{b}"], errors="coerce").to_numpy(float, na_value=np.nan)
            te = pd.to_numeric(table[f"fluxerr_{b}"], errors="coerce").to_numpy(
                float, na_value=np.nan
            )
            with np.errstate(invalid="ignore"):  # NaN error: a catalogue without errors
                ok = np.isfinite(tf) & (np.isnan(te) | (te > 0)) & ((flag[:, k] & ~FLUX_KEEPS) == 0)
            f = np.where(ok, tf, f)
            e = np.where(ok, te, e)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(f) & (np.isnan(e) | (e >= 0))  # NaN: a catalogue without errors
        mu, sig = asinh_mag(np.where(ok, f, 0.0), np.where(ok, e, np.nan), soft)
        mags[:, k] = np.where(ok, mu, np.nan)
        errs[:, k] = np.where(ok, sig, np.nan)
        good[:, k] = ok


def build(table: Any, spec: FeatureSpec) -> Features:
    """Build the features that ``spec`` describes from a canonical table (see module doc)."""
    table = _table(table)
    if spec.flag_policy == "impute" and spec.limits is None:
        raise ValueError(
            "flag_policy 'impute' needs survey limits: call spec.with_limits(training_table) "
            "first (the limits are then saved with the spec)"
        )
    mags, errs, good = _read_bands(table, spec.bands, spec.magnitudes)
    if spec.include_errors:  # error features need errors: a band without one is missing
        good &= np.isfinite(errs)
        mags[~good], errs[~good] = np.nan, np.nan
    n = len(table)
    n_good = good.sum(axis=1)
    any_missing = ~good.all(axis=1)
    idx = {b: k for k, b in enumerate(spec.bands)}

    flags = np.zeros(n, dtype=np.uint16)
    flags[any_missing] |= ff.BAND_MISSING
    too_few = n_good < min(spec.min_bands, len(spec.bands))
    flags[too_few] |= ff.TOO_FEW_BANDS
    if spec.reference_band is not None:
        flags[~good[:, idx[spec.reference_band]]] |= ff.REFERENCE_MISSING

    if spec.flag_policy == "impute":
        lim = np.array([dict(spec.limits)[b] for b in spec.bands])
        mags = np.where(good, mags, lim[None, :])
        errs = np.where(good, errs, spec.imputed_error)
        flags[any_missing] |= ff.IMPUTED
        usable = ~too_few
    elif spec.flag_policy == "mask":
        flags[any_missing] |= ff.MASKED
        usable = ~too_few
    else:  # drop
        flags[any_missing] |= ff.DROPPED
        usable = ~any_missing & ~too_few

    cols, col_err = [], []
    for a, b in spec.colour_pairs:
        cols.append(mags[:, idx[a]] - mags[:, idx[b]])
        col_err.append(np.hypot(errs[:, idx[a]], errs[:, idx[b]]))
    if spec.reference_band is not None:
        cols.append(mags[:, idx[spec.reference_band]])
        col_err.append(errs[:, idx[spec.reference_band]])
    morph_missing = np.zeros(n, dtype=bool)
    for b in spec.morphology:
        if f"psf_model_{b}" not in table.columns:
            raise KeyError(
                f"the model uses the PSF − model magnitude of band {b!r} (psf-model_{b}), and "
                f"the catalogue has none: it needs both the PSF and the model magnitude of "
                f"{b} (SDSS psfMag_{b}, modelMag_{b})"
            )
        v = pd.to_numeric(table[f"psf_model_{b}"], errors="coerce").to_numpy(float, na_value=np.nan)
        morph_missing |= ~np.isfinite(v)
        cols.append(np.where(np.isfinite(v), v, 0.0))
        col_err.append(np.zeros(n))
    flags[morph_missing] |= ff.MORPHOLOGY_MISSING
    usable &= ~morph_missing
    X = np.column_stack(cols)
    E = np.column_stack(col_err)
    masked = None
    if spec.flag_policy == "mask":
        masked = np.isnan(X)
        X = np.nan_to_num(X, nan=0.0)
        E = np.nan_to_num(E, nan=0.0)
    blocks, eblocks = [X], [E]
    if spec.include_errors:
        blocks.append(E)
        eblocks.append(np.zeros_like(E))
    if spec.include_errors and masked is not None:
        masked = np.hstack([masked, masked])
    if spec.flag_policy == "mask":
        blocks.append((~good).astype(float))
        eblocks.append(np.zeros((n, len(spec.bands))))
        masked = np.hstack([masked, np.zeros((n, len(spec.bands)), bool)])
    X = np.hstack(blocks).astype(np.float32)
    E = np.hstack(eblocks).astype(np.float32)

    counts = {"rows": n, "usable": int(usable.sum())}
    counts.update({f"missing_{b}": int((~good[:, k]).sum()) for k, b in enumerate(spec.bands)})
    counts.update(ff.count_reasons(flags, ff.FEATURE_REASONS))
    return Features(
        X=X,
        names=spec.feature_names,
        errors=E,
        usable=usable,
        flags=flags,
        spec=spec,
        counts=counts,
        masked=masked,
    )
