"""Per-band and per-object quality flags: bit values and their reason names.

A flagged value is replaced by NaN in the canonical table; the bit says why. Flags are
uint16 bitmasks, 0 = good. One bit per reason so counts per reason stay exact.
"""

from __future__ import annotations

import numpy as np

# Per-band bits (flag_<band>)
MISSING = 1 << 0  # NaN, empty, or a "no data" value (e.g. 2MASS 0)
NONFINITE = 1 << 1  # +/- inf
SENTINEL = 1 << 2  # -9999, -99, 99, 999 style placeholders
FAINT = 1 << 3  # magnitude fainter than MAG_MAX or brighter than MAG_MIN
NONPOSITIVE_FLUX = 1 << 4  # flux <= 0 (flux-form inputs)
ERR_HUGE = 1 << 5  # magnitude error > 5 mag
ERR_NEGATIVE = 1 << 6  # negative error (or non-positive inverse variance)
ERR_INVALID = 1 << 7  # error NaN/inf/sentinel while the magnitude is fine
NONNUMERIC = 1 << 8  # a text value where a number was expected

# Redshift bits (flag_zspec)
Z_MISSING = 1 << 0
Z_NEGATIVE = 1 << 1  # z_spec < 0 (stars/failures use sentinels like -1, -99)
Z_NONNUMERIC = 1 << 8

BAND_REASONS: dict[str, int] = {
    "missing": MISSING,
    "nonfinite": NONFINITE,
    "sentinel": SENTINEL,
    "faint_or_absurd_mag": FAINT,
    "nonpositive_flux": NONPOSITIVE_FLUX,
    "error_above_5mag": ERR_HUGE,
    "error_negative": ERR_NEGATIVE,
    "error_invalid": ERR_INVALID,
    "nonnumeric": NONNUMERIC,
}
Z_REASONS: dict[str, int] = {
    "z_missing": Z_MISSING,
    "z_negative": Z_NEGATIVE,
    "z_nonnumeric": Z_NONNUMERIC,
}

SENTINEL_VALUES: tuple[float, ...] = (-9999.0, -999.0, -99.0, 99.0, 999.0, 9999.0)
# No catalogue reaches 31 AB mag (the deepest HST fields stop near 30): fainter values are
# placeholders, like the g = 32-36 mag, error 0.001 rows of the ANNz SDSS example files.
MAG_MAX = 31.0
MAG_MIN = -5.0
ERR_MAX = 5.0


def reasons(flag: int, table: dict[str, int] = BAND_REASONS) -> list[str]:
    """Names of the reasons set in one flag value."""
    return [name for name, bit in table.items() if flag & bit]


def describe(flags: np.ndarray, table: dict[str, int] = BAND_REASONS) -> np.ndarray:
    """Comma-separated reason names for an array of flags (vectorised over unique values)."""
    flags = np.asarray(flags)
    uniq, inv = np.unique(flags, return_inverse=True)
    text = np.array([",".join(reasons(int(f), table)) for f in uniq], dtype=object)
    return text[inv].reshape(flags.shape)


# object_class column of the canonical table (uint8), from the catalogue's own object-type
# columns: a spectroscopic class (SDSS `class`: GALAXY / STAR / QSO) wins over a photometric
# type (SDSS `type`: 3 = galaxy, 6 = star; https://www.sdss.org/dr17/algorithms/classify/)
OBJECT_CLASSES: dict[str, int] = {"unknown": 0, "galaxy": 1, "star": 2, "qso": 3}
SDSS_PHOTO_TYPES: dict[int, str] = {3: "galaxy", 6: "star"}
