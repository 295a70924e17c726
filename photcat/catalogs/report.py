"""The ingest report: what came in, what was flagged and why, what can be used.

Counts always add up: ``rows_in == rows_usable_prediction + rows_unusable_prediction`` and
``rows_usable_prediction == rows_usable_training + rows_prediction_only``. A row is usable for
prediction when at least ``min(DEFAULT_MIN_BANDS, required bands)`` of its required bands are
measured (good, or a non-detection kept as a flux: ``flux_<b>`` finite), as new models
predict it (:mod:`photcat.features.spec`); ``rows_all_required_good`` counts the rows with
every required band good.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from photcat.catalogs import flags as F


@dataclass
class IngestReport:
    source: str
    schema: str
    rows_in: int = 0
    required_bands: tuple[str, ...] = ()
    optional_bands: tuple[str, ...] = ()
    band_flags: dict[str, dict[str, int]] = field(default_factory=dict)  # band -> reason -> rows
    rows_flagged_by_reason: dict[str, int] = field(default_factory=dict)  # any required band
    rows_all_required_good: int = 0
    rows_usable_prediction: int = 0
    rows_unusable_prediction: int = 0
    rows_usable_training: int = 0
    rows_prediction_only: int = 0
    z_flags: dict[str, int] = field(default_factory=dict)
    has_redshift: bool = False
    duplicate_ids: int = 0
    extinction_corrected: bool = False

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        *,
        source: str,
        schema: str,
        required: tuple[str, ...],
        optional: tuple[str, ...],
        extinction_corrected: bool,
    ) -> IngestReport:
        """Count flags in a canonical table (vectorised over rows)."""
        n = len(table)
        rep = cls(
            source=source,
            schema=schema,
            rows_in=n,
            required_bands=tuple(required),
            optional_bands=tuple(optional),
            extinction_corrected=extinction_corrected,
        )
        from photcat.features.spec import DEFAULT_MIN_BANDS

        any_required = np.zeros(n, dtype=np.uint16)
        measured = np.zeros(n, dtype=np.int64)
        for b in (*required, *optional):
            fb = table[f"flag_{b}"].to_numpy()
            rep.band_flags[b] = {
                r: int(np.count_nonzero(fb & bit)) for r, bit in F.BAND_REASONS.items()
            }
            if b in required:
                any_required |= fb
                kept = fb == 0
                if f"flux_{b}" in table:
                    kept |= np.isfinite(table[f"flux_{b}"].to_numpy(dtype=float))
                measured += kept
        rep.rows_flagged_by_reason = {
            r: int(np.count_nonzero(any_required & bit)) for r, bit in F.BAND_REASONS.items()
        }
        rep.rows_all_required_good = int(np.count_nonzero(any_required == 0))
        usable = measured >= min(DEFAULT_MIN_BANDS, len(required))
        rep.rows_usable_prediction = int(usable.sum())
        rep.rows_unusable_prediction = n - rep.rows_usable_prediction
        if "flag_zspec" in table:
            rep.has_redshift = True
            fz = table["flag_zspec"].to_numpy()
            rep.z_flags = {r: int(np.count_nonzero(fz & bit)) for r, bit in F.Z_REASONS.items()}
            rep.rows_usable_training = int(np.count_nonzero(usable & (fz == 0)))
        rep.rows_prediction_only = rep.rows_usable_prediction - rep.rows_usable_training
        if "object_id" in table and n:
            rep.duplicate_ids = int(table["object_id"].duplicated().sum())
        rep.check()
        return rep

    def check(self) -> None:
        """Raise if the counts do not add up (a bug, never a data problem)."""
        if self.rows_usable_prediction + self.rows_unusable_prediction != self.rows_in:
            raise AssertionError(f"ingest counts do not add up: {self}")
        if self.rows_usable_training + self.rows_prediction_only != self.rows_usable_prediction:
            raise AssertionError(f"ingest counts do not add up: {self}")

    def merge(self, other: IngestReport) -> IngestReport:
        """Report for the union of two partitions of the same source."""
        out = IngestReport(**asdict(self))
        for k in (
            "rows_in",
            "rows_all_required_good",
            "rows_usable_prediction",
            "rows_unusable_prediction",
            "rows_usable_training",
            "rows_prediction_only",
            "duplicate_ids",  # within partitions only
        ):
            setattr(out, k, getattr(self, k) + getattr(other, k))
        out.band_flags = {
            b: {r: self.band_flags.get(b, {}).get(r, 0) + c for r, c in d.items()}
            for b, d in other.band_flags.items()
        } | {b: d for b, d in self.band_flags.items() if b not in other.band_flags}
        for name in ("rows_flagged_by_reason", "z_flags"):
            a, b = getattr(self, name), getattr(other, name)
            setattr(out, name, {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)})
        out.has_redshift = self.has_redshift or other.has_redshift
        out.check()
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        """Plain-text report for the terminal."""
        from photcat.features.spec import DEFAULT_MIN_BANDS

        lines = [
            f"ingest report: {self.source} (schema {self.schema})",
            f"  rows in:                   {self.rows_in:>10,}",
            f"  all bands good:            {self.rows_all_required_good:>10,}"
            f"  (all of {', '.join(self.required_bands)})",
            f"  usable for prediction:     {self.rows_usable_prediction:>10,}"
            f"  (at least {min(DEFAULT_MIN_BANDS, len(self.required_bands))} bands measured)",
            f"  not usable for prediction: {self.rows_unusable_prediction:>10,}",
            f"  usable for training:       {self.rows_usable_training:>10,}"
            + ("" if self.has_redshift else "  (no redshift column)"),
        ]
        if self.duplicate_ids:
            lines.append(f"  duplicated object ids:     {self.duplicate_ids:>10,}")
        flagged = {r: c for r, c in self.rows_flagged_by_reason.items() if c}
        if flagged:
            lines.append("  rows flagged (any required band), by reason:")
            lines += [f"    {r:<24} {c:>10,}" for r, c in flagged.items()]
        lines.append("  flags per band:")
        for b, d in self.band_flags.items():
            nz = ", ".join(f"{r}={c:,}" for r, c in d.items() if c) or "none"
            kind = "optional" if b in self.optional_bands else "required"
            lines.append(f"    {b:<3} ({kind}): {nz}")
        if self.has_redshift:
            nz = ", ".join(f"{r}={c:,}" for r, c in self.z_flags.items() if c) or "none"
            lines.append(f"  redshift flags: {nz}")
        lines.append(
            f"  Galactic extinction correction: {'applied' if self.extinction_corrected else 'not applied (no extinction columns)'}"
        )
        return "\n".join(lines)
