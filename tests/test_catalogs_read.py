"""photcat.catalogs.read on every real data set: row and flag counts checked independently."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

import photcat.catalogs as cat
from photcat.catalogs import flags as F
from photcat.catalogs import validate as V
from tests.conftest import shared_path


def _counts_add_up(rep):
    assert rep.rows_usable_prediction + rep.rows_unusable_prediction == rep.rows_in
    assert rep.rows_usable_training + rep.rows_prediction_only == rep.rows_usable_prediction


def test_annz_train_counts_match_raw_file():
    path = shared_path("annz_sdss", "sdss.ugriz.train")
    raw = np.loadtxt(path)
    c = cat.read(path, "annz")
    assert len(c.table) == raw.shape[0] == 5000
    mags, errs, z = raw[:, :5], raw[:, 5:10], raw[:, 10]
    bad = (mags > 31) | (errs > 5) | (errs < 0)
    for k, b in enumerate("ugriz"):
        assert c.report.band_flags[b]["faint_or_absurd_mag"] == int((mags[:, k] > 31).sum())
        assert c.report.band_flags[b]["error_above_5mag"] == int((errs[:, k] > 5).sum())
    assert c.report.rows_all_required_good == int((~bad.any(axis=1)).sum())
    # measured: good, or a non-detection (error > 5 mag) kept as a flux; a row with three
    # measured bands is predicted. Only the row with four placeholder magnitudes (> 31 mag
    # with small errors: PROVENANCE) has fewer.
    measured = (~bad | (errs > 5)).sum(axis=1)
    assert c.report.rows_usable_prediction == int((measured >= 3).sum()) == 4999
    # flagged values are NaN in the table, good ones are exactly the file's values
    good = ~bad[:, 0]
    np.testing.assert_array_equal(c.table["mag_u"].to_numpy()[good], mags[good, 0])
    assert np.isnan(c.table["mag_u"].to_numpy()[~good]).all()
    np.testing.assert_array_equal(c.table["z_spec"].to_numpy(), z)
    _counts_add_up(c.report)


def test_annz_valid_placeholder_magnitudes_are_flagged():
    path = shared_path("annz_sdss", "sdss.ugriz.valid")
    raw = np.loadtxt(path)
    c = cat.read(path, "annz")
    assert c.report.rows_in == 1000
    placeholder = (raw[:, :5] > 31).any(axis=1)  # g = 33.1 and 32.2 mag with tiny errors
    assert placeholder.sum() == 2
    assert c.report.rows_all_required_good == 1000 - int(placeholder.sum())
    assert c.report.rows_usable_training == 1000  # each keeps three measured bands


def test_boss_counts_match_raw_file():
    path = shared_path("boss_dr10_annz2", "boss_dr10_ugriz_specz.csv.gz")
    with gzip.open(path, "rt") as fh:
        raw = pd.read_csv(fh)
    c = cat.read(path, "annz2")
    assert c.report.rows_in == len(raw) == 28610
    for b in "ugriz":
        err = raw[f"MAGERR_{b.upper()}"].to_numpy()
        assert c.report.band_flags[b]["error_above_5mag"] == int((err > 5).sum())
    assert c.report.band_flags["u"]["error_above_5mag"] == 4674
    assert c.report.z_flags["z_negative"] == int((raw["Z"] < 0).sum())
    good = (raw[[f"MAGERR_{b}" for b in "UGRIZ"]].to_numpy() <= 5).all(axis=1)
    good &= (raw[[f"MAG_{b}" for b in "UGRIZ"]].to_numpy() <= 31).all(axis=1)
    assert c.report.rows_all_required_good == int(good.sum())
    # every band of every row is measured (non-detections are kept as fluxes): all usable
    assert c.report.rows_usable_prediction == len(raw)
    assert c.report.rows_usable_training == int((raw["Z"] >= 0).sum())
    assert np.isnan(c.table["z_spec"].to_numpy()[raw["Z"].to_numpy() < 0]).all()
    # ANNz2 has no identifier column: object_id is the row number in the file
    np.testing.assert_array_equal(c.table["object_id"], np.arange(len(raw)))
    _counts_add_up(c.report)


def test_gst_flux_form_with_2mass_and_extinction():
    path = shared_path("kcorrect_gst_sdss", "gst_tests_small.fits")
    d = fits.getdata(path)
    c = cat.read(path, "sdss")
    assert c.report.rows_in == 10000
    assert c.bands == ("u", "g", "r", "i", "z", "j", "h", "ks")
    assert c.required_bands == ("u", "g", "r", "i", "z")
    flux = d["MODELFLUX"].astype(float)
    assert c.report.band_flags["u"]["nonpositive_flux"] == int((flux[:, 0] <= 0).sum()) == 12
    # SDSS -> AB offsets (kcorrect sdss_ab_correct: u -0.036 g +0.012 r +0.010 i +0.028 z +0.040)
    for k, (b, off) in enumerate(zip("ugriz", (-0.036, 0.012, 0.010, 0.028, 0.040), strict=True)):
        good = (flux[:, k] > 0) & np.isfinite(c.table[f"mag_{b}"].to_numpy())
        assert good.sum() >= 9980
        expected = 22.5 - 2.5 * np.log10(flux[good, k]) - d["EXTINCTION"][good, k] + off
        got = c.table[f"mag_{b}"].to_numpy()[good]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=b)
    assert c.report.extinction_corrected
    assert c.meta["ab_offsets"]["u"] == -0.036
    # 2MASS: 0 means missing; Vega -> AB +0.902, 1.380, 1.847 (kcorrect 5.1.9 vega2ab);
    # extinction from E(B-V) = A_r / 2.751 times 0.902, 0.576, 0.367 (SFD98 Table 6)
    ebv = d["EXTINCTION"][:, 2] / 2.751
    for b, col, v2ab, a in (("j", "J", 0.902, 0.902), ("h", "H", 1.380, 0.576), ("ks", "K", 1.847, 0.367)):  # fmt: skip
        m = d[f"{col}_M_EXT"].astype(float)
        assert c.report.band_flags[b]["missing"] == int((m == 0).sum())
        expected = m + v2ab - a * ebv
        np.testing.assert_allclose(
            c.table[f"mag_{b}"].to_numpy()[m > 0], expected[m > 0], rtol=0, atol=1e-5
        )
        np.testing.assert_allclose(c.table[f"extinction_{b}"], a * ebv, rtol=1e-6)
    # the numbers quoted in the issue: median A_J 0.023 mag, 95th percentile 0.066
    assert round(float(np.median(0.902 * ebv)), 3) == 0.023
    assert round(float(np.percentile(0.902 * ebv, 95)), 3) == 0.066
    _counts_add_up(c.report)


def test_sample_is_the_shipped_gst_table():
    c = cat.sample("sdss-gst")
    # 16 rows have a band with a zero or negative flux: a measurement, not a good magnitude
    assert len(c) == 10000 and c.report.rows_all_required_good == 9984
    assert c.report.rows_usable_training == 10000
    assert c.meta["input_sha256"] and c.meta["extinction_corrected"] is True


def test_user_mapping_schema_with_vega_nir(tmp_path):
    rng = np.random.default_rng(2)
    n = 40
    df = pd.DataFrame({"ID": [f"obj{i}" for i in range(n)]})
    for b in ("G", "R", "I", "Z", "Y"):
        df[f"{b}_MAG"] = rng.uniform(18, 24, n)
        df[f"{b}_ERR"] = rng.uniform(0.01, 0.3, n)
    df["JMAG"], df["JERR"] = rng.uniform(16, 20, n), 0.1
    df.loc[0, "JMAG"] = np.nan
    path = tmp_path / "user.parquet"
    df.to_parquet(path)
    schema = {
        "name": "des-like",
        "bands": ["g", "r", "i", "z", "y"],
        "mag": "{B}_MAG",
        "magerr": "{B}_ERR",
        "id": "ID",
        "optional_bands": {"j": {"mag": "JMAG", "magerr": "JERR", "system": "Vega"}},
    }
    c = cat.read(path, schema)
    assert c.bands == ("g", "r", "i", "z", "y", "j")
    assert c.table["object_id"].iloc[1] == "obj1"
    np.testing.assert_allclose(c.table["mag_j"].iloc[1:], df["JMAG"].iloc[1:] + 0.902)
    assert c.table["flag_j"].iloc[0] == F.MISSING
    assert c.report.rows_usable_prediction == n  # an optional band never blocks prediction
    assert not c.report.has_redshift and c.report.rows_usable_training == 0


def test_casjobs_csv_with_comment_line_and_case(tmp_path):
    rng = np.random.default_rng(1)
    n = 50
    df = pd.DataFrame(
        {
            "objid": np.arange(10**17, 10**17 + n),
            "RA": rng.uniform(0, 360, n),
            "Dec": rng.uniform(-10, 60, n),
        }
    )
    for b in "ugriz":
        df[f"modelMag_{b}"] = rng.uniform(15, 22, n)
        df[f"modelMagErr_{b}"] = rng.uniform(0.01, 0.2, n)
        df[f"extinction_{b}"] = rng.uniform(0, 0.3, n)
    df["z"] = rng.uniform(0, 0.5, n)
    df.loc[3, "modelMag_g"] = -9999
    df.loc[4, "modelMag_i"] = 99
    df.loc[5, "modelMagErr_r"] = -1
    path = tmp_path / "casjobs.csv"
    path.write_text("#Table1\n" + df.to_csv(index=False))
    c = cat.read(path, "sdss")
    assert c.table["object_id"].dtype == np.int64 and c.table["object_id"].iloc[0] == 10**17
    assert c.table["flag_g"].iloc[3] == F.SENTINEL and c.table["flag_i"].iloc[4] == F.SENTINEL
    assert c.table["flag_r"].iloc[5] == F.ERR_NEGATIVE
    assert c.report.rows_all_required_good == n - 3
    assert c.report.rows_unusable_prediction == 0  # each keeps four good bands
    # SDSS magnitudes are luptitudes (u softening b = 1.4e-10): flux from the asinh
    # definition, Pogson magnitude, SDSS -> AB offset -0.036, then the extinction
    b = 1.4e-10
    f = 2 * b * np.sinh(-np.log(b) - 0.4 * np.log(10) * df["modelMag_u"])
    expected = -2.5 * np.log10(f) - 0.036 - df["extinction_u"]
    np.testing.assert_allclose(c.table["mag_u"], expected, rtol=0, atol=1e-9)
    assert c.meta["mag_system"] == "asinh"


@pytest.mark.parametrize("b_name, b", [("u", 1.4e-10), ("g", 0.9e-10), ("z", 7.4e-10)])
def test_asinh_magnitudes_follow_the_sdss_definition(b_name, b):
    """Luptitudes computed here from the SDSS definition (Lupton, Gunn & Szalay 1999:
    mu = -(2.5/ln 10) [asinh(f / 2b) + ln b], f in units of f0) convert back to the flux
    they came from; a negative flux (a luptitude above -2.5 log10 b) is flagged, never read
    as a positive one."""
    from photcat.catalogs.bands import band

    assert band(b_name).asinh_b == b
    f = np.array([1e-6, 1e-8, 3e-10, 1e-10, 1e-11, -1e-10, -3e-10])  # maggies
    sigma_f = np.full(f.shape, 2e-11)
    k = 2.5 / np.log(10)
    mu = -k * (np.arcsinh(f / (2 * b)) + np.log(b))
    sigma_mu = k * sigma_f / np.sqrt(f**2 + 4 * b**2)  # d mu / d f
    mag, err, flag = V.band_from_asinh(mu, sigma_mu, b)
    pos = f > 0
    np.testing.assert_allclose(mag[pos], -2.5 * np.log10(f[pos]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(err[pos], k * sigma_f[pos] / f[pos], rtol=1e-9)
    assert (flag[~pos] == F.NONPOSITIVE_FLUX).all() and np.isnan(mag[~pos]).all()
    # bright objects: luptitude and Pogson magnitude agree (f = 1e-6 maggies: < 1e-6 mag)
    assert abs(mu[0] - (-2.5 * np.log10(f[0]))) < 1e-6
    # the u luptitudes of the issue, 24.6-27.1, are negative fluxes
    if b_name == "u":
        _, _, fl = V.band_from_asinh(np.array([24.7, 27.1]), np.array([0.5, 1.0]), b)
        assert (fl == F.NONPOSITIVE_FLUX).all()


def test_dereddened_magnitudes_are_not_corrected_twice(tmp_path):
    df = pd.DataFrame({"dered_r": [17.0], "err_r": [0.02], "extinction_r": [0.3]})
    schema = {"bands": ["r"], "mag": "dered_{b}", "magerr": "err_{b}", "extinction": "extinction_{b}"}  # fmt: skip
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match="already corrected for Galactic extinction"):
        cat.read(path, schema)
    c = cat.read(path, {**schema, "extinction_applied": True})
    assert c.table["mag_r"].iloc[0] == 17.0
    assert c.meta["extinction_corrected"] is True and c.meta["extinction_upstream"] is True


def test_preset_overrides_keep_vector_columns_and_forms_right():
    """{"preset": ...} overrides (second review): a band list change keeps reading the right
    MODELFLUX element, a magnitude template drops the flux form, optional bands as
    mappings work, and 2MASS extinction is still subtracted when the SDSS magnitudes come
    dereddened."""
    path = shared_path("kcorrect_gst_sdss", "gst_tests_small.fits")
    full = cat.read(path, "sdss").table
    griz = cat.read(path, {"preset": "sdss", "bands": ["g", "r", "i", "z"]}).table
    np.testing.assert_array_equal(griz["mag_g"], full["mag_g"])
    forms = cat.get_schema({"preset": "sdss", "mag": "dered_{b}", "extinction_applied": True})
    assert [f.mag for f in forms] == ["dered_{b}"]
    opt = {"j": {"mag": "J_M_EXT", "magerr": "J_MSIG_EXT", "system": "Vega", "missing_values": [0.0]}}  # fmt: skip
    only_j = cat.read(path, {"preset": "sdss", "optional_bands": opt}).table
    np.testing.assert_array_equal(only_j["mag_j"], full["mag_j"])
    assert "mag_h" not in only_j


def test_derived_extinction_applies_to_2mass_when_sdss_comes_dereddened(tmp_path):
    df = pd.DataFrame({"dered_r": [17.0], "err_r": [0.02], "extinction_r": [0.2751], "J": [15.0], "JERR": [0.05]})  # fmt: skip
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    schema = {
        "bands": ["r"], "mag": "dered_{b}", "magerr": "err_{b}", "extinction": "extinction_{b}",
        "extinction_applied": True, "extinction_ref": "r",
        "optional_bands": {"j": {"mag": "J", "magerr": "JERR", "system": "Vega"}},
    }  # fmt: skip
    t = cat.read(path, schema).table
    assert t["mag_r"].iloc[0] == 17.0  # not corrected twice
    assert t["mag_j"].iloc[0] == pytest.approx(15.0 + 0.902 - 0.1 * 0.902, abs=1e-12)
