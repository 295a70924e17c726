"""Save and load any photcat estimator as a self-describing, checksummed folder.

Folder layout (written atomically: built in a hidden temp sibling, then renamed into place)::

    manifest.json      photcat version, task, class, params, feature_spec, training config,
                       metrics, package versions, sha256 of every other file, the state tree
    manifest.sha256    the SHA-256 of manifest.json's bytes (``sha256sum -c`` format): the
                       folder's digest, which covers every byte that can change a prediction
    params.json        the estimator's parameters (``get_params``), JSON
    model.keras        Keras estimators (loaded with safe_mode=True, never unsafe)
    scaler.json        Keras estimators: input/target standardisers
    model.skops        other estimators (scikit-learn based), in skops' safe format
    member_00/ ...     committees: one sub-folder per member, same rules recursively

What an estimator must implement to be saveable
-----------------------------------------------
1. Be a scikit-learn style estimator (``sklearn.base.BaseEstimator`` subclass, parameters in
   ``__init__``; ``get_params(deep=False)`` must give JSON values, or estimators, or lists of
   them), defined in a module under ``photcat.models`` and with a ``task`` attribute
   (``"photoz"`` or ``"quiescent"``; the base classes in ``photcat.models.base`` provide it).
2. EITHER define the two hooks::

       def _save_state(self, folder: pathlib.Path) -> dict:
           # write any files into `folder` (flat names); return a JSON-serialisable dict
       def _load_state(self, folder: pathlib.Path, state: dict, *, trusted: bool = False) -> None:
           # called on `cls(**params)`; restore fitted attributes from `state` and the files

   (Keras networks and ``Committee`` do this),
   OR define nothing: the whole fitted estimator is then written with ``skops.io.dump``. On
   load, skops reconstructs it without pickle. Types skops does not trust by default are
   accepted only if they come from ``photcat.models``, ``sklearn``, ``numpy`` or ``scipy``;
   anything else (a lambda, a foreign class) is refused unless ``trusted=True``. So a classical
   estimator whose fitted attributes are scikit-learn estimators, numpy arrays and builtins is
   saveable as it is. Predictions after loading must be identical; keep random state in
   ``__init__`` parameters (``seed``/``random_state``), not in a live Generator.
If skops is not installed, the fallback is joblib (pickle), which ``load_model`` only opens
with ``trusted=True``.

Tamper evidence
---------------
Every file's SHA-256 is in the manifest, and the manifest's own SHA-256 is in
``manifest.sha256``; both are checked at load, so a changed byte anywhere in the folder is
refused. Paths in a manifest must stay inside the folder, and a folder holding a symbolic
link is refused. That digest (:func:`model_digest`) is recorded in every output made with the
model and can be pinned (``photcat predict --model-sha256``). It guards against accidents and
careless copies, not against someone with write access to the folder, who can recompute
both digests: pin the digest where it matters (``docs/reliability.md``).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from photcat.fileio import sha256_file
from photcat.models.base import migrate_params

FORMAT_VERSION = 2  # 2: manifest.sha256 seals the manifest itself
MANIFEST = "manifest.json"
SEAL = "manifest.sha256"
# keys every manifest has, checked before any is used
_REQUIRED_KEYS = ("format_version", "task", "class", "feature_spec", "estimator", "files")
_SAFE_TYPE_PREFIXES = ("photcat.models.", "sklearn.", "numpy.", "scipy.")
_VERSIONED_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "tensorflow",
    "tensorflow-probability",
    "tf-keras",
    "keras",
    "skops",
)


class ModelIntegrityError(ValueError):
    """A saved model folder is corrupted, modified, incomplete or untrusted."""


class FeatureSpecMismatchError(ValueError):
    """The caller's feature specification differs from the one the model was trained with."""


class VersionMismatchWarning(UserWarning):
    """The model was saved with different package versions than are installed now."""


# ---------------------------------------------------------------------------- small helpers


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that determine a model's numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _photcat_version() -> str:
    import photcat

    return str(getattr(photcat, "__version__", "unknown"))


def _qualname(obj_or_cls) -> str:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_class(qualname: str) -> type:
    if not isinstance(qualname, str):
        raise ModelIntegrityError(f"class name {qualname!r} in the manifest is not a string")
    module, _, name = qualname.rpartition(".")
    if not module.startswith("photcat.models"):
        raise ModelIntegrityError(
            f"refusing to load class {qualname!r}: only photcat.models classes are loadable"
        )
    cls = getattr(importlib.import_module(module), name, None)
    if not isinstance(cls, type):
        raise ModelIntegrityError(f"class {qualname!r} named in the manifest does not exist")
    return cls


def to_json(value: Any) -> Any:
    """JSON form of estimator parameters: estimators become ``{"__estimator__", "params"}``."""
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        return {"__estimator__": _qualname(value), "params": to_json(value.get_params(deep=False))}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"parameter value {value!r} of type {type(value).__name__} is not JSON-serialisable"
    )


def from_json(value: Any) -> Any:
    """Inverse of :func:`to_json` (lists stay lists; estimators are rebuilt unfitted)."""
    if isinstance(value, dict):
        if "__estimator__" in value:
            cls = _import_class(value["__estimator__"])
            return cls(**migrate_params(cls, from_json(value["params"])))
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def _dump_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, default=_json_default) + "\n")


def _dict_diff(saved: Any, given: Any, where: str = "feature_spec") -> list[str]:
    """Human-readable differences between two JSON-like values."""
    if isinstance(saved, dict) and isinstance(given, dict):
        out = []
        for k in sorted(set(saved) | set(given), key=str):
            if k not in given:
                out.append(f"{where}[{k!r}] missing (saved: {saved[k]!r})")
            elif k not in saved:
                out.append(f"{where}[{k!r}] not in the saved spec (given: {given[k]!r})")
            else:
                out.extend(_dict_diff(saved[k], given[k], f"{where}[{k!r}]"))
        return out
    if isinstance(saved, list | tuple) and isinstance(given, list | tuple):
        if list(saved) != list(given):
            return [f"{where}: saved {list(saved)!r}, given {list(given)!r}"]
        return []
    return [] if saved == given else [f"{where}: saved {saved!r}, given {given!r}"]


# ---------------------------------------------------------------------------- state tree


def save_estimator(est: Any, folder: Path) -> dict:
    """Write one estimator's files into ``folder``; return its node for the manifest.

    Used recursively by committees for their members.
    """
    folder.mkdir(parents=True, exist_ok=True)
    params = to_json(est.get_params(deep=False))
    _dump_json(params, folder / "params.json")
    node: dict[str, Any] = {"class": _qualname(est), "task": getattr(est, "task", None)}
    if hasattr(est, "_save_state"):
        node["format"] = "state"
        node["state"] = est._save_state(folder)
    else:
        try:
            import skops.io as sio
        except ImportError:  # pragma: no cover - skops is a dependency
            import joblib

            joblib.dump(est, folder / "model.joblib")
            node["format"] = "joblib"
        else:
            sio.dump(est, folder / "model.skops")
            node["format"] = "skops"
    return node


def load_estimator(node: dict, folder: Path, *, trusted: bool = False) -> Any:
    """Rebuild one estimator from its manifest node and files (inverse of ``save_estimator``).

    Anything that goes wrong reading the files is a :class:`ModelIntegrityError` naming the
    folder (a non-zip ``.skops``, a ``params.json`` that is not an object, a missing key).
    """
    import zipfile

    try:
        return _load_estimator(node, folder, trusted=trusted)
    except ModelIntegrityError:
        raise
    except (KeyError, TypeError, ValueError, OSError, zipfile.BadZipFile) as exc:
        what = f"{type(exc).__name__}: {exc}".strip()
        raise ModelIntegrityError(f"{folder}: cannot load the saved model ({what})") from exc


def _load_estimator(node: dict, folder: Path, *, trusted: bool = False) -> Any:
    if not isinstance(node, dict):
        raise ModelIntegrityError(f"{folder / MANIFEST}: estimator entry is not an object")
    cls = _import_class(node["class"])
    fmt = node.get("format")
    if fmt == "state":
        params = from_json(json.loads((folder / "params.json").read_text()))
        est = cls(**migrate_params(cls, params))
        est._load_state(folder, node["state"], trusted=trusted)
        return est
    if fmt == "skops":
        import skops.io as sio

        path = folder / "model.skops"
        untrusted = sio.get_untrusted_types(file=path)
        foreign = [t for t in untrusted if not t.startswith(_SAFE_TYPE_PREFIXES)]
        if foreign and not trusted:
            raise ModelIntegrityError(
                f"{path} contains types outside photcat.models/sklearn/numpy/scipy: {foreign}; "
                "pass trusted=True only if you trust where this file came from"
            )
        est = sio.load(path, trusted=untrusted)
    elif fmt == "joblib":
        path = folder / "model.joblib"
        if not trusted:
            raise ModelIntegrityError(
                f"{path} is a pickle (joblib) file, which can run arbitrary code when loaded; "
                "pass trusted=True only if you trust where it came from"
            )
        import joblib

        est = joblib.load(path)
    else:
        raise ModelIntegrityError(f"unknown model format {fmt!r} in {folder / MANIFEST}")
    if _qualname(est) != node["class"]:
        raise ModelIntegrityError(
            f"{folder}: file holds a {_qualname(est)}, manifest says {node['class']}"
        )
    return est


# ---------------------------------------------------------------------------- public API


def save_model(
    model: Any,
    folder: str | os.PathLike,
    *,
    feature_spec: dict,
    metrics: dict | None = None,
    config: dict | None = None,
) -> Path:
    """Save a fitted photcat estimator (network, committee, classical) to ``folder``.

    ``feature_spec`` is the caller's (opaque, JSON) description of the features the model
    expects; ``metrics`` (e.g. validation metrics) and ``config`` (training configuration) are
    stored as given. An existing ``folder`` is replaced atomically. Returns the folder path.
    """
    if not isinstance(feature_spec, dict):
        raise TypeError(f"feature_spec must be a dict, got {type(feature_spec).__name__}")
    folder = Path(folder)
    check_replaceable(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        node = save_estimator(model, tmp)
        files = {
            p.relative_to(tmp).as_posix(): sha256_file(p)
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "photcat_version": _photcat_version(),
            "task": node["task"],
            "class": node["class"],
            "params": json.loads((tmp / "params.json").read_text()),
            "feature_spec": json.loads(json.dumps(feature_spec, default=_json_default)),
            "config": config,
            "metrics": metrics,
            "versions": package_versions(),
            "estimator": node,
            "files": files,
        }
        _dump_json(manifest, tmp / MANIFEST)
        _write_seal(tmp)
        for p in tmp.rglob("*"):
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
        _apply_umask(tmp)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def check_replaceable(folder: Path) -> None:
    """Refuse to replace anything but an empty folder or a sealed photcat model folder that
    holds only the model's own files: a mistyped ``--out`` must not delete other files."""
    folder = Path(folder)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ValueError(f"{folder} exists and is not a folder: give a new folder for the model")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    refuse = (
        f"{folder} holds files that are not a photcat model's: it is not replaced; give a "
        "new or empty folder (or a model folder to overwrite)"
    )
    try:
        model_digest(folder)  # the seal matches the manifest
        listed = set(json.loads((folder / MANIFEST).read_bytes())["files"]) | {MANIFEST, SEAL}
    except (ModelIntegrityError, OSError, ValueError, KeyError, TypeError):
        raise ValueError(refuse) from None
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_symlink() or not p.is_dir()
    }
    if present - listed:
        extra = sorted(present - listed)
        raise ValueError(f"{refuse} ({', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''})")


def _write_seal(folder: Path) -> None:
    digest = sha256_file(folder / MANIFEST)
    (folder / SEAL).write_text(f"{digest}  {MANIFEST}\n")


def _apply_umask(folder: Path) -> None:
    """Give a folder built with mkdtemp (0700) the permissions the user's umask asks for."""
    from photcat.fileio import umask

    mask = umask()
    for root, _dirs, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


def model_digest(folder: str | os.PathLike) -> str:
    """The folder's digest: SHA-256 of its ``manifest.json`` bytes (which list every other
    file's SHA-256). Checked against ``manifest.sha256``; raises when they differ."""
    folder = Path(folder)
    seal = folder / SEAL
    if not seal.is_file() or seal.is_symlink():
        raise ModelIntegrityError(
            f"{seal} not found: the folder was saved by a photcat older than format "
            f"{FORMAT_VERSION} or edited; train and save the model again"
        )
    import re

    digest = sha256_file(folder / MANIFEST)
    line = seal.read_bytes()
    if not re.fullmatch(rb"[0-9a-f]{64}  manifest\.json\n", line):
        raise ModelIntegrityError(
            f"{seal} is not the line photcat writes ('<64 lowercase hex digits>  {MANIFEST}'): "
            "it was modified or corrupted"
        )
    if line != f"{digest}  {MANIFEST}\n".encode():
        raise ModelIntegrityError(
            f"{folder / MANIFEST} failed its checksum (sha256 differs from {SEAL}): "
            "the manifest was modified or corrupted"
        )
    return digest


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a saved model folder, parsed and shape-checked (not verified: see
    :func:`check_model_folder`)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a saved photcat model folder")
    try:
        manifest = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(
            f"{path}: a model manifest is a JSON object, got {type(manifest).__name__}"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ModelIntegrityError(f"{path}: missing key(s) {', '.join(missing)}")
    if not isinstance(manifest["files"], dict) or not isinstance(manifest["estimator"], dict):
        raise ModelIntegrityError(f"{path}: 'files' and 'estimator' must be JSON objects")
    return manifest


def _inside(folder: Path, rel: Any) -> Path:
    """``folder / rel`` for a manifest path that stays inside ``folder``, else an error."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        raise ModelIntegrityError(f"{folder / MANIFEST}: bad file name {rel!r}")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts or rel != Path(rel).as_posix():
        raise ModelIntegrityError(f"{folder / MANIFEST}: file {rel!r} is outside the model folder")
    return folder / rel


def _no_links(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root, name)
            if p.is_symlink():
                raise ModelIntegrityError(
                    f"{p} is a symbolic link: a model folder holds only its own files"
                )


def verify_files(folder: str | os.PathLike, manifest: dict | None = None) -> None:
    """Check the seal, then every file's sha256 against the manifest; raise naming the first
    bad file. Symbolic links, paths leaving the folder and unlisted files are refused."""
    folder = Path(folder)
    if folder.is_symlink():
        raise ModelIntegrityError(f"{folder} is a symbolic link, not a model folder")
    model_digest(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    _no_links(folder)
    listed = manifest.get("files", {})
    for rel, digest in listed.items():
        path = _inside(folder, rel)
        if not path.is_file():
            raise ModelIntegrityError(f"{path} is listed in the manifest but missing")
        if sha256_file(path) != digest:
            raise ModelIntegrityError(
                f"{path} failed its checksum (sha256 differs from manifest): "
                "the file was modified or corrupted"
            )
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    unlisted = sorted(present - set(listed) - {MANIFEST, SEAL})
    if unlisted:
        raise ModelIntegrityError(f"{folder} holds files not in its manifest: {unlisted}")


def load_model(
    folder: str | os.PathLike,
    *,
    feature_spec: dict | None = None,
    trusted: bool = False,
    strict_versions: bool = False,
) -> Any:
    """Load a model saved by :func:`save_model`, verifying it first.

    - every file's sha256 must match the manifest (else :class:`ModelIntegrityError` naming it);
    - ``feature_spec``, when given, must equal the saved one (else
      :class:`FeatureSpecMismatchError` listing each difference);
    - package versions that differ from the saved ones give a :class:`VersionMismatchWarning`
      (an error with ``strict_versions=True``): a version change rarely changes a network's
      numbers, and refusing would strand every saved model at each upgrade, so the default is
      to warn loudly;
    - Keras files load with ``safe_mode=True``; pickle files only with ``trusted=True``.

    The saved manifest is attached to the returned estimator as ``manifest_``.
    """
    folder = Path(folder)
    manifest = check_model_folder(
        folder, feature_spec=feature_spec, strict_versions=strict_versions
    )
    est = load_estimator(manifest["estimator"], folder, trusted=trusted)
    try:
        est.manifest_ = manifest
    except AttributeError:  # pragma: no cover - estimators with __slots__
        pass
    return est


def check_model_folder(
    folder: str | os.PathLike,
    *,
    feature_spec: dict | None = None,
    strict_versions: bool = False,
) -> dict:
    """The checks of :func:`load_model` without loading anything; returns the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelIntegrityError(
            f"{folder / MANIFEST}: format_version {manifest.get('format_version')!r} is not "
            f"supported (expected {FORMAT_VERSION}; train and save the model again)"
        )
    verify_files(folder, manifest)
    if feature_spec is not None:
        given = json.loads(json.dumps(feature_spec, default=_json_default))
        diff = _dict_diff(manifest["feature_spec"], given)
        if diff:
            raise FeatureSpecMismatchError(
                f"feature specification differs from the one {folder} was trained with:\n  "
                + "\n  ".join(diff)
            )
    now = package_versions()
    changed = {
        k: (v, now.get(k)) for k, v in manifest.get("versions", {}).items() if now.get(k) != v
    }
    if changed:
        msg = f"{folder} was saved with other package versions (saved, installed): {changed}"
        if strict_versions:
            raise ModelIntegrityError(msg)
        warnings.warn(msg, VersionMismatchWarning, stacklevel=3)
    return manifest
