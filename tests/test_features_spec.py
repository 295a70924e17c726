"""FeatureSpec: columns, errors, flag policies (with counts), persistence round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from photcat.features import flags as ff
from photcat.features.spec import FeatureSpec, build

BANDS = ("u", "g", "r", "i", "z")


def _table(n=10, seed=0):
    rng = np.random.default_rng(seed)
    t = {"object_id": np.arange(n, dtype=np.int64)}
    base = rng.uniform(16, 19, n)
    for k, b in enumerate(BANDS):
        t[f"mag_{b}"] = base + 1.5 - 0.4 * k + rng.normal(0, 0.1, n)
        t[f"magerr_{b}"] = rng.uniform(0.01, 0.1, n)
        t[f"flag_{b}"] = np.zeros(n, dtype=np.uint16)
    t = pd.DataFrame(t)
    # row 1: u flagged (NaN + flag bit, as photcat.catalogs writes it)
    t.loc[1, "mag_u"] = np.nan
    t.loc[1, "flag_u"] = 4
    # row 2: g magnitude NaN without a flag; row 3: r error NaN
    t.loc[2, "mag_g"] = np.nan
    t.loc[3, "magerr_r"] = np.nan
    # row 4: only z good -> too few bands
    for b in ("u", "g", "r", "i"):
        t.loc[4, f"mag_{b}"] = np.nan
        t.loc[4, f"flag_{b}"] = 1
    # row 5: a flag set while the value is finite still counts as missing
    t.loc[5, "flag_i"] = 2
    return t


def test_adjacent_colours_values_and_errors():
    t = _table()
    f = FeatureSpec(BANDS, reference_band="r").build(t)
    assert f.names == ("u-g", "g-r", "r-i", "i-z", "mag_r")
    assert f.X.dtype == np.float32 and f.errors.dtype == np.float32
    assert f.X.shape == f.errors.shape == (10, 5)
    good = [0, 6, 7, 8, 9]
    np.testing.assert_allclose(f.X[good, 0], (t.mag_u - t.mag_g).to_numpy()[good], rtol=1e-6)
    np.testing.assert_allclose(
        f.errors[good, 1], np.hypot(t.magerr_g, t.magerr_r).to_numpy()[good], rtol=1e-6
    )
    np.testing.assert_allclose(f.X[good, 4], t.mag_r.to_numpy()[good], rtol=1e-6)


def test_named_pairs_and_error_columns():
    spec = FeatureSpec(BANDS, colours=[("g", "i"), ("u", "z")], include_errors=True)
    f = spec.build(_table())
    assert f.names == ("g-i", "u-z", "err_g-i", "err_u-z")
    np.testing.assert_array_equal(f.X[:, 2:], f.errors[:, :2])
    assert (f.errors[:, 2:] == 0).all()


def test_drop_policy_counts():
    f = FeatureSpec(BANDS, reference_band="r", flag_policy="drop").build(_table())
    # rows 1-5 each miss a band
    np.testing.assert_array_equal(np.flatnonzero(~f.usable), [1, 2, 3, 4, 5])
    assert f.counts["usable"] == 5 and f.counts["dropped"] == 5
    assert f.counts["missing_u"] == 2 and f.counts["missing_g"] == 2
    assert f.counts["missing_r"] == 2 and f.counts["missing_i"] == 2 and f.counts["missing_z"] == 0
    assert f.counts["too_few_bands"] == 1 and f.counts["reference_missing"] == 2
    assert np.isfinite(f.X[f.usable]).all()
    assert np.isnan(f.X[1, 0])  # u-g of the row without u stays NaN
    assert f.flags[4] & ff.TOO_FEW_BANDS and f.flags[4] & ff.DROPPED
    assert f.flags[0] == 0


def test_impute_policy_uses_training_limits():
    train = _table(200, seed=3)
    spec = FeatureSpec(BANDS, reference_band="r", flag_policy="impute").with_limits(train)
    lim = dict(spec.limits)
    good_u = train.mag_u[train.flag_u == 0].dropna()
    assert lim["u"] == pytest.approx(np.quantile(good_u, 0.99))
    t = _table()
    f = spec.build(t)
    # all rows usable except the one with a single good band
    np.testing.assert_array_equal(np.flatnonzero(~f.usable), [4])
    assert f.counts["imputed"] == 5
    assert np.isfinite(f.X[f.usable]).all()
    # row 1: u imputed at the limit, error 1.0 mag in quadrature with g's error
    assert f.X[1, 0] == pytest.approx(lim["u"] - t.mag_g[1], rel=1e-6)
    assert f.errors[1, 0] == pytest.approx(np.hypot(1.0, t.magerr_g[1]), rel=1e-6)
    # row 5: flagged i is imputed although its value was finite
    assert f.X[5, 2] == pytest.approx(t.mag_r[5] - lim["i"], rel=1e-6)
    with pytest.raises(ValueError, match="with_limits"):
        FeatureSpec(BANDS, flag_policy="impute").build(t)


def test_mask_policy_zeroes_and_marks():
    spec = FeatureSpec(BANDS, reference_band="r", flag_policy="mask")
    f = spec.build(_table())
    assert f.names[-5:] == ("mask_u", "mask_g", "mask_r", "mask_i", "mask_z")
    assert np.isfinite(f.X).all() and np.isfinite(f.errors).all()
    mask = f.X[:, -5:]
    assert mask.sum() == 8  # 1 + 1 + 1 + 4 + 1 missing band entries
    np.testing.assert_array_equal(mask[1], [1, 0, 0, 0, 0])
    assert f.X[1, 0] == 0.0 and f.errors[1, 0] == 0.0  # u-g
    assert f.X[1, 1] != 0.0  # g-r unaffected
    np.testing.assert_array_equal(np.flatnonzero(~f.usable), [4])
    assert f.counts["masked"] == 5


@pytest.mark.parametrize("policy", ["drop", "impute", "mask"])
def test_round_trip_rebuilds_identical_columns(policy):
    train = _table(300, seed=5)
    spec = FeatureSpec(
        BANDS,
        colours=[("u", "g"), ("g", "r"), ("r", "z")],
        reference_band="i",
        include_errors=True,
        flag_policy=policy,
        min_bands=3,
    )
    if policy == "impute":
        spec = spec.with_limits(train)
    text = json.dumps(spec.to_dict())
    again = FeatureSpec.from_dict(json.loads(text))
    assert again == spec
    assert FeatureSpec.from_json(spec.to_json()) == spec
    a, b = spec.build(train), again.build(train)
    assert a.names == b.names
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.errors, b.errors)
    np.testing.assert_array_equal(a.usable, b.usable)
    np.testing.assert_array_equal(a.flags, b.flags)


def test_errors_name_the_problem():
    t = _table().drop(columns=["magerr_i"])
    with pytest.raises(KeyError, match="magerr_i.*band 'i'"):
        FeatureSpec(BANDS).build(t)
    with pytest.raises(ValueError, match="band 'y' not in bands"):
        FeatureSpec(BANDS, colours=[("z", "y")])
    with pytest.raises(ValueError, match="flag_policy"):
        FeatureSpec(BANDS, flag_policy="ignore")
    with pytest.raises(ValueError, match="reference_band"):
        FeatureSpec(BANDS, reference_band="k")
    with pytest.raises(ValueError, match="unknown FeatureSpec keys"):
        FeatureSpec.from_dict({**FeatureSpec(BANDS).to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="no good magnitudes"):
        t2 = _table()
        t2["mag_z"] = np.nan
        FeatureSpec(BANDS, flag_policy="impute").with_limits(t2)


def test_on_real_sdss_catalogue():
    from photcat.catalogs import sample

    cat = sample("sdss-gst")
    spec = FeatureSpec(cat.bands[:5], reference_band="r")
    f = build(cat, spec)
    # 16 rows have a flagged u (12 non-positive fluxes, 4 errors > 5 mag), 1 a flagged i
    # (that row also lacks u): 9984 usable
    assert f.counts["missing_u"] == 16 and f.counts["missing_i"] == 1
    flagged = (cat.table[[f"flag_{b}" for b in "ugriz"]] != 0).any(axis=1).to_numpy()
    np.testing.assert_array_equal(~f.usable, flagged)
    assert f.counts["usable"] == 9984
    assert np.isfinite(f.X[f.usable]).all()
    # real SDSS galaxies: median g-r of the main sample is red-ish, 0.6-1.0
    assert 0.6 < np.median(f.X[f.usable, 1]) < 1.0


def test_import_is_light():
    """`import photcat.features` pulls in neither kcorrect, matplotlib nor tensorflow."""
    import subprocess
    import sys

    code = (
        "import sys, photcat.features; "
        "print(sorted(m for m in ('kcorrect', 'matplotlib', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_error_features_need_errors():
    """A band from a catalogue without errors is good for colours, but error features
    cannot be built from it: with include_errors it counts as missing (found by hypothesis)."""
    t = _table()
    t["magerr_u"] = np.nan  # the whole band has no errors
    plain = FeatureSpec(BANDS, reference_band="r").build(t)
    assert plain.usable[0] and np.isnan(plain.errors[0, 0])
    with_err = FeatureSpec(BANDS, reference_band="r", include_errors=True).build(t)
    assert not with_err.usable.any() and with_err.counts["missing_u"] == len(t)
    assert np.isfinite(with_err.X[with_err.usable]).all()
