"""Writing catalogues: round trips, units, provenance, atomicity, partitioned reading."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.table import Table

import photcat.catalogs as cat
from photcat.fileio import atomic_path


def _assert_tables_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert set(a.columns) == set(b.columns)
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=col)  # NaN == NaN here
        else:
            assert np.array_equal(x.astype(str), y.astype(str)), col


@pytest.mark.parametrize("ext", ["fits", "parquet"])
def test_round_trip_keeps_values_units_and_provenance(tmp_path, ext):
    c = cat.sample("sdss-gst", keep_columns=True)
    out = cat.write(c, tmp_path / f"gst.{ext}", meta={"config": {"seed": 7}})
    back = cat.read(out, "canonical", keep_columns=True)
    _assert_tables_equal(c.table, back.table)
    assert back.bands == c.bands
    # provenance: the upstream input checksum, schema and configuration survive
    prov = back.meta["provenance"]
    assert prov["input_sha256"] == c.meta["input_sha256"]
    assert prov["schema"] == "sdss" and prov["config"] == {"seed": 7}
    assert back.report.extinction_corrected is True
    # the flag reasons survive too (non-positive u flux is not turned into "missing")
    np.testing.assert_array_equal(back.table["flag_u"], c.table["flag_u"])
    # and a second trip gives byte-identical values
    out2 = cat.write(back, tmp_path / f"gst2.{ext}")
    _assert_tables_equal(back.table, cat.read(out2, "canonical", keep_columns=True).table)


def test_fits_units_and_header(tmp_path):
    c = cat.sample("sdss-gst")
    out = cat.write(c, tmp_path / "gst.fits")
    t = Table.read(out)
    assert str(t["ra"].unit) == "deg" and str(t["mag_r"].unit) == "mag"
    assert str(t["magerr_j"].unit) == "mag" and str(t["extinction_g"].unit) == "mag"
    # every physical column carries its unit; redshift and flags are dimensionless
    physical = [
        c
        for c in t.colnames
        if c.startswith(("mag_", "magerr_", "extinction_")) or c in ("ra", "dec")
    ]
    assert physical and all(t[c].unit is not None for c in physical)
    assert t.meta["PHOTCATV"] and t.meta["PCSHA256"] == c.meta["input_sha256"]
    assert t.meta["EXTCORR"] is True


def test_parquet_units_as_field_metadata(tmp_path):
    out = cat.write(cat.sample("sdss-gst"), tmp_path / "gst.parquet")
    schema = pq.read_schema(out)
    assert schema.field("mag_g").metadata[b"unit"] == b"mag"
    assert schema.field("dec").metadata[b"unit"] == b"deg"
    assert b"photcat" in schema.metadata


def test_array_columns(tmp_path):
    df = pd.DataFrame({"object_id": np.arange(5), "photoz_mean": np.linspace(0.1, 0.5, 5)})
    pdf = np.random.default_rng(0).random((5, 7))
    for ext in ("fits", "parquet"):
        out = cat.write(df, tmp_path / f"a.{ext}", arrays={"photoz_pdf": pdf})
        if ext == "fits":
            got = np.asarray(Table.read(out)["photoz_pdf"])
        else:
            got = np.stack(pq.read_table(out).column("photoz_pdf").to_pylist())
        np.testing.assert_array_equal(got, pdf)


def test_wide_arrays_are_packed_without_repetition_levels(tmp_path):
    """A gridded PDF (>= PACKED_MIN_WIDTH values a row) is one FIXED_LEN_BYTE_ARRAY value per
    row in Parquet (no repetition level per number), read back bit for bit, in FITS a vector
    column; narrow arrays (mixture parameters) stay fixed-size lists."""
    from photcat.catalogs.writer import PACKED_MIN_WIDTH, packed_layout, read_with_arrays

    rng = np.random.default_rng(1)
    n, nz = 300, 101
    pdf = rng.random((n, nz)).astype(np.float32)
    pdf[5] = np.nan  # a row without a prediction
    means = rng.random((n, 5))
    df = pd.DataFrame({"object_id": np.arange(n)})
    for ext in ("parquet", "fits"):
        out = cat.write(
            df, tmp_path / f"p.{ext}", arrays={"photoz_pdf": pdf, "photoz_means": means}
        )
        got_df, arrays, _ = read_with_arrays(out)
        assert list(got_df.columns) == ["object_id"]
        np.testing.assert_array_equal(arrays["photoz_pdf"], pdf)
        assert arrays["photoz_pdf"].dtype.newbyteorder("=") == np.float32
        np.testing.assert_array_equal(arrays["photoz_means"], means)
    md = pq.ParquetFile(tmp_path / "p.parquet").metadata
    cols = {md.schema.column(i).path: md.schema.column(i) for i in range(md.num_columns)}
    assert cols["photoz_pdf"].physical_type == "FIXED_LEN_BYTE_ARRAY"
    assert cols["photoz_pdf"].max_repetition_level == 0
    assert cols["photoz_means.list.element"].max_repetition_level == 1
    field = pq.read_schema(tmp_path / "p.parquet").field("photoz_pdf")
    assert packed_layout(field) == {"dtype": "<f4", "width": nz} and nz >= PACKED_MIN_WIDTH
    # what a user without photcat does: numpy over the bytes
    raw = pq.read_table(tmp_path / "p.parquet").column("photoz_pdf").to_pylist()
    np.testing.assert_array_equal(np.frombuffer(b"".join(raw), "<f4").reshape(n, nz), pdf)


def test_interrupted_write_leaves_previous_file_intact(tmp_path):
    target = tmp_path / "vac.fits"
    cat.write(pd.DataFrame({"object_id": [1, 2, 3]}), target)
    before = target.read_bytes()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise Boom
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["vac.fits"]  # no temporary left behind

    # an error inside the writer itself (array of the wrong length) also keeps the old file
    with pytest.raises(ValueError, match="rows"):
        cat.write(pd.DataFrame({"object_id": [1, 2]}), target, arrays={"x": np.zeros((3, 2))})
    assert target.read_bytes() == before


@pytest.mark.parametrize("ext", ["fits", "parquet"])
def test_iter_read_partitions_equal_whole_read(tmp_path, ext):
    src = cat.write(cat.sample("sdss-gst"), tmp_path / f"gst.{ext}")
    if ext == "parquet":  # several row groups
        pq.write_table(pq.read_table(src), src, row_group_size=1500)
    whole = cat.read(src, "canonical")
    parts = list(cat.iter_read(src, "canonical", rows=1000))
    assert [len(p) for p in parts] == [1000] * 10
    joined = pd.concat([p.table for p in parts], ignore_index=True)
    _assert_tables_equal(whole.table, joined)
    report = parts[0].report
    for p in parts[1:]:
        report = report.merge(p.report)
    assert report.rows_in == 10000
    assert report.rows_usable_training == whole.report.rows_usable_training
    assert report.band_flags["u"] == whole.report.band_flags["u"]


def test_iter_read_ascii_object_ids_are_global(tmp_path):
    rng = np.random.default_rng(3)
    data = np.column_stack(
        [rng.uniform(16, 22, (25, 5)), rng.uniform(0.01, 0.1, (25, 5)), rng.uniform(0, 0.5, 25)]
    )
    path = tmp_path / "x.train"
    np.savetxt(path, data)
    ids = np.concatenate(
        [p.table["object_id"].to_numpy() for p in cat.iter_read(path, "annz", rows=10)]
    )
    np.testing.assert_array_equal(ids, np.arange(25))
