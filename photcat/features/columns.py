"""Features taken as they are from columns a catalogue already has (e.g. rest-frame colours).

:class:`ColumnSpec` is the counterpart of :class:`~photcat.features.spec.FeatureSpec` for
``photcat train --features UV,VJ,z``: it names the columns, saves with the model, and rebuilds
the same matrix at prediction time. Values that are NaN, inf or a sentinel (−99, 99, −9999…)
make the row unusable (flag ``BAND_MISSING``), never a number the model sees.
:func:`spec_from_dict` rebuilds either kind of specification from a saved model's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from photcat.catalogs.flags import SENTINEL_VALUES
from photcat.features import flags as ff
from photcat.features.spec import SPEC_FORMAT, Features, FeatureSpec

COLUMN_SPEC_FORMAT = "photcat.ColumnSpec/1"


@dataclass(frozen=True)
class ColumnSpec:
    """Feature matrix = the named numeric columns, in order."""

    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        cols = tuple(str(c) for c in self.columns)
        if not cols:
            raise ValueError("ColumnSpec needs at least one column")
        if len(set(cols)) != len(cols):
            raise ValueError(f"ColumnSpec columns repeat: {cols}")
        object.__setattr__(self, "columns", cols)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.columns

    def to_dict(self) -> dict[str, Any]:
        return {"format": COLUMN_SPEC_FORMAT, "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnSpec:
        if d.get("format") != COLUMN_SPEC_FORMAT:
            raise ValueError(f"not a ColumnSpec dict: format {d.get('format')!r}")
        return cls(tuple(d["columns"]))

    def build(self, table: Any) -> Features:
        """Feature matrix from ``table`` (DataFrame or Catalog); a clear error for absent columns."""
        table = getattr(table, "table", table)
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise KeyError(
                f"table lacks feature column(s) {missing}; columns present: {list(table.columns)[:30]}"
            )
        X = (
            np.column_stack(
                [
                    pd.to_numeric(table[c], errors="coerce").to_numpy(float, na_value=np.nan)
                    for c in self.columns
                ]
            )
            if len(self.columns)
            else np.empty((len(table), 0))
        )
        bad = ~np.isfinite(X) | np.isin(X, SENTINEL_VALUES)
        usable = ~bad.any(axis=1)
        X = np.where(bad, np.nan, X).astype(np.float32)
        flags = np.where(usable, 0, ff.BAND_MISSING | ff.DROPPED).astype(np.uint16)
        counts = {"rows": len(table), "usable": int(usable.sum())}
        counts.update({f"missing_{c}": int(bad[:, k].sum()) for k, c in enumerate(self.columns)})
        return Features(
            X=X,
            names=self.columns,
            errors=np.zeros_like(X),
            usable=usable,
            flags=flags,
            spec=self,  # type: ignore[arg-type]
            counts=counts,
        )


def spec_from_dict(d: dict[str, Any]) -> FeatureSpec | ColumnSpec:
    """The feature specification saved in a model manifest, whichever kind it is."""
    fmt = d.get("format", SPEC_FORMAT)
    if fmt == COLUMN_SPEC_FORMAT:
        return ColumnSpec.from_dict(d)
    return FeatureSpec.from_dict(d)
