"""Streaming, partitioned prediction (photcat.pipeline.stream) and the compiled forward pass.

Models: a KNN photo-z and a logistic quiescent classifier (no TensorFlow) fitted on the
shipped SDSS sample, saved as model folders; the quiescent label is the u−r ≥ 2.22 colour cut
(Strateva et al. 2001), so no rest-frame fit is needed. The forward-pass tests train tiny
Keras networks for a few epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import photcat.catalogs as cat
from photcat.catalogs.writer import read_with_arrays
from photcat.features.spec import FeatureSpec
from photcat.fileio import sha256_file
from photcat.pipeline import stream
from photcat.pipeline.stages import train_and_save
from photcat.pipeline.training import assign_splits
from photcat.pipeline.vac import PredictConfig

BANDS = ("u", "g", "r", "i", "z")
GRID = (0.0, 1.0, 21)


def canonical_sample() -> pd.DataFrame:
    """The shipped SDSS+2MASS sample in canonical form (10,000 rows)."""
    return cat.sample("sdss-gst").table


def train_models(folder: Path) -> list[Path]:
    """KNN photo-z and logistic quiescent model folders, fitted on the shipped sample."""
    t = canonical_sample()
    t = t[t["flag_zspec"].to_numpy() == 0].reset_index(drop=True).iloc[:4000].copy()
    t["split"] = assign_splits(len(t), (0.8, 0.2), 1)
    t["red"] = ((t["mag_u"] - t["mag_r"]) >= 2.22).astype(float)
    spec = FeatureSpec(bands=BANDS, reference_band="r", flag_policy="drop")
    out = []
    for target, model, label in (("photoz", "knn", None), ("quiescent", "logistic", "red")):
        d = folder / f"{target}-{model}"
        train_and_save(
            t,
            d,
            target=target,
            model=model,
            params={},
            spec=spec,
            seed=0,
            provenance={"test": "stream"},
            label=label,
        )
        out.append(d)
    return out


def write_parquet_dataset(folder: Path, table: pd.DataFrame, files: int, row_group: int) -> Path:
    """``table`` split over ``files`` Parquet files of ``row_group``-row row groups."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, piece in enumerate(np.array_split(np.arange(len(table)), files)):
        pq.write_table(
            pa.Table.from_pandas(table.iloc[piece], preserve_index=False),
            folder / f"chunk-{k:02d}.parquet",
            row_group_size=row_group,
        )
    return folder


def read_folder(out: Path) -> tuple[pd.DataFrame, dict]:
    """A folder output read back in manifest order: (1-D columns, 2-D array columns)."""
    manifest = stream.read_manifest(out)
    frames, arrays = [], {}
    for e in manifest["partitions"]:
        df, arr, _ = read_with_arrays(out / e["file"])
        frames.append(df)
        for k, v in arr.items():
            arrays.setdefault(k, []).append(v)
    return pd.concat(frames, ignore_index=True), {k: np.concatenate(v) for k, v in arrays.items()}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    return train_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The sample as a Parquet dataset: 3 files of 1,000-row row groups (canonical columns)."""
    return write_parquet_dataset(
        tmp_path_factory.mktemp("data") / "cat", canonical_sample(), 3, 1000
    )


def test_manifest_counts_every_object_once(models, dataset, tmp_path):
    out = tmp_path / "vac"
    m = stream.predict_catalog(
        dataset, models, out, schema="canonical", partition_rows=2500, config=PredictConfig(GRID)
    )
    n_in = sum(pq.ParquetFile(f).metadata.num_rows for f in dataset.glob("*.parquet"))
    parts = m["partitions"]
    # 3 files of 3334/3333/3333 rows, partitions of >= 2500 rows never split a row group
    assert len(parts) == 6 and m["rows"] == n_in == 10_000
    assert sum(e["rows"] for e in parts) == n_in
    assert [e["row_offset"] for e in parts] == list(
        np.cumsum([0] + [e["rows"] for e in parts])[:-1]
    )
    stream.verify(out)  # every part present, its row count and SHA-256 as listed
    table, arrays = read_folder(out)
    ids = table["object_id"].to_numpy()
    expected = canonical_sample()["object_id"].to_numpy()
    np.testing.assert_array_equal(ids, expected)  # every object once, in input order
    assert arrays["photoz_pdf"].shape == (n_in, GRID[2])
    ok = (table["flag_photcat"].to_numpy() & 1) == 0
    assert ok.mean() > 0.9 and np.isfinite(table["photoz_q50"].to_numpy()[ok]).all()
    # a corrupted part is caught
    first = out / parts[0]["file"]
    first.write_bytes(first.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(cat.CatalogError, match="checksum"):
        stream.verify(out)


def test_partitioned_equals_single_file_and_fits(models, dataset, tmp_path):
    folder = tmp_path / "vac"
    stream.predict_catalog(
        dataset, models, folder, schema="canonical", partition_rows=2000, config=PredictConfig(GRID)
    )
    one = tmp_path / "vac.parquet"
    m1 = stream.predict_catalog(
        dataset, models, one, schema="canonical", partition_rows=10**9, config=PredictConfig(GRID)
    )
    assert len(m1["partitions"]) == 3  # a partition never spans two files
    fits = tmp_path / "vac.fits"
    stream.predict_catalog(
        dataset, models, fits, schema="canonical", partition_rows=1500, config=PredictConfig(GRID)
    )
    a, arr_a = read_folder(folder)
    b, arr_b, meta_b = read_with_arrays(one)
    c, arr_c, _ = read_with_arrays(fits)
    pd.testing.assert_frame_equal(a, b)
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k])
        np.testing.assert_array_equal(arr_a[k], arr_c[k])
    for col in ("object_id", "photoz_mean", "photoz_q50", "p_quiescent", "flag_photcat"):
        np.testing.assert_array_equal(a[col].to_numpy(), c[col].to_numpy())
    # a rerun with other partitions replaces the parts: no leftover file from the first run
    m = stream.predict_catalog(
        dataset,
        models,
        folder,
        schema="canonical",
        partition_rows=10**9,
        config=PredictConfig(GRID),
    )
    assert sorted(p.name for p in folder.glob("*.parquet")) == [e["file"] for e in m["partitions"]]
    pd.testing.assert_frame_equal(read_folder(folder)[0], a)
    assert meta_b["pdf_grid"] == list(GRID) and json.loads(stream.manifest_path(one).read_text())[
        "sha256"
    ] == sha256_file(one)


def test_fits_row_ranges_equal_whole_file(models, tmp_path):
    src = cat.sample_path("sdss-gst")
    whole = stream.predict_catalog(
        src, models, tmp_path / "a", partition_rows=10**6, config=PredictConfig(GRID)
    )
    parts = stream.predict_catalog(
        src, models, tmp_path / "b", partition_rows=3000, config=PredictConfig(GRID)
    )
    assert len(whole["partitions"]) == 1 and len(parts["partitions"]) == 4
    assert [e["row_range"] for e in parts["partitions"]][-1] == [9000, 10000]
    a, arr_a = read_folder(tmp_path / "a")
    b, arr_b = read_folder(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(arr_a["photoz_pdf"], arr_b["photoz_pdf"])


def test_local_processes_give_identical_parts(models, dataset, tmp_path):
    m1 = stream.predict_catalog(
        dataset,
        models,
        tmp_path / "one",
        schema="canonical",
        partition_rows=3000,
        config=PredictConfig(GRID),
    )
    m2 = stream.predict_catalog(
        dataset,
        models,
        tmp_path / "two",
        schema="canonical",
        partition_rows=3000,
        config=PredictConfig(GRID),
        workers=2,
    )
    assert [e["sha256"] for e in m1["partitions"]] == [e["sha256"] for e in m2["partitions"]]


def test_workers_default_to_the_cores_for_large_catalogues(monkeypatch):
    """0 / None = one process per available core, at most one per partition and per
    AUTO_ROWS_PER_PROCESS rows; an explicit count is kept."""
    from photcat.catalogs.partitions import Partition, part_name

    monkeypatch.setattr(stream, "available_cores", lambda: 8)

    def parts(n, rows):
        return [
            Partition(i, "parquet", "x.parquet", i, i + 1, i * rows, rows, part_name(i))
            for i in range(n)
        ]

    big = stream.AUTO_ROWS_PER_PROCESS
    assert big == 500_000
    assert stream.resolve_workers(0, parts(40, big)) == 8
    assert stream.resolve_workers(None, parts(3, big)) == 3  # no more than partitions
    assert stream.resolve_workers(0, parts(4, big // 2)) == 2  # 2 x AUTO_ROWS_PER_PROCESS
    assert stream.resolve_workers(0, parts(4, 1000)) == 1  # small: this process
    assert stream.resolve_workers(0, []) == 1  # CSV, HDF5, ASCII: read in order
    assert stream.resolve_workers(None) == 8
    assert stream.resolve_workers(3, parts(1, 10)) == 3  # asked for: kept
    with pytest.raises(ValueError, match="at least 1"):
        stream.resolve_workers(-1)


def test_predict_uses_the_cores_by_default(models, tmp_path, monkeypatch):
    """``photcat predict`` without --workers spreads partitions over local processes."""
    from photcat.pipeline.cli import main

    dataset = write_parquet_dataset(tmp_path / "in", canonical_sample(), files=1, row_group=3000)
    monkeypatch.setattr(stream, "available_cores", lambda: 2)
    monkeypatch.setattr(stream, "AUTO_ROWS_PER_PROCESS", 1000)  # a small catalogue counts
    started = []
    real = stream._Processes.__init__

    def spy(self, workers, shipped):
        started.append(workers)
        real(self, workers, shipped)

    monkeypatch.setattr(stream._Processes, "__init__", spy)
    args = ["predict", "--catalog", str(dataset), "--schema", "canonical", "--pdf-nz", "21"]
    args += [a for m in models for a in ("--model", str(m))]
    assert main([*args, "--partition-rows", "3000", "--out", str(tmp_path / "o")]) == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert started == [2] and manifest["workers"] == 2 and len(manifest["partitions"]) > 1
    assert main([*args, "--workers", "1", "--out", str(tmp_path / "p")]) == 0
    assert started == [2]  # --workers 1: this process only
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["workers"] == 1


def test_unpartitionable_input_is_read_in_order(models, tmp_path):
    csv = tmp_path / "cat.csv"
    canonical_sample().iloc[:2500].to_csv(csv, index=False)
    m = stream.predict_catalog(csv, models, tmp_path / "o", schema="canonical", partition_rows=1000)
    assert [e["rows"] for e in m["partitions"]] == [1000, 1000, 500]
    t, _ = read_folder(tmp_path / "o")
    np.testing.assert_array_equal(t["object_id"], canonical_sample()["object_id"][:2500])


# ---------------------------------------------------------------------------- forward pass


@pytest.fixture(scope="module")
def annz_xy():
    t = canonical_sample()
    t = t[t["flag_zspec"].to_numpy() == 0].reset_index(drop=True)
    f = FeatureSpec(bands=BANDS, reference_band="r").build(t)
    X, z = f.X[f.usable], t["z_spec"].to_numpy()[f.usable]
    red = ((t["mag_u"] - t["mag_r"]).to_numpy()[f.usable] >= 2.22).astype(float)
    return X, z, red, f.errors[f.usable]


@pytest.mark.slow  # trains networks
def test_forward_pass_equals_keras(annz_xy):
    from photcat.models.committee import Committee
    from photcat.models.forward import compile_forward
    from photcat.models.networks import BernoulliMLP, MixtureMLP, NormalMLP

    X, z, red, E = annz_xy
    small = {"hidden_layers": (12, 8), "epochs": 3, "batch_size": 256, "patience": None}
    nets = [
        Committee(NormalMLP(**small), n_members=2).fit(
            X[:2000], z[:2000], validation=(X[2000:2500], z[2000:2500])
        ),
        MixtureMLP(n_components=2, activation="relu", **small).fit(X[:2000], z[:2000]),
        Committee(BernoulliMLP(**small), n_members=2).fit(X[:2000], red[:2000]),
        # magnitude errors as inputs (the default photo-z committee), standardised as in fit
        Committee(NormalMLP(error_mode="inputs", **small), n_members=2).fit(
            X[:2000], z[:2000], errors=E[:2000]
        ),
    ]
    Xt, Et = X[2000:], E[2000:]
    for est in nets:
        fw = compile_forward(est)
        assert fw is not None
        assert fw.width_scale == getattr(est, "width_scale_", 1.0)
        members = getattr(est, "members_", [est])
        kw = {"errors": Et} if members[0].error_mode == "inputs" else {}
        for net, member in zip(fw.networks, members, strict=True):
            keras_raw = member.keras_raw_outputs(Xt, **kw)  # model(Z, training=False)
            np.testing.assert_allclose(
                net.raw(net.inputs(Xt, **kw)), keras_raw, rtol=1e-6, atol=1e-6
            )
        mine, theirs = fw.predict_dist(Xt, **kw), est.predict_dist(Xt, **kw)
        if hasattr(mine, "p"):
            np.testing.assert_allclose(mine.p, theirs.p, rtol=1e-5, atol=1e-7)
        else:
            for a, b in zip(mine.astuple(), theirs.astuple(), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert nets[0].width_scale_ != 1.0  # the calibrated stretch is part of what is compared
    bayes = NormalMLP(bayesian=True, **small).fit(X[:500], z[:500])
    assert compile_forward(bayes) is None  # weight sampling: the estimator predicts itself
    with pytest.raises(ValueError, match="takes feature errors as inputs"):
        compile_forward(nets[-1]).predict_dist(Xt)


def test_mixture_quantiles_solve_the_cdf():
    from photcat.models.predictions import MixturePrediction

    rng = np.random.default_rng(3)
    n, k = 4000, 5
    m = rng.normal(0.4, 0.1, (n, k))
    m[:500, 0] += 1.0  # well-separated modes: Newton alone would oscillate
    p = MixturePrediction(rng.random((n, k)), m, rng.uniform(0.003, 0.1, (n, k)))
    levels = np.array([0.01, 0.15865, 0.5, 0.84135, 0.99])
    q = p.quantile(levels, tol=1e-7)
    for j, level in enumerate(levels):
        lo, hi = p.cdf(q[:, j] - 1e-7), p.cdf(q[:, j] + 1e-7)
        assert np.all((lo <= level + 1e-12) & (hi >= level - 1e-12))
    assert np.all(np.diff(q, axis=1) >= 0)
    one = MixturePrediction.normal(np.array([0.3]), np.array([0.1]), lower=None)
    np.testing.assert_allclose(one.quantile([0.15865525393145707, 0.5]), [[0.2, 0.3]], atol=1e-12)
    # truncated at z = 0: the untruncated quantile of F(0) + q (1 - F(0))
    from scipy.special import ndtr, ndtri

    f0 = ndtr(-3.0)
    trunc = MixturePrediction.normal(np.array([0.3]), np.array([0.1]))
    expected = 0.3 + 0.1 * ndtri(f0 + np.array([0.15865525393145707, 0.5]) * (1 - f0))
    np.testing.assert_allclose(trunc.quantile([0.15865525393145707, 0.5])[0], expected, atol=1e-12)
    with pytest.raises(ValueError, match="between 0 and 1"):
        p.quantile(1.0)


def test_quantile_blocks_and_pdf_floor_change_nothing_that_matters(monkeypatch):
    import photcat.models.predictions as pr
    from photcat.pipeline.vac import PDF_REL_FLOOR

    rng = np.random.default_rng(4)
    n, k = 3000, 5
    p = pr.MixturePrediction(
        rng.random((n, k)), rng.normal(0.4, 0.1, (n, k)), rng.uniform(0.003, 0.1, (n, k))
    )
    whole = p.quantile([0.16, 0.5, 0.84])
    monkeypatch.setattr(pr, "_QUANTILE_CHUNK", 256)  # 12 blocks, the last one partial
    np.testing.assert_array_equal(p.quantile([0.16, 0.5, 0.84]), whole)

    grid = np.linspace(0.0, 1.0, 101)
    exact = p.pdf_grid(grid, dtype=np.float32)
    floored = p.pdf_grid(grid, dtype=np.float32, rel_floor=PDF_REL_FLOOR)
    peak = exact.max(axis=1, keepdims=True)
    kept = exact >= peak * np.float32(PDF_REL_FLOOR)
    np.testing.assert_array_equal(floored[kept], exact[kept])
    assert np.all(floored[~kept] == 0) and (~kept).mean() > 0.1  # the tails are zeros
    # what was dropped is below float32 resolution of each object's integral
    dz = grid[1] - grid[0]
    np.testing.assert_allclose(floored.sum(axis=1) * dz, exact.sum(axis=1) * dz, rtol=2e-6)


def test_partition_with_nothing_predictable_has_the_same_columns(models, tmp_path):
    """A partition whose every row lacks a band still gets the PDF and mixture columns, so a
    streamed Parquet file does not fail on the next partition's schema (hostile-user probe)."""
    t = canonical_sample().iloc[:3000].copy()
    t.loc[t.index[1000:2000], "mag_u"] = np.nan  # the second partition: no usable u band
    src = tmp_path / "holes.parquet"
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), src, row_group_size=1000)
    kw = {"schema": "canonical", "partition_rows": 1000, "config": PredictConfig(GRID)}
    m = stream.predict_catalog(src, models, tmp_path / "holes-vac.parquet", **kw)
    assert m["rows"] == 3000
    table, arrays, _ = read_with_arrays(tmp_path / "holes-vac.parquet")
    assert arrays["photoz_pdf"].shape == (3000, GRID[2])
    assert np.isnan(arrays["photoz_pdf"][1000:2000]).all()
    assert (table["flag_photcat"].to_numpy()[1000:2000] & 1).all()
    folder = tmp_path / "holes-dir"
    stream.predict_catalog(src, models, folder, **kw)
    _, arrays_dir = read_folder(folder)
    assert set(arrays_dir) == set(arrays)


def test_repredicting_an_output_replaces_its_prediction_columns(models, dataset, tmp_path):
    kw = {"schema": "canonical", "partition_rows": 10**9, "config": PredictConfig(GRID)}
    first = tmp_path / "first.parquet"
    stream.predict_catalog(dataset, models, first, **kw)
    again = tmp_path / "again.parquet"
    stream.predict_catalog(first, models, again, **kw)
    names = pq.read_schema(again).names
    assert len(names) == len(set(names))  # no duplicated photoz_pdf / mixture columns
    a, arr_a, _ = read_with_arrays(first)
    b, arr_b, _ = read_with_arrays(again)
    np.testing.assert_array_equal(arr_a["photoz_pdf"], arr_b["photoz_pdf"])
    np.testing.assert_array_equal(a["photoz_mean"], b["photoz_mean"])


def test_folder_with_a_foreign_manifest_is_refused_and_kept(models, dataset, tmp_path):
    """``--out`` naming a model folder (or another tool's output) never deletes its manifest."""
    out = tmp_path / "model-like"
    out.mkdir()
    manifest = out / "manifest.json"
    manifest.write_text('{"format_version": 1, "files": {}}')
    with pytest.raises(cat.CatalogError, match="did not write"):
        stream.predict_catalog(dataset, models, out, schema="canonical")
    assert manifest.read_text() == '{"format_version": 1, "files": {}}'
    assert not list(out.glob("part-*"))
