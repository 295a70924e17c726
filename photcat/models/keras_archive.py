"""Saved networks read straight into their numpy forward pass, without Keras or TensorFlow.

A ``.keras`` file is a zip archive holding ``config.json`` (the layer graph) and
``model.weights.h5`` (the arrays). For the plain MLPs photcat trains — a chain of ``Dense``
layers with known activations — that is all the forward pass needs, so prediction processes
(local workers, Dask workers, ``photcat predict``) can load a model folder in milliseconds
and never start TensorFlow, which takes seconds and about 1 GB per process.

Nothing here executes code from the file: the archive is opened only after every file's
sha256 matched the model's manifest (:func:`photcat.models.persistence.check_model_folder`),
JSON is parsed as data, the h5 file is read as arrays, and any layer or activation outside
the known list makes :func:`load_forward` return None, so the caller loads the model
through Keras (safe mode) instead.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from photcat.models.forward import INPLACE_ACTIVATIONS, Forward, Network
from photcat.models.persistence import check_model_folder, from_json

_NETWORKS = {
    "photcat.models.networks.NormalMLP": "normal",
    "photcat.models.networks.MixtureMLP": "mixture",
    "photcat.models.networks.BernoulliMLP": "bernoulli",
}
_COMMITTEE = "photcat.models.committee.Committee"


def load_forward(folder: str | os.PathLike, *, strict_versions: bool = False) -> Forward | None:
    """The compiled forward pass of a saved network or committee of networks, else None.

    The folder is verified exactly as :func:`~photcat.models.persistence.load_model` does
    (checksums, format and package versions). None means the model is not a chain of Dense
    layers photcat knows (a classical model, a Bayesian network, ...): load it normally.
    """
    folder = Path(folder)
    manifest = check_model_folder(folder, strict_versions=strict_versions)
    node = manifest["estimator"]
    if node.get("class") == _COMMITTEE:
        members = node["state"]["members"]
        nets = [_network(m, folder / m["folder"]) for m in members]
        scale = float(node["state"].get("width_scale_", 1.0))
    else:
        nets, scale = [_network(node, folder)], 1.0
    if not nets or any(n is None for n in nets):
        return None
    kinds = {n.likelihood == "bernoulli" for n in nets}
    if len(kinds) != 1:
        return None
    task = "quiescent" if kinds.pop() else "photoz"
    return Forward(task, tuple(nets), scale)  # type: ignore[arg-type]


def _network(node: dict, folder: Path) -> Network | None:
    likelihood = _NETWORKS.get(node.get("class", ""))
    if likelihood is None or node.get("format") != "state":
        return None
    params = from_json(json.loads((folder / "params.json").read_text()))
    if params.get("bayesian"):
        return None  # weight distributions, not weights: the estimator samples them
    state = node["state"]
    archive, scaler_file = folder / state["keras_file"], folder / state["scaler_file"]
    if archive.parent != folder or scaler_file.parent != folder:
        return None
    layers = _dense_chain(archive)
    if layers is None:
        return None
    scalers = json.loads(scaler_file.read_text())
    sx, se, sy = scalers["x"], scalers.get("e"), scalers.get("y")
    return Network(
        likelihood=likelihood,
        kernels=tuple(k for k, _, _ in layers),
        biases=tuple(b for _, b, _ in layers),
        activations=tuple(a for _, _, a in layers),
        x_mean=np.asarray(sx["mean"], dtype=np.float64),
        x_scale=np.asarray(sx["scale"], dtype=np.float64),
        y_mean=float(sy["mean"][0]) if sy else 0.0,
        y_scale=float(sy["scale"][0]) if sy else 1.0,
        e_mean=np.asarray(se["mean"], dtype=np.float64) if se else None,
        e_scale=np.asarray(se["scale"], dtype=np.float64) if se else None,
    )


def _dense_chain(archive: Path) -> list[tuple[np.ndarray, np.ndarray, str]] | None:
    """(kernel, bias, activation) per Dense layer of a ``.keras`` archive, input to output."""
    import h5py

    with zipfile.ZipFile(archive) as zf:
        config = json.loads(zf.read("config.json"))
        if config.get("class_name") != "Functional":
            return None
        chain, previous = [], None
        for layer in config["config"]["layers"]:
            kind, name = layer.get("class_name"), layer.get("name")
            if kind == "InputLayer" and previous is None:
                previous = name
                continue
            if kind != "Dense" or previous is None or _inbound(layer) != previous:
                return None  # not a plain chain of Dense layers
            cfg = layer["config"]
            act = cfg.get("activation") or "linear"
            if act not in INPLACE_ACTIVATIONS or not cfg.get("use_bias", True):
                return None
            chain.append((name, act))
            previous = name
        with zf.open("model.weights.h5") as raw, h5py.File(raw, "r") as h5:
            arrays = {
                grp["vars"].attrs.get("name"): grp["vars"]
                for grp in h5["layers"].values()
                if "vars" in grp
            }
            out = []
            for name, act in chain:
                vars_ = arrays.get(name)
                if vars_ is None or set(vars_) != {"0", "1"}:
                    return None
                kernel = np.ascontiguousarray(vars_["0"][()], dtype=np.float32)
                bias = np.ascontiguousarray(vars_["1"][()], dtype=np.float32)
                out.append((kernel, bias, act))
    for (k, b, _), nxt in zip(out, out[1:] + [None], strict=True):
        if k.ndim != 2 or b.shape != (k.shape[1],) or (nxt and nxt[0].shape[0] != k.shape[1]):
            return None
    return out


def _inbound(layer: dict) -> str | None:
    """The name of the single layer feeding ``layer`` in a Functional config, else None."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) != 1 or len(nodes[0].get("args", [])) != 1:
        return None
    history = nodes[0]["args"][0].get("config", {}).get("keras_history")
    return history[0] if history else None
