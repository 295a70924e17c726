"""photcat in LSST DESC RAIL and qp: the stages through RAIL's own interfaces on the shared
ANNz SDSS files, qp files from photcat predict, and RAIL's evaluators on photcat's output.

Skipped with a reason when the ``rail`` extra (pz-rail-base, qp-prob) is absent; the README's
test command installs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_path

qp = pytest.importorskip(
    "qp", reason="the rail extra is not installed: pip install 'photcat[rail]'"
)
pytest.importorskip(
    "rail.estimation.estimator",
    reason="the rail extra is not installed: pip install 'photcat[rail]'",
)
import tables_io  # noqa: E402
from rail.core.data import DataStore, TableHandle  # noqa: E402
from rail.evaluation.point_to_point_evaluator import PointToPointEvaluator  # noqa: E402

from photcat.interop import qp_ensembles  # noqa: E402
from photcat.interop.rail_stages import (  # noqa: E402
    PhotcatEstimator,
    PhotcatInformer,
    PhotcatModel,
    photcat_band,
    read_pointer,
)
from photcat.models.metrics import sigma_nmad  # noqa: E402
from photcat.pipeline import vac as vac_bits  # noqa: E402

BANDS = [f"mag_{b}_sdss" for b in "ugriz"]
ERRS = [f"mag_err_{b}_sdss" for b in "ugriz"]
COMMON = dict(bands=BANDS, err_bands=ERRS, hdf5_groupname="photometry")
F32 = 2.0**-23  # float32 round-off, relative


def rail_table(path: Path) -> dict[str, np.ndarray]:
    """An ANNz file as a RAIL table (LSST-style column names with the _sdss suffix)."""
    a = np.loadtxt(path)
    d = {c: a[:, i] for i, c in enumerate(BANDS)}
    d.update({c: a[:, 5 + i] for i, c in enumerate(ERRS)})
    d["redshift"] = a[:, 10]
    d["object_id"] = np.arange(len(a), dtype=np.int64)
    return d


def photcat_predict(model: Path, catalog: Path, out: Path, *extra: str) -> pd.DataFrame | None:
    cmd = [sys.executable, "-m", "photcat.pipeline.cli", "predict", "--model", str(model)]
    cmd += ["--catalog", str(catalog), "--schema", "annz", "--out", str(out), "--workers", "1"]
    done = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return pd.read_parquet(out) if out.suffix == ".parquet" else None


@pytest.fixture(scope="module", params=["knn", "normal-mlp"])
def rail_run(request, tmp_path_factory):
    """Inform and estimate through RAIL's interfaces: training table in memory, test table
    from an HDF5 file read chunk by chunk (300 rows) and the ensemble written by RAIL."""
    work = tmp_path_factory.mktemp(f"rail-{request.param}")
    train = rail_table(shared_path("annz_sdss", "sdss.ugriz.train"))
    test = rail_table(shared_path("annz_sdss", "sdss.ugriz.valid"))
    tables_io.write({"photometry": test}, str(work / "test"), "hdf5")
    DataStore.allow_overwrite = True
    mp = pytest.MonkeyPatch()
    mp.chdir(work)
    params = {"epochs": 30} if request.param == "normal-mlp" else {}
    inform = PhotcatInformer.make_stage(
        name=f"inform_{request.param.replace('-', '_')}",
        model_name=request.param,
        model_params=params,
        **COMMON,
    )
    handle = inform.inform({"photometry": train})
    estimate = PhotcatEstimator.make_stage(
        name=f"estimate_{request.param.replace('-', '_')}",
        model=handle,
        zmax=1.0,
        nzbins=101,
        chunk_size=300,
        id_col="object_id",
        **COMMON,
    )
    out = estimate.estimate(TableHandle("test_data", path=str(work / "test.hdf5")))
    mp.undo()
    return {"work": work, "model": handle, "out": out, "test": test, "name": request.param}


@pytest.mark.data
def test_rail_stages_give_photcat_predicts_numbers(rail_run):
    """Read back with qp: ancil means and quantiles equal photcat predict's columns (same
    model folder, the ANNz file read by photcat) to float32 round-off, object by object."""
    work, handle = rail_run["work"], rail_run["model"]
    pointer = work / handle.path
    assert pointer.suffix == ".json" and pointer.is_file()  # no pickle anywhere
    ref = read_pointer(pointer)
    assert (ref.folder / "manifest.sha256").is_file() and len(ref.sha256) == 64
    assert not list(work.rglob("*.pkl"))
    ens = qp.read(str(work / rail_run["out"].path))
    assert ens.npdf == 1000 and isinstance(ens.gen_obj, qp.interp_gen)
    np.testing.assert_array_equal(ens.ancil["id"], rail_run["test"]["object_id"])  # row order
    vac = photcat_predict(
        ref.folder, shared_path("annz_sdss", "sdss.ugriz.valid"), work / "vac.parquet"
    )
    assert np.isfinite(vac["photoz_mean"]).all()
    for anc, col in qp_ensembles.ANCIL_COLUMNS.items():
        if anc == "flag_photcat":
            continue
        a, b = np.asarray(ens.ancil[anc], dtype=float), vac[col].to_numpy(float)
        assert np.all(np.abs(a - b) <= F32 * np.maximum(np.abs(b), 1e-3)), anc
    # the photo-z bits agree (photcat predict also fits rest-frame colours and flags them)
    photoz_bits = vac_bits.PHOTOZ_NOT_PREDICTED | vac_bits.OUTSIDE_TRAINING_RANGE
    photoz_bits |= vac_bits.MISSING_BANDS
    np.testing.assert_array_equal(
        np.asarray(ens.ancil["flag_photcat"]) & photoz_bits,
        vac["flag_photcat"].to_numpy() & photoz_bits,
    )
    assert (vac["flag_photcat"].to_numpy() & vac_bits.OUTSIDE_TRAINING_RANGE).any()
    # the interp PDF itself (0 <= z <= 1, 101 points, linear between them) gives the same
    # median and mean to within one grid step, 0.01 (measured: 0.0059 and 0.0027 at most)
    assert np.nanmax(np.abs(ens.ppf(0.5)[:, 0] - vac["photoz_q50"])) < 0.01
    grid = np.linspace(0, 1, 2001)
    p = ens.pdf(grid)
    mean = (p * grid).sum(axis=1) / p.sum(axis=1)
    assert np.nanmax(np.abs(mean - vac["photoz_mean"])) < 0.01


@pytest.mark.data
@pytest.mark.parametrize("key", ["zmean", "zmedian"])
def test_rail_point_sigma_mad_equals_photcat_sigma_nmad(rail_run, key):
    """RAIL's PointSigmaMAD (exact mode) on photcat's output = photcat's sigma_NMAD to 1e-6 on
    the same point estimate: the mean (photcat's headline: photoz_mean, ancil zmean) and the
    median (photoz_q50, ancil zmedian)."""
    work = rail_run["work"]
    ens = qp.read(str(work / rail_run["out"].path))
    z = rail_run["test"]["redshift"]
    ev = PointToPointEvaluator.make_stage(
        name=f"ev_{rail_run['name'].replace('-', '_')}_{key}",
        metrics=["point_stats_sigma_mad"],
        point_estimate_key=key,
        reference_dictionary_key="redshift",
        hdf5_groupname="photometry",
        force_exact=True,
        output_mode="return",
    )
    got = ev.evaluate(ens, {"photometry": {"redshift": z}})["summary"].data
    ours = sigma_nmad((np.asarray(ens.ancil[key]) - z) / (1 + z))
    assert 0.005 < ours < 0.05
    assert abs(float(got["point_stats_sigma_mad"][0]) - ours) < 1e-6


@pytest.mark.data
def test_estimator_takes_a_model_folder_and_refuses_a_tampered_one(rail_run, tmp_path):
    """A model folder's path works as the model; an edited folder is refused by its digest."""
    import shutil

    from photcat.models.persistence import ModelIntegrityError

    folder = read_pointer(rail_run["work"] / rail_run["model"].path).folder
    test = {"photometry": rail_run["test"]}
    est = PhotcatEstimator.make_stage(
        name=f"by_folder_{rail_run['name'].replace('-', '_')}",
        model=str(folder),
        zmax=1.0,
        nzbins=51,
        output_mode="return",
        qp_representation="mixmod",
        **COMMON,
    )
    ens = est.estimate(test).data
    assert isinstance(ens.gen_obj, qp.mixmod_gen) and ens.npdf == 1000
    copy = tmp_path / "m"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["config"]["n_train"] = 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError):
        PhotcatModel(copy, rail_run["model"].data.sha256).load()


def test_band_names_map_to_photcat_bands():
    assert photcat_band("mag_u_lsst") == "lsst_u"
    assert photcat_band("mag_g_sdss") == "g"
    assert photcat_band("mag_r") == "r"
    with pytest.raises(ValueError, match="photcat_bands"):
        photcat_band("flux_weird_band")


@pytest.mark.data
def test_predict_writes_qp_files_beside_the_catalogue(tmp_path):
    """photcat predict --pdf-format qp: qp files whose rows, ids and PDFs match the
    catalogue's; hist cells equal the photoz_pdf column; reruns replace only photcat's own
    qp files, and a foreign file at a qp name is refused with exit status 2."""
    from photcat.models import registry
    from photcat.models.persistence import save_model
    from photcat.pipeline import training

    cat = shared_path("annz_sdss", "sdss.ugriz.valid")
    table, spec = training.command_training_set(
        shared_path("annz_sdss", "sdss.ugriz.train"), target="photoz", schema="annz"
    )
    fitted = training.fit_model(table, target="photoz", model="knn", params={}, spec=spec)
    feats = spec.build(table)
    lo, hi = feats.value_range(feats.usable)
    model = save_model(
        fitted.model,
        tmp_path / "model",
        feature_spec=spec.to_dict(),
        config={
            "target": "photoz",
            "model": "knn",
            "feature_names": list(feats.names),
            "feature_min": lo.tolist(),
            "feature_max": hi.tolist(),
        },
    )
    assert registry.model_task("knn") == "photoz"
    out = tmp_path / "vac.parquet"
    vac = photcat_predict(model, cat, out, "--pdf-format", "qp", "--qp-repr", "hist,mixmod")
    hist = qp.read(str(tmp_path / "vac.parquet.qp-hist.hdf5"))
    mix = qp.read(str(tmp_path / "vac.parquet.qp-mixmod.hdf5"))
    assert hist.npdf == mix.npdf == len(vac) == 1000
    from photcat.catalogs.writer import read_with_arrays

    _, arrays, _ = read_with_arrays(out)
    edges = np.ravel(hist.metadata["bins"])
    cells = hist.objdata["pdfs"] * np.diff(edges)[None, :]
    np.testing.assert_allclose(cells, arrays["photoz_pdf"], rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(mix.objdata["means"], arrays["photoz_means"])
    manifest = json.loads((tmp_path / "vac.parquet.manifest.json").read_text())
    assert [e["representation"] for e in manifest["qp"]] == ["hist", "mixmod"]
    # a rerun asking for interp only: the old hist and mixmod files (photcat's) are removed
    photcat_predict(model, cat, out, "--pdf-format", "qp")
    assert sorted(p.name for p in tmp_path.glob("vac.parquet.qp-*")) == [
        "vac.parquet.qp-interp.hdf5"
    ]
    interp = qp.read(str(tmp_path / "vac.parquet.qp-interp.hdf5"))
    np.testing.assert_array_equal(interp.ancil["zmedian"], vac["photoz_q50"])
    # a file photcat did not write at a qp name: refused, kept
    foreign = tmp_path / "vac.parquet.qp-hist.hdf5"
    foreign.write_text("someone else's")
    cmd = [sys.executable, "-m", "photcat.pipeline.cli", "predict", "--model", str(model)]
    cmd += ["--catalog", str(cat), "--schema", "annz", "--out", str(out)]
    cmd += ["--pdf-format", "qp", "--qp-repr", "hist"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "not written by photcat" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert foreign.read_text() == "someone else's"
    # a folder output: the qp file inside it counts as photcat's on the next run
    folder = tmp_path / "vacdir"
    photcat_predict(model, cat, folder, "--partition-rows", "300", "--pdf-format", "qp")
    ens = qp.read(str(folder / "photoz_pdf.qp-interp.hdf5"))
    parts = pd.concat(pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet")))
    np.testing.assert_array_equal(ens.ancil["zmean"], parts["photoz_mean"])
    photcat_predict(model, cat, folder, "--partition-rows", "300")
    assert not (folder / "photoz_pdf.qp-interp.hdf5").exists()


def test_vac_mixture_columns_to_ensemble():
    """Rows photcat could not predict stay, with NaN PDFs; the interp PDF is the truncated
    density (zero below 0, integrating to 1 over the grid)."""
    w = np.array([[1.0, 0.0], [0.5, 0.5], [np.nan, np.nan]])
    m = np.array([[0.02, 0.5], [0.3, 0.6], [np.nan, np.nan]])
    s = np.array([[0.05, 0.1], [0.05, 0.05], [np.nan, np.nan]])
    df = pd.DataFrame({"photoz_mean": [0.1, 0.45, np.nan], "object_id": ["a", "b", "c"]})
    grid = np.linspace(0, 1.5, 301)
    ens = qp_ensembles.vac_ensemble(
        df,
        "interp",
        arrays={"photoz_weights": w, "photoz_means": m, "photoz_stds": s},
        grid=grid,
    )
    y = ens.pdf(grid)
    assert np.isnan(y[2]).all() and np.isfinite(y[:2]).all()
    assert np.allclose(np.trapezoid(y[:2], grid, axis=1), 1.0, atol=1e-9)
    # the truncated density at z = 0 of row 0: N(0; 0.02, 0.05) / P(z > 0), which qp
    # renormalises by its trapezoid integral over the grid (0.02 % here)
    from scipy.stats import norm

    expect = norm.pdf(0, 0.02, 0.05) / norm.sf(0, 0.02, 0.05)
    assert abs(y[0, 0] - expect) < 1e-3 * expect
    assert list(ens.ancil["object_id"]) == ["a", "b", "c"]
    assert ens.ancil["zmode"][1] == pytest.approx(0.3, abs=0.005)


def test_rail_lsst_table_with_non_detections(tmp_path, monkeypatch):
    """RAIL's own LSST DC2 test tables (shipped with pz-rail-base; RAIL's default column
    names and 99 for non-detections): bands mapped to photcat's LSST bands, every
    non-detection flagged and counted per row, no row dropped."""
    from rail.utils.path_utils import find_rail_file

    from photcat.catalogs import flags as F

    train = find_rail_file("examples_data/testdata/test_dc2_training_9816.hdf5")
    test = find_rail_file("examples_data/testdata/test_dc2_validation_9816.hdf5")
    DataStore.allow_overwrite = True
    monkeypatch.chdir(tmp_path)
    model = PhotcatInformer.make_stage(name="inform_dc2", model_name="knn").inform(
        tables_io.read(train)
    )
    manifest = json.loads(
        (read_pointer(tmp_path / model.path).folder / "manifest.json").read_text()
    )
    assert manifest["feature_spec"]["bands"] == [f"lsst_{b}" for b in "ugrizy"]
    est = PhotcatEstimator.make_stage(name="estimate_dc2", model=model, chunk_size=5000)
    ens = qp.read(str(tmp_path / est.estimate(TableHandle("dc2", path=test)).path))
    truth = tables_io.read(test)["photometry"]
    mags = np.column_stack([np.asarray(truth[f"mag_{b}_lsst"]) for b in "ugrizy"])
    errs = np.column_stack([np.asarray(truth[f"mag_err_{b}_lsst"]) for b in "ugrizy"])
    n = len(mags)
    assert ens.npdf == n
    flag = np.asarray(ens.ancil["flag_photcat"]).astype(int)
    # RAIL's non-detections (99, the error column holding the limit), and photcat's own
    # rules for a magnitude that is no detection: error above 5 mag, fainter than 31
    rail_nd = mags == 99.0
    assert 0.02 * n < rail_nd.any(axis=1).sum() < 0.5 * n  # the table has some to test
    undetected = (rail_nd | (errs > F.ERR_MAX) | (mags > F.MAG_MAX)).any(axis=1)
    handled = (flag & vac_bits.MISSING_BANDS) | (flag & vac_bits.PHOTOZ_NOT_PREDICTED)
    assert np.all(handled[undetected] != 0)  # each flagged: predicted without it, or not at all
    assert not np.any(flag[~undetected] & vac_bits.MISSING_BANDS)
    predicted = (flag & vac_bits.PHOTOZ_NOT_PREDICTED) == 0
    assert np.isfinite(np.asarray(ens.ancil["zmean"])[predicted]).all()
    assert np.isnan(np.asarray(ens.ancil["zmean"])[~predicted]).all()
    z = np.asarray(truth["redshift"])[predicted]
    assert sigma_nmad((np.asarray(ens.ancil["zmean"])[predicted] - z) / (1 + z)) < 0.1


@pytest.fixture(scope="module")
def knn_model(tmp_path_factory):
    """A knn photo-z model folder trained on the ANNz training file."""
    from photcat.pipeline import training
    from photcat.pipeline.stages import train_and_save

    folder = tmp_path_factory.mktemp("knn") / "model"
    table, spec = training.command_training_set(
        shared_path("annz_sdss", "sdss.ugriz.train"), target="photoz", schema="annz"
    )
    train_and_save(
        table, folder, target="photoz", model="knn", params={}, spec=spec, seed=0, provenance={}
    )
    return folder


def _annz2_with_text_ids(path: Path) -> Path:
    """The ANNz validation file in ANNZ2 column names, with text identifiers of growing
    length (so later row groups hold longer ones than the first)."""
    a = np.loadtxt(shared_path("annz_sdss", "sdss.ugriz.valid"))
    cols = {f"MAG_{b}": a[:, i] for i, b in enumerate("UGRIZ")}
    cols |= {f"MAGERR_{b}": a[:, 5 + i] for i, b in enumerate("UGRIZ")}
    cols |= {"Z": a[:, 10], "ID": [f"g{i}" + "x" * (i // 100) for i in range(len(a))]}
    pd.DataFrame(cols).to_parquet(path, row_group_size=250)
    return path


@pytest.mark.data
def test_qp_failure_leaves_the_previous_output(knn_model, tmp_path, monkeypatch):
    """A run whose qp file cannot be written leaves the previous catalogue, manifest and qp
    files exactly as they were (file and folder outputs), with no temporaries."""
    from photcat.interop import qp_ensembles as qpe
    from photcat.pipeline import stream

    cat = _annz2_with_text_ids(tmp_path / "in.parquet")
    for out in (tmp_path / "vac.parquet", tmp_path / "vacdir"):
        kw = dict(schema="annz2", partition_rows=250)
        stream.predict_catalog(cat, [knn_model], out, qp=("interp",), **kw)

        def files():  # every file but the run locks (they record the last run's start)
            return {
                p.relative_to(tmp_path).as_posix(): p.read_bytes()
                for p in sorted(tmp_path.rglob("*"))
                if p.is_file() and "lock" not in p.name
            }

        before = files()

        def boom(*a, **k):
            raise OSError("disk full")

        with monkeypatch.context() as m:
            m.setattr(qpe, "write_qp", boom)
            with pytest.raises(OSError, match="disk full"):
                stream.predict_catalog(cat, [knn_model], out, qp=("hist",), **kw)
        assert files() == before


@pytest.mark.data
def test_qp_files_keep_text_ids(knn_model, tmp_path):
    """Text identifiers of different lengths in different row groups: stored as UTF-8 bytes
    of the longest one's width, in the catalogue's order."""
    cat = _annz2_with_text_ids(tmp_path / "in.parquet")
    out = tmp_path / "vac.parquet"
    cmd = [sys.executable, "-m", "photcat.pipeline.cli", "predict", "--model", str(knn_model)]
    cmd += ["--catalog", str(cat), "--schema", "annz2", "--out", str(out), "--workers", "1"]
    done = subprocess.run(
        cmd + ["--partition-rows", "250", "--pdf-format", "qp"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    ens = qp.read(str(tmp_path / "vac.parquet.qp-interp.hdf5"))
    ids = [v.decode() if isinstance(v, bytes) else str(v) for v in ens.ancil["object_id"]]
    assert ids == pd.read_parquet(out)["object_id"].astype(str).tolist()
    assert ids[-1] == "g999" + "x" * 9
    # --qp-repr alone is refused (it would be ignored); a foreign file at a qp name does
    # not block a run that writes no qp file
    bad = subprocess.run(cmd + ["--qp-repr", "hist"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--pdf-format qp" in bad.stderr
    (tmp_path / "vac.parquet.qp-hist.hdf5").write_text("mine")
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr
    assert (tmp_path / "vac.parquet.qp-hist.hdf5").read_text() == "mine"


def test_model_pointer_must_name_a_digest(tmp_path):
    """A pointer without the folder's digest is refused; a relative folder is the pointer's
    neighbour, not the working folder's."""
    p = tmp_path / "model.json"
    body = {"format": "photcat.rail-model-pointer/1", "folder": "m"}
    p.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="no SHA-256 digest"):
        read_pointer(p)
    p.write_text(json.dumps({**body, "sha256": "a" * 64}))
    assert read_pointer(p).folder == (tmp_path / "m").resolve()
    p.write_text(json.dumps({"format": "photcat.rail-model-pointer/1", "sha256": "a" * 64}))
    with pytest.raises(ValueError, match="names no model folder"):
        read_pointer(p)
