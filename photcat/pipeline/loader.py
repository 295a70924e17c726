"""The one way the pipeline loads a saved model: :func:`load_model`.

A model folder is verified once (the manifest against its seal, every file's SHA-256 against
the manifest, see :func:`photcat.models.persistence.check_model_folder`; optionally the
folder's digest against one the user pinned), then its predictor is resolved:
networks and committees of networks as their numpy forward pass read straight from the
``.keras`` archives (:mod:`photcat.models.keras_archive`; TensorFlow is never imported),
everything else (classical models, Bayesian networks) as the estimator itself. Evaluation,
the Luigi predict tasks, ``photcat predict`` and its worker processes all predict through
the same :attr:`LoadedModel.predictor`, so they give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from photcat.features.columns import spec_from_dict
from photcat.features.spec import FeatureSpec
from photcat.models.persistence import MANIFEST, ModelIntegrityError


@dataclass(frozen=True)
class LoadedModel:
    """A verified model folder: its predictor, feature specification and training ranges.

    ``predictor`` has ``predict_dist(X, errors=None)`` (a compiled
    :class:`~photcat.models.forward.Forward` or the estimator); ``feature_min`` and
    ``feature_max`` are the training set's feature ranges (flag bit ``outside_training_range``).
    """

    folder: str
    target: str  # "photoz", "quiescent" or "class"
    predictor: Any = field(repr=False)
    spec: FeatureSpec
    feature_min: np.ndarray = field(repr=False, compare=False)
    feature_max: np.ndarray = field(repr=False, compare=False)
    manifest: dict = field(repr=False, compare=False)
    n_components: int = 1  # photo-z: Normal components per object (committee members × each)
    sha256: str = ""  # the folder's digest (persistence.model_digest)

    @property
    def config(self) -> dict:
        """The training configuration saved in the manifest."""
        return self.manifest.get("config") or {}

    def provenance(self) -> dict:
        """What a value-added catalogue records about this model."""
        m = self.manifest
        out = {
            "folder": self.folder,
            "sha256": self.sha256,
            "class": m.get("class"),
            "task": m.get("task"),
            "model": self.config.get("model"),
            "photcat_version": m.get("photcat_version"),
            "versions": m.get("versions"),
        }
        if self.target == "class":  # what the p_<class> columns and the flag bit mean
            out.update({k: self.config.get(k) for k in ("label", "classes", "galaxy_class")})
        return out

    @property
    def uses_error_inputs(self) -> bool:
        """True when the model takes the magnitude errors as inputs (error_mode "inputs" or
        "both"): it cannot predict from a catalogue without errors."""
        p = self.predictor
        nets = getattr(p, "networks", None)
        if nets is not None:  # a compiled forward pass
            return any(n.e_mean is not None for n in nets)
        ests = [p, *getattr(p, "members_", [])]
        return any(getattr(e, "error_mode", "none") in ("inputs", "both") for e in ests)

    def shippable(self) -> bool:
        """True when the predictor is plain data that another process can receive (no Keras
        model inside); otherwise a worker loads the folder itself."""
        ests = [self.predictor, *getattr(self.predictor, "members_", [])]
        return not any(hasattr(e, "model_") for e in ests)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> LoadedModel:
    from photcat.models.keras_archive import forward_from_manifest
    from photcat.models.persistence import check_model_folder, load_estimator, model_digest

    manifest = check_model_folder(path)  # checksums read once, for either route
    digest = model_digest(path)
    predictor = forward_from_manifest(path, manifest)
    if predictor is None:
        predictor = load_estimator(manifest["estimator"], Path(path))
    try:
        cfg = manifest.get("config") or {}
        feature_min = np.asarray(cfg.get("feature_min", []), dtype=np.float32)
        if manifest["task"] == "class":
            _check_classes(predictor, cfg, path)
        return LoadedModel(
            folder=path,
            target=manifest["task"],
            predictor=predictor,
            spec=spec_from_dict(manifest["feature_spec"]),
            feature_min=feature_min,
            feature_max=np.asarray(cfg.get("feature_max", []), dtype=np.float32),
            manifest=manifest,
            n_components=_components(predictor, manifest["task"], feature_min),
            sha256=digest,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}/{MANIFEST}: cannot use the saved model ({exc})") from exc


def _check_classes(predictor: Any, config: dict, path: str) -> None:
    """A class model's recorded classes (which name its ``p_<class>`` columns and its galaxy
    class) are those its predictor outputs, in order."""
    from photcat.pipeline.training import RESERVED_COLUMNS, class_column_name

    nets = getattr(predictor, "networks", None)
    got = list(nets[0].classes) if nets else [str(c) for c in getattr(predictor, "classes_", [])]
    if config.get("classes") != got:
        raise ValueError(f"the recorded classes {config.get('classes')} differ from the model's own {got}")  # fmt: skip
    if config.get("galaxy_class") and config["galaxy_class"] not in got:
        raise ValueError(f"the galaxy class {config['galaxy_class']!r} is not among the classes {got}")  # fmt: skip
    columns = [class_column_name(c) for c in got]
    if len(set(columns)) < len(columns) or set(columns) & set(RESERVED_COLUMNS):
        raise ValueError(f"the classes {got} do not give distinct p_<class> columns")


def _components(predictor: Any, target: str, row: np.ndarray) -> int:
    """Mixture components per object of a photo-z predictor, from one prediction of a valid
    row (the training minimum), so that partitions with no predictable row still get
    mixture columns of the same width as the others."""
    if target != "photoz" or row.size == 0:
        return 1
    from photcat.models.base import predict_dist

    X = row[None, :]
    pred = predict_dist(predictor, X, np.full_like(X, 0.05))
    return int(getattr(pred, "n_components", 1))


def load_model(model_dir: str | Path, sha256: str | None = None) -> LoadedModel:
    """A saved model folder, verified and loaded once per process (cached by path and the
    manifest's modification time, so a re-saved folder is loaded again).

    ``sha256``: the folder digest the caller expects (``photcat predict --model-sha256``);
    a folder with another digest is refused.
    """
    folder = Path(model_dir).resolve()
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: not a saved photcat model folder")
    st = manifest.stat()
    lm = _load(str(folder), st.st_mtime_ns, st.st_size)
    if sha256 is not None and lm.sha256 != sha256.strip().lower():
        raise ModelIntegrityError(
            f"{folder}: digest {lm.sha256} differs from the pinned --model-sha256 {sha256}"
        )
    return lm
