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

from photcat.models import likelihoods as lik
from photcat.models.committee import check_member_folder
from photcat.models.forward import INPLACE_ACTIVATIONS, TASK_OF_LIKELIHOOD, Forward, Network
from photcat.models.persistence import check_model_folder, from_json

_NETWORKS = {
    "photcat.models.networks.NormalMLP": "normal",
    "photcat.models.networks.MixtureMLP": "mixture",
    "photcat.models.networks.BernoulliMLP": "bernoulli",
    "photcat.models.networks.CategoricalMLP": "categorical",
}
_COMMITTEE = "photcat.models.committee.Committee"


def load_forward(folder: str | os.PathLike, *, strict_versions: bool = False) -> Forward | None:
    """The compiled forward pass of a saved network or committee of networks, else None.

    The folder is verified exactly as :func:`~photcat.models.persistence.load_model` does
    (checksums, format and package versions). None means the model is not a chain of Dense
    layers photcat knows (a classical model, a Bayesian network, a file this reader does not
    recognise, ...): load it through Keras instead.
    """
    folder = Path(folder)
    return forward_from_manifest(
        folder, check_model_folder(folder, strict_versions=strict_versions)
    )


def forward_from_manifest(folder: str | os.PathLike, manifest: dict) -> Forward | None:
    """:func:`load_forward` for a folder whose ``manifest`` the caller has already verified
    with :func:`~photcat.models.persistence.check_model_folder`."""
    folder = Path(folder)
    node = manifest["estimator"]
    if node.get("class") == _COMMITTEE:
        members = node["state"]["members"]
        nets = [_network(m, folder / check_member_folder(m["folder"], folder)) for m in members]
        scale = float(node["state"].get("width_scale_", 1.0))
    else:
        nets, scale = [_network(node, folder)], 1.0
    if not nets or any(n is None for n in nets):
        return None
    kinds = {TASK_OF_LIKELIHOOD[n.likelihood] for n in nets}
    if len(kinds) != 1:
        return None
    return Forward(kinds.pop(), tuple(nets), scale)


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
    try:
        layers = _dense_chain(archive)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError):
        return None  # an archive this reader does not understand: Keras decides
    if layers is None:
        return None
    scalers = json.loads(scaler_file.read_text())
    n_in = len(scalers["x"]["mean"]) + (len(scalers["e"]["mean"]) if scalers.get("e") else 0)
    classes = None
    if likelihood == "categorical":
        classes = state.get("classes_")
        if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            return None
        classes = tuple(classes)
    n_out = (
        len(classes) if classes else lik.n_outputs(likelihood, int(params.get("n_components", 1)))
    )
    if layers[0][0].shape[0] != n_in or layers[-1][0].shape[1] != n_out:
        return None
    return Network.from_parts(likelihood, layers, scalers, classes)


def _dense_chain(archive: Path) -> list[tuple[np.ndarray, np.ndarray, str]] | None:
    """(kernel, bias, activation) per Dense layer of a ``.keras`` archive, input to output.

    None unless the model is a Functional chain input -> Dense -> ... -> Dense (the last one
    its only output) in float32 with known activations, and every weight is a plain float32
    dataset of the shape the layer config implies (no links, external or virtual datasets).
    """
    import h5py

    with zipfile.ZipFile(archive) as zf:
        config = json.loads(zf.read("config.json"))
        if config.get("class_name") != "Functional":
            return None
        layers = config["config"]["layers"]
        chain, previous = [], None
        for layer in layers:
            kind, name = layer.get("class_name"), layer.get("name")
            if kind == "InputLayer" and previous is None:
                previous = name
                continue
            if kind != "Dense" or previous is None or _inbound(layer) != previous:
                return None  # not a plain chain of Dense layers
            cfg = layer["config"]
            act = cfg.get("activation") or "linear"
            if not isinstance(act, str) or act not in INPLACE_ACTIVATIONS:
                return None
            if not cfg.get("use_bias", True) or _dtype(cfg.get("dtype")) != "float32":
                return None
            chain.append((name, act, int(cfg["units"])))
            previous = name
        outputs = config["config"].get("output_layers") or []
        if outputs and isinstance(outputs[0], str):
            outputs = [outputs]  # one output: Keras 3 writes [name, 0, 0], not [[name, 0, 0]]
        if not chain or [o[0] for o in outputs] != [chain[-1][0]]:
            return None
        with zf.open("model.weights.h5") as raw, h5py.File(raw, "r") as h5:
            groups = {}
            for key in h5["layers"]:
                if not isinstance(h5["layers"].get(key, getlink=True), h5py.HardLink):
                    return None
                grp = h5["layers"][key]
                if "vars" in grp:
                    groups[grp["vars"].attrs.get("name")] = grp["vars"]
            out, n_in = [], None
            for name, act, units in chain:
                vars_ = groups.get(name)
                if vars_ is None or set(vars_) != {"0", "1"}:
                    return None
                kernel, bias = _array(h5py, vars_, "0"), _array(h5py, vars_, "1")
                if kernel is None or bias is None or kernel.ndim != 2:
                    return None
                if kernel.shape[1] != units or bias.shape != (units,):
                    return None
                if n_in is not None and kernel.shape[0] != n_in:
                    return None
                n_in = units
                out.append((kernel, bias, act))
    return out


def _array(h5py, group, key: str) -> np.ndarray | None:
    """A plain float32 dataset as a contiguous array; None for links, external or virtual
    datasets and any other dtype."""
    if not isinstance(group.get(key, getlink=True), h5py.HardLink):
        return None
    ds = group[key]
    if not isinstance(ds, h5py.Dataset) or ds.external or ds.is_virtual:
        return None
    if ds.dtype != np.float32 or ds.size > 50_000_000:
        return None
    return np.ascontiguousarray(ds[()], dtype=np.float32)


def _dtype(policy) -> str | None:
    """The dtype name of a layer's dtype policy (a string or a serialised DTypePolicy)."""
    if isinstance(policy, str):
        return policy
    if isinstance(policy, dict):
        return (policy.get("config") or {}).get("name")
    return None


def _inbound(layer: dict) -> str | None:
    """The name of the single layer feeding ``layer`` in a Functional config, else None."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) != 1 or len(nodes[0].get("args", [])) != 1:
        return None
    arg = nodes[0]["args"][0]
    history = arg.get("config", {}).get("keras_history") if isinstance(arg, dict) else None
    return history[0] if isinstance(history, list) and history else None
