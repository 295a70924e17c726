"""Units and descriptions of canonical and value-added columns: one place for both.

``unit_for`` answers by exact name, then by prefix; columns it does not know keep the unit
they had in the input file (or none).
"""

from __future__ import annotations

EXACT: dict[str, tuple[str | None, str]] = {
    "object_id": (None, "object identifier (input id, or row index in the input file)"),
    "ra": ("deg", "right ascension (J2000)"),
    "dec": ("deg", "declination (J2000)"),
    "z_spec": ("", "spectroscopic redshift"),
    "flag_zspec": (None, "redshift flag bits (photcat.catalogs.flags.Z_REASONS)"),
    "photoz_mean": ("", "photometric redshift: mean of the PDF"),
    "photoz_std": ("", "photometric redshift: standard deviation of the PDF"),
    "photoz_q16": ("", "photometric redshift: 16th percentile"),
    "photoz_q50": ("", "photometric redshift: median"),
    "photoz_q84": ("", "photometric redshift: 84th percentile"),
    "photoz_pdf": (
        "",
        "photo-z PDF (truncated at z = 0) as the probability of each cell of the grid in "
        "the PZGRID header / metadata (cells between midpoints, the first open below, the "
        "last open above; each row sums to 1; values below 2**-24 of the row's largest "
        "stored as 0)",
    ),
    "photoz_weights": ("", "photo-z mixture component weights"),
    "photoz_means": ("", "photo-z mixture component means"),
    "photoz_stds": ("", "photo-z mixture component standard deviations"),
    "p_quiescent": ("", "probability that the galaxy is quiescent"),
    "uv": ("mag", "rest-frame U - V colour (AB)"),
    "vj": ("mag", "rest-frame V - J colour (AB)"),
    "uvj_quiescent": (None, "UVJ label: 1 quiescent, 0 star-forming, -1 not computed"),
    "uvj_z": ("", "redshift of the rest-frame fit: z_spec when usable, else photoz_q50"),
    "split": (None, "training-set role of the row: train, valid, test, or empty"),
    "flag_photcat": (None, "photcat prediction flag bits (see the catalogue header)"),
}
PREFIXES: dict[str, tuple[str | None, str]] = {
    "mag_": ("mag", "AB magnitude, Galactic-extinction corrected when extinction was given"),
    "magerr_": ("mag", "1-sigma magnitude error"),
    "extinction_": ("mag", "Galactic extinction"),
    "fluxerr_": ("", "1-sigma error of flux_<band> (maggies)"),
    "flux_": (
        "",
        "flux in maggies (f/f0, AB; extinction and AB offsets applied like mag_), kept for "
        "zero and negative measurements",
    ),
    "flag_": (None, "band flag bits (photcat.catalogs.flags.BAND_REASONS)"),
    "rest_": ("mag", "rest-frame absolute magnitude (AB)"),
}


def unit_for(name: str, fallback: str | None = None) -> str | None:
    """Unit string for a column (``""`` = dimensionless, None = no unit), else ``fallback``."""
    if name in EXACT:
        return EXACT[name][0]
    for prefix, (unit, _) in PREFIXES.items():
        if name.startswith(prefix):
            return unit
    return fallback


def description(name: str) -> str:
    """One-line description of a column, or an empty string."""
    if name in EXACT:
        return EXACT[name][1]
    for prefix, (_, text) in PREFIXES.items():
        if name.startswith(prefix):
            return f"{text} ({name[len(prefix) :]})"
    return ""
