"""Per-object flag bits set by photcat.features (uint16, 0 = clean). One bit per reason.

Feature matrix (``Features.flags``):

* ``BAND_MISSING`` – at least one band of the spec is flagged/NaN in the table
* ``IMPUTED`` – a missing band was set to its survey limit (policy "impute")
* ``MASKED`` – a missing band was zeroed and marked in a mask column (policy "mask")
* ``DROPPED`` – row not usable under policy "drop" (a band is missing)
* ``TOO_FEW_BANDS`` – fewer good bands than ``FeatureSpec.min_bands``: never usable
* ``REFERENCE_MISSING`` – the reference-magnitude band is missing
* ``MORPHOLOGY_MISSING`` – a PSF − model magnitude of the spec is missing: never usable

Rest-frame fit (``restframe_flag``):

* ``RF_NO_REDSHIFT`` – redshift NaN/absent; ``RF_Z_OUT_OF_RANGE`` – z ≤ 0 or beyond the
  template grid; ``RF_TOO_FEW_BANDS`` – fewer good bands than needed; ``RF_FIT_FAILED`` – the
  non-negative fit gave no positive rest-frame flux. Any of these: colours are NaN.
* ``RF_U_EXTRAPOLATED`` / ``RF_V_EXTRAPOLATED`` / ``RF_J_EXTRAPOLATED`` – no good observed band
  reaches that rest-frame band at the object's redshift: the colour is a template
  extrapolation (values kept).
"""

from __future__ import annotations

import numpy as np

from photcat.catalogs.flags import describe as _describe

BAND_MISSING = 1 << 0
IMPUTED = 1 << 1
MASKED = 1 << 2
DROPPED = 1 << 3
TOO_FEW_BANDS = 1 << 4
REFERENCE_MISSING = 1 << 5
MORPHOLOGY_MISSING = 1 << 6  # a PSF − model magnitude of the spec is missing: not usable

FEATURE_REASONS: dict[str, int] = {
    "band_missing": BAND_MISSING,
    "imputed": IMPUTED,
    "masked": MASKED,
    "dropped": DROPPED,
    "too_few_bands": TOO_FEW_BANDS,
    "reference_missing": REFERENCE_MISSING,
    "morphology_missing": MORPHOLOGY_MISSING,
}

RF_NO_REDSHIFT = 1 << 0
RF_Z_OUT_OF_RANGE = 1 << 1
RF_TOO_FEW_BANDS = 1 << 2
RF_FIT_FAILED = 1 << 3
RF_U_EXTRAPOLATED = 1 << 4
RF_V_EXTRAPOLATED = 1 << 5
RF_J_EXTRAPOLATED = 1 << 6

RF_BAD = RF_NO_REDSHIFT | RF_Z_OUT_OF_RANGE | RF_TOO_FEW_BANDS | RF_FIT_FAILED
RF_EXTRAPOLATED = RF_U_EXTRAPOLATED | RF_V_EXTRAPOLATED | RF_J_EXTRAPOLATED

RESTFRAME_REASONS: dict[str, int] = {
    "no_redshift": RF_NO_REDSHIFT,
    "redshift_out_of_range": RF_Z_OUT_OF_RANGE,
    "too_few_bands": RF_TOO_FEW_BANDS,
    "fit_failed": RF_FIT_FAILED,
    "U_extrapolated": RF_U_EXTRAPOLATED,
    "V_extrapolated": RF_V_EXTRAPOLATED,
    "J_extrapolated": RF_J_EXTRAPOLATED,
}


def count_reasons(flags: np.ndarray, table: dict[str, int]) -> dict[str, int]:
    """Number of objects with each reason bit set."""
    flags = np.asarray(flags)
    return {name: int(np.count_nonzero(flags & bit)) for name, bit in table.items()}


def describe(flags: np.ndarray, table: dict[str, int]) -> np.ndarray:
    """Comma-separated reason names per object."""
    return _describe(flags, table)
