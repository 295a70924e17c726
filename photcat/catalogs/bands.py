"""Photometric bands known to photcat: the single source of truth for band facts.

Effective wavelengths are in Angstrom; ``vega_to_ab`` is m_AB − m_Vega in mag for bands whose
catalogues are usually Vega (2MASS: Blanton & Roweis 2007; WISE: Jarrett et al. 2011).
``kcorrect_response`` names the filter curve shipped with the kcorrect package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    name: str
    survey: str
    wavelength: float  # effective wavelength, Angstrom
    kcorrect_response: str | None
    vega_to_ab: float = 0.0  # m_AB - m_Vega, mag


BANDS: dict[str, Band] = {
    b.name: b
    for b in (
        Band("u", "SDSS", 3551.0, "sdss_u0"),
        Band("g", "SDSS", 4686.0, "sdss_g0"),
        Band("r", "SDSS", 6166.0, "sdss_r0"),
        Band("i", "SDSS", 7480.0, "sdss_i0"),
        Band("z", "SDSS", 8932.0, "sdss_z0"),
        Band("y", "DECam", 9880.0, "decam_Y"),
        Band("j", "2MASS", 12350.0, "twomass_J", 0.91),
        Band("h", "2MASS", 16620.0, "twomass_H", 1.39),
        Band("ks", "2MASS", 21590.0, "twomass_Ks", 1.85),
        Band("w1", "WISE", 33526.0, "wise_w1", 2.699),
        Band("w2", "WISE", 46028.0, "wise_w2", 3.339),
    )
}

SDSS_BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")
TWOMASS_BANDS: tuple[str, ...] = ("j", "h", "ks")


def band(name: str) -> Band:
    """The :class:`Band` called ``name`` (case-insensitive); a clear error for unknown bands."""
    key = name.lower()
    if key not in BANDS:
        raise KeyError(f"unknown band {name!r}; known bands: {', '.join(BANDS)}")
    return BANDS[key]


def sort_bands(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Band names ordered blue to red by effective wavelength."""
    return tuple(sorted((n.lower() for n in names), key=lambda n: band(n).wavelength))
