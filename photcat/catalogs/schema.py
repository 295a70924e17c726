"""Survey schema presets: how a file's columns map onto photcat's canonical table.

A :class:`Schema` names, for each band, the magnitude and error columns (or the flux and
inverse-variance columns), plus identifier, position, extinction and redshift columns. Column
templates use ``{b}`` (lower-case band) or ``{B}`` (upper-case band); a vector column is
addressed as ``NAME[{i}]`` where ``i`` is the band's index in ``bands``. Column matching is
case-insensitive, because SDSS CasJobs, SciServer and FITS exports differ only in case.

The presets live in :data:`PRESETS`; this is the only place that knows survey column names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from photcat.catalogs.bands import (
    SDSS_AB_OFFSETS,
    SDSS_BANDS,
    band,
    canonical_name,
    register_band,
    sort_bands,
)

# Flux units a schema may name, as maggies (f/f0, AB: f0 = 3631 Jy) per unit: the one place
# photcat knows them. 1 nanomaggy = 1e-9 maggies = 3.631 µJy; 1 nJy = 1e-9 / 3631 maggies, so
# m_AB = 31.4 - 2.5 log10(f / nJy) (2.5 log10(3631e9) = 31.40).
FLUX_UNITS: dict[str, float] = {
    "maggies": 1.0,
    "nanomaggies": 1e-9,
    "Jy": 1.0 / 3631.0,
    "mJy": 1e-3 / 3631.0,
    "uJy": 1e-6 / 3631.0,
    "nJy": 1e-9 / 3631.0,
}


@dataclass(frozen=True)
class BandColumns:
    """Columns of one optional band that does not follow the schema's templates."""

    mag: str
    magerr: str | None
    system: str = "AB"  # "AB" or "Vega"
    missing_values: tuple[float, ...] = ()  # values meaning "not measured" (2MASS uses 0)
    extinction: str | None = None  # the band's own extinction column (mag), if any


@dataclass(frozen=True)
class Schema:
    """Mapping from a file's columns to the canonical table (see module docstring)."""

    name: str
    bands: tuple[str, ...]
    mag: str | None = None
    magerr: str | None = None  # None: the catalogue has no magnitude errors
    flux: str | None = None  # in flux_unit
    flux_ivar: str | None = None  # inverse variance, flux_unit^-2
    flux_err: str | None = None  # or a 1-sigma error, flux_unit
    flux_unit: str = "nanomaggies"  # a key of FLUX_UNITS
    extinction: str | None = None  # A_band in mag
    # or the Milky Way transmission (0-1, Legacy Surveys MW_TRANSMISSION_<B>): A = -2.5 log10 T
    mw_transmission: str | None = None
    id: str | None = None
    ra: str | None = None
    dec: str | None = None
    z: str | None = None
    system: str = "AB"
    optional_bands: dict[str, BandColumns] = field(default_factory=dict)
    # magnitudes already corrected for Galactic extinction upstream (SDSS dered_<b>, or a
    # canonical table): the extinction columns are kept but never subtracted again
    extinction_applied: bool = False
    # "pogson" (m = -2.5 log10 f/f0) or "asinh" (SDSS luptitudes; softening b per band from
    # the band registry, photcat.catalogs.bands)
    mag_system: str = "pogson"
    # added to the (AB) magnitudes at ingest, per band: m_AB - m_catalogue (SDSS: the 2.5 m
    # AB offsets); {} = none
    ab_offsets: dict[str, float] = field(default_factory=dict)
    # band whose extinction column gives E(B-V) = A_band / (A/E(B-V)) for bands without an
    # extinction column of their own (SDSS: "r", so 2MASS J, H, Ks are corrected too)
    extinction_ref: str | None = None
    # object-type columns, used when present: an SDSS-style photometric type (6 = star,
    # 3 = galaxy) and a spectroscopic class (text: GALAXY, STAR, QSO); they give the
    # canonical column object_class (photcat.catalogs.flags.OBJECT_CLASSES)
    obj_type: str | None = None
    spec_class: str | None = None
    # PSF and model magnitude templates of the same band: when a file has both, the canonical
    # column psf_model_<b> = psf − model (mag; ≈ 0 for a point source, positive for an
    # extended one), a morphology feature of the object-class models (photcat.features.spec)
    psf_mag: str | None = None
    model_mag: str | None = None
    # order of the bands in vector columns (NAME[{i}]); None: ``bands`` (so a preset whose
    # band list is changed still reads the right element)
    vector_bands: tuple[str, ...] | None = None
    # bands photcat does not know: name -> {"wavelength": Angstrom, optional "curve" (file),
    # "vega_to_ab", "a_ebv"}; registered for the run (photcat.catalogs.bands.register_band)
    band_info: dict[str, dict] = field(default_factory=dict)
    # what {b} / {B} stand for in the templates, per band, when not the band's canonical name
    # (LSST band "lsst_g" is "g" in "g_cModelFlux"); see column()
    band_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, info in dict(self.band_info).items():
            what = f"schema {self.name!r}: band_info[{name!r}]"
            if not isinstance(info, dict):
                raise ValueError(f"{what} must be a mapping such as {{'wavelength': 9210}}")
            unknown = set(info) - {"wavelength", "curve", "vega_to_ab", "a_ebv"}
            if unknown or "wavelength" not in info:
                raise ValueError(
                    f"{what} needs 'wavelength' (Angstrom) and may give 'curve', "
                    f"'vega_to_ab', 'a_ebv'; got {sorted(info)}"
                )
            facts = dict(info)
            for key in ("wavelength", "vega_to_ab", "a_ebv"):
                if facts.get(key) is not None:
                    try:
                        facts[key] = float(facts[key])
                    except (TypeError, ValueError):
                        raise ValueError(f"{what}: {key} must be a number, got {facts[key]!r}") from None  # fmt: skip
            if facts.get("curve") is not None and not isinstance(facts["curve"], str):
                raise ValueError(f"{what}: curve must be a file name, got {facts['curve']!r}")
            register_band(name, **facts)
        object.__setattr__(self, "bands", tuple(canonical_name(b) for b in self.bands))
        object.__setattr__(
            self,
            "ab_offsets",
            {canonical_name(k): float(v) for k, v in dict(self.ab_offsets).items()},
        )
        object.__setattr__(
            self,
            "optional_bands",
            {canonical_name(k): v for k, v in dict(self.optional_bands).items()},
        )
        object.__setattr__(
            self, "band_labels", {canonical_name(k): str(v) for k, v in self.band_labels.items()}
        )
        if self.vector_bands is not None:
            object.__setattr__(
                self, "vector_bands", tuple(canonical_name(b) for b in self.vector_bands)
            )
        for b in (*self.bands, *self.ab_offsets, *self.optional_bands):
            band(b)  # unknown band -> clear KeyError
        if self.flux_unit not in FLUX_UNITS:
            raise ValueError(
                f"schema {self.name!r}: flux_unit {self.flux_unit!r} is not one of "
                f"{', '.join(FLUX_UNITS)}"
            )
        vega = [b for b in self.bands if self.system == "Vega" and band(b).vega_to_ab is None]
        vega += [
            b
            for b, bc in self.optional_bands.items()
            if bc.system == "Vega" and band(b).vega_to_ab is None
        ]
        if vega:
            raise ValueError(
                f"schema {self.name!r}: no Vega-to-AB offset known for band(s) {vega}: give AB "
                "magnitudes, or the offsets in 'ab_offsets' with system 'AB'"
            )
        if self.mag_system not in ("pogson", "asinh"):
            raise ValueError(f"schema {self.name!r}: mag_system must be 'pogson' or 'asinh'")
        if self.mag_system == "asinh":
            lacking = [b for b in self.bands if band(b).asinh_b is None]
            if lacking:
                raise ValueError(
                    f"schema {self.name!r}: no asinh softening known for band(s) {lacking}"
                )
        if self.extinction_ref is not None and band(self.extinction_ref).a_ebv is None:
            raise ValueError(f"schema {self.name!r}: no A/E(B-V) known for {self.extinction_ref}")
        if (
            self.mag
            and self.extinction
            and not self.extinction_applied
            and "dered" in self.mag.lower()
        ):
            raise ValueError(
                f"schema {self.name!r}: magnitudes {self.mag!r} are already corrected for "
                "Galactic extinction (SDSS dered_<b>); subtracting extinction "
                f"{self.extinction!r} again would count it twice: drop 'extinction' or set "
                "'extinction_applied': true"
            )
        if (self.mag is None) == (self.flux is None):
            raise ValueError(f"schema {self.name!r}: give exactly one of mag or flux templates")
        if self.flux is not None and (self.flux_ivar is None) == (self.flux_err is None):
            raise ValueError(
                f"schema {self.name!r}: a flux template needs one of flux_ivar or flux_err"
            )
        if self.extinction and self.mw_transmission:
            raise ValueError(f"schema {self.name!r}: give extinction or mw_transmission, not both")
        if self.system not in ("AB", "Vega"):
            raise ValueError(f"schema {self.name!r}: system must be 'AB' or 'Vega'")

    def column(self, template: str, b: str) -> str:
        """The column name a template gives for band ``b``: ``{b}``/``{B}`` the band's label
        in lower/upper case (``band_labels``, else its canonical name), ``{i}`` its index in
        vector columns."""
        order = self.vector_bands or self.bands
        label = self.band_labels.get(b, b)
        return template.format(b=label, B=label.upper(), i=order.index(b) if b in order else 0)

    @property
    def has_errors(self) -> bool:
        """False when the catalogue gives magnitudes without errors."""
        return self.flux is not None or self.magerr is not None

    @property
    def all_bands(self) -> tuple[str, ...]:
        return sort_bands(list(self.bands) + list(self.optional_bands))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["optional_bands"] = {k: asdict(v) for k, v in self.optional_bands.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        """A schema from a plain mapping (for example a ``[schema]`` table in configuration)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown schema key(s) {sorted(unknown)}; allowed: {sorted(known)}")
        d = dict(d)
        d.setdefault("name", "user")
        opt = _band_columns(d.pop("optional_bands", {}))
        return cls(**d, optional_bands=opt)


def _band_columns(opt: Any) -> dict[str, BandColumns]:
    """``optional_bands`` from a plain mapping (band -> {mag, magerr, system, ...})."""
    return {
        k.lower(): v
        if isinstance(v, BandColumns)
        else BandColumns(**{**v, "missing_values": tuple(v.get("missing_values", ()))})
        for k, v in dict(opt or {}).items()
    }


_TWOMASS_XSC = {
    b: BandColumns(f"{c}_M_EXT", f"{c}_MSIG_EXT", "Vega", (0.0,))
    for b, c in (("j", "J"), ("h", "H"), ("ks", "K"))
}

SDSS_MAG = Schema(
    "sdss",
    SDSS_BANDS,
    mag="modelMag_{b}",
    magerr="modelMagErr_{b}",
    extinction="extinction_{b}",
    id="objID",
    ra="ra",
    dec="dec",
    z="z",
    optional_bands=_TWOMASS_XSC,
    mag_system="asinh",  # SDSS catalogue magnitudes are luptitudes
    ab_offsets=SDSS_AB_OFFSETS,
    extinction_ref="r",
    obj_type="type",
    spec_class="class",
    # SDSS PhotoObj names; photo classifies an object as extended when psfMag − cModelMag >
    # 0.145 (https://www.sdss4.org/dr17/algorithms/classify/) and forces model and PSF
    # magnitudes of unresolved objects to agree in the mean (docs/classes.md)
    psf_mag="psfMag_{b}",
    model_mag="modelMag_{b}",
)
SDSS_FLUX = replace(
    SDSS_MAG,
    mag=None,
    magerr=None,
    flux="MODELFLUX[{i}]",
    flux_ivar="MODELFLUX_IVAR[{i}]",
    extinction="EXTINCTION[{i}]",
    mag_system="pogson",  # fluxes: no magnitude system involved
    vector_bands=SDSS_BANDS,
)
ANNZ = Schema("annz", SDSS_BANDS, mag="{b}", magerr="{b}_err", z="z_spec")
ANNZ2 = Schema(
    "annz2", SDSS_BANDS, mag="MAG_{B}", magerr="MAGERR_{B}", z="Z", ra="RA", dec="DEC", id="ID"
)
CANONICAL = Schema(
    "canonical",
    SDSS_BANDS,
    mag="mag_{b}",
    magerr="magerr_{b}",
    extinction="extinction_{b}",
    id="object_id",
    ra="ra",
    dec="dec",
    z="z_spec",
    extinction_applied=True,
    obj_type="object_class",  # photcat's own column, read back as it is
)


def _skyserver_forms() -> tuple[Schema, ...]:
    """SkyServer / CasJobs exports of PhotoObj (+ SpecObj): ``u``…``z`` with ``err_u``…
    (model magnitudes), ``dered_<b>``, or ``modelMag_<b>``, ``cModelMag_<b>``,
    ``petroMag_<b>``, ``psfMag_<b>`` with ``<kind>Err_<b>``; each with errors, then without
    (the widely copied SDSS tables have none). All SDSS asinh magnitudes, SDSS→AB offsets
    applied; the redshift column is ``redshift`` (``z`` is the z band here)."""
    base = replace(SDSS_MAG, name="skyserver", mag="{b}", id="objid", z="redshift")
    pairs = [("{b}", "err_{b}"), ("dered_{b}", "err_{b}")]
    pairs += [(f"{k}Mag_{{b}}", f"{k}MagErr_{{b}}") for k in ("model", "cModel", "petro", "psf")]
    forms = []
    for errors in (True, False):
        for mag, err in pairs:
            dered = mag.startswith("dered_")
            forms.append(
                replace(
                    base,
                    mag=mag,
                    magerr=err if errors else None,
                    extinction_applied=dered,
                    extinction=None if dered else base.extinction,
                    extinction_ref=None if dered else "r",
                )
            )
    return tuple(forms)


def _labels(bands: tuple[str, ...]) -> dict[str, str]:
    """{b} in a survey's templates: the band's own letter (``lsst_g`` -> ``g``)."""
    return {b: b.split("_", 1)[1] for b in bands}


_LSST = tuple(f"lsst_{b}" for b in "ugrizy")
_DES = tuple(f"decam_{b}" for b in "griz")
_HSC = tuple(f"hsc_{b}" for b in "grizy")
_KIDS = tuple(f"kids_{b}" for b in "ugri")
_LEGACY = ("decam_g", "decam_r", "decam_z")

# Rubin/LSST Object table (DP0.2/DP1): cModel fluxes in nJy
LSST = Schema(
    "lsst",
    _LSST,
    flux="{b}_cModelFlux",
    flux_err="{b}_cModelFluxErr",
    flux_unit="nJy",
    id="objectId",
    ra="coord_ra",
    dec="coord_dec",
    band_labels=_labels(_LSST),
)
# DES Y3 Gold: SOF composite-model magnitudes (AB). SOF_CM_MAG_CORRECTED_<B> (chromatic and
# Galactic-extinction corrections applied) when present, else SOF_CM_MAG_<B> minus the
# A_SED_SFD98_<B> extinction columns
DES_CORRECTED = Schema(
    "des",
    _DES,
    mag="SOF_CM_MAG_CORRECTED_{B}",
    magerr="SOF_CM_MAG_ERR_{B}",
    extinction_applied=True,
    id="COADD_OBJECT_ID",
    ra="RA",
    dec="DEC",
    band_labels=_labels(_DES),
)
DES = replace(
    DES_CORRECTED, mag="SOF_CM_MAG_{B}", extinction="A_SED_SFD98_{B}", extinction_applied=False
)
# HSC-SSP cmodel magnitudes (AB) with a_<b> extinction: PDR3 names errors *_magerr, PDR1/2
# *_magsigma. The flux columns are not read: their unit could not be checked here.
HSC = Schema(
    "hsc",
    _HSC,
    mag="{b}_cmodel_mag",
    magerr="{b}_cmodel_magerr",
    extinction="a_{b}",
    id="object_id",
    ra="ra",
    dec="dec",
    band_labels=_labels(_HSC),
)
HSC_PDR2 = replace(HSC, magerr="{b}_cmodel_magsigma")
# KiDS DR4 / KiDS-VIKING: GAaP magnitudes (AB) with EXTINCTION_<b>; VIKING ZYJHKs optional
_VIKING = {
    f"vista_{b.lower()}": BandColumns(
        f"MAG_GAAP_{b}", f"MAGERR_GAAP_{b}", extinction=f"EXTINCTION_{b}"
    )
    for b in ("Z", "Y", "J", "H", "Ks")
}
KIDS = Schema(
    "kids",
    _KIDS,
    mag="MAG_GAAP_{b}",
    magerr="MAGERR_GAAP_{b}",
    extinction="EXTINCTION_{b}",
    id="ID",
    ra="RAJ2000",
    dec="DECJ2000",
    optional_bands=_VIKING,
    band_labels=_labels(_KIDS),
)
# DESI Legacy Imaging Surveys DR9/DR10 Tractor and sweep files: AB nanomaggies with inverse
# variances and Milky Way transmissions (south: DECam g, r, z)
LEGACY = Schema(
    "legacy",
    _LEGACY,
    flux="FLUX_{B}",
    flux_ivar="FLUX_IVAR_{B}",
    flux_unit="nanomaggies",
    mw_transmission="MW_TRANSMISSION_{B}",
    ra="RA",
    dec="DEC",
    band_labels=_labels(_LEGACY),
)

# Each preset name maps to its alternative forms, tried in order (SDSS: magnitudes, then fluxes).
# docs/photometry.md "Survey presets" gives the source of every column name.
PRESETS: dict[str, tuple[Schema, ...]] = {
    "sdss": (SDSS_MAG, SDSS_FLUX),
    "skyserver": _skyserver_forms(),
    "annz": (ANNZ,),
    "annz2": (ANNZ2,),
    "lsst": (LSST,),
    "des": (DES_CORRECTED, DES),
    "hsc": (HSC, HSC_PDR2),
    "kids": (KIDS,),
    "legacy": (LEGACY,),
    "canonical": (CANONICAL,),
}


def get_schema(spec: str | dict | Schema) -> tuple[Schema, ...]:
    """The alternative forms of a schema given by preset name, mapping or :class:`Schema`."""
    if isinstance(spec, Schema):
        return (spec,)
    if isinstance(spec, dict) and "preset" in spec:  # a preset with some keys changed
        overrides = {k: v for k, v in spec.items() if k != "preset"}
        unknown = set(overrides) - set(Schema.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown schema key(s) {sorted(unknown)}")
        if "optional_bands" in overrides:
            overrides["optional_bands"] = _band_columns(overrides["optional_bands"])
        forms, errors = [], []
        for s in get_schema(spec["preset"]):  # forms the overrides do not fit are dropped
            try:
                forms.append(replace(s, **overrides))
            except ValueError as exc:
                errors.append(str(exc))
        if not forms:
            raise ValueError(errors[0])
        return tuple(forms)
    if isinstance(spec, dict):
        return (Schema.from_dict(spec),)
    key = str(spec).lower()
    if key not in PRESETS:
        raise ValueError(f"unknown schema {spec!r}; presets: {', '.join(PRESETS)}, or a mapping")
    return PRESETS[key]


def parse_schema_arg(text: str | dict | None, default: str = "sdss") -> str | dict:
    """A schema as given on a command line or in a configuration: a preset name, or a JSON
    mapping (text starting with ``{``); empty means ``default``."""
    if isinstance(text, dict):
        return text
    s = str(text or "").strip()
    if not s.startswith("{"):
        return s or default
    return json_object(s, "schema mapping")


def json_object(text: str, what: str) -> dict:
    """``text`` parsed as a JSON object; a ValueError naming ``what`` otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {text!r}")
    return value


def with_bands(schema: Schema, bands: tuple[str, ...]) -> Schema:
    """The same schema for another band list (ugrizy, or a subset)."""
    return replace(schema, bands=tuple(bands))
