"""photcat as LSST DESC RAIL stages: :class:`PhotcatInformer` and :class:`PhotcatEstimator`.

Needs ``pip install 'photcat[rail]'`` (``pz-rail-base``, ``qp-prob``). A ceci pipeline names
the module ``photcat.interop.rail_stages`` and the stages by class name; interactive use is
``PhotcatInformer.make_stage(...).inform(table)`` as for any RAIL algorithm (README, "RAIL").

The model is photcat's own model folder (``photcat train``'s output: tamper-evident, loaded
without pickle). RAIL's ``ModelHandle`` pickles whatever object a stage gives it, so the
stages use :class:`PhotcatModelHandle`, whose file is a small JSON pointer (``.json``) naming
the folder by absolute path and its SHA-256 digest; the folder is verified against the digest
when the estimator loads it. An estimator may also be given a model folder's path directly.

Input tables are RAIL's: magnitude columns ``bands`` with errors ``err_bands`` (RAIL's shared
parameters; defaults the LSST ``mag_{b}_lsst``), ``redshift_col`` for training. They are
mapped to photcat's bands (``photcat_bands``, inferred from the column names when empty) and
read as photcat reads any catalogue (:func:`photcat.catalogs.reader.canonicalise`): RAIL's
``nondetect_val`` (99) and ``nonobserved_val`` (−99) are flagged per band as sentinels, so
the band is treated as missing, and counted in ``flag_photcat``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ceci.config import StageParameter as Param
from rail.core.common_params import SharedParams
from rail.core.data import ModelHandle, TableHandle
from rail.estimation.estimator import CatEstimator
from rail.estimation.informer import CatInformer

from photcat.catalogs.bands import canonical_name, is_known, sort_bands
from photcat.catalogs.flags import SENTINEL_VALUES
from photcat.interop.qp_ensembles import (
    MIXTURE_ARRAYS,
    OUTSIDE_WARN,
    ancil_from_columns,
    ensemble,
    mass_above,
)

POINTER_FORMAT = "photcat.rail-model-pointer/1"
_RAIL_MAG = re.compile(r"^(?:mag_)?(?P<b>[A-Za-z]+)(?:_(?P<survey>[A-Za-z0-9]+))?$")


class PhotcatModel:
    """A photcat model folder named by path, with the digest it must have."""

    def __init__(self, folder: str | Path, sha256: str | None = None) -> None:
        self.folder = Path(folder).resolve()
        self.sha256 = sha256

    def load(self):
        """The verified :class:`photcat.pipeline.loader.LoadedModel`."""
        from photcat.models.persistence import ModelIntegrityError
        from photcat.pipeline.loader import load_model

        try:
            return load_model(self.folder, self.sha256)
        except ModelIntegrityError as exc:
            if self.sha256 and "differs from the pinned" in str(exc):
                raise ModelIntegrityError(
                    f"{self.folder}: its digest is not the {self.sha256} the model pointer "
                    "recorded: the folder changed since it was trained (or the pointer was edited)"
                ) from None
            raise

    def to_dict(self) -> dict[str, Any]:
        return {"format": POINTER_FORMAT, "folder": str(self.folder), "sha256": self.sha256}

    def __repr__(self) -> str:
        return f"PhotcatModel({str(self.folder)!r}, sha256={self.sha256!r})"


def read_pointer(path: str | Path) -> PhotcatModel:
    """A :class:`PhotcatModel` from a pointer file or a model folder's path."""
    path = Path(path)
    if path.is_dir():
        return PhotcatModel(path)
    try:
        d = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path}: not a photcat model pointer (JSON) nor a model folder: {exc}"
        ) from exc
    if not isinstance(d, dict) or d.get("format") != POINTER_FORMAT:
        raise ValueError(f"{path}: not a photcat model pointer (format {POINTER_FORMAT})")
    folder, sha = d.get("folder"), d.get("sha256")
    if not isinstance(folder, str) or not folder:
        raise ValueError(f"{path}: the model pointer names no model folder")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ValueError(
            f"{path}: the model pointer has no SHA-256 digest of its folder, so the folder "
            "cannot be verified (give the model folder's path itself to use it unpinned)"
        )
    return PhotcatModel(path.parent / folder, sha)  # a relative folder: beside the pointer


class PhotcatModelHandle(ModelHandle):
    """RAIL model handle whose file is a JSON pointer to a photcat model folder (no pickle)."""

    suffix = "json"

    @classmethod
    def _open(cls, path: str, **kwargs: Any) -> Any:
        if kwargs.get("mode", "r") == "w":
            return open(path, mode="w")
        return read_pointer(path)

    @classmethod
    def _read(cls, path: str, **kwargs: Any) -> PhotcatModel:
        return read_pointer(path)

    @classmethod
    def _write(cls, data: Any, path: str, **kwargs: Any) -> None:
        from photcat.fileio import write_json

        if not isinstance(data, PhotcatModel):
            raise TypeError(
                f"a photcat model pointer holds a PhotcatModel, got {type(data).__name__}"
            )
        write_json(Path(path), data.to_dict())


def photcat_band(column: str) -> str:
    """photcat's band for a RAIL magnitude column: ``mag_u_lsst`` → ``lsst_u``, ``mag_g`` or
    ``g`` → ``g`` (SDSS); raises for a name it cannot map (give ``photcat_bands``)."""
    m = _RAIL_MAG.match(column)
    if m:
        b, survey = m.group("b"), m.group("survey")
        for name in [f"{survey}_{b}".lower(), f"{b}_{survey}".lower()] if survey else [b]:
            if is_known(name):
                return canonical_name(name)
    raise ValueError(
        f"cannot tell which photcat band RAIL column {column!r} is: give photcat_bands "
        "(photcat's band names, in the order of bands; photcat bands lists them)"
    )


def _column(data: Any, name: str) -> np.ndarray:
    return np.asarray(data[name])


def _has(data: Any, name: str) -> bool:
    return name in (data.columns if isinstance(data, pd.DataFrame) else data.keys())


def canonical_table(
    data: Any, config: Any, start: int = 0, what: str = "RAIL input"
) -> pd.DataFrame:
    """photcat's canonical table of a RAIL table (dict of arrays or DataFrame) read through a
    schema built from the stage's ``bands``, ``err_bands``, ``photcat_bands``,
    ``redshift_col``, ``id_col`` and ``mag_system``."""
    from photcat.catalogs.formats import RawChunk
    from photcat.catalogs.reader import canonicalise
    from photcat.catalogs.schema import Schema

    bands, errs = list(config.bands), list(config.err_bands)
    pb = [canonical_name(b) for b in config.photcat_bands] or [photcat_band(c) for c in bands]
    if len(pb) != len(bands) or (errs and len(errs) != len(bands)):
        raise ValueError(
            f"{len(bands)} bands, {len(errs)} err_bands and {len(pb)} photcat_bands: give one each"
        )
    for names, what_ in ((bands, "bands"), (errs, "err_bands"), (pb, "photcat_bands")):
        twice = sorted({c for c in names if names.count(c) > 1})
        if twice:
            raise ValueError(f"{what_} names {twice} more than once")
    missing = [c for c in bands + errs if not _has(data, c)]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")
    n = len(_column(data, bands[0]))
    sentinels = {float(v) for v in (config.nondetect_val, config.nonobserved_val)}
    cols: dict[str, Any] = {}
    for rail_col, band in zip(bands, pb, strict=True):
        mag = _column(data, rail_col)
        if mag.dtype.kind in "iuf":  # text stays text: photcat flags it per value
            mag = mag.astype(np.float64, copy=True)
            for v in sentinels - set(SENTINEL_VALUES):  # RAIL's sentinels: flagged as photcat's
                if np.isfinite(v):
                    mag[mag == v] = 99.0
        cols[f"mag_{band}"] = mag
    for err_col, band in zip(errs, pb, strict=False):
        cols[f"magerr_{band}"] = _column(data, err_col)
    z_col, id_col = config["redshift_col"], config["id_col"]
    has_z = bool(z_col) and _has(data, z_col)
    has_id = bool(id_col) and _has(data, id_col)
    if has_z:
        cols["z_spec"] = _column(data, z_col)
    if has_id:
        cols["object_id"] = _column(data, id_col)
    schema = Schema(
        "rail",
        sort_bands(pb),
        mag="mag_{b}",
        magerr="magerr_{b}" if errs else None,
        z="z_spec" if has_z else None,
        id="object_id" if has_id else None,
        mag_system=config.mag_system,
        band_labels={b: b for b in pb},
    )
    cat = canonicalise(RawChunk(cols, offset=start, nrows=n), schema, Path(what))
    return cat.table


def _table(stage, tag: str) -> Any:
    data = stage.get_data(tag)
    group = stage.config["hdf5_groupname"]
    if group and not _has(data, stage.config.bands[0]) and _has(data, group):
        data = data[group]
    return data


def _shared(*extra: str) -> dict[str, Param]:
    """RAIL's shared parameters both stages read tables with (copies, as RAIL's stages take)."""
    names = ("bands", "err_bands", "nondetect_val", "nonobserved_val", *extra)
    return {n: SharedParams.copy_param(n) for n in names}


_MAPPING = dict(
    photcat_bands=Param(
        list,
        [],
        msg="photcat's band names for bands, in the same order (photcat.catalogs.bands.known_names() lists them); "
        "empty: inferred from the column names (mag_u_lsst -> lsst_u, mag_g or g -> SDSS g)",
    ),
    mag_system=Param(
        str,
        "pogson",
        msg="'pogson' (AB magnitudes, as RAIL's LSST tables) or 'asinh' (SDSS luptitudes)",
    ),
)


class PhotcatInformer(CatInformer):
    """Train a photcat photo-z model on a RAIL training table; the model is the photcat model
    folder (``model_dir``), referenced by a JSON pointer."""

    name = "PhotcatInformer"
    outputs = [("model", PhotcatModelHandle)]
    config_options = CatInformer.config_options.copy()
    config_options.update(
        **_shared("redshift_col", "id_col"),
        ref_band=Param(
            str,
            "",
            msg="photcat reference band (its magnitude is a feature beside the colours); "
            "empty: photcat's default (r, or the band nearest it)",
        ),
        model_name=Param(
            str, "normal-committee", msg="photcat photo-z model (photcat models lists them)"
        ),
        model_params=Param(dict, {}, msg="the model's parameters (photcat train --params)"),
        seed=Param(int, 0, msg="random seed of the model"),
        split_seed=Param(
            int, 42, msg="seed of the 80/20 train/validation split of the training table"
        ),
        model_dir=Param(
            str,
            "",
            msg="folder for the photcat model; empty: beside the model pointer file "
            "(<pointer without .json>_photcat)",
        ),
        **_MAPPING,
    )

    def _model_folder(self) -> Path:
        if self.config.model_dir:
            return Path(self.config.model_dir)
        pointer = Path(self.get_output(self.get_aliased_tag("model"), final_name=True))
        return pointer.with_name(pointer.stem + "_photcat")

    def run(self) -> None:
        from photcat import __version__
        from photcat.models.persistence import check_replaceable, model_digest
        from photcat.models.registry import model_task
        from photcat.pipeline import training
        from photcat.pipeline.stages import train_and_save

        if model_task(self.config.model_name) != "photoz":
            raise ValueError(f"{self.config.model_name!r} is not a photcat photo-z model")
        folder = self._model_folder()
        check_replaceable(folder)
        table = canonical_table(_table(self, "input"), self.config, what="RAIL training table")
        ts = training.training_set(
            table,
            fractions=training.TRAIN_VALID_FRACTIONS,
            seed=self.config.split_seed,
            restframe=False,
        )
        bands = tuple(c[4:] for c in table.columns if c.startswith("mag_"))
        spec = training.default_spec(ts, (), self.config.ref_band or "r", default_bands=bands)
        train_and_save(
            ts,
            folder,
            target="photoz",
            model=self.config.model_name,
            params=dict(self.config.model_params),
            spec=spec,
            seed=self.config.seed,
            provenance={
                "command": f"RAIL {self.name} ({self.instance_name})",
                "photcat_version": __version__,
                "rail_config": {k: _plain(v) for k, v in self.config.items()},
            },
        )
        self.model = PhotcatModel(folder, model_digest(folder))
        self.add_data("model", self.model)


def _plain(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


class PhotcatEstimator(CatEstimator):
    """photcat photo-z PDFs as a ``qp.Ensemble``, chunk by chunk: the truncated PDF as qp
    ``interp`` on RAIL's grid (``zmin``, ``zmax``, ``nzbins``), or ``hist`` of the same cells,
    or the untruncated mixture as ``mixmod``; ancil ``zmean``, ``zmedian``, ``zmode`` and
    photcat's quantiles and flags (:mod:`photcat.interop.qp_ensembles`)."""

    name = "PhotcatEstimator"
    inputs = [("model", PhotcatModelHandle), ("input", TableHandle)]
    config_options = CatEstimator.config_options.copy()
    config_options.update(
        **_shared(),
        qp_representation=Param(
            str, "interp", msg="qp representation: interp, hist (truncated PDF) or mixmod"
        ),
        **_MAPPING,
    )

    def __init__(self, args: Any, **kwargs: Any) -> None:
        super().__init__(args, **kwargs)
        self._loaded = None

    def open_model(self, **kwargs: Any) -> Any:
        model = kwargs.get("model")
        if isinstance(model, (str, Path)) and Path(model).is_dir():  # a model folder's path
            model = PhotcatModel(model)
        if isinstance(model, PhotcatModel):
            self.model = model
            self.set_data("model", model)
        else:
            super().open_model(**kwargs)
        if isinstance(self.model, (str, Path)):
            self.model = read_pointer(self.model)
        if not isinstance(self.model, PhotcatModel):
            raise TypeError(
                f"{self.name}: model must be a photcat model pointer, a model folder or a "
                f"PhotcatModel, got {type(self.model).__name__}"
            )
        self._loaded = self.model.load()
        if self._loaded.target != "photoz":
            raise ValueError(f"{self.model.folder} is a {self._loaded.target} model, not photo-z")
        return self.model

    def _process_chunk(self, start: int, end: int, data: Any, first: bool) -> None:
        from photcat.pipeline.vac import predict_columns

        table = canonical_table(
            data, self.config, start, what=f"{self.name} input rows {start}-{end}"
        )
        cols, arrays = predict_columns(table, [self._loaded], grid=None)
        grid = np.linspace(self.config.zmin, self.config.zmax, self.config.nzbins)
        if self.config.qp_representation != "mixmod":
            above = mass_above(*(arrays[a] for a in MIXTURE_ARRAYS), grid[-1]) > OUTSIDE_WARN
            if above.any():
                self.log.warning(
                    f"rows {start}-{end}: {int(above.sum())} objects have more than "
                    f"{100 * OUTSIDE_WARN:g} % of their photo-z PDF above zmax = {grid[-1]:g}, "
                    "which the qp ensemble leaves out: raise zmax to keep it"
                )
        ens = ensemble(
            arrays["photoz_weights"],
            arrays["photoz_means"],
            arrays["photoz_stds"],
            grid,
            representation=self.config.qp_representation,
            ancil=ancil_from_columns(cols),
        )
        self._do_chunk_output(ens, start, end, first, data=data)
