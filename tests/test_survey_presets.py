"""Survey schema presets: small tables with each survey's own column names and units,
checked against magnitudes computed by hand from the survey's documented definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import photcat.catalogs as cat
from tests.conftest import shared_path

K = 2.5 / np.log(10)  # 1.0857 mag per unit fractional flux error


def _write(tmp_path, df, name="c.parquet"):
    path = tmp_path / name
    df.to_parquet(path) if name.endswith(".parquet") else df.to_csv(path, index=False)
    return path


def test_lsst_object_table_njy(tmp_path):
    """Rubin Object table: <b>_cModelFlux, <b>_cModelFluxErr in nJy: m = 31.4 - 2.5 log10 f."""
    f = {b: np.array([1000.0, 250.0, -30.0]) * (k + 1) for k, b in enumerate("ugrizy")}
    df = pd.DataFrame({"objectId": [7, 8, 9], "coord_ra": [1.0, 2, 3], "coord_dec": [0.0, 1, 2]})
    for b in "ugrizy":
        df[f"{b}_cModelFlux"] = f[b]
        df[f"{b}_cModelFluxErr"] = np.full(3, 20.0)
    t = cat.read(_write(tmp_path, df), "lsst").table
    for b in "ugrizy":
        good = f[b] > 0
        np.testing.assert_allclose(t[f"mag_lsst_{b}"][good], 31.4 - 2.5 * np.log10(f[b][good]), atol=2e-4)  # fmt: skip
        np.testing.assert_allclose(t[f"magerr_lsst_{b}"][good], K * 20.0 / f[b][good], rtol=1e-9)
        # 2.5 log10(3631e9) = 31.4001: nJy -> maggies exactly
        np.testing.assert_allclose(t[f"flux_lsst_{b}"], f[b] * 1e-9 / 3631, rtol=1e-12)
    assert np.isnan(t["mag_lsst_u"].iloc[2]) and t["flux_lsst_u"].iloc[2] < 0
    assert t["object_id"].tolist() == [7, 8, 9] and t["ra"].tolist() == [1.0, 2, 3]


def test_des_gold_sof_magnitudes(tmp_path):
    df = pd.DataFrame({"COADD_OBJECT_ID": [1, 2], "RA": [10.0, 11], "DEC": [-5.0, -6]})
    for k, B in enumerate("GRIZ"):
        df[f"SOF_CM_MAG_{B}"] = [21.0 - 0.3 * k, 22.0]
        df[f"SOF_CM_MAG_ERR_{B}"] = [0.03, 0.1]
        df[f"A_SED_SFD98_{B}"] = [0.1, 0.05]
    t = cat.read(_write(tmp_path, df), "des")
    # not dereddened upstream: A_SED_SFD98 is subtracted
    np.testing.assert_allclose(t.table["mag_decam_r"], [20.7 - 0.1, 22.0 - 0.05])
    assert t.meta["extinction_corrected"] is True
    df2 = df.rename(columns={f"SOF_CM_MAG_{B}": f"SOF_CM_MAG_CORRECTED_{B}" for B in "GRIZ"})
    t2 = cat.read(_write(tmp_path, df2, "d2.parquet"), "des")
    np.testing.assert_allclose(t2.table["mag_decam_r"], [20.7, 22.0])  # corrected upstream
    assert t2.meta["extinction_upstream"] is True


@pytest.mark.parametrize("err", ["magerr", "magsigma"])
def test_hsc_cmodel_magnitudes(tmp_path, err):
    df = pd.DataFrame({"object_id": [42], "ra": [150.0], "dec": [2.0]})
    for b in "grizy":
        df[f"{b}_cmodel_mag"] = [23.0]
        df[f"{b}_cmodel_{err}"] = [0.05]
        df[f"a_{b}"] = [0.02]
    t = cat.read(_write(tmp_path, df), "hsc").table
    assert list(c for c in t.columns if c.startswith("mag_")) == [f"mag_hsc_{b}" for b in "grizy"]
    np.testing.assert_allclose(t["mag_hsc_i"], [22.98])
    np.testing.assert_allclose(t["magerr_hsc_i"], [0.05])


def test_kids_viking_gaap(tmp_path):
    df = pd.DataFrame({"ID": ["KiDSDR4 J092035.791+001110.92"], "RAJ2000": [140.1], "DECJ2000": [0.2]})  # fmt: skip
    for b in ("u", "g", "r", "i", "Z", "Y", "J", "H", "Ks"):
        df[f"MAG_GAAP_{b}"] = [21.0]
        df[f"MAGERR_GAAP_{b}"] = [0.04]
    for b in "ugri":
        df[f"EXTINCTION_{b}"] = [0.1]
    c = cat.read(_write(tmp_path, df), "kids")
    assert c.bands == ("kids_u", "kids_g", "kids_r", "kids_i", "vista_z", "vista_y", "vista_j", "vista_h", "vista_ks")  # fmt: skip
    np.testing.assert_allclose(c.table["mag_kids_g"], [20.9])
    np.testing.assert_allclose(c.table["mag_vista_ks"], [21.0])
    assert c.table["object_id"].iloc[0] == "KiDSDR4 J092035.791+001110.92"


def test_legacy_surveys_nanomaggies_and_transmission(tmp_path):
    df = pd.DataFrame({"RA": [1.0, 2.0], "DEC": [3.0, 4.0], "OBJID": [5, 5]})
    for B in "GRZ":
        df[f"FLUX_{B}"] = [10.0, 1.0]
        df[f"FLUX_IVAR_{B}"] = [25.0, 4.0]
        df[f"MW_TRANSMISSION_{B}"] = [0.9, 0.95]
    c = cat.read(_write(tmp_path, df), "legacy")
    # m = 22.5 - 2.5 log10(f / nanomaggies), A = -2.5 log10(T)
    expect = 22.5 - 2.5 * np.log10([10.0, 1.0]) + 2.5 * np.log10([0.9, 0.95])
    np.testing.assert_allclose(c.table["mag_decam_g"], expect, rtol=1e-12)
    np.testing.assert_allclose(c.table["magerr_decam_g"], K / (np.array([10.0, 1.0]) * [5, 2]))
    np.testing.assert_allclose(c.table["extinction_decam_z"], -2.5 * np.log10([0.9, 0.95]))
    # OBJID is unique only within a brick: rows are numbered, OBJID kept as an input column
    assert c.table["object_id"].tolist() == [0, 1]


def test_skyserver_export_with_and_without_errors(tmp_path):
    b = {"u": 1.4e-10, "g": 0.9e-10, "r": 1.2e-10, "i": 1.8e-10, "z": 7.4e-10}
    ab = {"u": -0.036, "g": 0.012, "r": 0.010, "i": 0.028, "z": 0.040}
    df = pd.DataFrame({"objid": [1, 2], "ra": [1.0, 2.0], "dec": [0.0, 0.0], "redshift": [0.1, 0.2], "class": ["GALAXY", "STAR"]})  # fmt: skip
    for x in "ugriz":
        df[x] = [18.0, 19.5]
        df[f"err_{x}"] = [0.02, 0.04]
    c = cat.read(_write(tmp_path, df, "s.csv"), "skyserver")
    for x in "ugriz":  # luptitude -> flux -> Pogson, then SDSS -> AB
        f = 2 * b[x] * np.sinh(-np.log(b[x]) - 0.4 * np.log(10) * df[x].to_numpy())
        np.testing.assert_allclose(c.table[f"mag_{x}"], -2.5 * np.log10(f) + ab[x], atol=1e-9)
    assert c.table["z_spec"].tolist() == [0.1, 0.2] and c.table["object_class"].tolist() == [1, 2]
    noerr = cat.read(_write(tmp_path, df.drop(columns=[f"err_{x}" for x in "ugriz"]), "n.csv"), "skyserver")  # fmt: skip
    np.testing.assert_allclose(noerr.table["mag_r"], c.table["mag_r"])
    assert noerr.table["magerr_r"].isna().all() and (noerr.table["flag_r"] == 0).all()


def test_shared_skyserver_file_rounded_ids_are_counted_not_used():
    path = shared_path("sdss_skyserver_dr14", "skyserver_dr14_10k.csv.gz")
    c = cat.read(path, "skyserver", keep_columns=True)
    assert len(c) == 10_000 and c.report.duplicate_ids > 9_000  # objid rounded to 1.24E+18
    assert c.table["magerr_u"].isna().all() and (c.table["flag_u"] == 0).mean() > 0.99
    assert set(c.table["object_class"].unique()) == {1, 2, 3}
    assert c.table["class"].iloc[0] == "STAR"  # the text column itself is kept


def test_transmission_above_one_is_invalid(tmp_path):
    df = pd.DataFrame({"RA": [1.0, 2.0], "DEC": [3.0, 4.0]})
    for B in "GRZ":
        df[f"FLUX_{B}"], df[f"FLUX_IVAR_{B}"], df[f"MW_TRANSMISSION_{B}"] = [10.0, 10.0], [25.0, 25.0], [0.9, 1.2]  # fmt: skip
    t = cat.read(_write(tmp_path, df), "legacy").table
    assert np.isfinite(t["mag_decam_z"].iloc[0]) and np.isnan(t["mag_decam_z"].iloc[1])
    assert t["flag_decam_z"].iloc[1] != 0


def test_kids_viking_bands_are_dereddened_too(tmp_path):
    df = pd.DataFrame({"ID": ["a"], "RAJ2000": [1.0], "DECJ2000": [2.0]})
    for b in ("u", "g", "r", "i", "Z"):
        df[f"MAG_GAAP_{b}"], df[f"MAGERR_GAAP_{b}"], df[f"EXTINCTION_{b}"] = [20.0], [0.05], [0.15]  # fmt: skip
    t = cat.read(_write(tmp_path, df), "kids").table
    np.testing.assert_allclose(t[["mag_kids_i", "mag_vista_z"]].iloc[0], [19.85, 19.85])


@pytest.mark.parametrize(
    "info, message",
    [
        (5, "must be a mapping"),
        ({"wavelength": "abc"}, "wavelength must be a number"),
        ({"wavelength": 9000, "vega_to_ab": "x"}, "vega_to_ab must be a number"),
        ({"wave": 9000}, "needs 'wavelength'"),
    ],  # fmt: skip
)
def test_bad_band_info_is_one_clear_error(info, message):
    with pytest.raises(ValueError, match=rf"band_info\['nbx'\].*{message}"):
        cat.get_schema({"bands": ["nbx"], "mag": "m", "magerr": "e", "band_info": {"nbx": info}})


def test_canonical_table_with_a_declared_band_reads_back(tmp_path):
    from photcat.catalogs import bands as B

    df = pd.DataFrame({"g": [20.0], "eg": [0.05], "q": [19.0], "eq": [0.1]})
    schema = {"bands": ["decam_g", "nbq"], "mag": "{b}", "magerr": "e{b}", "band_labels": {"decam_g": "g", "nbq": "q"}, "band_info": {"nbq": {"wavelength": 9300}}}  # fmt: skip
    c = cat.read(_write(tmp_path, df, "q.csv"), schema)
    out = tmp_path / "canon.parquet"
    cat.write(c, out)
    B._USER.clear()  # a new process knows nothing of nbq
    back = cat.read(out, "canonical")
    assert back.bands == ("decam_g", "nbq") and back.table["mag_nbq"].iloc[0] == 19.0


def test_default_reference_band_is_the_surveys_r():
    from photcat.pipeline.training import reference_band_for

    assert reference_band_for("r", ("lsst_g", "lsst_r", "lsst_i")) == "lsst_r"
    assert reference_band_for("r", ("u", "g", "r")) == "r"
    with pytest.raises(ValueError, match="reference band 'r' is not among"):
        reference_band_for("r", ("vista_j", "vista_h"))


def test_an_all_nan_error_column_is_explained(tmp_path):
    from photcat.features.spec import FeatureSpec
    from photcat.pipeline.training import fit_model, training_set

    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({"redshift": rng.uniform(0.05, 0.3, n)})
    for x in "ugriz":
        df[x], df[f"err_{x}"] = rng.uniform(17, 19, n), 0.05
    df["err_g"] = np.nan
    t = cat.read(_write(tmp_path, df, "nan.csv"), "skyserver").table
    ts = training_set(t, restframe=False)
    with pytest.raises(ValueError, match=r"g: 60 rows flagged, mostly error_invalid \(no valid error at all"):  # fmt: skip
        fit_model(ts, target="photoz", model="knn", params={}, spec=FeatureSpec(tuple("ugriz")))
