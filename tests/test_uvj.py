"""UVJ presets: points on each side of every edge, in every redshift bin, for every preset.

The paper constants are typed here independently of photcat.features.uvj, so a typo in the
module's table fails these tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from photcat.features import uvj

# (z_lo, z_hi, slope, intercept, u_min, vj_max) as published (see docs/uvj.md)
PAPER = {
    "williams09": [
        (0.0, 0.5, 0.88, 0.69, 1.3, 1.6),
        (0.5, 1.0, 0.88, 0.59, 1.3, 1.6),
        (1.0, 2.0, 0.88, 0.49, 1.3, 1.6),
    ],
    "whitaker11": [
        (0.0, 1.5, 0.88, 0.59, 1.3, 1.6),
        (1.5, 2.0, 0.88, 0.59, 1.3, 1.5),
        (2.0, 3.5, 0.88, 0.59, 1.2, 1.4),
    ],
    "muzzin13": [
        (0.0, 1.0, 0.88, 0.69, 1.3, 1.5),
        (1.0, 4.0, 0.88, 0.59, 1.3, 1.5),
    ],
}
EPS = 0.01


def _edge_cases():
    """(preset, z, vj, uv, expected_quiescent, edge) just inside/outside each edge."""
    cases = []
    for name, bins in PAPER.items():
        for zlo, zhi, s, c, umin, vjmax in bins:
            z = 0.5 * (zlo + zhi)
            corner_vj = (umin - c) / s  # floor meets diagonal
            top_uv = s * vjmax + c  # diagonal meets red edge
            # floor: left of the corner, above/below U-V = umin
            cases += [
                (name, z, corner_vj - 0.3, umin + EPS, True, "floor"),
                (name, z, corner_vj - 0.3, umin - EPS, False, "floor"),
            ]
            # diagonal: midway between the corners, above/below the line
            vj_mid = 0.5 * (corner_vj + vjmax)
            uv_mid = s * vj_mid + c
            cases += [
                (name, z, vj_mid, uv_mid + EPS, True, "diagonal"),
                (name, z, vj_mid, uv_mid - EPS, False, "diagonal"),
            ]
            # red edge: above the top corner, left/right of V-J = vjmax
            cases += [
                (name, z, vjmax - EPS, top_uv + 0.3, True, "red edge"),
                (name, z, vjmax + EPS, top_uv + 0.3, False, "red edge"),
            ]
    # the single line: U-V = 0.8 (V-J) + 0.7, any redshift
    for vj in (-0.5, 0.5, 1.5, 2.5):
        for z in (0.1, 1.0, 5.0):
            cases += [
                ("line", z, vj, 0.8 * vj + 0.7 + EPS, True, "line"),
                ("line", z, vj, 0.8 * vj + 0.7 - EPS, False, "line"),
            ]
    return cases


@pytest.mark.parametrize("name,z,vj,uv,expected,edge", _edge_cases())
def test_each_side_of_every_edge(name, z, vj, uv, expected, edge):
    q = uvj.uvj_quiescent(np.array([uv]), np.array([vj]), np.array([z]), name)[0]
    d = uvj.uvj_distance(np.array([uv]), np.array([vj]), np.array([z]), name)[0]
    assert q == expected, (name, z, edge, vj, uv, d)
    assert np.sign(d) == (1 if expected else -1)
    # just across one edge: the distance is the perpendicular offset (EPS, or EPS*cos for the
    # diagonal) — small, not a far-away edge
    assert abs(d) <= EPS + 1e-12


def test_vectorised_over_mixed_bins_matches_scalar():
    cases = _edge_cases()
    names = sorted({c[0] for c in cases})
    for name in names:
        sel = [c for c in cases if c[0] == name]
        z = np.array([c[1] for c in sel])
        vj = np.array([c[2] for c in sel])
        uv = np.array([c[3] for c in sel])
        exp = np.array([c[4] for c in sel])
        np.testing.assert_array_equal(uvj.uvj_quiescent(uv, vj, z, name), exp)


def test_williams_intercept_changes_with_redshift():
    # On U-V = 0.88 (V-J) + 0.64: above the 0.59 and 0.49 lines, below the 0.69 line
    vj = 1.2
    uv = 0.88 * vj + 0.64
    z = np.array([0.25, 0.75, 1.5])
    got = uvj.uvj_quiescent(np.full(3, uv), np.full(3, vj), z, "williams09")
    np.testing.assert_array_equal(got, [False, True, True])
    # muzzin13: +0.69 below z=1, +0.59 above
    got = uvj.uvj_quiescent(np.full(2, uv), np.full(2, vj), np.array([0.5, 2.0]), "muzzin13")
    np.testing.assert_array_equal(got, [False, True])


def test_whitaker_high_z_edges():
    # V-J = 1.45: inside below z=1.5 (edge 1.6) and 1.5-2 (1.5), outside at 2-3.5 (1.4)
    vj, uv = 1.45, 2.3
    got = uvj.uvj_quiescent(np.full(3, uv), np.full(3, vj), np.array([1.0, 1.7, 2.5]), "whitaker11")
    np.testing.assert_array_equal(got, [True, True, False])
    # U-V = 1.25 left of the corner: quiescent only where the floor is 1.2 (z >= 2)
    got = uvj.uvj_quiescent(np.full(2, 1.25), np.full(2, 0.2), np.array([1.0, 2.5]), "whitaker11")
    np.testing.assert_array_equal(got, [False, True])


def test_distance_values_by_hand():
    # line: perpendicular distance = residual / sqrt(1 + 0.8^2)
    d = uvj.uvj_distance([0.7 + 0.5], [0.0], None, "line")[0]
    assert d == pytest.approx(0.5 / np.sqrt(1.64))
    # williams09 at z=0.25, point (V-J, U-V) = (0.8, 2.0): floor 0.7, red edge 0.8,
    # diagonal (2.0 - 0.88*0.8 - 0.69)/sqrt(1+0.88^2) = 0.606/1.3321 = 0.4549 -> min
    d = uvj.uvj_distance([2.0], [0.8], [0.25], "williams09")[0]
    assert d == pytest.approx((2.0 - 0.88 * 0.8 - 0.69) / np.hypot(1, 0.88))
    # outside, below the floor far left: distance = U-V - 1.3
    d = uvj.uvj_distance([0.5], [-0.5], [0.25], "williams09")[0]
    assert d == pytest.approx(min(0.5 - 1.3, (0.5 + 0.88 * 0.5 - 0.69) / np.hypot(1, 0.88)))


def test_distance_is_continuous_and_1_lipschitz():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 4001)
    step = 1 / 4000
    for name in uvj.PRESETS:
        for _ in range(5):
            a, b = rng.uniform(-0.5, 2.8, size=(2, 2))
            vj = a[0] + (b[0] - a[0]) * t
            uv = a[1] + (b[1] - a[1]) * t
            d = uvj.uvj_distance(uv, vj, 0.7, name)
            seglen = np.hypot(b[0] - a[0], b[1] - a[1]) * step
            assert np.max(np.abs(np.diff(d))) <= seglen * (1 + 1e-9)


def test_redshift_handling():
    # beyond the last calibrated bin: the last bin is used, and reported as outside the range
    d_hi = uvj.uvj_distance([1.5], [0.5], [3.0], "williams09")
    d_last = uvj.uvj_distance([1.5], [0.5], [1.5], "williams09")
    np.testing.assert_array_equal(d_hi, d_last)
    np.testing.assert_array_equal(
        uvj.outside_calibrated_range([0.3, 1.9, 2.0, 3.0], "williams09"), [False, False, True, True]
    )
    # bins are [lo, hi): z = 0.5 uses the 0.5-1 bin
    assert uvj.preset("williams09").bin_for(0.5).intercept == 0.59
    # NaN z: undefined distance, not quiescent; z-independent preset ignores z
    assert np.isnan(uvj.uvj_distance([2.0], [0.8], [np.nan], "williams09")[0])
    assert not uvj.uvj_quiescent([2.0], [0.8], [np.nan], "williams09")[0]
    assert uvj.uvj_quiescent([2.0], [0.8], None, "line")[0]
    with pytest.raises(ValueError, match="depends on redshift"):
        uvj.uvj_distance([2.0], [0.8], None, "muzzin13")
    with pytest.raises(KeyError, match="unknown UVJ preset"):
        uvj.preset("nope")
    assert np.isnan(uvj.uvj_distance([np.nan], [0.8], [0.3], "muzzin13")[0])


def test_boundary_polyline_lies_on_the_boundary():
    for name in uvj.PRESETS:
        for z in (0.3, 0.8, 1.2, 1.7, 2.5):
            x, y = uvj.boundary_polyline(name, z=z)
            # interior points of each segment have distance ~0 (on the boundary)
            xm, ym = 0.5 * (x[1:] + x[:-1]), 0.5 * (y[1:] + y[:-1])
            d = uvj.uvj_distance(ym, xm, np.full(xm.shape, z), name)
            np.testing.assert_allclose(d, 0.0, atol=1e-9)
