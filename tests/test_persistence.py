"""Model folders: identical round trips, checksums, feature specs, safe loading, atomic writes."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression

import photcat.models
from photcat.models import persistence, registry
from photcat.models.base import PhotoZEstimator
from photcat.models.committee import Committee
from photcat.models.networks import BernoulliMLP, MixtureMLP, NormalMLP
from photcat.models.persistence import (
    FeatureSpecMismatchError,
    ModelIntegrityError,
    VersionMismatchWarning,
    load_model,
    read_manifest,
    save_model,
)
from photcat.models.predictions import MixturePrediction
from tests.conftest import edit_manifest

SPEC = {"features": ["u-g", "g-r", "r-i", "i-z", "mag_r"], "bands": "ugriz", "version": 1}


def photoz_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic colours -> redshift with a smooth nonlinear relation; errors column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    z = 0.3 + 0.1 * np.tanh(X[:, 0]) + 0.05 * X[:, 1] ** 2 + 0.01 * rng.normal(size=n)
    return X, z, np.abs(0.05 * rng.normal(size=(n, 5)))


def class_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(float)


def same(a, b) -> bool:
    """Bitwise-identical predictions (mixtures, Bernoulli or Categorical)."""
    if isinstance(a, MixturePrediction):
        return all(np.array_equal(x, y) for x, y in zip(a.astuple(), b.astuple(), strict=True))
    if hasattr(a, "probs"):
        return a.classes == b.classes and np.array_equal(a.probs, b.probs)
    return np.array_equal(a.p, b.p)


SMALL = {"hidden_layers": (8,), "epochs": 2, "random_state": 1}


@pytest.mark.parametrize(
    "make",
    [
        lambda: NormalMLP(**SMALL),
        lambda: NormalMLP(error_mode="both", **SMALL),
        lambda: MixtureMLP(n_components=2, **SMALL),
        lambda: BernoulliMLP(**SMALL),
        lambda: NormalMLP(bayesian=True, n_weight_samples=5, **SMALL),
        lambda: MixtureMLP(n_components=2, bayesian=True, n_weight_samples=3, **SMALL),
        lambda: BernoulliMLP(bayesian=True, n_weight_samples=5, **SMALL),
        lambda: Committee(NormalMLP(**SMALL), n_members=2),
        lambda: Committee(NormalMLP(monitor="mse", nll_beta=0.5, **SMALL), n_members=2),
        lambda: Committee(
            members=[BernoulliMLP(**SMALL), BernoulliMLP(hidden_layers=(4, 4), epochs=2)]
        ),
    ],
    ids=[
        "normal",
        "normal-errors",
        "mixture",
        "bernoulli",
        "normal-bayes",
        "mixture-bayes",
        "bernoulli-bayes",
        "committee",
        "committee-beta-nll",
        "committee-classifier",
    ],
)
def test_round_trip_gives_identical_predictions(tmp_path, make):
    model = make()
    if model.task == "photoz":
        X, y, E = photoz_data(400, 0)
        Xn, _, En = photoz_data(300, 1)
    else:
        X, y = class_data(400, 0)
        Xn, _ = class_data(300, 1)
        E = En = None
    needs_errors = getattr(model, "error_mode", "none") != "none"
    validation = None
    if isinstance(model, Committee) and model.task == "photoz":
        Xv, yv, _ = photoz_data(200, 2)
        validation = (Xv, yv)
    model.fit(X, y, errors=E if needs_errors else None, validation=validation)
    if validation is not None:  # the calibrated width must survive the round trip
        assert model.width_scale_ != 1.0
    kw = {"errors": En} if needs_errors else {}
    before = model.predict_dist(Xn, **kw)
    folder = save_model(model, tmp_path / "m", feature_spec=SPEC, metrics={"x": 1.0})
    loaded = load_model(folder, feature_spec=dict(SPEC))
    assert type(loaded) is type(model)
    assert getattr(loaded, "width_scale_", None) == getattr(model, "width_scale_", None)
    assert same(before, loaded.predict_dist(Xn, **kw))
    assert loaded.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    for a, b in [(loaded, model)] + list(zip(getattr(loaded, "members_", []), getattr(model, "members_", []), strict=True)):  # fmt: skip
        # every value survives (monitor, nll_beta...); JSON keeps tuples as lists
        assert persistence.to_json(a.get_params(deep=False)) == persistence.to_json(
            b.get_params(deep=False)
        )
    man = read_manifest(folder)
    assert man["class"] == f"{type(model).__module__}.{type(model).__name__}"
    assert man["task"] == model.task
    assert man["feature_spec"] == SPEC and man["metrics"] == {"x": 1.0}
    assert {"numpy", "tensorflow", "keras", "scikit-learn"} <= set(man["versions"])
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files - {"manifest.json", "manifest.sha256"} == set(man["files"])
    assert all(len(h) == 64 for h in man["files"].values())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved NormalMLP folder (shared, read-only) and its predictions."""
    X, y, _ = photoz_data(300, 0)
    m = NormalMLP(**SMALL).fit(X, y)
    folder = save_model(
        m, tmp_path_factory.mktemp("saved") / "model", feature_spec=SPEC, config={"seed": 1}
    )
    return folder, m


def copy_of(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / "copy"))


def test_corrupted_keras_file_is_refused_naming_it(saved, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    path = folder / "model.keras"
    data = bytearray(path.read_bytes())
    for i in (100, 101, len(data) // 2):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.keras.*checksum"):
        load_model(folder)


def test_modified_json_and_missing_or_extra_files_are_refused(saved, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    scaler = folder / "scaler.json"
    d = json.loads(scaler.read_text())
    d["x"]["mean"][0] += 1e-9
    scaler.write_text(json.dumps(d))
    with pytest.raises(ModelIntegrityError, match=r"scaler\.json"):
        load_model(folder)

    folder2 = copy_of(saved[0], tmp_path / "b")
    (folder2 / "params.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"params\.json.*missing"):
        load_model(folder2)

    folder3 = copy_of(saved[0], tmp_path / "c")
    (folder3 / "evil.py").write_text("print('hi')")
    with pytest.raises(ModelIntegrityError, match="evil.py"):
        load_model(folder3)


def test_wrong_feature_spec_is_refused_with_the_difference(saved):
    wrong = {**SPEC, "features": ["u-g", "g-r", "r-i", "i-z", "mag_i"], "extra": True}
    with pytest.raises(FeatureSpecMismatchError) as err:
        load_model(saved[0], feature_spec=wrong)
    msg = str(err.value)
    assert "mag_r" in msg and "mag_i" in msg and "'extra'" in msg
    # no spec: no check; the saved spec comes back with the model
    assert load_model(saved[0]).manifest_["feature_spec"] == SPEC


def test_version_mismatch_warns_or_refuses_when_strict(saved, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    edit_manifest(folder, lambda man: man["versions"].update(numpy="0.0.1"))
    with pytest.warns(VersionMismatchWarning, match="numpy"):
        m = load_model(folder)
    X, _, _ = photoz_data(50, 3)
    assert same(m.predict_dist(X), saved[1].predict_dist(X))
    with pytest.raises(ModelIntegrityError, match="numpy"):
        load_model(folder, strict_versions=True)


def test_loading_uses_keras_safe_mode(saved, monkeypatch):
    import keras

    calls = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    load_model(saved[0])
    assert calls and all(c.get("safe_mode") is True for c in calls)
    # and nothing in photcat.models ever asks for unsafe loading
    src = Path(photcat.models.__file__).parent
    for py in src.glob("*.py"):
        assert not re.search(r"safe_mode\s*=\s*False", py.read_text()), py


class ForeignRegressor(PhotoZEstimator):
    """Defined outside photcat.models: saveable, but never loaded."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, X, y, *, validation=None, errors=None):
        self.lr_ = LinearRegression().fit(X, y)
        return self

    def predict_dist(self, X):
        return MixturePrediction.normal(self.lr_.predict(X), np.full(len(X), 0.1))


def test_classes_outside_photcat_models_are_refused(tmp_path):
    X, y, _ = photoz_data(100, 0)
    folder = save_model(ForeignRegressor().fit(X, y), tmp_path / "f", feature_spec=SPEC)
    assert read_manifest(folder)["estimator"]["format"] == "skops"
    with pytest.raises(ModelIntegrityError, match="only photcat.models classes"):
        load_model(folder)


def test_pickle_files_need_trusted(tmp_path):
    node = {"class": "photcat.models.committee.Committee", "format": "joblib"}
    with pytest.raises(ModelIntegrityError, match="trusted=True"):
        persistence.load_estimator(node, tmp_path)


def test_save_never_replaces_a_folder_of_other_files(tmp_path):
    """A mistyped --out naming a folder of the user's files: refused, nothing deleted; an
    empty folder is used."""
    X, y, _ = photoz_data(200, 0)
    est = registry.build("knn").fit(X, y)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not a photcat model's: it is not replaced"):
        save_model(est, other, feature_spec=SPEC)
    assert [p.name for p in other.iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        save_model(est, tmp_path / "file", feature_spec=SPEC)
    (tmp_path / "empty").mkdir()
    model = save_model(est, tmp_path / "empty", feature_spec=SPEC)
    assert (model / "manifest.json").is_file()
    save_model(est, model, feature_spec=SPEC)  # a sealed model folder is replaced
    # a manifest.json alone does not make a model folder, nor does a model folder with the
    # user's own file beside the model's
    (other / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match="not a photcat model's: it is not replaced"):
        save_model(est, other, feature_spec=SPEC)
    (model / "README.txt").write_text("notes")
    with pytest.raises(ValueError, match=r"not replaced.*README\.txt"):
        save_model(est, model, feature_spec=SPEC)
    assert sorted(p.name for p in other.iterdir()) == ["manifest.json", "thesis.tex"]
    assert (model / "README.txt").read_text() == "notes"


def test_save_is_atomic_and_replaces(tmp_path, monkeypatch):
    X, y, _ = photoz_data(200, 0)
    a = NormalMLP(**SMALL).fit(X, y)
    b = NormalMLP(**{**SMALL, "random_state": 2}).fit(X, y)
    folder = save_model(a, tmp_path / "m", feature_spec=SPEC)
    save_model(b, folder, feature_spec=SPEC)  # replace an existing folder
    assert same(load_model(folder).predict_dist(X), b.predict_dist(X))

    def boom(self, f):
        (f / "half-written").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(NormalMLP, "_save_state", boom)
    with pytest.raises(OSError, match="disk full"):
        save_model(a, folder, feature_spec=SPEC)
    assert same(load_model(folder).predict_dist(X), b.predict_dist(X))  # old folder intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp leftovers


def test_unfitted_and_bad_arguments(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted"):
        save_model(NormalMLP(), tmp_path / "u", feature_spec=SPEC)
    assert not (tmp_path / "u").exists()
    with pytest.raises(TypeError, match="feature_spec must be a dict"):
        save_model(NormalMLP(), tmp_path / "u", feature_spec=["a"])
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        load_model(tmp_path)


def test_classical_estimators_round_trip(tmp_path):
    """Every classical estimator (written elsewhere) saves through the generic skops path."""
    classical = pytest.importorskip("photcat.models.classical")
    from photcat.models.base import QuiescentClassifier

    classes = [
        c
        for _, c in inspect.getmembers(classical, inspect.isclass)
        if c.__module__ == classical.__name__
        and not c.__name__.startswith("_")
        and issubclass(c, PhotoZEstimator | QuiescentClassifier)
        and issubclass(c, BaseEstimator)
    ]
    if not classes:
        pytest.skip("photcat.models.classical defines no estimators yet")
    for cls in classes:
        est = cls()
        small = {k: 10 for k in ("n_estimators", "max_iter") if k in est.get_params()}
        est.set_params(**small)
        if issubclass(cls, PhotoZEstimator):
            X, y, _ = photoz_data(300, 0)
        else:
            X, y = class_data(300, 0)
        est.fit(X, y)
        folder = save_model(est, tmp_path / cls.__name__, feature_spec=SPEC)
        assert same(est.predict_dist(X), load_model(folder, feature_spec=SPEC).predict_dist(X)), cls
