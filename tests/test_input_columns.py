"""Every input column kept, whatever its type; CSV comments are whole lines only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

import photcat.catalogs as cat
from photcat.catalogs.reader import CatalogError

SCHEMA = {"bands": list("ugriz"), "mag": "{b}", "magerr": "Err_{b}"}
HEADER = "objID,u,g,r,i,z,Err_u,Err_g,Err_r,Err_i,Err_z,name"


def test_hash_inside_a_value_is_kept_and_comment_lines_skipped(tmp_path):
    rows = ["1,20,19,18,17.5,17,0.1,0.05,0.02,0.02,0.03,NGC #12", "# a comment mid-file", '2,21,20,19,18,17,0.1,0.1,0.1,0.1,0.1,"M #3"', "  # indented comment", "3,21,20,19,18,17,0.1,0.1,0.1,0.1,0.1,last"]  # fmt: skip
    path = tmp_path / "c.csv"
    path.write_text("#Table1\n" + HEADER + "\n" + "\n".join(rows))  # no final newline
    t = cat.read(path, SCHEMA, keep_columns=True).table
    assert t["name"].tolist() == ["NGC #12", "M #3", "last"]
    np.testing.assert_array_equal(t["mag_u"], [20.0, 21.0, 21.0])


def test_comment_filter_across_read_blocks():
    import io

    from photcat.catalogs.formats import _WithoutCommentLines

    text = "".join(f"# c{i}\nrow {i} #x\n" for i in range(500))
    out = _WithoutCommentLines(io.StringIO(text), block=7).read()
    assert out == "".join(f"row {i} #x\n" for i in range(500))


def test_duplicate_column_names_are_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(HEADER + ",name\n1,20,19,18,17.5,17,0.1,0.05,0.02,0.02,0.03,a,b\n")
    with pytest.raises(CatalogError, match=r"d\.csv repeats column name\(s\) \['name'\]"):
        cat.read(path, SCHEMA)


@pytest.mark.parametrize("ext", ["fits", "parquet"])
def test_every_column_type_survives_the_writer(tmp_path, ext):
    df = pd.DataFrame(
        {
            "f": [0.5, np.nan, 2.0],
            "s": ["x", "NGC #12", ""],
            "b": [True, False, True],
            "i8": np.array([-128, 0, 127], dtype=np.int8),
            "u8": np.array([0, 7, 255], dtype=np.uint8),
            "i16": np.array([-5, 0, 5], dtype=np.int16),
            "u16": np.array([0, 1, 65535], dtype=np.uint16),
            "u32": np.array([0, 1, 2**32 - 1], dtype=np.uint32),
            "i64": np.array([2**62, -1, 0], dtype=np.int64),
        }
    )
    path = tmp_path / f"t.{ext}"
    cat.write(df, path)
    if ext == "fits":
        t = Table.read(path)
        back = {c: np.asarray(t[c]) for c in t.colnames}
    else:
        back = pd.read_parquet(path)
    for c in df.columns:
        if c == "s":
            text = [v.decode() if isinstance(v, bytes) else str(v) for v in back[c]]
            assert text == ["x", "NGC #12", ""]
        elif c == "f":
            np.testing.assert_array_equal(np.asarray(back[c], float), df[c].to_numpy())
        else:
            np.testing.assert_array_equal(np.asarray(back[c]), df[c].to_numpy(), err_msg=c)


@pytest.mark.parametrize("ext", ["fits", "parquet"])
def test_list_columns_survive_the_writer(tmp_path, ext):
    df = pd.DataFrame({"f": [1.0, 2.0, 3.0], "fixed": [[1, 2], [3, 4], [5, 6]], "ragged": [[], [1], [2, 3]]})  # fmt: skip
    path = tmp_path / f"l.{ext}"
    cat.write(df, path)
    if ext == "fits":
        t = Table.read(path)
        np.testing.assert_array_equal(np.asarray(t["fixed"]), [[1, 2], [3, 4], [5, 6]])
        assert [list(v) for v in t["ragged"]] == [[], [1], [2, 3]]
    else:
        back = pd.read_parquet(path)
        assert [list(v) for v in back["fixed"]] == [[1, 2], [3, 4], [5, 6]]
        assert [list(v) for v in back["ragged"]] == [[], [1], [2, 3]]


def test_bom_before_a_comment_line_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf#Table1\r\n" + HEADER.encode() + b"\r\n1,20,19,18,17.5,17,0.1,0.05,0.02,0.02,0.03,x\r\n")  # fmt: skip
    t = cat.read(path, SCHEMA, keep_columns=True).table
    assert t["mag_g"].tolist() == [19.0] and t["name"].tolist() == ["x"]


def test_names_differing_only_in_case_are_refused(tmp_path):
    path = tmp_path / "case.csv"
    path.write_text(HEADER + ",U\n1,20,19,18,17.5,17,0.1,0.05,0.02,0.02,0.03,x,30\n")
    with pytest.raises(CatalogError, match=r"repeats column name\(s\) \['U', 'u'\]"):
        cat.read(path, SCHEMA)
    pq_path = tmp_path / "case.parquet"
    df = pd.DataFrame({c: [1.0] for c in HEADER.split(",")[1:-1]})
    df["U"] = 30.0
    df.to_parquet(pq_path)
    with pytest.raises(CatalogError, match=r"columns \['u', 'U'\] that differ only in case"):
        cat.read(pq_path, SCHEMA)
