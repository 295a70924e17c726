"""Bad input to the feature builders and to prediction: property-based (hypothesis).

Models: a KNN photo-z and a logistic quiescent classifier, fitted once per module on the
shipped SDSS sample (label: the u−r ≥ 2.22 colour cut of Strateva et al. 2001, so no
rest-frame fit is needed). The property: ``FeatureSpec.build`` and
``photcat.pipeline.vac.predict_columns`` either raise a clear error naming the problem, or
return one output row per input row, aligned with the input (identifiers and order kept),
where every value not flagged is finite and every value that is NaN is explained by a flag.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import photcat.catalogs as cat
from photcat.features import flags as ff
from photcat.features.spec import FeatureSpec
from photcat.models import registry
from photcat.pipeline import vac
from photcat.pipeline.loader import LoadedModel

BANDS = ("u", "g", "r", "i", "z")
GRID = np.linspace(0.0, 1.0, 21)
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: bounded run time
)


@pytest.fixture(scope="module")
def models() -> list[LoadedModel]:
    t = cat.sample("sdss-gst").table
    t = t[t["flag_zspec"].to_numpy() == 0].reset_index(drop=True)
    spec = FeatureSpec(bands=BANDS, reference_band="r", flag_policy="drop")
    feats = spec.build(t)
    ok = feats.usable
    X = feats.X[ok]
    z = t["z_spec"].to_numpy()[ok]
    quiescent = (t["mag_u"] - t["mag_r"]).to_numpy()[ok] >= 2.22
    lo, hi = X.min(axis=0), X.max(axis=0)
    pz = registry.build("knn", seed=0).fit(X[:3000], z[:3000])
    qc = registry.build("logistic", seed=0).fit(X[:3000], quiescent[:3000].astype(float))
    return [
        LoadedModel("", "photoz", pz, spec, lo, hi, {}),
        LoadedModel("", "quiescent", qc, spec, lo, hi, {}),
    ]


# ---------------------------------------------------------------------------- tables

MAG = st.one_of(
    st.floats(14.0, 24.0),
    st.floats(14.0, 24.0),
    st.floats(14.0, 24.0),
    st.sampled_from([math.nan, math.inf, -math.inf, -9999.0, 99.0, -99.0, 999.0, 9999.0]),
)
ERR = st.one_of(
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.sampled_from([math.nan, math.inf, -0.1, -9999.0, 99.0, 1e6]),
)
FLAG = st.one_of(st.just(0), st.just(0), st.just(0), st.sampled_from([1, 2, 4, 32, 256, 65535]))


@st.composite
def tables(draw) -> pd.DataFrame:
    n = draw(st.sampled_from([0, 1, 2, 7, 30]))
    d: dict[str, object] = {}
    kind = draw(st.sampled_from(["int", "int-dup", "str"]))
    if kind == "str":
        d["object_id"] = np.array([f"obj-{i % 4}-ü" for i in range(n)], dtype=object)
    else:
        d["object_id"] = np.arange(n) if kind == "int" else np.arange(n) % 3
    for b in BANDS:
        d[f"mag_{b}"] = np.array(draw(st.lists(MAG, min_size=n, max_size=n)), float)
        d[f"magerr_{b}"] = np.array(draw(st.lists(ERR, min_size=n, max_size=n)), float)
        d[f"flag_{b}"] = np.array(draw(st.lists(FLAG, min_size=n, max_size=n)), np.uint16)
    if n and draw(st.booleans()):  # every band flagged in some rows
        for r in draw(st.lists(st.integers(0, n - 1), max_size=n)):
            for b in BANDS:
                d[f"flag_{b}"][r] = 1
    t = pd.DataFrame(d)
    if draw(st.booleans()):  # wrong dtype: a magnitude column of text (numbers and words)
        b = draw(st.sampled_from(BANDS))
        words = draw(st.lists(st.sampled_from(["", "abc", "20.5"]), min_size=n, max_size=n))
        t[f"mag_{b}"] = pd.Series([w or None for w in words], dtype=object, index=t.index)
    index = draw(st.sampled_from(["range", "shuffled", "duplicated"]))
    if index == "shuffled":
        t.index = np.random.default_rng(n).permutation(n) + 100
    elif index == "duplicated":
        t.index = np.zeros(n, dtype=int)
    return t


def _good_rows(t: pd.DataFrame) -> np.ndarray:
    """Oracle: rows where every band's magnitude (a plausible -5 to 31 AB mag) and error are
    usable numbers."""
    ok = np.ones(len(t), bool)
    for b in BANDS:
        m = pd.to_numeric(t[f"mag_{b}"], errors="coerce").to_numpy(float)
        e = pd.to_numeric(t[f"magerr_{b}"], errors="coerce").to_numpy(float)
        with np.errstate(over="ignore", invalid="ignore"):
            ok &= np.isfinite(m.astype(np.float32)) & np.isfinite(e.astype(np.float32))
            ok &= (e >= 0) & (t[f"flag_{b}"].to_numpy() == 0) & (m >= -5) & (m <= 31)
    return ok


def _check_predictions(t: pd.DataFrame, cols: pd.DataFrame, arrays: dict) -> None:
    n = len(t)
    assert len(cols) == n and cols.index.equals(t.index)
    joined = pd.concat([t.reset_index(drop=True), cols.reset_index(drop=True)], axis=1)
    np.testing.assert_array_equal(joined["object_id"].to_numpy(), t["object_id"].to_numpy())
    flag = cols["flag_photcat"].to_numpy()
    assert flag.dtype == np.uint16
    pz = cols[["photoz_mean", "photoz_std", "photoz_q16", "photoz_q50", "photoz_q84"]].to_numpy()
    predicted = np.isfinite(pz).all(axis=1)
    not_pz = (flag & vac.PHOTOZ_NOT_PREDICTED) > 0
    # every row is either predicted with finite values, or flagged and entirely NaN
    np.testing.assert_array_equal(predicted, ~not_pz)
    assert np.isnan(pz[not_pz]).all()
    q16, q50, q84 = pz[predicted, 2:].T
    assert np.all(q16 <= q50) and np.all(q50 <= q84) and np.all(pz[predicted, 1] >= 0)
    p = cols["p_quiescent"].to_numpy()
    not_q = (flag & vac.QUIESCENT_NOT_PREDICTED) > 0
    np.testing.assert_array_equal(np.isfinite(p), ~not_q)
    assert np.all((p[~not_q] >= 0) & (p[~not_q] <= 1))
    for name, arr in arrays.items():
        assert arr.shape[0] == n, name
        assert np.isfinite(arr[predicted]).all(), name
        assert np.isnan(arr[not_pz]).all(), name
    if n:
        np.testing.assert_allclose(arrays["photoz_weights"][predicted].sum(axis=1), 1, rtol=1e-5)
    # the rows a careful reader would call clean are all predicted
    assert not (not_pz & _good_rows(t)).any()


@SETTINGS
@given(t=tables())
def test_predict_columns_property(models, t):
    try:
        cols, arrays = vac.predict_columns(t, models, grid=GRID)
    except (KeyError, ValueError) as exc:  # must name a column of the table
        assert any(c in str(exc) for c in t.columns), str(exc)
        return
    _check_predictions(t, cols, arrays)


@SETTINGS
@given(t=tables(), policy=st.sampled_from(["drop", "impute", "mask"]))
def test_feature_build_property(t, policy):
    spec = FeatureSpec(
        bands=BANDS,
        reference_band="r",
        include_errors=True,
        flag_policy=policy,
        limits=tuple((b, 24.0) for b in BANDS) if policy == "impute" else None,
    )
    f = spec.build(t)
    n = len(t)
    assert f.X.shape == (n, len(spec.feature_names)) and f.X.dtype == np.float32
    assert f.usable.shape == f.flags.shape == (n,)
    # a usable row has only finite features; an unusable row says why
    assert np.isfinite(f.X[f.usable]).all()
    assert np.all(f.flags[~f.usable] != 0)
    good = _good_rows(t)
    assert f.usable[good].all()  # clean rows are never lost
    assert np.all(f.flags[~good] & ff.BAND_MISSING)
    assert f.counts["rows"] == n and f.counts["usable"] == int(f.usable.sum())


def _clean_table(n: int = 4) -> pd.DataFrame:
    t = pd.DataFrame({"object_id": np.arange(n)})
    for k, b in enumerate(BANDS):
        t[f"mag_{b}"] = 18.0 + 0.4 * k
        t[f"magerr_{b}"] = 0.05
        t[f"flag_{b}"] = np.zeros(n, np.uint16)
    return t


def test_unflagged_absurd_magnitude_is_flagged_not_fatal(models):
    t = _clean_table()
    t.loc[1, "mag_z"] = 1e300
    cols, arrays = vac.predict_columns(t, models, grid=GRID)
    _check_predictions(t, cols, arrays)
    assert cols["flag_photcat"].iloc[1] & vac.PHOTOZ_NOT_PREDICTED


def test_unflagged_huge_magnitude_is_flagged_not_fatal(models):
    t = _clean_table()
    t.loc[2, "mag_z"] = 1e30
    cols, arrays = vac.predict_columns(t, models, grid=GRID)
    _check_predictions(t, cols, arrays)


def test_missing_band_column_is_named(models):
    t = pd.DataFrame({"object_id": [1], **{f"mag_{b}": [20.0] for b in BANDS}})
    for b in BANDS:
        t[f"magerr_{b}"] = 0.1
    t = t.drop(columns=["magerr_i"])
    with pytest.raises(KeyError, match="magerr_i"):
        vac.predict_columns(t, models, grid=GRID)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.sampled_from(["good", "nan", "sentinel", "text", "huge_err"]), max_size=12))
def test_file_to_predictions_keeps_every_row(models, rows):
    """read -> predict on a CSV with bad rows: every object once, in order, flags explain NaN."""
    cells = {
        "good": ("21.0", "0.05"),
        "nan": ("", "0.1"),
        "sentinel": ("-9999", "0.1"),
        "text": ("bright", "0.1"),
        "huge_err": ("21.0", "1e9"),
    }
    lines = ["objID," + ",".join(f"modelMag_{b},modelMagErr_{b}" for b in BANDS)]
    for i, kind in enumerate(rows):
        vals = []
        for k in range(len(BANDS)):
            m, e = cells[kind] if k == 2 else (str(20.0 + 0.3 * k), "0.05")
            vals += [m, e]
        lines.append(f"{1000 + i % 5}," + ",".join(vals))  # duplicated identifiers
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "cat.csv"
        p.write_text("\n".join(lines) + "\n")
        try:
            c = cat.read(p, "sdss")
        except cat.CatalogError as exc:  # only when every r value is text
            assert rows and all(r == "text" for r in rows) and "modelMag_r" in str(exc)
            return
    cols, arrays = vac.predict_columns(c.table, models, grid=GRID)
    _check_predictions(c.table, cols, arrays)
    assert c.table["object_id"].tolist() == [1000 + i % 5 for i in range(len(rows))]
    bad = np.array([r != "good" for r in rows], bool)
    np.testing.assert_array_equal((cols["flag_photcat"].to_numpy() & 1) > 0, bad)
