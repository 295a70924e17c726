"""Turn raw band columns into canonical magnitudes, errors and reason flags.

Every function here is vectorised over rows and returns new arrays; nothing is dropped. A
value that is flagged becomes NaN, and its flag bits say why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from photcat.catalogs import flags as F

_MAG_PER_LN = 2.5 / np.log(10.0)  # 1.0857 mag per unit fractional flux error


def to_float(values) -> tuple[np.ndarray, np.ndarray]:
    """Column values as float64 plus a mask of entries that were text, not numbers.

    Empty strings and missing entries count as missing (NaN), not as text.
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(s), dtype=bool)
    stripped = s.astype("string").str.strip()
    empty = stripped.isna() | (stripped == "")
    num = pd.to_numeric(stripped.mask(empty), errors="coerce")
    out = num.to_numpy(dtype=np.float64, na_value=np.nan)
    text = (~empty.to_numpy(dtype=bool)) & np.isnan(out)
    return out, text


def value_flags(x: np.ndarray, missing_values: tuple[float, ...] = ()) -> np.ndarray:
    """Flags for a magnitude-like value: missing, non-finite, sentinel, absurd."""
    f = np.zeros(x.shape, dtype=np.uint16)
    f[np.isnan(x)] |= F.MISSING
    f[np.isinf(x)] |= F.NONFINITE
    if missing_values:
        f[np.isin(x, missing_values)] |= F.MISSING
    sentinel = np.isin(x, F.SENTINEL_VALUES)
    f[sentinel] |= F.SENTINEL
    finite = np.isfinite(x) & ~sentinel
    with np.errstate(invalid="ignore"):
        f[finite & ((x > F.MAG_MAX) | (x < F.MAG_MIN))] |= F.FAINT
    return f


def psf_minus_model(psf_raw, model_raw) -> np.ndarray:
    """PSF minus model magnitude of one band (mag), NaN where either is missing, a sentinel
    or outside the plausible magnitude range (:func:`value_flags`). Both are the catalogue's
    own magnitudes of the same band, so zero points, AB offsets and extinction cancel."""
    psf, model = to_float(psf_raw)[0], to_float(model_raw)[0]
    good = (value_flags(psf) == 0) & (value_flags(model) == 0)
    return np.where(good, psf - model, np.nan)


def error_flags(err: np.ndarray) -> np.ndarray:
    """Flags for a magnitude error: invalid (NaN/inf/sentinel), negative, above 5 mag."""
    f = np.zeros(err.shape, dtype=np.uint16)
    invalid = ~np.isfinite(err) | np.isin(err, F.SENTINEL_VALUES)
    f[invalid] |= F.ERR_INVALID
    with np.errstate(invalid="ignore"):
        f[~invalid & (err < 0)] |= F.ERR_NEGATIVE
        f[~invalid & (err > F.ERR_MAX)] |= F.ERR_HUGE
    return f


def band_from_mags(
    mag_raw, err_raw, *, vega_to_ab: float = 0.0, missing_values: tuple[float, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical (mag AB, error, flags) from magnitude and error columns; ``err_raw`` None (a
    catalogue without errors) gives NaN errors that flag nothing."""
    mag, err, mag_text, err_text, flag = _mags_and_errors(mag_raw, err_raw, missing_values)
    flag[mag_text] &= np.uint16(~F.MISSING & 0xFFFF)  # text is not "missing": say which
    flag[err_text] &= np.uint16(~F.ERR_INVALID & 0xFFFF)
    flag[mag_text | err_text] |= F.NONNUMERIC
    # "missing" magnitudes need no error-complaint on top; keep the primary reason only.
    flag[(flag & F.MISSING) > 0] &= np.uint16(~F.ERR_INVALID & 0xFFFF)
    good = flag == 0
    return np.where(good, mag + vega_to_ab, np.nan), np.where(good, err, np.nan), flag


def _mags_and_errors(mag_raw, err_raw, missing_values):
    """(magnitude, error, text-in-magnitude, text-in-error, value and error flags)."""
    mag, mag_text = to_float(mag_raw)
    if err_raw is None:
        err, err_text = np.full(mag.shape, np.nan), np.zeros(mag.shape, dtype=bool)
        return mag, err, mag_text, err_text, value_flags(mag, missing_values)
    err, err_text = to_float(err_raw)
    return mag, err, mag_text, err_text, value_flags(mag, missing_values) | error_flags(err)


def ivar_from_sigma(err_raw) -> np.ndarray:
    """Inverse variance from a 1-sigma error column (NaN stays NaN; σ ≤ 0 gives ivar ≤ 0,
    which is flagged as an invalid error)."""
    err, text = to_float(err_raw)
    with np.errstate(divide="ignore", invalid="ignore"):
        ivar = np.where(err > 0, 1.0 / (err * err), np.where(err <= 0, -1.0, np.nan))
    ivar[text] = np.nan
    return ivar


def band_from_asinh(
    mag_raw, err_raw, b: float, *, missing_values: tuple[float, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical (Pogson mag, error, flags) from SDSS asinh magnitudes (luptitudes).

    With softening ``b`` (flux in units of f0): f/f0 = 2b sinh(−ln b − 0.4 ln10 μ) and
    σ_f = 2b cosh(−ln b − 0.4 ln10 μ) · 0.4 ln10 · σ_μ (Lupton, Gunn & Szalay 1999; kcorrect
    ``utils.sdss_asinh_to_maggies``), then m = −2.5 log10(f/f0), σ_m = 1.0857 σ_f / f. A
    luptitude whose flux is ≤ 0 is flagged ``NONPOSITIVE_FLUX`` (it cannot be a Pogson
    magnitude); the checks on the raw values are those of :func:`band_from_mags`.
    """
    mag, mag_text = to_float(mag_raw)
    if err_raw is None:  # a catalogue without errors: NaN errors, nothing flagged for them
        err, err_text = np.full(mag.shape, np.nan), np.zeros(mag.shape, dtype=bool)
        flag = value_flags(mag, missing_values)
    else:
        err, err_text = to_float(err_raw)
        flag = value_flags(mag, missing_values) | error_flags(err)
    flag[mag_text] &= np.uint16(~F.MISSING & 0xFFFF)
    flag[err_text] &= np.uint16(~F.ERR_INVALID & 0xFFFF)
    flag[mag_text | err_text] |= F.NONNUMERIC
    flag[(flag & F.MISSING) > 0] &= np.uint16(~F.ERR_INVALID & 0xFFFF)
    x = -np.log(b) - 0.4 * np.log(10.0) * np.where(flag == 0, mag, 0.0)
    flux = 2.0 * b * np.sinh(x)
    sigma = 2.0 * b * np.cosh(x) * 0.4 * np.log(10.0) * np.where(flag == 0, err, np.nan)
    flag[(flag == 0) & (flux <= 0)] |= F.NONPOSITIVE_FLUX
    good = flag == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pogson = -2.5 * np.log10(np.where(good, flux, 1.0))
        perr = _MAG_PER_LN * sigma / np.where(good, flux, 1.0)
    with np.errstate(invalid="ignore"):
        flag[good & (perr > F.ERR_MAX)] |= F.ERR_HUGE
    good = flag == 0
    return np.where(good, pogson, np.nan), np.where(good, perr, np.nan), flag


# Bits that say "no Pogson magnitude" but leave a flux measurement intact: a flux <= 0, or
# one so faint that its magnitude error exceeds 5 mag (or its magnitude 31), is still a
# measurement with a valid error and is kept as such in flux_<b>, fluxerr_<b>.
FLUX_KEEPS = F.NONPOSITIVE_FLUX | F.ERR_HUGE | F.FAINT


def flux_from_pogson(
    mag_raw, err_raw, *, vega_to_ab: float = 0.0, missing_values: tuple[float, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Flux and 1σ error in maggies from Pogson magnitudes: f = 10^(−0.4 (m + Δ_AB)),
    σ_f = f σ_m / (2.5/ln 10), the inverse of the linearised error a catalogue quotes with its
    magnitude. NaN where the magnitude is not a measurement. A non-detection (error above
    5 mag, fainter than 31 mag or not) is a measurement here, so it enters asinh features near
    the band's softening limit with its large error. ``err_raw`` None: every error NaN, the
    fluxes of the good magnitudes kept."""
    mag, err, mag_text, err_text, bad = _mags_and_errors(mag_raw, err_raw, missing_values)
    # a magnitude fainter than 31 counts only with an error that says "non-detection" too:
    # with a small error it is a placeholder (ANNz's SDSS files: g = 33.1 ± 0.016)
    keep = np.uint16(F.ERR_HUGE | F.FAINT)
    ok = ((bad & ~keep) == 0) & (((bad & F.FAINT) == 0) | ((bad & F.ERR_HUGE) > 0))
    with np.errstate(invalid="ignore"):  # nor is an absurdly bright one a measurement
        ok &= ~mag_text & ~err_text & ~(mag < F.MAG_MIN)
    with np.errstate(over="ignore", invalid="ignore"):
        flux = 10.0 ** (-0.4 * (np.where(ok, mag, 0.0) + vega_to_ab))
        sigma = flux * np.where(ok, err, np.nan) / _MAG_PER_LN
    if err_raw is not None:  # an error of 0 is a good magnitude's, as in band_from_mags
        ok &= np.isfinite(sigma) & (sigma >= 0)
    return np.where(ok, flux, np.nan), np.where(ok, sigma, np.nan)


def flux_from_asinh(mag_raw, err_raw, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Flux and 1σ error in maggies (f/f0, AB) from asinh magnitudes with softening ``b``;
    NaN where the luptitude or its error is not a measurement (``err_raw`` None: every error
    NaN, the fluxes kept). Negative fluxes are kept.

    Lupton, Gunn & Szalay (1999): f/f0 = 2b sinh(−ln b − 0.4 ln10 μ),
    σ_f = 2b cosh(−ln b − 0.4 ln10 μ) · 0.4 ln10 · σ_μ (kcorrect ``sdss_asinh_to_maggies``).
    """
    if err_raw is None:  # no errors: the flux (NaN error), negative ones included
        mag = to_float(mag_raw)
        ok = (value_flags(mag[0]) == 0) & ~mag[1]
        x = -np.log(b) - 0.4 * np.log(10.0) * np.where(ok, mag[0], 0.0)
        return np.where(ok, 2.0 * b * np.sinh(x), np.nan), np.full(ok.shape, np.nan)
    return _flux_from_asinh(mag_raw, err_raw, b)


def _flux_from_asinh(mag_raw, err_raw, b: float) -> tuple[np.ndarray, np.ndarray]:
    mag, mag_text = to_float(mag_raw)
    err, err_text = to_float(err_raw)
    bad = (value_flags(mag) | error_flags(err)) & ~np.uint16(F.ERR_HUGE)
    ok = (bad == 0) & ~mag_text & ~err_text
    x = -np.log(b) - 0.4 * np.log(10.0) * np.where(ok, mag, 0.0)
    flux = 2.0 * b * np.sinh(x)
    sigma = 2.0 * b * np.cosh(x) * 0.4 * np.log(10.0) * np.where(ok, err, 0.0)
    ok &= sigma > 0
    return np.where(ok, flux, np.nan), np.where(ok, sigma, np.nan)


def flux_from_fluxes(flux_raw, ivar_raw, to_maggies: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Flux and 1σ error in maggies from fluxes and inverse variances in a unit worth
    ``to_maggies`` maggies (default nanomaggies; schema.FLUX_UNITS); NaN where either is not
    a measurement. Zero and negative fluxes are kept."""
    flux, flux_text = to_float(flux_raw)
    ivar, ivar_text = to_float(ivar_raw)
    ok = np.isfinite(flux) & ~np.isin(flux, F.SENTINEL_VALUES) & ~flux_text & ~ivar_text
    with np.errstate(invalid="ignore", divide="ignore"):
        ok &= np.isfinite(ivar) & (ivar > 0)
        sigma = 1.0 / np.sqrt(np.where(ok, ivar, 1.0))
    return np.where(ok, flux * to_maggies, np.nan), np.where(ok, sigma * to_maggies, np.nan)


def asinh_mag(flux: np.ndarray, fluxerr: np.ndarray, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Asinh magnitude μ and its 1σ error (mag) from a flux in maggies with softening ``b``:
    μ = −(2.5/ln10)(asinh(f/2b) + ln b), σ_μ = (2.5/ln10) σ_f / √(f² + 4b²) (Lupton et al.
    1999). Defined for every real flux, so faint and negative measurements keep a value."""
    mu = -_MAG_PER_LN * (np.arcsinh(flux / (2.0 * b)) + np.log(b))
    return mu, _MAG_PER_LN * fluxerr / np.sqrt(flux * flux + 4.0 * b * b)


def band_from_fluxes(
    flux_raw, ivar_raw, to_maggies: float = 1e-9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical (mag AB, error, flags) from fluxes and inverse variances in a unit worth
    ``to_maggies`` maggies (default nanomaggies: m = 22.5 − 2.5 log10 f; nJy: 31.4 − …)."""
    flux, flux_text = to_float(flux_raw)
    ivar, ivar_text = to_float(ivar_raw)
    flag = np.zeros(flux.shape, dtype=np.uint16)
    flag[np.isnan(flux)] |= F.MISSING
    flag[np.isinf(flux)] |= F.NONFINITE
    flag[np.isin(flux, F.SENTINEL_VALUES)] |= F.SENTINEL
    with np.errstate(invalid="ignore", divide="ignore"):
        flag[np.isfinite(flux) & (flux <= 0)] |= F.NONPOSITIVE_FLUX
        flag[~np.isfinite(ivar)] |= F.ERR_INVALID
        flag[np.isfinite(ivar) & (ivar <= 0)] |= F.ERR_NEGATIVE
        mag = -2.5 * np.log10(flux * to_maggies)
        err = _MAG_PER_LN / (flux * np.sqrt(ivar))
    flag[flux_text | ivar_text] |= F.NONNUMERIC
    ok = flag == 0
    flag[ok] |= value_flags(np.where(ok, mag, 0.0))[ok] & np.uint16(F.FAINT)
    flag[ok] |= error_flags(np.where(ok, err, 0.0))[ok]
    good = flag == 0
    return np.where(good, mag, np.nan), np.where(good, err, np.nan), flag


def redshift_flags(z_raw) -> tuple[np.ndarray, np.ndarray]:
    """Canonical z_spec (NaN where unusable) and its flags."""
    z, text = to_float(z_raw)
    f = np.zeros(z.shape, dtype=np.uint16)
    f[~np.isfinite(z) | np.isin(z, F.SENTINEL_VALUES)] |= F.Z_MISSING
    with np.errstate(invalid="ignore"):
        f[(f == 0) & (z < 0)] |= F.Z_NEGATIVE
    f[text] |= F.Z_NONNUMERIC
    return np.where(f == 0, z, np.nan), f
