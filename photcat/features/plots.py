"""The UVJ plane as a figure: galaxy density (or a quantity's median) per hexagon, boundary drawn.

Uses matplotlib's object API with the Agg canvas (no pyplot state, no display needed) and
returns the :class:`matplotlib.figure.Figure`; the caller saves it (``fig.savefig(path)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from photcat.features import uvj as uvjmod

VJ_LABEL = "V − J [AB mag]"
UV_LABEL = "U − V [AB mag]"


def _panel(
    ax, uv, vj, z, uvj_preset, z_boundary, color, color_label, extent, gridsize, cmap, vmin, vmax
):
    ok = np.isfinite(uv) & np.isfinite(vj)
    if color is not None:
        ok &= np.isfinite(color)
        hb = ax.hexbin(
            vj[ok],
            uv[ok],
            C=color[ok],
            reduce_C_function=np.median,
            gridsize=gridsize,
            extent=extent,
            cmap=cmap or "coolwarm_r",
            vmin=vmin,
            vmax=vmax,
            mincnt=1,
        )
        label = color_label or "median"
    else:
        hb = ax.hexbin(
            vj[ok],
            uv[ok],
            gridsize=gridsize,
            extent=extent,
            cmap=cmap or "viridis",
            norm=LogNorm(),
            mincnt=1,
        )
        label = "galaxies per cell"
    p = uvjmod.preset(uvj_preset)
    zb = None
    if p.z_dependent:
        zb = z_boundary
        if zb is None:
            zb = float(np.nanmedian(z[ok])) if z is not None and np.isfinite(z[ok]).any() else None
        if zb is None:
            raise ValueError(f"preset {p.name!r} depends on redshift: pass z or z_boundary")
    x, y = uvjmod.boundary_polyline(p.name, z=zb, vj_range=(extent[0], extent[1]), uv_max=extent[3])
    tag = p.name if zb is None else f"{p.name} (z = {zb:.2f})"
    ax.plot(x, y, color="k", lw=1.8, label=tag)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(VJ_LABEL)
    ax.set_ylabel(UV_LABEL)
    ax.legend(loc="upper left", fontsize=7, frameon=True, framealpha=0.85)
    return hb, label


def plot_uvj(
    uv: npt.ArrayLike,
    vj: npt.ArrayLike,
    z: npt.ArrayLike | None = None,
    uvj_preset: str = uvjmod.DEFAULT_PRESET,
    color: npt.ArrayLike | None = None,
    color_label: str | None = None,
    z_boundary: float | None = None,
    zbins: Sequence[float] | None = None,
    extent: tuple[float, float, float, float] = (-0.5, 2.5, 0.0, 2.6),
    gridsize: int = 45,
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    panel_size: float = 3.6,
) -> Figure:
    """Figure of the rest-frame UVJ plane.

    ``uv``, ``vj`` rest-frame colours (AB mag); ``z`` redshifts (for z-dependent presets and
    for ``zbins``); ``color`` optional per-object quantity (e.g. log sSFR [1/yr] or
    P(quiescent)) shown as the median per hexagon, otherwise the galaxy count (log scale);
    ``z_boundary`` redshift at which the boundary is drawn (default: the median z of the
    panel); ``zbins`` edges of redshift bins → one panel per bin, boundary at the bin's
    median z. Returns the Figure (Agg canvas attached).
    """
    uv = np.asarray(uv, dtype=float)
    vj = np.asarray(vj, dtype=float)
    zz = None if z is None else np.broadcast_to(np.asarray(z, dtype=float), uv.shape)
    col = None if color is None else np.asarray(color, dtype=float)
    if col is not None and (vmin is None or vmax is None):
        fin = col[np.isfinite(col)]
        if fin.size:
            lo, hi = np.percentile(fin, [2, 98])
            vmin = lo if vmin is None else vmin
            vmax = hi if vmax is None else vmax
    if zbins is None:
        panels = [(np.ones(uv.shape, bool), None)]
    else:
        if zz is None:
            raise ValueError("zbins needs z")
        edges = list(zbins)
        panels = [
            ((zz >= lo) & (zz < hi), f"{lo:g} ≤ z < {hi:g}")
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
    fig = Figure(figsize=(panel_size * len(panels) + 0.9, panel_size + 0.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    hb, label = None, ""
    for ax, (sel, name) in zip(axes, panels, strict=True):
        zsel = None if zz is None else zz[sel]
        zb = z_boundary
        hb, label = _panel(
            ax,
            uv[sel],
            vj[sel],
            zsel,
            uvj_preset,
            zb,
            None if col is None else col[sel],
            color_label,
            extent,
            gridsize,
            cmap,
            vmin,
            vmax,
        )
        ax.set_title(
            f"{name}  (N = {int(sel.sum()):,})" if name else f"N = {int(sel.sum()):,}", fontsize=9
        )
        if ax is not axes[0]:
            ax.set_ylabel("")
    fig.colorbar(hb, ax=list(axes), label=label, shrink=0.9, pad=0.01)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
