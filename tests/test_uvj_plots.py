"""The UVJ-plane figure: panels, labels, boundary at the right redshift, colour by a quantity."""

from __future__ import annotations

import numpy as np
import pytest

from photcat.features import uvj
from photcat.features.plots import UV_LABEL, VJ_LABEL, plot_uvj


def _sample(n=3000, seed=2):
    rng = np.random.default_rng(seed)
    vj = rng.uniform(-0.3, 2.2, n)
    uv = np.clip(0.6 * vj + 0.5 + rng.normal(0, 0.3, n), 0.05, 2.55)  # inside the extent
    z = rng.uniform(0.1, 2.9, n)
    return uv, vj, z


def test_density_plot_draws_boundary_at_median_z(tmp_path):
    uv, vj, z = _sample()
    z[:] = 0.3  # median 0.3 -> williams09 0-0.5 box (intercept 0.69)
    fig = plot_uvj(uv, vj, z, uvj_preset="williams09")
    ax = fig.axes[0]
    assert ax.get_xlabel() == VJ_LABEL == "V − J [AB mag]"
    assert ax.get_ylabel() == UV_LABEL == "U − V [AB mag]"
    line = ax.get_lines()[0]
    x, y = uvj.boundary_polyline("williams09", z=0.3, vj_range=(-0.5, 2.5), uv_max=2.6)
    np.testing.assert_allclose(line.get_xdata(), x)
    np.testing.assert_allclose(line.get_ydata(), y)
    # the diagonal ends at V-J = 1.6, U-V = 0.88*1.6 + 0.69
    assert y[2] == pytest.approx(0.88 * 1.6 + 0.69)
    counts = ax.collections[0].get_array()
    assert counts.sum() == len(uv)  # every galaxy counted once
    path = tmp_path / "uvj.png"
    fig.savefig(path, dpi=50)
    assert path.stat().st_size > 1000


def test_panels_by_redshift_and_colour_quantity():
    uv, vj, z = _sample()
    ssfr = -9 - 1.5 * (uv > 1.5)
    fig = plot_uvj(
        uv,
        vj,
        z,
        uvj_preset="muzzin13",
        color=ssfr,
        color_label="log sSFR [1/yr]",
        zbins=[0, 1, 2, 3],
    )
    panels = [a for a in fig.axes if a.get_xlabel() == VJ_LABEL]
    assert len(panels) == 3
    # the boundary in the 1-2 panel uses muzzin13's z > 1 intercept 0.59
    y = panels[1].get_lines()[0].get_ydata()
    assert y[2] == pytest.approx(0.88 * 1.5 + 0.59)
    cbar = [a for a in fig.axes if a not in panels][0]
    assert cbar.get_ylabel() == "log sSFR [1/yr]"
    # medians per hexagon come from the quantity: only the two input values occur
    vals = np.unique(np.round(panels[0].collections[0].get_array(), 6))
    assert set(vals) <= {-10.5, -9.0, -9.75}


def test_needs_redshift_for_z_dependent_preset():
    uv, vj, _ = _sample(100)
    with pytest.raises(ValueError, match="depends on redshift"):
        plot_uvj(uv, vj, None, uvj_preset="whitaker11")
    fig = plot_uvj(uv, vj, None, uvj_preset="line")
    assert fig.axes[0].get_lines()[0].get_ydata()[0] == pytest.approx(0.8 * -0.5 + 0.7)
