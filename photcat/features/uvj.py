"""UVJ quiescent/star-forming boundaries: the named presets, in one place.

Every preset is a set of half-planes in the rest-frame (V−J, U−V) plane (AB mag). A galaxy is
quiescent when it lies on the quiescent side of *all* active half-planes of its redshift bin:

* ``U−V > u_min``                       (the floor of the box)
* ``V−J < vj_max``                      (the red edge that excludes dusty star formers)
* ``U−V > slope · (V−J) + intercept``   (the diagonal)

The signed distance to the boundary is the minimum, over the active half-planes, of the
perpendicular distance to each line (mag), positive on the quiescent side. It is continuous in
colour (a minimum of continuous functions), zero on the boundary, and its sign is the label.
Outside the box it is not the exact Euclidean distance to the region (near a corner it can be
smaller in magnitude), but it is monotonic along any path towards the box.

Redshift bins are half-open ``[lo, hi)``. Redshifts below the first bin use the first bin and
redshifts above the last bin use the last bin (the papers do not go further; this is an
extrapolation, reported by :func:`outside_calibrated_range`). A preset that depends on
redshift returns NaN distance (and no label) for a non-finite redshift.

Sources (see docs/uvj.md for what could and could not be checked):

* ``williams09`` — Williams et al. 2009, ApJ 691, 1879: U−V > 1.3, V−J < 1.6,
  U−V > 0.88 (V−J) + 0.69 (0 ≤ z < 0.5), + 0.59 (0.5 ≤ z < 1), + 0.49 (1 ≤ z < 2);
  calibrated to z = 2, the 1–2 bin is used above.
* ``whitaker11`` — Whitaker et al. 2011, ApJ 735, 86 (Eq. 15; see docs/definitions.md):
  U−V > 0.88 (V−J) + 0.59 at all z; U−V > 1.3, V−J < 1.6 (z < 1.5); U−V > 1.3, V−J < 1.5
  (1.5 ≤ z < 2); U−V > 1.2, V−J < 1.4 (2 ≤ z < 3.5).
* ``muzzin13`` — Muzzin et al. 2013, ApJ 777, 18: U−V > 1.3, V−J < 1.5,
  U−V > 0.88 (V−J) + 0.69 (z < 1), + 0.59 (1 ≤ z < 4).
* ``line`` — the single line sgn[(U−V) − 0.8 (V−J) − 0.7], redshift-independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class UVJBin:
    """Quiescent box for one redshift bin [z_lo, z_hi). ``None`` means the edge is absent."""

    z_lo: float
    z_hi: float
    slope: float
    intercept: float
    u_min: float | None = None
    vj_max: float | None = None

    def lines(self) -> list[tuple[float, float, float]]:
        """Half-planes as (a, b, c): quiescent where a·(V−J) + b·(U−V) + c > 0."""
        out = [(-self.slope, 1.0, -self.intercept)]
        if self.u_min is not None:
            out.append((0.0, 1.0, -self.u_min))
        if self.vj_max is not None:
            out.append((-1.0, 0.0, self.vj_max))
        return out


@dataclass(frozen=True)
class UVJPreset:
    """A named UVJ boundary: ordered, contiguous redshift bins."""

    name: str
    reference: str
    bins: tuple[UVJBin, ...]

    @property
    def z_dependent(self) -> bool:
        return len(self.bins) > 1

    @property
    def z_range(self) -> tuple[float, float]:
        """Redshift range the preset was calibrated on."""
        return self.bins[0].z_lo, self.bins[-1].z_hi

    def bin_index(self, z: npt.ArrayLike) -> np.ndarray:
        """Index of the bin for each redshift (clipped to first/last bin; -1 for NaN z)."""
        z = np.asarray(z, dtype=float)
        edges = np.array([b.z_hi for b in self.bins[:-1]])
        idx = np.searchsorted(edges, z, side="right")
        return np.where(np.isfinite(z), idx, -1)

    def bin_for(self, z: float) -> UVJBin:
        """The box used at a single redshift ``z``."""
        i = int(self.bin_index(np.array([z]))[0])
        if i < 0:
            raise ValueError(f"preset {self.name!r} needs a finite redshift, got {z!r}")
        return self.bins[i]


_INF = float("inf")
DEFAULT_PRESET = "williams09"  # the default UVJ boundary everywhere in photcat

PRESETS: dict[str, UVJPreset] = {
    p.name: p
    for p in (
        UVJPreset(
            "williams09",
            "Williams et al. 2009, ApJ 691, 1879",
            (
                UVJBin(0.0, 0.5, 0.88, 0.69, 1.3, 1.6),
                UVJBin(0.5, 1.0, 0.88, 0.59, 1.3, 1.6),
                UVJBin(1.0, 2.0, 0.88, 0.49, 1.3, 1.6),
            ),
        ),
        UVJPreset(
            "whitaker11",
            "Whitaker et al. 2011, ApJ 735, 86 (Eq. 15)",
            (
                UVJBin(0.0, 1.5, 0.88, 0.59, 1.3, 1.6),
                UVJBin(1.5, 2.0, 0.88, 0.59, 1.3, 1.5),
                UVJBin(2.0, 3.5, 0.88, 0.59, 1.2, 1.4),
            ),
        ),
        UVJPreset(
            "muzzin13",
            "Muzzin et al. 2013, ApJ 777, 18",
            (
                UVJBin(0.0, 1.0, 0.88, 0.69, 1.3, 1.5),
                UVJBin(1.0, 4.0, 0.88, 0.59, 1.3, 1.5),
            ),
        ),
        UVJPreset(
            "line",
            "single line sgn[(U-V) - 0.8 (V-J) - 0.7]",
            (UVJBin(0.0, _INF, 0.8, 0.7, None, None),),
        ),
    )
}


def preset(name: str | UVJPreset) -> UVJPreset:
    """The preset called ``name`` (or ``name`` itself if already a preset)."""
    if isinstance(name, UVJPreset):
        return name
    key = name.lower()
    if key not in PRESETS:
        raise KeyError(f"unknown UVJ preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[key]


def _prepare(uv, vj, z, p: UVJPreset):
    uv = np.asarray(uv, dtype=float)
    vj = np.asarray(vj, dtype=float)
    if uv.shape != vj.shape:
        raise ValueError(f"U−V and V−J shapes differ: {uv.shape} vs {vj.shape}")
    if p.z_dependent:
        if z is None:
            raise ValueError(
                f"UVJ preset {p.name!r} depends on redshift: pass z (scalar or one per object)"
            )
        z = np.broadcast_to(np.asarray(z, dtype=float), uv.shape)
        idx = p.bin_index(z)
    else:
        idx = np.zeros(uv.shape, dtype=int)
    return uv, vj, idx


def uvj_distance(
    uv: npt.ArrayLike, vj: npt.ArrayLike, z: npt.ArrayLike | None = None, uvj_preset=DEFAULT_PRESET
) -> np.ndarray:
    """Signed distance (mag) to the preset's boundary; > 0 on the quiescent side.

    ``uv`` = rest-frame U−V, ``vj`` = rest-frame V−J (AB mag), ``z`` redshift per object (or a
    scalar). NaN where a colour or a needed redshift is not finite.
    """
    p = preset(uvj_preset)
    uv, vj, idx = _prepare(uv, vj, z, p)
    dist = np.full(uv.shape, np.nan)
    for i, b in enumerate(p.bins):
        sel = idx == i
        if not sel.any():
            continue
        d = np.full(int(sel.sum()), np.inf)
        for a, bb, c in b.lines():
            d = np.minimum(d, (a * vj[sel] + bb * uv[sel] + c) / np.hypot(a, bb))
        dist[sel] = d
    return dist


def uvj_quiescent(
    uv: npt.ArrayLike, vj: npt.ArrayLike, z: npt.ArrayLike | None = None, uvj_preset=DEFAULT_PRESET
) -> np.ndarray:
    """Boolean: inside the quiescent box (distance > 0). False where undefined (NaN input)."""
    return uvj_distance(uv, vj, z, uvj_preset) > 0


def outside_calibrated_range(z: npt.ArrayLike, uvj_preset=DEFAULT_PRESET) -> np.ndarray:
    """True where ``z`` lies outside the redshift range the preset was calibrated on."""
    p = preset(uvj_preset)
    lo, hi = p.z_range
    z = np.asarray(z, dtype=float)
    return ~((z >= lo) & (z < hi))


def boundary_polyline(
    uvj_preset=DEFAULT_PRESET, z: float | None = None, vj_range=(-0.5, 2.5), uv_max=2.6
) -> tuple[np.ndarray, np.ndarray]:
    """(V−J, U−V) vertices of the quiescent region's outline at redshift ``z``, for plotting.

    For box presets: the floor from ``vj_range[0]`` to the corner, the diagonal up to
    ``vj_max`` and the vertical red edge up to ``uv_max``. For ``line``: the straight line.
    """
    p = preset(uvj_preset)
    if p.z_dependent and z is None:
        raise ValueError(f"preset {p.name!r} depends on redshift: pass z")
    b = p.bin_for(0.0 if z is None else float(z))
    x0, x1 = vj_range
    if b.u_min is None and b.vj_max is None:
        xs = np.array([x0, x1])
        return xs, b.slope * xs + b.intercept
    corner_x = (b.u_min - b.intercept) / b.slope if b.u_min is not None else x0
    right = b.vj_max if b.vj_max is not None else x1
    xs = [x0, corner_x, right]
    ys = [b.u_min, b.u_min, b.slope * right + b.intercept]
    if b.vj_max is not None:
        xs.append(right)
        ys.append(uv_max)
    return np.array(xs, dtype=float), np.array(ys, dtype=float)
