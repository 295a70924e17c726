"""Quiescent / star-forming labels: from a UVJ preset, or from the specific star-formation rate.

Two independent definitions, so one can be checked against the other:

* :func:`uvj_label` — quiescent inside a UVJ box (:mod:`photcat.features.uvj`).
* :func:`ssfr_label` — quiescent when log10 sSFR [1/yr] is below a threshold, either a fixed
  value (default −11, the conventional "red and dead" cut; −10 is the looser alternative) or
  the redshift-dependent rule ``"age"``: sSFR < 1 / (3 t_U(z)), with t_U(z) the age of the
  Universe at the galaxy's redshift (``cosmology.age(z)``, astropy; Planck18 by default).
  With Planck18 that threshold is log sSFR = −10.62 at z = 0, −10.24 at z = 1, −9.99 at
  z = 2 and −9.81 at z = 3. The rule's source is discussed in docs/uvj.md §3 (the factor 1/3
  is a convention we could not check against a primary text here; it is a parameter).

Until photcat 0.x the redshift-dependent rule was called ``"hubble"`` and used the Hubble
time 1/H(z) (0.14 dex longer than the age at z = 1); that name is refused with a message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from photcat.features import uvj

DEFAULT_LOG_SSFR_THRESHOLD = -11.0


@dataclass(frozen=True)
class Label:
    """Per-object label: ``quiescent`` (bool), ``defined`` (bool: inputs were usable) and a
    continuous ``score`` (UVJ: signed distance in mag; sSFR: threshold − log sSFR in dex;
    positive = quiescent, NaN where undefined)."""

    quiescent: np.ndarray
    defined: np.ndarray
    score: np.ndarray

    def as_int(self) -> np.ndarray:
        """1 = quiescent, 0 = star-forming, -1 = undefined (int8)."""
        out = self.quiescent.astype(np.int8)
        out[~self.defined] = -1
        return out


def uvj_label(
    uv: npt.ArrayLike,
    vj: npt.ArrayLike,
    z: npt.ArrayLike | None = None,
    uvj_preset=uvj.DEFAULT_PRESET,
) -> Label:
    """UVJ label from rest-frame U−V, V−J (AB mag) and redshift with a named preset."""
    d = uvj.uvj_distance(uv, vj, z, uvj_preset)
    defined = np.isfinite(d)
    return Label(quiescent=defined & (d > 0), defined=defined, score=d)


AGE_FRACTION = 1.0 / 3.0  # quiescent below AGE_FRACTION / t_U(z) (docs/uvj.md §3)


def universe_age_gyr(z: npt.ArrayLike, cosmology=None) -> np.ndarray:
    """Age of the Universe t_U(z) in Gyr (astropy ``cosmology.age``; Planck18 by default)."""
    if cosmology is None:
        from astropy.cosmology import Planck18 as cosmology
    import astropy.units as u

    z = np.asarray(z, dtype=float)
    out = np.full(z.shape, np.nan)
    ok = np.isfinite(z) & (z > -1)
    if ok.any():  # astropy's age() cannot take an empty array
        out[ok] = cosmology.age(z[ok]).to_value(u.Gyr)
    return out


def log_ssfr_threshold(
    z: npt.ArrayLike, cosmology=None, fraction: float = AGE_FRACTION
) -> np.ndarray:
    """log10(fraction / t_U(z)) in log10(1/yr): the redshift-dependent quiescence threshold."""
    return np.log10(fraction) - np.log10(universe_age_gyr(z, cosmology) * 1e9)


def ssfr_label(
    log_ssfr: npt.ArrayLike,
    z: npt.ArrayLike | None = None,
    threshold: float | str = DEFAULT_LOG_SSFR_THRESHOLD,
    cosmology=None,
) -> Label:
    """sSFR label: quiescent when log10 sSFR [1/yr] < threshold.

    ``threshold`` is a number (log10 1/yr) or ``"age"`` for log10(1/(3 t_U(z))), which
    needs ``z``. log sSFR = −inf (SFR = 0) is quiescent; NaN log sSFR (or a NaN z for the
    "age" rule) gives an undefined label.
    """
    s = np.asarray(log_ssfr, dtype=float)
    if isinstance(threshold, str):
        if threshold == "hubble":
            raise ValueError(
                "the sSFR threshold 'hubble' (1/(3 H(z)^-1)) was replaced by 'age' "
                "(1/(3 t_U(z)), the age of the Universe); use threshold='age'"
            )
        if threshold != "age":
            raise ValueError(f"threshold must be a number or 'age', got {threshold!r}")
        if z is None:
            raise ValueError("the 'age' sSFR threshold needs redshifts z")
        thr = log_ssfr_threshold(np.broadcast_to(np.asarray(z, dtype=float), s.shape), cosmology)
    else:
        thr = np.full(s.shape, float(threshold))
    with np.errstate(invalid="ignore"):
        score = thr - s
    defined = ~np.isnan(score)  # log sSFR = -inf (SFR = 0) is defined: quiescent
    return Label(quiescent=defined & (score > 0), defined=defined, score=score)
