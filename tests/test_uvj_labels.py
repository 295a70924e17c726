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


def test_hubble_threshold_values():
    # t_H(0) = 1/H0; Planck18 H0 = 67.66 -> 14.45 Gyr -> log10(1/(3 t_H)) = -10.637
    thr = labels.log_ssfr_threshold([0.0, 2.0])
    th0 = 977.792 / Planck18.H0.value  # Gyr
    assert thr[0] == pytest.approx(-np.log10(3 * th0 * 1e9), abs=1e-4)
    assert thr[0] == pytest.approx(-10.637, abs=2e-3)
    # the threshold rises with redshift (younger universe -> higher sSFR cut)
    assert thr[1] > thr[0] + 0.4
    # configurable cosmology: H0 = 100 makes t_H shorter -> threshold higher
    thr_h1 = labels.log_ssfr_threshold([0.0], FlatLambdaCDM(H0=100, Om0=0.3))
    assert thr_h1[0] == pytest.approx(-np.log10(3 * 9.77792e9), abs=1e-4)


def test_hubble_label_depends_on_redshift():
    # log sSFR = -10.4 is quiescent at z=2 (threshold -10.16) but not at z=0 (-10.64)
    lab = labels.ssfr_label([-10.4, -10.4], z=[0.0, 2.0], threshold="hubble")
    np.testing.assert_array_equal(lab.quiescent, [False, True])
    with pytest.raises(ValueError, match="needs redshifts"):
        labels.ssfr_label([-10.4], threshold="hubble")
    with pytest.raises(ValueError, match="number or 'hubble'"):
        labels.ssfr_label([-10.4], threshold="hubbel")
    assert labels.ssfr_label([-10.4], z=[np.nan], threshold="hubble").as_int()[0] == -1
