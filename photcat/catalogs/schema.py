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

from photcat.catalogs.bands import SDSS_AB_OFFSETS, SDSS_BANDS, band, sort_bands


@dataclass(frozen=True)
class BandColumns:
    """Columns of one optional band that does not follow the schema's templates."""

    mag: str
    magerr: str
    system: str = "AB"  # "AB" or "Vega"
    missing_values: tuple[float, ...] = ()  # values meaning "not measured" (2MASS uses 0)


@dataclass(frozen=True)
class Schema:
    """Mapping from a file's columns to the canonical table (see module docstring)."""

    name: str
    bands: tuple[str, ...]
    mag: str | None = None
    magerr: str | None = None
    flux: str | None = None  # nanomaggies
    flux_ivar: str | None = None  # nanomaggies^-2
    extinction: str | None = None
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
    # order of the bands in vector columns (NAME[{i}]); None: ``bands`` (so a preset whose
    # band list is changed still reads the right element)
    vector_bands: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(b.lower() for b in self.bands))
        object.__setattr__(
            self, "ab_offsets", {k.lower(): float(v) for k, v in dict(self.ab_offsets).items()}
        )
        for b in self.bands:
            band(b)  # unknown band -> clear KeyError
        for b in self.ab_offsets:
            band(b)
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
        if self.mag is not None and self.magerr is None:
            raise ValueError(f"schema {self.name!r}: mag template needs a magerr template")
        if self.flux is not None and self.flux_ivar is None:
            raise ValueError(f"schema {self.name!r}: flux template needs a flux_ivar template")
        if self.system not in ("AB", "Vega"):
            raise ValueError(f"schema {self.name!r}: system must be 'AB' or 'Vega'")

    def column(self, template: str, b: str) -> str:
        """The column name a template gives for band ``b``."""
        order = self.vector_bands or self.bands
        return template.format(b=b, B=b.upper(), i=order.index(b) if b in order else 0)

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

# Each preset name maps to its alternative forms, tried in order (SDSS: magnitudes, then fluxes).
PRESETS: dict[str, tuple[Schema, ...]] = {
    "sdss": (SDSS_MAG, SDSS_FLUX),
    "annz": (ANNZ,),
    "annz2": (ANNZ2,),
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
