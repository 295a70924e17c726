"""Saved networks read into their numpy forward pass without TensorFlow (keras_archive)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas.testing as pdt
import pytest

from photcat.models.classical import KNNPhotoZ
from photcat.models.committee import Committee
from photcat.models.forward import compile_forward
from photcat.models.keras_archive import _dense_chain, load_forward
from photcat.models.networks import BernoulliMLP, MixtureMLP, NormalMLP
from photcat.models.persistence import ModelIntegrityError, save_model
from tests.conftest import edit_manifest
from tests.test_persistence import SPEC, class_data, photoz_data

SMALL = {"hidden_layers": (8, 6), "epochs": 2, "random_state": 1}


def fitted_models() -> dict:
    X, y, E = photoz_data(400, 0)
    Xv, yv, Ev = photoz_data(200, 2)
    Xc, yc = class_data(400, 0)
    return {
        # the default photo-z committee: error inputs and a calibrated width
        "committee-errors": Committee(NormalMLP(error_mode="inputs", **SMALL), n_members=2).fit(
            X, y, errors=E, validation=(Xv, yv, Ev)
        ),
        "mixture-relu": MixtureMLP(n_components=2, activation="relu", **SMALL).fit(X, y),
        "classifier-committee": Committee(BernoulliMLP(**SMALL), n_members=2).fit(Xc, yc),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("archive")
    return {
        name: (est, save_model(est, root / name, feature_spec=SPEC))
        for name, est in fitted_models().items()
    }


@pytest.mark.parametrize("name", ["committee-errors", "mixture-relu", "classifier-committee"])
def test_archive_gives_the_compiled_forward_pass_exactly(saved, name):
    est, folder = saved[name]
    mine, ref = load_forward(folder), compile_forward(est)
    assert mine is not None and mine.task == ref.task
    assert mine.width_scale == ref.width_scale
    for a, b in zip(mine.networks, ref.networks, strict=True):
        assert (a.likelihood, a.activations) == (b.likelihood, b.activations)
        for x, y in zip(a.kernels + a.biases, b.kernels + b.biases, strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.x_mean, b.x_mean)
        assert (a.e_mean is None) == (b.e_mean is None)
    X, _, E = photoz_data(300, 5) if ref.task == "photoz" else (*class_data(300, 5), None)
    pa, pb = (
        mine.predict_dist(X, E),
        est.predict_dist(X, **({"errors": E} if E is not None else {})),
    )
    if ref.task == "photoz":
        for u, v in zip(pa.astuple(), pb.astuple(), strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(pa.p, pb.p, rtol=1e-5, atol=1e-7)
    if name == "committee-errors":
        assert mine.width_scale != 1.0


def test_loading_and_predicting_never_imports_tensorflow(saved):
    _, folder = saved["committee-errors"]
    code = (
        "import sys, numpy as np\n"
        "from photcat.models.keras_archive import load_forward\n"
        f"fw = load_forward({str(folder)!r})\n"
        "p = fw.predict_dist(np.zeros((10, 5)), np.full((10, 5), 0.05))\n"
        "assert np.isfinite(p.mean()).all()\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_models_without_plain_weights_are_left_to_keras(tmp_path):
    X, y, _ = photoz_data(300, 0)
    bayes = NormalMLP(bayesian=True, n_weight_samples=2, **SMALL).fit(X, y)
    knn = KNNPhotoZ(n_neighbors=5, calibration_fraction=0.0).fit(X, y)
    assert load_forward(save_model(bayes, tmp_path / "bayes", feature_spec=SPEC)) is None
    assert load_forward(save_model(knn, tmp_path / "knn", feature_spec=SPEC)) is None


def test_damaged_weights_are_refused_before_reading(saved, tmp_path):
    _, folder = saved["mixture-relu"]
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    keras_file = copy / "model.keras"
    data = bytearray(keras_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    keras_file.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="model.keras failed its checksum"):
        load_forward(copy)


def test_unknown_layers_or_activations_are_not_guessed(saved, tmp_path):
    _, folder = saved["mixture-relu"]
    assert _dense_chain(folder / "model.keras") is not None

    def rewritten(change) -> Path:
        out = tmp_path / f"m{len(list(tmp_path.iterdir()))}.keras"
        with zipfile.ZipFile(folder / "model.keras") as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "config.json":
                    cfg = json.loads(data)
                    change(cfg["config"]["layers"])
                    data = json.dumps(cfg).encode()
                dst.writestr(item, data)
        return out

    def odd_activation(layers):
        layers[1]["config"]["activation"] = "hard_silu"

    def other_layer(layers):
        layers[2]["class_name"] = "Dropout"

    def branch(layers):  # the second hidden layer fed by the input, not by the first
        layers[2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = layers[0]["name"]

    def other_output(layers):  # a model whose output is not the last Dense layer
        layers.pop()

    for change in (odd_activation, other_layer, branch, other_output):
        assert _dense_chain(rewritten(change)) is None, change.__name__


def test_weights_that_are_not_plain_float32_arrays_are_not_read(saved, tmp_path):
    """Links, external data and other dtypes in the weights file leave the model to Keras."""
    import h5py

    _, folder = saved["mixture-relu"]
    with zipfile.ZipFile(folder / "model.keras") as zf:
        weights = zf.read("model.weights.h5")

    def rewritten(change) -> Path:
        h5_path = tmp_path / "w.h5"
        h5_path.write_bytes(weights)
        with h5py.File(h5_path, "r+") as h5:
            vars_ = next(g["vars"] for g in h5["layers"].values() if "0" in g.get("vars", {}))
            change(h5, vars_)
        out = tmp_path / f"m{len(list(tmp_path.iterdir()))}.keras"
        with zipfile.ZipFile(folder / "model.keras") as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                dst.writestr(item, h5_path.read_bytes() if item.filename.endswith(".h5") else data)
        return out

    def soft_link(h5, vars_):
        other = vars_["1"].name
        del vars_["1"]
        vars_["1"] = h5py.SoftLink(other.replace("/1", "/0"))

    def external(h5, vars_):
        bias = vars_["1"][()]
        (tmp_path / "ext.bin").write_bytes(bias.tobytes())
        del vars_["1"]
        vars_.create_dataset(
            "1",
            shape=bias.shape,
            dtype="f4",
            external=[(str(tmp_path / "ext.bin"), 0, bias.nbytes)],
        )

    def float64(h5, vars_):
        bias = vars_["1"][()]
        del vars_["1"]
        vars_["1"] = bias.astype("f8")

    assert _dense_chain(rewritten(lambda h5, v: None)) is not None
    for change in (soft_link, external, float64):
        assert _dense_chain(rewritten(change)) is None, change.__name__


def test_member_folders_outside_the_model_are_refused(saved, tmp_path):
    _, folder = saved["committee-errors"]
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    edit_manifest(
        copy, lambda man: man["estimator"]["state"]["members"][0].update(folder="../copy/member_01")
    )
    with pytest.raises(ValueError, match="bad committee member folder"):
        load_forward(copy)


def test_pipeline_predicts_default_networks_without_keras(tmp_path):
    """The default photo-z committee (errors as inputs, calibrated width) trained by the
    pipeline predicts the same catalogue columns from the archive as from Keras."""
    from photcat.features.spec import FeatureSpec
    from photcat.models import persistence
    from photcat.models.forward import Forward
    from photcat.pipeline import stages, vac
    from photcat.pipeline.loader import load_model
    from photcat.pipeline.training import assign_splits
    from tests.test_stream import BANDS, canonical_sample

    t = canonical_sample()
    t = t[t["flag_zspec"].to_numpy() == 0].reset_index(drop=True).iloc[:3000].copy()
    t["split"] = assign_splits(len(t), (0.8, 0.2), 1)
    spec = FeatureSpec(bands=BANDS, reference_band="r", flag_policy="drop")
    folder = tmp_path / "pz"
    stages.train_and_save(
        t, folder, target="photoz", model="normal-committee",
        params={"n_members": 2, "hidden_layers": [8], "epochs": 3},
        spec=spec, seed=0, provenance={"test": "archive"},
    )  # fmt: skip
    fast = load_model(folder)
    assert isinstance(fast.predictor, Forward)  # nothing of Keras was loaded
    est = persistence.load_model(folder)  # the same folder through Keras
    assert est.members_[0].error_mode == "inputs" and est.width_scale_ != 1.0
    keras = dataclasses.replace(fast, predictor=est)
    grid = np.linspace(0.0, 1.0, 21)
    a, arr_a = vac.predict_columns(t, [fast], grid=grid)
    b, arr_b = vac.predict_columns(t, [keras], grid=grid)
    pdt.assert_frame_equal(a, b)
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k])
    feats = spec.build(t)
    ok = feats.usable
    direct = est.predict_dist(feats.X[ok], errors=feats.errors[ok])
    np.testing.assert_allclose(a["photoz_mean"].to_numpy()[ok], direct.mean(), rtol=1e-5)
    assert fast.manifest["task"] == "photoz"
