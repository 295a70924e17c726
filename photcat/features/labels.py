"""Quiescent / star-forming labels: from a UVJ preset, or from the specific star-formation rate.

Two independent definitions, so one can be checked against the other:

* :func:`uvj_label` — quiescent inside a UVJ box (:mod:`photcat.features.uvj`).
* :func:`ssfr_label` — quiescent when log10 sSFR [1/yr] is below a threshold, either a fixed
  value (default −11, the conventional "red and dead" cut; −10 is the looser alternative) or
  the redshift-dependent rule sSFR < 1 / (3 t_H(z)) (e.g. Pacifici et al. 2016), with t_H(z) =
  1/H(z) the Hubble time at the galaxy's redshift from astropy.cosmology (Planck18 default).
  With Planck18 that threshold is log sSFR = −10.64 at z = 0, −10.39 at z = 1, −10.16 at
  z = 2 and −9.98 at z = 3.
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


def hubble_time_gyr(z: npt.ArrayLike, cosmology=None) -> np.ndarray:
    """Hubble time 1/H(z) in Gyr (astropy cosmology; Planck18 by default)."""
    if cosmology is None:
        from astropy.cosmology import Planck18 as cosmology
    import astropy.units as u

    z = np.asarray(z, dtype=float)
    out = np.full(z.shape, np.nan)
    ok = np.isfinite(z) & (z > -1)
    out[ok] = (1.0 / cosmology.H(z[ok])).to_value(u.Gyr)
    return out


def log_ssfr_threshold(z: npt.ArrayLike, cosmology=None) -> np.ndarray:
    """log10 of 1 / (3 t_H(z)) in 1/yr: the redshift-dependent quiescence threshold."""
    th_yr = hubble_time_gyr(z, cosmology) * 1e9
    return -np.log10(3.0 * th_yr)


def ssfr_label(
    log_ssfr: npt.ArrayLike,
    z: npt.ArrayLike | None = None,
    threshold: float | str = DEFAULT_LOG_SSFR_THRESHOLD,
    cosmology=None,
) -> Label:
    """sSFR label: quiescent when log10 sSFR [1/yr] < threshold.

    ``threshold`` is a number (log10 1/yr) or ``"hubble"`` for log10(1/(3 t_H(z))), which
    needs ``z``. log sSFR = −inf (SFR = 0) is quiescent; NaN log sSFR (or a NaN z for the
    "hubble" rule) gives an undefined label.
    """
    s = np.asarray(log_ssfr, dtype=float)
    if isinstance(threshold, str):
        if threshold != "hubble":
            raise ValueError(f"threshold must be a number or 'hubble', got {threshold!r}")
        if z is None:
            raise ValueError("the 'hubble' sSFR threshold needs redshifts z")
        thr = log_ssfr_threshold(np.broadcast_to(np.asarray(z, dtype=float), s.shape), cosmology)
    else:
        thr = np.full(s.shape, float(threshold))
    with np.errstate(invalid="ignore"):
        score = thr - s
    defined = ~np.isnan(score)  # log sSFR = -inf (SFR = 0) is defined: quiescent
    return Label(quiescent=defined & (score > 0), defined=defined, score=score)
