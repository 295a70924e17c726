"""Photometric bands known to photcat: the single source of truth for band facts.

A band has a survey-qualified identifier (``sdss_u``, ``lsst_g``, ``decam_z``, ``hsc_i``,
``ps1_y``, ``ukidss_k``, ``vista_ks``, ``wise_w1``, ``galex_nuv``, …) and a canonical *name*,
used in canonical column names (``mag_<name>``): the short names photcat has always used
(``u g r i z`` = SDSS, ``y`` = DECam Y, ``j h ks`` = 2MASS, ``w1 w2`` = WISE) for those bands,
the identifier for every other band. :func:`band` and :func:`canonical_name` accept either.
Bands the registry lacks are declared with :func:`register_band` (a schema's ``band_info``);
photo-z and classifiers need no facts about a band at all, only its columns.

Facts (docs/photometry.md, "Band registry", lists each source):

- ``wavelength``: effective wavelength in Angstrom. The bands photcat had before the open
  registry keep the values it always used (SDSS u–z 3551–8932, DECam Y 9880, 2MASS 12350,
  16620, 21590, WISE 33526, 46028), so that rest-frame extrapolation flags do not move; every
  other band with a curve has exp(∫ ln λ R dλ/λ / ∫ R dλ/λ), kcorrect's definition, computed
  from that curve by the trapezoid rule over λ (kcorrect 5.1.9's own ``lambda_eff`` passes
  the trapezoid's arguments the other way round and is off by up to 5 %, MegaCam z) (tests/test_band_registry.py recomputes all of them: the old values are
  within 1.3 % of it); bands without a curve an approximate value used only for ordering.
- ``curve``: the filter curve of the rest-frame fit, ``"kcorrect:<name>"`` (a curve shipped
  with kcorrect 5.1.9), ``"speclite:<name>"`` (shipped with speclite 1.0) or a file path
  (two columns: wavelength in Angstrom, response); None = no curve known.
- ``vega_to_ab`` (m_AB − m_Vega, mag), only where the survey publishes Vega magnitudes:
  2MASS J, H, Ks 0.902, 1.380, 1.847 and UKIRT WFCAM Z, Y, J, H, K 0.529, 0.635, 0.934, 1.380,
  1.909 as kcorrect 5.1.9 computes them from these curves and its Vega model
  (``kcorrect.response.Response.vega2ab``); WISE W1–W4 2.699, 3.339, 5.174, 6.620 (Jarrett et
  al. 2011; W3, W4 quoted from memory, not re-read: docs/photometry.md). None = no offset known: a "Vega" magnitude in that band is refused.
- ``a_ebv`` (A_band / E(B−V), R_V = 3.1): Schlegel, Finkbeiner & Davis (1998) Table 6, the
  coefficients SDSS's ``extinction_<b>`` columns are computed with (u 5.155, g 3.793,
  r 2.751, i 2.086, z 1.479) and those kcorrect's ``k_plot_test_gst`` applies to 2MASS
  (0.902, 0.576, 0.367). None elsewhere: such a band is corrected only from an extinction
  (or Milky Way transmission) column of the catalogue.
- ``asinh_b``: SDSS asinh-magnitude softening (flux in units of f0, Lupton et al. 1999; SDSS
  EDR paper Table 21; kcorrect ``utils.sdss_asinh_to_maggies``).
- :data:`SDSS_AB_OFFSETS`: m_AB − m_SDSS of SDSS 2.5 m photometry (D. Eisenstein,
  sdss-calib/1152, as applied by kcorrect ``utils.sdss_ab_correct``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    """One photometric band (module docstring for each fact and its source)."""

    name: str  # canonical name: mag_<name> in canonical tables
    ident: str  # survey-qualified identifier, e.g. "sdss_u"
    survey: str
    wavelength: float  # effective wavelength, Angstrom
    curve: str | None = None  # "kcorrect:<name>", "speclite:<name>", a file path, or None
    vega_to_ab: float | None = None  # m_AB - m_Vega, mag; None = not a Vega survey / unknown
    a_ebv: float | None = None  # A_band / E(B-V), SFD98 (R_V = 3.1)
    asinh_b: float | None = None  # SDSS asinh softening, flux in units of f0 (3631 Jy)

    @property
    def kcorrect_response(self) -> str | None:
        """The name of the band's curve in kcorrect's response directory, if it is one."""
        if self.curve and self.curve.startswith("kcorrect:"):
            return self.curve.split(":", 1)[1]
        return None


def _k(name, ident, survey, wl, curve, **kw) -> Band:
    return Band(name, ident, survey, wl, f"kcorrect:{curve}", **kw)


def _s(ident, survey, wl, curve, **kw) -> Band:
    return Band(ident, ident, survey, wl, f"speclite:{curve}", **kw)


def _n(ident, survey, wl, **kw) -> Band:  # no curve in kcorrect or speclite
    return Band(ident, ident, survey, wl, None, **kw)


_REGISTRY: tuple[Band, ...] = (
    # SDSS 2.5 m (short names u g r i z)
    _k("u", "sdss_u", "SDSS", 3551.0, "sdss_u0", a_ebv=5.155, asinh_b=1.4e-10),
    _k("g", "sdss_g", "SDSS", 4686.0, "sdss_g0", a_ebv=3.793, asinh_b=0.9e-10),
    _k("r", "sdss_r", "SDSS", 6166.0, "sdss_r0", a_ebv=2.751, asinh_b=1.2e-10),
    _k("i", "sdss_i", "SDSS", 7480.0, "sdss_i0", a_ebv=2.086, asinh_b=1.8e-10),
    _k("z", "sdss_z", "SDSS", 8932.0, "sdss_z0", a_ebv=1.479, asinh_b=7.4e-10),
    # DECam (DES, DECaLS); "y" keeps its old meaning, DECam Y
    _k("decam_u", "decam_u", "DECam", 3809.0, "decam_u"),
    _k("decam_g", "decam_g", "DECam", 4771.0, "decam_g"),
    _k("decam_r", "decam_r", "DECam", 6392.0, "decam_r"),
    _k("decam_i", "decam_i", "DECam", 7789.0, "decam_i"),
    _k("decam_z", "decam_z", "DECam", 9149.0, "decam_z"),
    _k("y", "decam_y", "DECam", 9880.0, "decam_Y"),
    # Legacy Surveys north: BASS g, r and MzLS z
    _k("bass_g", "bass_g", "BASS", 4721.0, "bass_g"),
    _k("bass_r", "bass_r", "BASS", 6370.0, "bass_r"),
    _k("mzls_z", "mzls_z", "MzLS", 9179.0, "mzls_z"),
    # Rubin/LSST (speclite lsst2023), HSC (hsc2017), Pan-STARRS1 (panstarrs)
    _s("lsst_u", "LSST", 3704.0, "lsst2023-u"),
    _s("lsst_g", "LSST", 4747.0, "lsst2023-g"),
    _s("lsst_r", "LSST", 6180.0, "lsst2023-r"),
    _s("lsst_i", "LSST", 7529.0, "lsst2023-i"),
    _s("lsst_z", "LSST", 8662.0, "lsst2023-z"),
    _s("lsst_y", "LSST", 9731.0, "lsst2023-y"),
    _s("hsc_g", "HSC", 4755.0, "hsc2017-g"),
    _s("hsc_r", "HSC", 6184.0, "hsc2017-r"),
    _s("hsc_i", "HSC", 7661.0, "hsc2017-i"),
    _s("hsc_z", "HSC", 8897.0, "hsc2017-z"),
    _s("hsc_y", "HSC", 9762.0, "hsc2017-y"),
    _s("ps1_g", "Pan-STARRS1", 4814.0, "panstarrs-g"),
    _s("ps1_r", "Pan-STARRS1", 6174.0, "panstarrs-r"),
    _s("ps1_i", "Pan-STARRS1", 7516.0, "panstarrs-i"),
    _s("ps1_z", "Pan-STARRS1", 8664.0, "panstarrs-z"),
    _s("ps1_y", "Pan-STARRS1", 9617.0, "panstarrs-y"),
    # CFHT MegaCam (CFHTLS, CFIS)
    _k("megacam_u", "megacam_u", "CFHT", 3806.0, "cfht_megacam_u"),
    _k("megacam_g", "megacam_g", "CFHT", 4834.0, "cfht_megacam_g"),
    _k("megacam_r", "megacam_r", "CFHT", 6234.0, "cfht_megacam_r"),
    _k("megacam_i", "megacam_i", "CFHT", 7659.0, "cfht_megacam_i"),
    _k("megacam_z", "megacam_z", "CFHT", 8820.0, "cfht_megacam_z"),
    # KiDS (VST OmegaCAM) and VISTA (VIKING, VHS): no curve in kcorrect or speclite;
    # approximate wavelengths, for ordering only
    _n("kids_u", "KiDS", 3550.0),
    _n("kids_g", "KiDS", 4775.0),
    _n("kids_r", "KiDS", 6230.0),
    _n("kids_i", "KiDS", 7630.0),
    _n("vista_z", "VISTA", 8780.0),
    _n("vista_y", "VISTA", 10200.0),
    _n("vista_j", "VISTA", 12500.0),
    _n("vista_h", "VISTA", 16400.0),
    _n("vista_ks", "VISTA", 21500.0),
    # UKIRT WFCAM (UKIDSS), Vega system
    _k("ukidss_z", "ukidss_z", "UKIDSS", 8804.0, "ukirt_wfcam_Z", vega_to_ab=0.529),
    _k("ukidss_y", "ukidss_y", "UKIDSS", 10354.0, "ukirt_wfcam_Y", vega_to_ab=0.635),
    _k("ukidss_j", "ukidss_j", "UKIDSS", 12529.0, "ukirt_wfcam_J", vega_to_ab=0.934),
    _k("ukidss_h", "ukidss_h", "UKIDSS", 16427.0, "ukirt_wfcam_H", vega_to_ab=1.380),
    _k("ukidss_k", "ukidss_k", "UKIDSS", 22286.0, "ukirt_wfcam_K", vega_to_ab=1.909),
    # 2MASS (short names j h ks), Vega system
    _k("j", "twomass_j", "2MASS", 12350.0, "twomass_J", vega_to_ab=0.902, a_ebv=0.902),
    _k("h", "twomass_h", "2MASS", 16620.0, "twomass_H", vega_to_ab=1.380, a_ebv=0.576),
    _k("ks", "twomass_ks", "2MASS", 21590.0, "twomass_Ks", vega_to_ab=1.847, a_ebv=0.367),
    # WISE (short names w1 w2), Vega system
    _k("w1", "wise_w1", "WISE", 33526.0, "wise_w1", vega_to_ab=2.699),
    _k("w2", "wise_w2", "WISE", 46028.0, "wise_w2", vega_to_ab=3.339),
    _k("wise_w3", "wise_w3", "WISE", 115531.0, "wise_w3", vega_to_ab=5.174),
    _k("wise_w4", "wise_w4", "WISE", 220782.0, "wise_w4", vega_to_ab=6.620),
    # GALEX, Euclid
    _k("galex_fuv", "galex_fuv", "GALEX", 1528.0, "galex_FUV"),
    _k("galex_nuv", "galex_nuv", "GALEX", 2271.0, "galex_NUV"),
    _s("euclid_vis", "Euclid", 7074.0, "Euclid-VIS"),
    _s("euclid_y", "Euclid", 10746.0, "Euclid-Y"),
    _s("euclid_j", "Euclid", 13537.0, "Euclid-J"),
    _s("euclid_h", "Euclid", 17561.0, "Euclid-H"),
)

BANDS: dict[str, Band] = {b.name: b for b in _REGISTRY}
_BY_IDENT: dict[str, str] = {b.ident: b.name for b in _REGISTRY}
_USER: dict[str, Band] = {}  # bands declared at run time (register_band)

SDSS_BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")
# m_AB - m_SDSS for SDSS 2.5 m ugriz (added to catalogue magnitudes)
SDSS_AB_OFFSETS: dict[str, float] = {"u": -0.036, "g": 0.012, "r": 0.010, "i": 0.028, "z": 0.040}
TWOMASS_BANDS: tuple[str, ...] = ("j", "h", "ks")


def _lookup(name: str) -> Band | None:
    key = str(name).strip().lower()
    key = _BY_IDENT.get(key, key)
    return BANDS.get(key) or _USER.get(key)


def band(name: str) -> Band:
    """The :class:`Band` called ``name`` or with identifier ``name`` (case-insensitive)."""
    found = _lookup(name)
    if found is None:
        raise KeyError(
            f"unknown band {name!r}; known: {', '.join(known_names())}. Declare a band of "
            "your own in the schema's band_info (its wavelength in Angstrom; a filter curve "
            "file only for the rest-frame fit)"
        )
    return found


def is_known(name: str) -> bool:
    """True if ``name`` is a registered band name or identifier."""
    return _lookup(name) is not None


def canonical_name(name: str) -> str:
    """The canonical name of a band (``sdss_u`` → ``u``); unknown names lower-cased."""
    found = _lookup(name)
    return found.name if found is not None else str(name).strip().lower()


def known_names() -> list[str]:
    """Every registered band name, blue to red."""
    return [b.name for b in sorted((*BANDS.values(), *_USER.values()), key=lambda b: b.wavelength)]


def register_band(
    name: str,
    wavelength: float,
    *,
    curve: str | None = None,
    vega_to_ab: float | None = None,
    a_ebv: float | None = None,
    survey: str = "user",
) -> Band:
    """Declare a band the registry lacks (wavelength in Angstrom; ``curve`` a file with
    wavelength [Å] and response columns). Declaring a known name again with other facts is
    an error; with the same facts it is a no-op."""
    key = str(name).strip().lower()
    if not key.replace("_", "").isalnum():
        raise ValueError(f"band name {name!r}: use letters, digits and '_' only")
    if not float(wavelength) > 0:
        raise ValueError(f"band {name!r}: wavelength must be > 0 Angstrom, got {wavelength}")
    new = Band(key, key, survey, float(wavelength), curve, vega_to_ab, a_ebv)
    old = _lookup(key)
    if old is not None:
        if key in BANDS or key in _BY_IDENT:
            raise ValueError(f"band {name!r} is already known to photcat ({old.survey})")
        if old != new:
            raise ValueError(f"band {name!r} was declared before with other facts: {old}")
        return old
    _USER[key] = new
    return new


def user_band_facts(name: str) -> dict | None:
    """The facts of a band declared with :func:`register_band` (for provenance), else None."""
    b = _USER.get(canonical_name(name))
    if b is None:
        return None
    return {"wavelength": b.wavelength, "curve": b.curve, "vega_to_ab": b.vega_to_ab, "a_ebv": b.a_ebv}  # fmt: skip


def sort_bands(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Canonical band names ordered blue to red by effective wavelength."""
    return tuple(sorted((canonical_name(n) for n in names), key=lambda n: band(n).wavelength))
