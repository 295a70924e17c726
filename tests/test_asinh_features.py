"""Zero and negative fluxes kept as measurements; asinh magnitudes in the features.

SDSS publishes asinh magnitudes (Lupton, Gunn & Szalay 1999), so a galaxy measured at a
negative u flux has a finite luptitude and error but no Pogson magnitude. The canonical table
keeps its flux (``flux_u``, ``fluxerr_u`` in maggies), the rest-frame fit uses it, and a
feature specification with ``magnitudes="asinh"`` gives it a u magnitude and a photo-z.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import photcat.catalogs as cat
from photcat.catalogs import flags as F
from photcat.catalogs import validate as V
from photcat.features.spec import FeatureSpec

K = 2.5 / np.log(10)
B = {"u": 1.4e-10, "g": 0.9e-10, "r": 1.2e-10, "i": 1.8e-10, "z": 7.4e-10}
AB = {"u": -0.036, "g": 0.012, "r": 0.010, "i": 0.028, "z": 0.040}


def _lupt(f, b):
    return -K * (np.arcsinh(f / (2 * b)) + np.log(b))


@pytest.fixture
def sdss_file(tmp_path):
    """Three SDSS rows: bright, a faint positive u flux, a negative u flux."""
    f_u = np.array([1e-8, 5e-11, -1e-10])  # maggies
    s_u = np.array([1e-10, 6e-11, 6e-11])
    df = pd.DataFrame({"objID": [1, 2, 3], "z": [0.1, 0.2, 0.15]})
    for b in "ugriz":
        f = f_u if b == "u" else np.array([2e-8, 1e-8, 1.5e-8])
        s = s_u if b == "u" else np.full(3, 2e-10)
        df[f"modelMag_{b}"] = _lupt(f, B[b])
        df[f"modelMagErr_{b}"] = K * s / np.sqrt(f**2 + 4 * B[b] ** 2)
        df[f"extinction_{b}"] = [0.1, 0.2, 0.3]
    path = tmp_path / "sdss.csv"
    df.to_csv(path, index=False)
    return path, f_u, s_u


def test_negative_flux_is_kept_in_maggies_with_offsets_and_extinction(sdss_file):
    path, f_u, s_u = sdss_file
    t = cat.read(path, "sdss").table
    # flux = SDSS flux x 10^(-0.4 AB offset) x 10^(0.4 A_u), error scaled alike
    ext = np.array([0.1, 0.2, 0.3])
    scale = 10 ** (-0.4 * AB["u"]) * 10 ** (0.4 * ext)
    np.testing.assert_allclose(t["flux_u"], f_u * scale, rtol=1e-9)
    np.testing.assert_allclose(t["fluxerr_u"], s_u * scale, rtol=1e-9)
    # the negative flux has no Pogson magnitude and says why
    assert np.isnan(t["mag_u"].iloc[2]) and t["flag_u"].iloc[2] == F.NONPOSITIVE_FLUX
    # where a Pogson magnitude exists it is the same flux: m = -2.5 log10(flux)
    np.testing.assert_allclose(t["mag_u"].iloc[:2], -2.5 * np.log10(t["flux_u"].iloc[:2]))


def test_flux_inputs_keep_zero_and_negative_fluxes():
    flux, err = V.flux_from_fluxes(np.array([10.0, 0.0, -3.0, np.nan, 5.0]), np.array([4.0, 1.0, 0.25, 1.0, 0.0]))  # fmt: skip
    np.testing.assert_allclose(flux[:3], [1e-8, 0.0, -3e-9])
    np.testing.assert_allclose(err[:3], [0.5e-9, 1e-9, 2e-9])
    assert np.isnan(flux[3:]).all()  # missing flux, and ivar = 0 is no measurement


def test_asinh_features_give_negative_flux_rows_a_magnitude(sdss_file):
    path, _, _ = sdss_file
    t = cat.read(path, "sdss").table
    pog = FeatureSpec(bands=tuple("ugriz"), reference_band="r").build(t)
    asi = FeatureSpec(bands=tuple("ugriz"), reference_band="r", magnitudes="asinh").build(t)
    # Pogson drops the negative-flux row; asinh keeps it
    np.testing.assert_array_equal(pog.usable, [True, True, False])
    np.testing.assert_array_equal(asi.usable, [True, True, True])
    # u - g from the asinh definition on the catalogue's fluxes
    mu = {b: _lupt(t[f"flux_{b}"].to_numpy(), B[b]) for b in "ug"}
    np.testing.assert_allclose(asi.X[:, 0], mu["u"] - mu["g"], rtol=0, atol=1e-5)
    # brighter bands: asinh = Pogson − 1.0857 (b/f)^2 to first order (r: f/b ~ 80-170)
    fr = t["flux_r"].to_numpy()[:2]
    np.testing.assert_allclose(asi.X[:2, 4] - pog.X[:2, 4], -K * (B["r"] / fr) ** 2, atol=5e-6)
    # u - g error from sigma_mu = 1.0857 sigma_f / sqrt(f^2 + 4 b^2)
    f, s = t["flux_u"].to_numpy(), t["fluxerr_u"].to_numpy()
    su = K * s / np.sqrt(f**2 + 4 * B["u"] ** 2)
    fg, sg = t["flux_g"].to_numpy(), t["fluxerr_g"].to_numpy()
    sgm = K * sg / np.sqrt(fg**2 + 4 * B["g"] ** 2)
    np.testing.assert_allclose(asi.errors[:, 0], np.hypot(su, sgm), rtol=1e-5)


def test_saved_specs_without_the_key_stay_pogson(sdss_file):
    path, _, _ = sdss_file
    t = cat.read(path, "sdss").table
    old = {"format": "photcat.FeatureSpec/1", "bands": list("ugriz"), "reference_band": "r"}
    spec = FeatureSpec.from_dict(old)
    assert spec.magnitudes == "pogson"
    np.testing.assert_array_equal(
        spec.build(t).X, FeatureSpec(bands=tuple("ugriz"), reference_band="r").build(t).X
    )
    new = FeatureSpec(bands=tuple("ugriz"), magnitudes="asinh")
    assert FeatureSpec.from_dict(new.to_dict()).magnitudes == "asinh"
    with pytest.raises(ValueError, match="magnitudes must be one of"):
        FeatureSpec(bands=("u", "g"), magnitudes="vega")


def test_bands_without_softening_stay_pogson():
    t = pd.DataFrame({"mag_j": [15.0, 16.0], "magerr_j": [0.05, 0.1], "mag_h": [14.5, 15.2], "magerr_h": [0.05, 0.1]})  # fmt: skip
    a = FeatureSpec(bands=("j", "h"), magnitudes="asinh").build(t)
    np.testing.assert_allclose(a.X[:, 0], [0.5, 0.8], atol=1e-6)
