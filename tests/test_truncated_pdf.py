"""Photo-z PDFs truncated at z = 0 (issue 14, item 6): every quantity is that of the
truncated PDF, checked against numerical integration (scipy.integrate.quad); the catalogue's
gridded PDF sums to 1 on every row."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from photcat.models.metrics import crps, pit
from photcat.models.predictions import MixturePrediction

# a mixture straddling zero, a narrow one near zero, one far from zero
CASES = [
    ([0.6, 0.4], [0.02, 0.15], [0.05, 0.08]),
    ([1.0], [0.004], [0.003]),
    ([0.5, 0.3, 0.2], [-0.05, 0.03, 0.4], [0.04, 0.02, 0.1]),
    ([1.0], [0.5], [0.05]),
]


def _reference(w, m, s):
    w, m, s = map(np.asarray, (w, m, s))

    def f(z):
        return float(np.sum(w * norm.pdf(z, m, s)))

    hi = float(np.max(m + 12 * s))
    norm_c = integrate.quad(f, 0, hi, limit=200, points=list(m[m > 0]))[0]

    def F(z):
        return integrate.quad(f, 0, z, limit=200)[0] / norm_c if z > 0 else 0.0

    mean = integrate.quad(lambda z: z * f(z), 0, hi, limit=200)[0] / norm_c
    var = integrate.quad(lambda z: (z - mean) ** 2 * f(z), 0, hi, limit=200)[0] / norm_c
    return F, mean, np.sqrt(var), hi


@pytest.mark.parametrize("w, m, s", CASES)
def test_truncated_moments_cdf_quantiles_pit_crps_match_integration(w, m, s):
    p = MixturePrediction(np.array([w]), np.array([m]), np.array([s]))
    F, mean, std, hi = _reference(w, m, s)
    assert p.mean()[0] == pytest.approx(mean, rel=1e-7, abs=1e-10)
    assert p.std()[0] == pytest.approx(std, rel=1e-6)
    for z in (0.0, 0.005, 0.05, 0.3):
        assert p.cdf(np.array([z]))[0] == pytest.approx(F(z), abs=1e-9)
    assert p.cdf(np.array([-0.01]))[0] == 0.0
    q = p.quantile(np.array([0.15865, 0.5, 0.84135]), tol=1e-9)[0]
    assert q[0] >= 0
    np.testing.assert_allclose([F(x) for x in q], [0.15865, 0.5, 0.84135], atol=1e-6)
    for y in (0.0, 0.01, 0.2):
        assert pit(p, np.array([y]))[0] == pytest.approx(F(y), abs=1e-9)
        ref = (
            integrate.quad(lambda z: F(z) ** 2, 0, y, limit=200)[0]
            + integrate.quad(lambda z: (1 - F(z)) ** 2, y, hi, limit=200)[0]
        )
        assert crps(p, np.array([y]))[0] == pytest.approx(ref, rel=1e-4, abs=1e-8)
    draws = p.sample(200_000, np.random.default_rng(0))
    assert draws.min() >= 0 and draws.mean() == pytest.approx(mean, abs=4 * std / 400)


def test_cell_probabilities_sum_to_one_whatever_the_width():
    """Narrow PDFs sampled at grid points integrated to 3e-5 .. 3.99 before; cells do not."""
    rng = np.random.default_rng(1)
    n = 2000
    p = MixturePrediction(
        rng.random((n, 3)), rng.uniform(-0.1, 1.2, (n, 3)), 10 ** rng.uniform(-4, -0.5, (n, 3))
    )
    grid = np.linspace(0.0, 1.0, 101)
    cells = p.cell_probabilities(grid, dtype=np.float32)
    np.testing.assert_allclose(cells.sum(axis=1), 1.0, atol=1e-4)
    assert (cells >= 0).all()
    # a cell's probability is the CDF difference across it (interior cells)
    c = p.cdf(np.full(n, 0.505)) - p.cdf(np.full(n, 0.495))
    np.testing.assert_allclose(cells[:, 50], c, atol=1e-6)
    # the untruncated density on the grid integrates to anything for narrow PDFs
    dens = p.untruncated().pdf_grid(grid)
    integrals = dens.sum(axis=1) * 0.01
    assert integrals.min() < 0.1 and integrals.max() > 1.5


def test_catalogue_rows_sum_to_one_and_quantiles_are_non_negative(tmp_path):
    """photcat predict's value-added columns on 3,000 shipped-sample rows with a kNN model."""
    from photcat.pipeline import stream
    from photcat.pipeline.stream import read_output
    from photcat.pipeline.vac import PredictConfig
    from tests.test_stream import canonical_sample, train_models, write_parquet_dataset

    models = train_models(tmp_path / "m")
    folder = write_parquet_dataset(tmp_path / "cat", canonical_sample().iloc[:3000], 1, 1000)
    out = tmp_path / "vac.parquet"
    config = PredictConfig(grid=(0.0, 1.0, 101), restframe=False)
    stream.predict_catalog(
        folder / "chunk-00.parquet", models[:1], out, schema="canonical", config=config
    )
    table, arrays, _ = read_output(out)
    ok = np.isfinite(table["photoz_mean"].to_numpy())
    assert ok.sum() > 2900
    np.testing.assert_allclose(arrays["photoz_pdf"][ok].sum(axis=1), 1.0, atol=1e-4)
    assert (table.loc[ok, "photoz_q16"] >= 0).all() and (table.loc[ok, "photoz_mean"] > 0).all()
    # the stored mixture is the exact (untruncated) one: the columns rebuild the prediction
    p = MixturePrediction(
        arrays["photoz_weights"][ok], arrays["photoz_means"][ok], arrays["photoz_stds"][ok]
    )
    np.testing.assert_allclose(p.mean(), table.loc[ok, "photoz_mean"], rtol=1e-6)


@pytest.mark.parametrize("mu", [-1.0, -0.8, -0.3])
def test_mixtures_far_below_zero_keep_their_digits(mu):
    """Most of the mass below z = 0: every quantity from the upper tail, as scipy's
    truncnorm gives it (a review found quantiles 0, CDF 1 and CRPS 80x too large here)."""
    from scipy.stats import truncnorm

    p = MixturePrediction.normal([mu], [0.1])
    tn = truncnorm((0 - mu) / 0.1, np.inf, loc=mu, scale=0.1)
    assert p.mean()[0] == pytest.approx(tn.mean(), rel=1e-7)
    assert p.std()[0] == pytest.approx(tn.std(), rel=1e-6)
    np.testing.assert_allclose(p.quantile(np.array([0.16, 0.5, 0.84]))[0], tn.ppf([0.16, 0.5, 0.84]), rtol=1e-6)  # fmt: skip
    assert p.cdf(0.01)[0] == pytest.approx(tn.cdf(0.01), rel=1e-9)
    hi = tn.ppf(1 - 1e-14)
    ref = integrate.quad(lambda z: tn.cdf(z) ** 2, 0, 0.01)[0]
    ref += integrate.quad(lambda z: (1 - tn.cdf(z)) ** 2, 0.01, hi)[0]
    assert crps(p, np.array([0.01]))[0] == pytest.approx(ref, rel=1e-4)
    assert np.isfinite(p.pdf_grid(np.linspace(0, 1, 11), dtype=np.float32)).all()
    assert p.cell_probabilities(np.linspace(0, 1, 11)).sum() == pytest.approx(1.0, abs=1e-12)
    assert p.sample(20_000, np.random.default_rng(0)).mean() == pytest.approx(tn.mean(), rel=0.03)


def test_nan_parameters_give_nan_not_a_point_mass():
    p = MixturePrediction([[0.5, 0.5]], [[np.nan, 0.3]], [[0.1, 0.1]])
    assert np.isnan(p.cdf(0.2)).all() and np.isnan(p.cell_probabilities(np.linspace(0, 1, 6))).all()
    assert np.isnan(MixturePrediction.normal([0.3], [0.1]).cdf(np.array([np.nan]))).all()
