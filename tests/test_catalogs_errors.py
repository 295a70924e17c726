"""Bad files give a clear error naming the problem, and write nothing."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import photcat.catalogs as cat


def test_missing_column_names_column_file_and_schema(tmp_path):
    df = pd.DataFrame(
        {f"MAG_{b}": [20.0] for b in "UGRIZ"} | {f"MAGERR_{b}": [0.1] for b in "UGRZ"}
    )
    path = tmp_path / "missing.csv"
    df.to_csv(path, index=False)
    with pytest.raises(cat.CatalogError) as err:
        cat.read(path, "annz2")
    msg = str(err.value)
    assert "'MAGERR_I'" in msg and str(path) in msg and "'annz2'" in msg


def test_truncated_fits(tmp_path):
    src = cat.write(cat.sample("sdss-gst"), tmp_path / "full.fits")
    data = src.read_bytes()
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(cat.CatalogError, match="truncated"):
        cat.read(bad, "canonical")


def test_empty_file(tmp_path):
    for name in ("empty.csv", "empty.fits", "empty.parquet", "empty.train"):
        p = tmp_path / name
        p.write_bytes(b"")
        with pytest.raises(cat.CatalogError, match="empty"):
            cat.read(p, "annz")


def test_not_a_catalogue(tmp_path):
    p = tmp_path / "image.fits"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    with pytest.raises(cat.CatalogError, match=str(p.name)):
        cat.read(p, "sdss")
    q = tmp_path / "table.parquet"
    q.write_text("objID,ra\n1,2\n")
    with pytest.raises(cat.CatalogError, match="parquet"):
        cat.read(q, "sdss")


def test_wrong_column_type(tmp_path):
    df = pd.DataFrame({f"MAG_{b}": ["bright"] * 3 if b == "G" else [20.0] * 3 for b in "UGRIZ"})
    for b in "UGRIZ":
        df[f"MAGERR_{b}"] = 0.1
    p = tmp_path / "text.csv"
    df.to_csv(p, index=False)
    with pytest.raises(cat.CatalogError, match="'MAG_G'.*text"):
        cat.read(p, "annz2")


def test_some_text_values_are_flagged_not_fatal(tmp_path):
    df = pd.DataFrame({f"MAG_{b}": [20.0, 21.0, 22.0] for b in "UGRIZ"})
    df["MAG_G"] = ["20.5", "bright", ""]
    for b in "UGRIZ":
        df[f"MAGERR_{b}"] = 0.1
    p = tmp_path / "some_text.csv"
    df.to_csv(p, index=False)
    c = cat.read(p, "annz2")
    assert c.report.band_flags["g"]["nonnumeric"] == 1
    assert c.report.band_flags["g"]["missing"] == 1
    assert c.table["mag_g"].iloc[0] == 20.5


def test_missing_file_and_unknown_schema(tmp_path):
    with pytest.raises(cat.CatalogError, match="not found"):
        cat.read(tmp_path / "nope.fits", "sdss")
    p = tmp_path / "x.csv"
    p.write_text("a\n1\n")
    with pytest.raises(ValueError, match="unknown schema 'panstarrs'"):
        cat.read(p, "panstarrs")


def test_failed_read_writes_no_output(tmp_path):
    out = tmp_path / "vac.fits"
    p = tmp_path / "bad.csv"
    p.write_text("MAG_U\n1\n")
    with pytest.raises(cat.CatalogError):
        cat.write(cat.read(p, "annz2"), out)
    assert not out.exists() and os.listdir(tmp_path) == ["bad.csv"]


def test_zero_rows_is_a_valid_empty_catalogue(tmp_path):
    df = pd.DataFrame(
        {f"MAG_{b}": np.array([], float) for b in "UGRIZ"}
        | {f"MAGERR_{b}": np.array([], float) for b in "UGRIZ"}
    )
    p = tmp_path / "zero.csv"
    df.to_csv(p, index=False)
    c = cat.read(p, "annz2")
    assert len(c) == 0 and c.report.rows_in == 0
