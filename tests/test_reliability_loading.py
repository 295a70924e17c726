"""Safe loading of model folders, as the pipeline loads them (photcat.pipeline.loader.load_model).

* only through the manifest, every file's SHA-256 checked first: a modified file is refused;
* a ``.keras`` file that asks for unsafe deserialisation (a Lambda layer holding Python
  bytecode) is refused even when its checksum matches (Keras safe mode);
* no pickle/joblib file is opened unless the caller says ``trusted=True`` — the pipeline never
  does — and no module of photcat calls pickle, joblib or ``allow_pickle=True`` elsewhere.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import photcat
from photcat.models import registry
from photcat.models.persistence import ModelIntegrityError, load_model, save_model
from photcat.pipeline.loader import load_model as pipeline_load
from tests.conftest import edit_manifest

SPEC = {
    "format": "photcat.FeatureSpec/1",
    "bands": ["u", "g", "r"],
    "colours": None,
    "reference_band": "r",
    "include_errors": False,
    "flag_policy": "drop",
    "min_bands": 2,
    "limit_quantile": 0.99,
    "imputed_error": 1.0,
    "limits": None,
}


def _data(n: int = 300):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    return X, 0.3 + 0.1 * np.tanh(X[:, 0]) + 0.01 * rng.normal(size=n)


def _rehash(folder: Path) -> None:
    """Make the manifest's checksums and seal match the files again (what someone with write
    access could do)."""

    def files(man):
        man["files"] = {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("manifest.")
        }

    edit_manifest(folder, files)


@pytest.fixture(scope="module")
def knn_folder(tmp_path_factory) -> Path:
    X, z = _data()
    folder = tmp_path_factory.mktemp("m") / "knn"
    return save_model(registry.build("knn").fit(X, z), folder, feature_spec=SPEC, config={})


def test_pipeline_loads_a_verified_model(knn_folder, tmp_path):
    folder = Path(shutil.copytree(knn_folder, tmp_path / "ok"))
    lm = pipeline_load(folder)
    X, _ = _data(20)
    assert lm.target == "photoz" and np.isfinite(lm.predictor.predict_dist(X).mean()).all()


def test_modified_model_file_is_refused_by_the_pipeline(knn_folder, tmp_path):
    folder = Path(shutil.copytree(knn_folder, tmp_path / "flip"))
    path = folder / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit changed
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.skops.*checksum"):
        pipeline_load(folder)


def test_folder_without_manifest_is_refused(knn_folder, tmp_path):
    folder = Path(shutil.copytree(knn_folder, tmp_path / "noman"))
    (folder / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        pipeline_load(folder)


def test_pickle_is_never_opened_without_trusted(knn_folder, tmp_path):
    """A joblib/pickle model whose checksums match: refused, and its payload never runs."""
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = Path(shutil.copytree(knn_folder, tmp_path / "pkl"))
    (folder / "model.skops").unlink()
    (folder / "model.joblib").write_bytes(pickle.dumps(Payload()))
    edit_manifest(folder, lambda man: man["estimator"].update(format="joblib"))
    _rehash(folder)
    with pytest.raises(ModelIntegrityError, match="pickle.*trusted=True"):
        pipeline_load(folder)
    with pytest.raises(ModelIntegrityError, match="trusted=True"):
        load_model(folder)
    assert not marker.exists()
    # the gate is the only thing in the way: with trusted=True the pickle does run
    with pytest.raises(Exception):  # noqa: B017 - the payload returns no estimator
        load_model(folder, trusted=True)
    assert marker.exists()


def test_foreign_class_in_manifest_is_refused(knn_folder, tmp_path):
    folder = Path(shutil.copytree(knn_folder, tmp_path / "cls"))
    edit_manifest(folder, lambda man: man["estimator"].update({"class": "os.system"}))
    with pytest.raises(ModelIntegrityError, match="only photcat.models classes"):
        load_model(folder)


def test_keras_lambda_layer_is_refused_even_with_matching_checksums(tmp_path):
    """A .keras file holding a Lambda layer (Python bytecode): Keras safe mode refuses it."""
    keras = pytest.importorskip("keras")
    from photcat.models.networks import NormalMLP

    X, z = _data(200)
    folder = save_model(
        NormalMLP(hidden_layers=(4,), epochs=1, random_state=0).fit(X, z),
        tmp_path / "net",
        feature_spec=SPEC,
    )
    inp = keras.Input((3,))
    out = keras.layers.Lambda(lambda x: x * 2.0 + 1.0)(inp)  # Python bytecode in the file
    keras.Model(inp, out).save(folder / "model.keras")  # replaces the network's file
    _rehash(folder)  # checksums match: only safe mode stands in the way
    with pytest.raises(ValueError, match="(?i)lambda.*(unsafe|safe_mode)"):
        load_model(folder)
    # the pipeline's loader reads only Dense chains from archives: this one goes to Keras
    with pytest.raises(ValueError, match="(?i)lambda.*(unsafe|safe_mode)"):
        pipeline_load(folder)


def test_no_unsafe_deserialisation_anywhere_in_photcat():
    """Static check: pickle/joblib/unsafe loaders appear only behind the trusted gate."""
    src = Path(photcat.__file__).parent
    allowed = {("models/persistence.py", "joblib.load")}
    patterns = {
        "pickle.load": r"\bpickle\.loads?\(",
        "joblib.load": r"\bjoblib\.load\(",
        "read_pickle": r"\bread_pickle\(",
        "allow_pickle=True": r"allow_pickle\s*=\s*True",
        "safe_mode=False": r"safe_mode\s*=\s*False",
        "torch.load": r"\btorch\.load\(",
        "yaml.load": r"\byaml\.(unsafe_)?load\(",
        "dill/cloudpickle": r"\b(dill|cloudpickle)\.loads?\(",
    }
    found = set()
    for py in src.rglob("*.py"):
        text = py.read_text()
        for name, pat in patterns.items():
            if re.search(pat, text):
                found.add((py.relative_to(src).as_posix(), name))
    assert found <= allowed, found - allowed
    # and the one joblib.load sits behind the trusted check
    text = (src / "models" / "persistence.py").read_text()
    block = text[text.index('elif fmt == "joblib"') : text.index("joblib.load(")]
    assert "if not trusted" in block and "raise ModelIntegrityError" in block


def test_pipeline_never_passes_trusted():
    src = Path(photcat.__file__).parent / "pipeline"
    for py in src.glob("*.py"):
        assert not re.search(r"trusted\s*=\s*True", py.read_text()), py
