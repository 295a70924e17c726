"""Probabilistic Keras networks: likelihoods, scaling, training choices, behaviour on real data.

Real data: ANNz's SDSS example (../shared/data/annz_sdss; ugriz, errors, z_spec). Features are
the colours u-g, g-r, r-i, i-z and the r magnitude. Budgets are small (a few epochs on a few
thousand rows), so margins are stated against trivial predictors, not the literature.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import norm

from photcat.models import likelihoods as lik
from photcat.models.networks import OPTIMIZERS, BernoulliMLP, MixtureMLP, NormalMLP
from photcat.models.scaling import Standardizer
from tests.conftest import load_annz


@pytest.fixture
def annz(shared_data):
    folder = shared_data / "annz_sdss"
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} is absent")
    Xt, Et, zt = load_annz(folder, "train")
    Xv, Ev, zv = load_annz(folder, "valid")
    return {"Xt": Xt, "Et": Et, "zt": zt, "Xv": Xv, "Ev": Ev, "zv": zv}


def sigma_rms(zp: np.ndarray, zs: np.ndarray) -> float:
    return float(np.sqrt(np.mean((zp - zs) ** 2)))


def noisy_rule(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic classification: a curved boundary, 10 % of labels flipped."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 - 0.5 > 0).astype(float)
    flip = rng.random(n) < 0.10
    y[flip] = 1 - y[flip]
    return X, y


# ------------------------------------------------------------------------------ pure units


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, photcat.models, photcat.models.persistence, photcat.models.committee, "
        "photcat.models.networks, photcat.models.likelihoods, photcat.models.tuning; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_likelihoods_match_closed_forms():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50).astype(np.float32)
    raw_n = rng.normal(size=(50, 2)).astype(np.float32)
    loc, scale = lik.normal_params(raw_n.astype(np.float64))
    expected = -np.mean(norm.logpdf(y, loc, scale))
    assert float(lik.normal_nll(y, raw_n)) == pytest.approx(expected, rel=1e-5)

    raw_m = rng.normal(size=(50, 9)).astype(np.float32)
    w, locs, scales = lik.mixture_params(raw_m.astype(np.float64))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    expected = -np.mean(np.log(np.sum(w * norm.pdf(y[:, None], locs, scales), axis=1)))
    assert float(lik.mixture_nll(y, raw_m)) == pytest.approx(expected, rel=1e-5)

    lab = (rng.random(50) < 0.3).astype(np.float32)
    raw_b = rng.normal(size=(50, 1)).astype(np.float32)
    p = lik.bernoulli_params(raw_b.astype(np.float64))
    expected = -np.mean(lab * np.log(p) + (1 - lab) * np.log(1 - p))
    assert float(lik.bernoulli_nll(lab, raw_b)) == pytest.approx(expected, rel=1e-5)
    assert lik.n_outputs("mixture", 4) == 12
    with pytest.raises(ValueError, match="unknown likelihood"):
        lik.keras_loss("poisson")


def test_beta_nll_weights_objects_and_gives_the_mean_an_mse_gradient():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    y = rng.normal(size=40).astype(np.float32)
    raw = tf.constant(rng.normal(size=(40, 2)).astype(np.float32))
    loc, scale = lik.normal_params(raw.numpy().astype(np.float64))
    nll_i = -norm.logpdf(y, loc, scale)
    assert lik.keras_loss("normal", 0.0) is lik.normal_nll
    for beta in (0.5, 1.0):
        loss = lik.keras_loss("normal", beta)
        expected = np.mean(scale ** (2 * beta) * nll_i)
        assert float(loss(y, raw)) == pytest.approx(expected, rel=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(raw)
        value = lik.keras_loss("normal", 1.0)(y, raw)
    grad = tape.gradient(value, raw).numpy()
    # beta = 1: d loss / d loc = -(y - loc) / n, the gradient of half the mean squared error
    np.testing.assert_allclose(grad[:, 0], -(y - loc) / y.size, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="normal likelihood only"):
        lik.keras_loss("mixture", 0.5)
    with pytest.raises(ValueError, match=r"nll_beta must be in \[0, 1\]"):
        lik.keras_loss("normal", 1.5)


def test_standardizer_json_round_trip_is_exact():
    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 2.0, size=(100, 4))
    X[:, 3] = 7.0  # constant column: scale 1, not 0
    s = Standardizer.fit(X)
    s2 = Standardizer.from_dict(s.to_dict())
    assert np.array_equal(s.transform(X), s2.transform(X))
    np.testing.assert_allclose(s.transform(X)[:, :3].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(s.transform(X)), X)
    with pytest.raises(ValueError, match="4 columns"):
        s.transform(X[:, :2])


def test_bad_inputs_raise_clear_errors():
    X, y = noisy_rule(50, 0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        BernoulliMLP(optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="error_mode"):
        BernoulliMLP(error_mode="inputs", epochs=1).fit(X, y)  # no errors given
    with pytest.raises(ValueError, match="0 \\(star-forming\\) or 1"):
        BernoulliMLP(epochs=1).fit(X, y * 2)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NormalMLP(epochs=1).fit(X, y)
    with pytest.raises(RuntimeError, match="not fitted"):
        NormalMLP().predict_dist(X)


# ------------------------------------------------------------------------------ real data


@pytest.mark.slow  # trains networks
def test_normal_mlp_beats_trivial_predictor(annz):
    m = NormalMLP(
        hidden_layers=(32, 32),
        batch_size=64,
        learning_rate=3e-3,
        epochs=25,
        patience=10,
        random_state=3,
    ).fit(annz["Xt"][:3000], annz["zt"][:3000])
    pred = m.predict_dist(annz["Xv"])
    rms = sigma_rms(pred.mean(), annz["zv"])
    trivial = sigma_rms(np.full_like(annz["zv"], annz["zt"].mean()), annz["zv"])  # = std(z)
    assert rms < 0.45 * trivial, (rms, trivial)
    assert rms < 0.04
    # the predicted std is calibrated to within a factor 2 of the actual scatter
    assert 0.5 < np.median(pred.std()) / rms < 2.0
    # history recorded, early stopping kept the best validation epoch
    h = m.history_
    assert len(h["loss"]) == h["n_epochs"] <= 25
    assert h["final_val_loss"] == pytest.approx(min(h["val_loss"]), abs=1e-4)
    # numpy forward pass == Keras forward pass (float32 round-off)
    z = m._net_inputs(annz["Xv"].astype(np.float32), None)
    np.testing.assert_allclose(
        m.forward_.raw(z.astype(np.float32)), m.keras_raw_outputs(annz["Xv"]), atol=2e-5
    )


@pytest.mark.slow  # trains networks
def test_monitor_picks_the_kept_weights(annz):
    kw = {
        "hidden_layers": (16,),
        "batch_size": 64,
        "learning_rate": 3e-3,
        "epochs": 12,
        "random_state": 4,
    }
    Xt, zt, val = annz["Xt"][:1500], annz["zt"][:1500], (annz["Xv"], annz["zv"])
    # "mse": the kept weights are those of the epoch with the lowest validation MSE of the mean
    m = NormalMLP(monitor="mse", patience=None, **kw).fit(Xt, zt, validation=val)
    h = m.history_
    assert len(h["val_mse"]) == h["n_epochs"] == 12
    assert h["best_epoch"] == int(np.argmin(h["val_mse"]))
    zs = m.scaler_y_.transform(annz["zv"])
    # (the monitor scores the network's own Normal, before the truncation at z = 0)
    mean = m.predict_dist(annz["Xv"]).untruncated().mean()
    mse = np.mean((m.scaler_y_.transform(mean) - zs) ** 2)
    assert mse == pytest.approx(min(h["val_mse"]), rel=1e-4)
    # "none": all epochs, last weights (the final validation loss is the last epoch's)
    last = NormalMLP(monitor="none", patience=3, **kw).fit(Xt, zt, validation=val)
    assert last.history_["n_epochs"] == 12 and "val_mse" not in last.history_
    assert last.history_["final_val_loss"] == pytest.approx(last.history_["val_loss"][-1], abs=1e-5)
    with pytest.raises(ValueError, match="monitor must be one of"):
        NormalMLP(monitor="accuracy", epochs=1).fit(Xt, zt)
    with pytest.raises(ValueError, match="bayesian networks need"):
        NormalMLP(bayesian=True, monitor="mse", epochs=1).fit(Xt, zt)
    # the mixture's figure is the MSE of its mean; the classifier's, its Brier score
    mix = MixtureMLP(n_components=2, monitor="mse", patience=None, **kw).fit(Xt, zt, validation=val)
    mix_mean = mix.predict_dist(annz["Xv"]).untruncated().mean()
    mse = np.mean((mix.scaler_y_.transform(mix_mean) - zs) ** 2)
    assert mse == pytest.approx(min(mix.history_["val_mse"]), rel=1e-4)
    X, y = noisy_rule(1500, 0)
    Xv, yv = noisy_rule(500, 1)
    clf = BernoulliMLP(monitor="mse", patience=None, **kw).fit(X, y, validation=(Xv, yv))
    brier = np.mean((clf.predict_dist(Xv).p - yv) ** 2)
    assert brier == pytest.approx(min(clf.history_["val_mse"]), rel=1e-4)
    assert clf.history_["best_epoch"] == int(np.argmin(clf.history_["val_mse"]))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_lowers_validation_nll(annz, optimizer):
    lr = {"sgd": 0.01, "adagrad": 0.05}.get(optimizer, 3e-3)
    m = NormalMLP(
        hidden_layers=(16,),
        optimizer=optimizer,
        learning_rate=lr,
        lr_decay="exponential",
        lr_decay_rate=0.05,
        epochs=4,
        patience=None,
        random_state=0,
    )
    m.fit(annz["Xt"][:1500], annz["zt"][:1500], validation=(annz["Xv"], annz["zv"]))
    h = m.history_
    assert h["final_val_loss"] < h["initial_val_loss"] - 0.5, h  # nats per object
    assert h["val_loss"][-1] < h["val_loss"][0] or h["val_loss"][0] < h["initial_val_loss"]


@pytest.mark.slow  # trains networks
def test_error_modes_use_errors(annz):
    Xt, Et, zt = annz["Xt"][:1500], annz["Et"][:1500], annz["zt"][:1500]
    for mode in ("inputs", "noise", "both"):
        m = NormalMLP(
            hidden_layers=(16,), epochs=6, learning_rate=1e-2, error_mode=mode, random_state=1
        )
        m.fit(Xt, zt, errors=Et)
        if mode == "noise":
            p = m.predict_dist(annz["Xv"])  # errors not needed at prediction time
        else:
            with pytest.raises(ValueError, match="needs `errors`"):
                m.predict_dist(annz["Xv"])
            p = m.predict_dist(annz["Xv"], errors=annz["Ev"])
        assert np.isfinite(p.mean()).all()
        assert sigma_rms(p.mean(), annz["zv"]) < 0.6 * annz["zv"].std(), mode
    # error inputs change the prediction: doubling the errors moves it
    p2 = m.predict_dist(annz["Xv"], errors=2 * annz["Ev"])
    assert not np.allclose(p.mean(), p2.mean())


def test_same_seed_same_predictions(annz):
    a = NormalMLP(hidden_layers=(8,), epochs=2, random_state=5).fit(
        annz["Xt"][:800], annz["zt"][:800]
    )
    b = NormalMLP(hidden_layers=(8,), epochs=2, random_state=5).fit(
        annz["Xt"][:800], annz["zt"][:800]
    )
    c = NormalMLP(hidden_layers=(8,), epochs=2, random_state=6).fit(
        annz["Xt"][:800], annz["zt"][:800]
    )
    pa, pb, pc = (m.predict_dist(annz["Xv"]).mean() for m in (a, b, c))
    assert np.array_equal(pa, pb)
    assert not np.allclose(pa, pc)


# ------------------------------------------------------------------------------ synthetic


def test_bernoulli_mlp_beats_majority_class():
    X, y = noisy_rule(2500, 0)
    Xv, yv = noisy_rule(2000, 1)
    m = BernoulliMLP(epochs=20, patience=10, random_state=0).fit(X, y)
    p = m.predict_dist(Xv)
    acc = float(np.mean(p.label() == yv))
    majority = max(yv.mean(), 1 - yv.mean())
    assert acc > majority + 0.15, (acc, majority)
    assert acc > 0.82  # the Bayes rate is 0.90 (10 % flipped labels)
    proba = m.predict_proba(Xv)
    assert proba.shape == (2000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # calibrated-ish: Brier score well below the constant-p predictor's
    brier = np.mean((p.p - yv) ** 2)
    assert brier < 0.6 * np.var(yv)


@pytest.mark.slow  # trains networks
def test_mixture_mlp_captures_bimodality():
    """y = +x or -x with equal odds: one Normal cannot fit it, a mixture can."""
    rng = np.random.default_rng(0)

    def data(n):
        x = rng.uniform(0.5, 2.0, size=(n, 1))
        y = x[:, 0] * rng.choice([-1.0, 1.0], size=n) + 0.05 * rng.normal(size=n)
        return x, y

    X, y = data(2000)
    Xv, yv = data(1000)
    kw = {"hidden_layers": (16, 16), "epochs": 20, "patience": 10, "random_state": 0}
    kw |= {"batch_size": 64, "learning_rate": 3e-3}
    mix = MixtureMLP(n_components=2, **kw).fit(X, y, validation=(Xv, yv))
    nor = NormalMLP(**kw).fit(X, y, validation=(Xv, yv))
    # validation NLL (nats/object, scaled units): mixture far better than a single Normal
    assert mix.history_["final_val_loss"] < nor.history_["final_val_loss"] - 0.5
    # synthetic targets of either sign: the network's own mixture, not the photo-z PDF
    # truncated at z = 0
    pred = mix.predict_dist(Xv).untruncated()
    assert pred.n_components == 2
    # both branches carry probability: density at +x and at -x each well above at 0
    dens_pos = pred.pdf_grid(np.array([1.25]))[:, 0]
    dens_neg = pred.pdf_grid(np.array([-1.25]))[:, 0]
    near = np.abs(Xv[:, 0] - 1.25) < 0.1
    dens_zero = pred.pdf_grid(np.array([0.0]))[:, 0]
    assert np.median(dens_pos[near]) > 10 * np.median(dens_zero[near]) + 0.1
    assert np.median(dens_neg[near]) > 10 * np.median(dens_zero[near]) + 0.1


@pytest.mark.slow  # trains networks
def test_bayesian_variant_widens_out_of_distribution(annz):
    """Weight uncertainty: the spread between weight draws grows away from the training data."""
    kw = {
        "hidden_layers": (16, 16),
        "epochs": 20,
        "patience": None,
        "random_state": 0,
        "batch_size": 64,
    }
    bay = NormalMLP(bayesian=True, n_weight_samples=30, learning_rate=1e-2, **kw)
    bay.fit(annz["Xt"][:3000], annz["zt"][:3000])
    Xin = annz["Xv"]
    scale = annz["Xt"].std(axis=0)
    Xood = Xin + 4.0 * scale  # every colour shifted by 4 sigma
    pin, pood = bay.predict_dist(Xin), bay.predict_dist(Xood)
    assert pin.n_components == 30
    assert np.array_equal(pin.means, bay.predict_dist(Xin).means)  # seeded draws: reproducible
    epi_in = np.median(pin.means.std(axis=1))
    epi_ood = np.median(pood.means.std(axis=1))
    assert epi_ood > 1.6 * epi_in, (epi_in, epi_ood)  # measured here: 2.2x
    # Bayesian total std on OOD inputs >= the plain network's
    det = NormalMLP(learning_rate=3e-3, **kw).fit(annz["Xt"][:3000], annz["zt"][:3000])
    assert np.median(pood.std()) >= np.median(det.predict_dist(Xood).std())
    # and it still predicts: beats the trivial predictor in distribution
    assert sigma_rms(pin.mean(), annz["zv"]) < 0.6 * annz["zv"].std()


def test_bayesian_classifier_averages_draws():
    X, y = noisy_rule(2000, 3)
    m = BernoulliMLP(bayesian=True, n_weight_samples=10, epochs=10, random_state=0).fit(X, y)
    p = m.predict_dist(X).p
    assert np.all((p > 0) & (p < 1))
    assert np.mean(m.predict_dist(X).label() == y) > 0.75
