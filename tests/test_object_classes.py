"""Object classes (star / galaxy / QSO): the Categorical likelihood, CategoricalMLP and its
committee, calibrated multi-class classical models, class metrics, PSF − model morphology,
``photcat train --target class`` / ``photcat predict`` and per-class photo-z."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from photcat.models import likelihoods as lik
from photcat.models import metrics as M
from photcat.models.predictions import CategoricalPrediction, MixturePrediction, mix_by_class
from tests.conftest import shared_path

SKYSERVER = ("sdss_skyserver_dr14", "skyserver_dr14_10k.csv.gz")
SMALL = {"hidden_layers": (8, 8), "epochs": 3, "random_state": 1}


def blobs(n: int, seed: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Three labelled Gaussian blobs in 4 dimensions (labels as SDSS text)."""
    rng = np.random.default_rng(seed)
    names = np.array(["GALAXY", "QSO", "STAR"][:k])
    y = rng.integers(0, k, n)
    centres = np.eye(k, 4) * 2.5
    return (centres[y] + rng.normal(0, 1, (n, 4))).astype(np.float32), names[y]


# ------------------------------------------------------------------ likelihood and predictions


def test_categorical_nll_is_the_cross_entropy_on_known_values():
    raw = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.5]], dtype=np.float32)
    y = np.array([0, 2, 1])
    # −log softmax by hand: log(e^2 + 1 + e^-1) − 2, log 3, log(e + e^3 + e^0.5) − 3
    expected = np.mean(
        [
            np.log(np.exp(2) + 1 + np.exp(-1)) - 2,
            np.log(3.0),
            np.log(np.exp(1) + np.exp(3) + np.exp(0.5)) - 3,
        ]
    )
    assert float(lik.categorical_nll(y.astype(np.float32), raw)) == pytest.approx(
        expected, rel=1e-6
    )
    assert float(lik.keras_loss("categorical")(y, raw)) == pytest.approx(expected, rel=1e-6)
    p = lik.categorical_params(raw.astype(np.float64))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert -np.mean(np.log(p[np.arange(3), y])) == pytest.approx(expected, rel=1e-12)
    assert lik.n_outputs("categorical", 3) == 3
    with pytest.raises(ValueError, match="at least 2 classes"):
        lik.n_outputs("categorical", 1)


def test_categorical_prediction_label_entropy_and_mixing():
    p = CategoricalPrediction([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]], ("GALAXY", "QSO", "STAR"))
    assert p.label().tolist() == ["GALAXY", "GALAXY"]  # ties: the first class
    assert p.entropy() == pytest.approx([-(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)), np.log(3)])  # fmt: skip
    assert p.p("QSO").tolist() == pytest.approx([0.2, 1 / 3])
    from photcat.models.predictions import mix_members

    q = CategoricalPrediction([[0.1, 0.2, 0.7], [0.0, 0.0, 1.0]], p.classes)
    assert mix_members([p, q]).probs[0].tolist() == pytest.approx([0.4, 0.2, 0.4])
    with pytest.raises(ValueError, match="different classes"):
        mix_members([p, CategoricalPrediction(q.probs, ("A", "B", "C"))])


def test_class_metrics_on_known_values():
    p = CategoricalPrediction([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], ("A", "B", "C"))
    m = M.class_metrics(np.array(["A", "B", "A"]), p)
    assert m["accuracy"] == pytest.approx(2 / 3)
    # Brier: (0.09 + 0.04 + 0.01) + (0.01 + 0.04 + 0.01) + (0.49 + 0.09 + 0.16), over 3
    assert m["brier"] == pytest.approx((0.14 + 0.06 + 0.74) / 3)
    assert m["log_loss"] == pytest.approx(-(np.log(0.7) + np.log(0.8) + np.log(0.3)) / 3)
    assert m["confusion"] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    a = m["per_class"]["A"]
    assert (a["completeness"], a["purity"], a["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    with pytest.raises(ValueError, match="not among the classes"):
        M.class_metrics(np.array(["A", "B", "D"]), p)


def test_paired_bootstrap_of_means_brackets_the_difference():
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, 4000)
    b = a + 0.1 + rng.normal(0, 0.1, 4000)  # b worse by 0.1 on average
    r = M.paired_bootstrap_means(a, b, seed=1)
    assert r["diff"] == pytest.approx(-0.1, abs=0.01)
    assert r["ci95"][0] < r["diff"] < r["ci95"][1] < 0
    assert r["p_a_better"] == 1.0


def test_mix_by_class_weights_each_class_and_puts_stars_at_zero():
    n = 4
    gal = MixturePrediction.normal(np.full(n, 0.1), np.full(n, 0.02))
    qso = MixturePrediction.normal(np.full(n, 2.0), np.full(n, 0.3))
    probs = CategoricalPrediction(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.25, 0.25]], ("GALAXY", "QSO", "STAR")
    )
    mix = mix_by_class(probs, {"GALAXY": gal, "QSO": qso}, {"STAR": 0.0})
    mean = mix.mean()
    assert mean[0] == pytest.approx(0.1, abs=1e-6)  # the truncation at 0 moves it by 3e-8
    assert mean[1] == pytest.approx(2.0, abs=1e-6)
    assert mean[2] == pytest.approx(6e-5, rel=1e-6)  # a point mass just above z = 0
    assert mean[3] == pytest.approx(0.5 * 0.1 + 0.25 * 2.0 + 0.25 * 6e-5)
    # the CDF is the probability-weighted sum of the classes' CDFs
    assert mix.cdf(np.full(n, 1.0))[3] == pytest.approx(0.5 + 0.25 * 0.0004290603 + 0.25, rel=1e-6)
    with pytest.raises(ValueError, match="no redshift distribution"):
        mix_by_class(probs, {"GALAXY": gal}, {"STAR": 0.0})


# ------------------------------------------------------------------ estimators


def test_categorical_committee_round_trip_gives_identical_probabilities(tmp_path):
    from photcat.models.committee import Committee
    from photcat.models.keras_archive import load_forward
    from photcat.models.networks import CategoricalMLP
    from photcat.models.persistence import load_model, save_model

    X, y = blobs(600, 0)
    Xv, yv = blobs(200, 1)
    com = Committee(CategoricalMLP(**SMALL), n_members=2).fit(X, y, validation=(Xv, yv))
    pred = com.predict_dist(Xv)
    assert pred.classes == ("GALAXY", "QSO", "STAR")
    assert com.predict(Xv).tolist() == pred.label().tolist()
    assert com.predict_proba(Xv) == pytest.approx(pred.probs)
    folder = save_model(com, tmp_path / "m", feature_spec={"bands": ["u"]})
    again = load_model(folder).predict_dist(Xv)
    assert again.classes == pred.classes
    assert np.array_equal(again.probs, pred.probs)
    forward = load_forward(folder)  # the path prediction processes take, without TensorFlow
    assert forward is not None and forward.task == "class"
    assert np.array_equal(forward.predict_dist(Xv).probs, pred.probs)
    # the numpy forward pass is Keras's own, to float32 round-off
    raw = com.members_[0].keras_raw_outputs(Xv)
    keras_p = lik.categorical_params(raw.astype(np.float64))
    assert np.abs(keras_p - com.members_[0].predict_dist(Xv).probs).max() < 1e-5


def test_bayesian_categorical_network_predicts_reproducible_probabilities():
    from photcat.models import registry

    X, y = blobs(400, 0)
    est = registry.build("bayes-categorical-mlp", {"epochs": 3, "n_weight_samples": 5}, seed=2)
    est.fit(X, y)
    a, b = est.predict_dist(X[:50]), est.predict_dist(X[:50])
    assert np.array_equal(a.probs, b.probs)
    assert np.allclose(a.probs.sum(axis=1), 1.0)


@pytest.mark.slow
def test_two_class_categorical_network_matches_the_bernoulli_network():
    """Same data, same architecture and training: the softmax of two logits is the sigmoid of
    their difference, so test log losses agree within the seed scatter."""
    from photcat.models.networks import BernoulliMLP, CategoricalMLP

    X, y = blobs(3000, 5, k=2)
    Xt, yt = blobs(2000, 6, k=2)
    kw = {"hidden_layers": (16, 16), "epochs": 30, "patience": 10}
    cat, bern = [], []
    for seed in (0, 1, 2):
        c = CategoricalMLP(random_state=seed, **kw).fit(X, y)
        b = BernoulliMLP(random_state=seed, **kw).fit(X, (y == "QSO").astype(float))
        cat.append(M.class_metrics(yt, c.predict_dist(Xt))["log_loss"])
        bern.append(M.classifier_metrics((yt == "QSO").astype(float), b.predict_dist(Xt).p)["log_loss"])  # fmt: skip
    scatter = max(np.std(cat, ddof=1), np.std(bern, ddof=1))
    assert abs(np.mean(cat) - np.mean(bern)) <= 2 * scatter + 0.002, (cat, bern)
    assert np.mean(cat) < 0.7 * np.log(2)  # and both learnt something


@pytest.mark.parametrize("name", ["logistic-classes", "random-forest-classes", "gradient-boosting-classes"])  # fmt: skip
def test_classical_multiclass_models_are_calibrated_and_saveable(tmp_path, name):
    from photcat.models import registry
    from photcat.models.persistence import load_model, save_model

    X, y = blobs(900, 0)
    Xv, yv = blobs(300, 1)
    est = registry.build(name, seed=0).fit(X, y, validation=(Xv, yv))
    pred = est.predict_dist(Xv)
    assert pred.classes == ("GALAXY", "QSO", "STAR")
    assert np.allclose(pred.probs.sum(axis=1), 1.0)
    assert M.class_metrics(yv, pred)["accuracy"] > 0.8
    again = load_model(save_model(est, tmp_path / name, feature_spec={"bands": ["u"]}))
    assert np.array_equal(again.predict_dist(Xv).probs, pred.probs)


# ------------------------------------------------------------------ morphology


def test_psf_minus_model_from_sdss_columns_is_a_feature(tmp_path):
    from photcat.catalogs import read
    from photcat.features.spec import FeatureSpec
    from photcat.pipeline.training import command_training_set

    rng = np.random.default_rng(0)
    n = 60
    cols = {"objID": np.arange(n), "ra": rng.uniform(0, 10, n), "dec": rng.uniform(0, 10, n)}
    for b in "ugriz":
        model = rng.uniform(16, 20, n)
        cols[f"modelMag_{b}"] = model
        cols[f"modelMagErr_{b}"] = np.full(n, 0.03)
        cols[f"psfMag_{b}"] = model + np.where(np.arange(n) % 2 == 0, 0.0, 0.8)
    cols["psfMag_r"][3] = -9999.0  # SDSS's "no measurement"
    cols["class"] = np.where(np.arange(n) % 2 == 0, "STAR", "GALAXY")
    cols["z"] = np.where(np.arange(n) % 2 == 0, 0.0, 0.1)
    path = tmp_path / "sdss.csv"
    pd.DataFrame(cols).to_csv(path, index=False)
    t = read(path, "sdss").table
    assert np.allclose(t["psf_model_g"], np.where(np.arange(n) % 2 == 0, 0.0, 0.8))
    assert np.isnan(t["psf_model_r"][3]) and np.isfinite(t["psf_model_r"]).sum() == n - 1
    spec = FeatureSpec(bands=tuple("ugriz"), reference_band="r", flag_policy="mask", morphology=("g", "r"))  # fmt: skip
    f = spec.build(t)
    assert f.names[5:7] == ("psf-model_g", "psf-model_r")
    assert f.X[1, 5] == pytest.approx(0.8) and f.X[2, 5] == 0.0
    # a missing PSF − model magnitude cannot be told from a point source's 0: not predicted
    from photcat.features import flags as ff

    assert not f.usable[3] and f.usable[[0, 1, 2, 4]].all()
    assert f.flags[3] & ff.MORPHOLOGY_MISSING
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    _, train_spec = command_training_set(path, target="class", schema="sdss", label="class")
    assert train_spec.morphology == tuple("ugriz")


# ------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def skyserver_small(tmp_path_factory):
    """The first 1,500 rows of the shared SkyServer file (classes as the file has them)."""
    src = shared_path(*SKYSERVER)
    out = tmp_path_factory.mktemp("sky") / "sky1500.csv"
    with gzip.open(src, "rt") as f:
        lines = [next(f) for _ in range(1501)]
    out.write_text("".join(lines))
    return out


def test_photcat_train_and_predict_classes(skyserver_small, tmp_path):
    from photcat.pipeline.cli import main
    from photcat.pipeline.vac import FLAG_BITS, NOT_GALAXY_BELOW

    model = tmp_path / "cls"
    args = ["train", "--catalog", str(skyserver_small), "--schema", "skyserver"]
    assert main([*args, "--target", "class", "--out", str(model)]) == 2  # no --label
    assert not model.exists()
    bad = [*args, "--target", "class", "--label", "class", "--galaxy-class", "elliptical"]
    assert main([*bad, "--out", str(model)]) == 2  # checked before training
    assert not model.exists()
    ok = [*args, "--target", "class", "--label", "class", "--model", "gradient-boosting-classes"]
    assert main([*ok, "--out", str(model)]) == 0
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["task"] == "class"
    assert manifest["config"]["classes"] == ["GALAXY", "QSO", "STAR"]
    assert manifest["config"]["galaxy_class"] == "GALAXY"
    out = tmp_path / "vac.parquet"
    pred = ["predict", "--model", str(model), "--catalog", str(skyserver_small)]
    assert main([*pred, "--schema", "skyserver", "--out", str(out)]) == 0
    t = pd.read_parquet(out)
    probs = t[["p_galaxy", "p_qso", "p_star"]].to_numpy()
    assert len(t) == 1500 and np.allclose(probs.sum(axis=1), 1.0)
    names = np.array(["GALAXY", "QSO", "STAR"])
    assert (t["class_photcat"].to_numpy() == names[probs.argmax(axis=1)]).all()
    flagged = (t["flag_photcat"].to_numpy() & FLAG_BITS["probably_not_galaxy"]) > 0
    assert (flagged == (t["p_galaxy"].to_numpy() < NOT_GALAXY_BELOW)).all()
    assert 0.3 < flagged.mean() < 0.7  # about half of the file is stars and QSOs
    assert (t["class_photcat"] == t["class"]).mean() > 0.9
    meta = json.loads(pq.read_schema(out).metadata[b"photcat"])
    prov = meta["models"][0]
    assert (prov["task"], prov["label"], prov["galaxy_class"]) == ("class", "class", "GALAXY")


def test_per_class_photoz_is_the_class_weighted_mixture(skyserver_small, tmp_path):
    from photcat.pipeline.cli import main

    args = ["train", "--catalog", str(skyserver_small), "--schema", "skyserver"]
    cls = tmp_path / "cls"
    assert main([*args, "--target", "class", "--label", "class", "--model", "random-forest-classes", "--out", str(cls)]) == 0  # fmt: skip
    for oc in ("galaxy", "qso"):
        pz = [*args, "--target", "photoz", "--object-class", oc, "--model", "knn"]
        assert main([*pz, "--out", str(tmp_path / oc)]) == 0
    out = tmp_path / "vac.parquet"
    models = ["--model", str(cls), "--model", str(tmp_path / "galaxy"), "--model", str(tmp_path / "qso")]  # fmt: skip
    grid = ["--pdf-zmax", "5.5", "--pdf-nz", "111"]
    pred = ["predict", *models, "--catalog", str(skyserver_small), "--schema", "skyserver"]
    assert main([*pred, *grid, "--out", str(out)]) == 0
    t = pd.read_parquet(out)
    # the catalogue's mean is the probability-weighted mean of the classes' (stars at ~0)
    expected = (
        t["p_galaxy"] * t["photoz_mean_galaxy"] + t["p_qso"] * t["photoz_mean_qso"]
    ).to_numpy()
    assert np.abs(t["photoz_mean"].to_numpy() - expected).max() < 1e-4  # stars: 6e-5
    qso = t["class"].to_numpy() == "QSO"
    assert np.median(t["photoz_q50"][qso]) > 0.8  # QSOs are not given galaxy redshifts
    assert np.median(t["photoz_q50"][t["class"].to_numpy() == "STAR"]) < 0.01
    # a per-class photo-z model without a class model is refused, and so is a plain photo-z
    # model beside per-class ones (its columns would be overwritten)
    lone = ["predict", "--model", str(tmp_path / "qso"), "--catalog", str(skyserver_small)]
    assert main([*lone, "--schema", "skyserver", "--out", str(tmp_path / "x.parquet")]) == 2
    assert main([*args, "--target", "photoz", "--model", "knn", "--out", str(tmp_path / "pz")]) == 0  # fmt: skip
    both = [*pred, "--model", str(tmp_path / "pz"), "--out", str(tmp_path / "y.parquet")]
    assert main(both) == 2
    assert not (tmp_path / "x.parquet").exists() and not (tmp_path / "y.parquet").exists()


def test_a_run_without_class_column_has_the_same_tasks_as_before():
    """Turning the class model on adds tasks, and changes none of the galaxy models'."""
    from photcat.pipeline.tasks import RunPipeline

    plain = RunPipeline(output_dir="/tmp/photcat-sig")
    with_cls = RunPipeline(output_dir="/tmp/photcat-sig", class_column="class", class_model="logistic-classes")  # fmt: skip
    a, b = plain.model_tasks(), with_cls.model_tasks()
    assert [t.target for t in a] == ["photoz", "quiescent"]
    assert [t.target for t in b] == ["photoz", "quiescent", "class"]
    for x, y in zip(a, b[:2], strict=True):
        assert x.task_id == y.task_id
    assert len(plain.split_tasks()) == 1 and len(with_cls.split_tasks()) == 2


@pytest.mark.slow
def test_photcat_run_with_a_class_column_trains_and_applies_the_class_model(
    skyserver_small, tmp_path
):
    from photcat.pipeline.cli import main

    out = tmp_path / "run"
    args = ["run", "--catalog", str(skyserver_small), "--schema", "skyserver", "--out", str(out)]
    fast = ["--photoz-model", "knn", "--quiescent-model", "logistic", "--format", "parquet"]
    cls = ["--class-column", "class", "--class-model", "gradient-boosting-classes"]
    assert main([*args, *fast, "--class-column", "klass"]) == 2  # no such column: refused first
    assert not (out / "models").exists()
    assert main([*args, *fast, *cls]) == 0
    (vac,) = (out / "catalog").glob("*.parquet")
    t = pd.read_parquet(vac)
    assert {"p_galaxy", "p_qso", "p_star", "class_photcat"} <= set(t.columns)
    # one split for both models: QSOs and stars (not in the photo-z training set) have one
    qso = t["class"].to_numpy() == "QSO"
    assert set(t["split"][qso]) <= {"train", "valid", "test"}
    assert (t["split"][qso] == "test").sum() > 5
    (report,) = (out / "report").glob("*/metrics.json")
    m = json.loads(report.read_text())
    assert m["classes"]["rows"] == int(((t["split"] == "test") & (t["class"] != "")).sum())
    assert m["classes"]["accuracy"] > 0.85
    # the galaxy photo-z is scored on galaxies; QSOs appear per true class
    assert m["photoz"]["rows"] == m["photoz_by_class"]["GALAXY"]["rows"]
    assert m["photoz_by_class"]["QSO"]["outlier_fraction"] > m["photoz"]["outlier_fraction"]
    assert (report.parent / "class_confusion.png").stat().st_size > 1000
    assert {e["target"] for e in m["evaluations"]} == {"photoz", "quiescent", "class"}


def labelled(names: list[str], n_train: int = 25, n_valid: int = 5) -> pd.DataFrame:
    """A table with a ``class`` column and a train/valid split, every class in both."""
    lab = np.repeat(names, n_train + n_valid)
    split = np.tile(["train"] * n_train + ["valid"] * n_valid, len(names))
    return pd.DataFrame({"class": lab, "split": split})


def test_class_labels_that_cannot_be_learnt_or_written_are_refused_before_training():
    from photcat.pipeline.training import check_classes, class_labels

    assert check_classes(labelled(["GALAXY", "QSO", "STAR"]), "class", "galaxy") == "GALAXY"
    assert check_classes(labelled(["A", "B"]), "class", "") == ""  # no galaxy class
    cases = {
        "same column": labelled(["QSO", "qso", "GALAXY"]),  # both p_qso
        "another photcat column": labelled(["quiescent", "GALAXY"]),  # p_quiescent
        "printable ASCII": labelled(["étoile", "GALAXY"]),
        "at least 10 training": pd.concat([labelled(["GALAXY", "STAR"]), labelled(["WD"], 2, 1)]),
        "at least 2 classes": labelled(["GALAXY"]),
        "not one of the label": labelled(["GAL", "STAR"]),
    }
    for why, table in cases.items():
        with pytest.raises(ValueError, match=why):
            check_classes(table, "class", "galaxy", "cat.csv")
    from photcat.pipeline.training import match_class

    with pytest.raises(ValueError, match="differ only by case"):
        match_class("galaxy", ["GALAXY", "Galaxy"])
    assert match_class("Galaxy", ["GALAXY", "Galaxy"]) == "Galaxy"
    # numeric codes with gaps read as floats; their classes stay "0", "1", "2"
    codes = pd.DataFrame({"c": [0.0, 1.0, np.nan, 2.0, 2.5]})
    assert class_labels(codes, "c").tolist() == ["0", "1", "", "2", "2.5"]


def test_a_class_model_whose_recorded_classes_differ_from_its_own_is_refused(tmp_path):
    from photcat.models.networks import CategoricalMLP
    from photcat.models.persistence import ModelIntegrityError, save_model
    from photcat.pipeline.loader import load_model
    from tests.conftest import edit_manifest

    X, y = blobs(300, 0)
    est = CategoricalMLP(**SMALL).fit(X, y)
    from photcat.features.spec import FeatureSpec

    cfg = {"classes": ["GALAXY", "QSO", "STAR"], "galaxy_class": "GALAXY"}
    spec = FeatureSpec(bands=tuple("ugri"), reference_band="r").to_dict()  # 4 features
    folder = save_model(est, tmp_path / "m", feature_spec=spec, config=cfg)
    assert load_model(folder).predictor.networks[0].classes == ("GALAXY", "QSO", "STAR")
    edit_manifest(folder, lambda m: m["config"].update(classes=["STAR", "QSO", "GALAXY"]))
    with pytest.raises(ModelIntegrityError, match="differ from the model's own"):
        load_model(folder)


def test_class_checks_count_usable_rows_and_expected_splits():
    from photcat.pipeline.training import check_classes

    t = labelled(["GALAXY", "QSO", "WD"])
    usable = t["class"].to_numpy() != "WD"  # WD rows lack the bands the features need
    with pytest.raises(ValueError, match="'WD' has 0 training"):
        check_classes(t, "class", "GALAXY", usable=usable)
    raw = t.drop(columns="split")  # photcat run, before its split: the expected numbers
    assert check_classes(raw, "class", "GALAXY", expected=(0.6, 0.2)) == "GALAXY"
    small = pd.concat([labelled(["GALAXY", "QSO"]), labelled(["WD"], 12, 0)]).drop(columns="split")  # fmt: skip
    with pytest.raises(ValueError, match="'WD' has 7 training and 2 validation rows .expected"):
        check_classes(small, "class", "GALAXY", expected=(0.6, 0.2))


def test_class_model_parameter_values_are_checked_without_fitting():
    from photcat.models.registry import check_params

    check_params("categorical-committee", {"n_members": 2, "epochs": 3})
    for name, params, why in (
        ("logistic-classes", {"C": -1}, "'C' parameter"),
        ("gradient-boosting-classes", {"calibration": "Sigmoid"}, "calibration must be"),
        ("categorical-committee", {"optimizer": "lbfgs"}, "optimizer must be"),
        ("random-forest-classes", {"trees": 3}, "bad parameter"),
    ):
        with pytest.raises(ValueError, match=why):
            check_params(name, params)
