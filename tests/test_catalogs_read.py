"""photcat.catalogs.read on every real data set: row and flag counts checked independently."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
from astropy.io import fits

import photcat.catalogs as cat
from photcat.catalogs import flags as F
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
    assert c.report.rows_usable_prediction == int((~bad.any(axis=1)).sum())
    assert c.report.rows_unusable_prediction == 3  # PROVENANCE: placeholder-like magnitudes
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
    assert c.report.rows_usable_training == 1000 - int(placeholder.sum())


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
    usable = (raw[[f"MAGERR_{b}" for b in "UGRIZ"]].to_numpy() <= 5).all(axis=1)
    usable &= (raw[[f"MAG_{b}" for b in "UGRIZ"]].to_numpy() <= 31).all(axis=1)
    assert c.report.rows_usable_prediction == int(usable.sum())
    assert c.report.rows_usable_training == int((usable & (raw["Z"] >= 0)).sum())
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
    ok = flux[:, 2] > 0
    expected_r = 22.5 - 2.5 * np.log10(flux[ok, 2]) - d["EXTINCTION"][ok, 2]
    np.testing.assert_allclose(c.table["mag_r"].to_numpy()[ok], expected_r, rtol=0, atol=1e-5)
    assert c.report.extinction_corrected
    # 2MASS: 0 means missing; Vega -> AB with +0.91 in J
    j = d["J_M_EXT"].astype(float)
    assert c.report.band_flags["j"]["missing"] == int((j == 0).sum())
    np.testing.assert_allclose(c.table["mag_j"].to_numpy()[j > 0], j[j > 0] + 0.91, atol=1e-5)
    _counts_add_up(c.report)


def test_sample_is_the_shipped_gst_table():
    c = cat.sample("sdss-gst")
    assert len(c) == 10000 and c.report.rows_usable_training == 9984
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
    np.testing.assert_allclose(c.table["mag_j"].iloc[1:], df["JMAG"].iloc[1:] + 0.91)
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
    assert c.report.rows_unusable_prediction == 3
    np.testing.assert_allclose(
        c.table["mag_u"], df["modelMag_u"] - df["extinction_u"], rtol=0, atol=1e-12
    )
