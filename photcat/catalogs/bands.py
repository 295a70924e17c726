"""Photometric bands known to photcat: the single source of truth for band facts.

Effective wavelengths are in Angstrom. ``kcorrect_response`` names the filter curve shipped
with the kcorrect package. Sources (see ``docs/photometry.md``):

- ``vega_to_ab`` (m_AB − m_Vega, mag): 2MASS J, H, Ks 0.902, 1.380, 1.847 as kcorrect 5.1.9
  computes them from its filter curves and Vega model (``kcorrect.response.Response.vega2ab``:
  0.90169, 1.38032, 1.84730; its test suite asserts Ks 1.84730), the curves photcat's
  rest-frame fit uses; WISE W1, W2 2.699, 3.339 (Jarrett et al. 2011).
- ``a_ebv`` (A_band / E(B−V), R_V = 3.1): Schlegel, Finkbeiner & Davis (1998) Table 6, the
  coefficients SDSS's ``extinction_<b>`` columns are computed with (u 5.155, g 3.793,
  r 2.751, i 2.086, z 1.479) and those kcorrect's ``k_plot_test_gst`` applies to 2MASS
  (0.902, 0.576, 0.367: SFD98's UKIRT J, H, K rows; its 2MASS rows are 0.937, 0.591, 0.382,
  a difference of ≤ 0.035 × E(B−V) mag).
- ``asinh_b``: SDSS asinh-magnitude softening (flux in units of f0, Lupton et al. 1999; SDSS
  EDR paper Table 21; kcorrect ``utils.sdss_asinh_to_maggies``).
- :data:`SDSS_AB_OFFSETS`: m_AB − m_SDSS of SDSS 2.5 m photometry (D. Eisenstein,
  sdss-calib/1152, as applied by kcorrect ``utils.sdss_ab_correct``).
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
    a_ebv: float | None = None  # A_band / E(B-V), SFD98 (R_V = 3.1)
    asinh_b: float | None = None  # SDSS asinh softening, flux in units of f0 (3631 Jy)


BANDS: dict[str, Band] = {
    b.name: b
    for b in (
        Band("u", "SDSS", 3551.0, "sdss_u0", a_ebv=5.155, asinh_b=1.4e-10),
        Band("g", "SDSS", 4686.0, "sdss_g0", a_ebv=3.793, asinh_b=0.9e-10),
        Band("r", "SDSS", 6166.0, "sdss_r0", a_ebv=2.751, asinh_b=1.2e-10),
        Band("i", "SDSS", 7480.0, "sdss_i0", a_ebv=2.086, asinh_b=1.8e-10),
        Band("z", "SDSS", 8932.0, "sdss_z0", a_ebv=1.479, asinh_b=7.4e-10),
        Band("y", "DECam", 9880.0, "decam_Y"),
        Band("j", "2MASS", 12350.0, "twomass_J", 0.902, a_ebv=0.902),
        Band("h", "2MASS", 16620.0, "twomass_H", 1.380, a_ebv=0.576),
        Band("ks", "2MASS", 21590.0, "twomass_Ks", 1.847, a_ebv=0.367),
        Band("w1", "WISE", 33526.0, "wise_w1", 2.699),
        Band("w2", "WISE", 46028.0, "wise_w2", 3.339),
    )
}

SDSS_BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")
# m_AB - m_SDSS for SDSS 2.5 m ugriz (added to catalogue magnitudes)
SDSS_AB_OFFSETS: dict[str, float] = {"u": -0.036, "g": 0.012, "r": 0.010, "i": 0.028, "z": 0.040}
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
