"""Labels: UVJ label from a preset and the independent sSFR label."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.cosmology import FlatLambdaCDM, Planck18

from photcat.features import labels


def test_uvj_label_fields():
    lab = labels.uvj_label([2.0, 0.5, np.nan], [0.8, 0.8, 0.8], [0.3, 0.3, 0.3], "williams09")
    np.testing.assert_array_equal(lab.quiescent, [True, False, False])
    np.testing.assert_array_equal(lab.defined, [True, True, False])
    np.testing.assert_array_equal(lab.as_int(), [1, 0, -1])
    assert lab.score[0] > 0 > lab.score[1]


def test_ssfr_fixed_threshold():
    s = np.array([-12.0, -11.01, -10.99, -9.0, np.nan, -np.inf])
    lab = labels.ssfr_label(s)  # default -11
    np.testing.assert_array_equal(lab.as_int(), [1, 1, 0, 0, -1, 1])
    lab10 = labels.ssfr_label(s, threshold=-10.0)
    np.testing.assert_array_equal(lab10.as_int(), [1, 1, 1, 0, -1, 1])
    np.testing.assert_allclose(lab.score[:4], -11.0 - s[:4])


def test_age_threshold_values():
    # t_U(0) from the Friedmann integral (radiation included, as Planck18 does): 13.787 Gyr
    # -> log10(1/(3 t_U)) = -10.617; at z = 2, t_U = 3.28 Gyr -> -9.993
    thr = labels.log_ssfr_threshold([0.0, 2.0])
    assert thr[0] == pytest.approx(-np.log10(3 * 13.787e9), abs=1e-3)
    assert thr[1] == pytest.approx(-9.993, abs=2e-3)
    # not the Hubble time: 1/H(z) is 0.165 dex longer at z = 2
    th2 = (1 / Planck18.H(2.0)).to_value("yr")
    assert np.log10(th2) - (-thr[1] - np.log10(3)) == pytest.approx(0.165, abs=2e-3)
    # matter-only Einstein-de Sitter universe: t_U = (2/3)/H0 exactly
    eds = FlatLambdaCDM(H0=100, Om0=1.0, Tcmb0=0)
    thr_eds = labels.log_ssfr_threshold([0.0], eds)
    assert thr_eds[0] == pytest.approx(-np.log10(3 * (2 / 3) * 9.77792e9), abs=1e-4)
    # the fraction is a parameter: 0.2/t_U is log10(0.6) lower than 1/(3 t_U)
    thr02 = labels.log_ssfr_threshold([1.0], fraction=0.2)
    assert thr02[0] - labels.log_ssfr_threshold([1.0])[0] == pytest.approx(np.log10(0.6))


def test_age_label_depends_on_redshift():
    # log sSFR = -10.4 is quiescent at z=2 (threshold -9.99) but not at z=0 (-10.62)
    lab = labels.ssfr_label([-10.4, -10.4], z=[0.0, 2.0], threshold="age")
    np.testing.assert_array_equal(lab.quiescent, [False, True])
    # -10.3 at z = 1 is quiescent under the age rule (-10.24), not under 1/H(z) (-10.39)
    assert labels.ssfr_label([-10.3], z=[1.0], threshold="age").quiescent[0]
    with pytest.raises(ValueError, match="needs redshifts"):
        labels.ssfr_label([-10.4], threshold="age")
    with pytest.raises(ValueError, match="number or 'age'"):
        labels.ssfr_label([-10.4], threshold="agee")
    with pytest.raises(ValueError, match="replaced by 'age'"):
        labels.ssfr_label([-10.4], z=[1.0], threshold="hubble")
    assert labels.ssfr_label([-10.4], z=[np.nan], threshold="age").as_int()[0] == -1
