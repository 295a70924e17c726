"""Bad input to ``photcat.catalogs.read``: property-based (hypothesis) and malformed files.

The property, for CSV, Parquet and FITS files written here: ``read`` either raises a clear
error (CatalogError / ValueError / KeyError whose message names the column or the file), or
returns every input row exactly once, in order, with its identifier; a value is finite
exactly where the input value was valid, and NaN with a non-zero flag otherwise. The
expected flags come from an oracle written here, independently of photcat.catalogs.validate.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import photcat.catalogs as cat
from photcat.catalogs import flags as F

BANDS = "UGRIZ"
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)

# ---------------------------------------------------------------------------- cell strategies
# A cell is (value written to the file, is_good). Text values force a text column.


def _good(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda v: (v, True))


BAD_COMMON = st.sampled_from(
    [
        (math.nan, False),
        (math.inf, False),
        (-math.inf, False),
        (-9999.0, False),
        (99.0, False),
        (-99.0, False),
        ("", False),
        ("abc", False),
        ("n/a", False),
    ]
)
MAG_CELL = st.one_of(
    _good(12.0, 30.0),
    _good(12.0, 30.0),
    BAD_COMMON,
    st.floats(36.0, 1e30).map(lambda v: (v, False)),  # absurdly faint / huge
    st.floats(-1e30, -6.0).map(lambda v: (v, False)),  # absurdly negative
)
ERR_CELL = st.one_of(
    _good(0.0, 4.9),
    _good(0.0, 4.9),
    BAD_COMMON,
    st.floats(5.5, 1e30).map(lambda v: (v, False)),  # huge error
    st.floats(-1e30, -1e-6).map(lambda v: (v, False)),  # negative error
)
Z_CELL = st.one_of(
    _good(0.0, 6.0),
    st.sampled_from([(math.nan, False), (-1.0, False), (-99.0, False), ("", False), ("x", False)]),
)


@dataclass
class Case:
    df: pd.DataFrame  # what is written to the file
    good_mag: dict[str, np.ndarray]  # band -> rows whose mag AND error are valid
    good_z: np.ndarray
    ids: np.ndarray | None  # written identifiers (None: no ID column)
    extra: str | None  # name of an extra, possibly non-ASCII, column


def _column(cells: list[tuple[object, bool]]) -> tuple[list, np.ndarray]:
    values = [v for v, _ in cells]
    ok = np.array([g for _, g in cells], dtype=bool)
    if any(isinstance(v, str) for v in values):  # a text column: numbers as their repr
        values = [v if isinstance(v, str) else repr(float(v)) for v in values]
    return values, ok


@st.composite
def cases(draw, *, ascii_only: bool = False) -> Case:
    n = draw(st.sampled_from([0, 1, 2, 5, 17]))
    df: dict[str, list] = {}
    good_mag = {}
    for b in BANDS:
        mags, ok_m = _column(draw(st.lists(MAG_CELL, min_size=n, max_size=n)))
        errs, ok_e = _column(draw(st.lists(ERR_CELL, min_size=n, max_size=n)))
        df[f"MAG_{b}"], df[f"MAGERR_{b}"] = mags, errs
        good_mag[b.lower()] = ok_m & ok_e
    if draw(st.booleans()) and n:  # all bands flagged in some rows
        rows = draw(st.lists(st.integers(0, n - 1), max_size=n))
        for b in BANDS:
            for r in rows:
                df[f"MAG_{b}"][r] = "" if isinstance(df[f"MAG_{b}"][0], str) else math.nan
                good_mag[b.lower()][r] = False
    zs, good_z = _column(draw(st.lists(Z_CELL, min_size=n, max_size=n)))
    df["Z"] = zs
    ids = None
    if draw(st.booleans()):  # identifiers, often duplicated
        ids = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int64)
        df["ID"] = list(ids)
    df["RA"] = list(np.linspace(0.0, 359.0, n))
    df["DEC"] = list(np.linspace(-89.0, 89.0, n))
    alphabet = "abcz_" if ascii_only else "abcz_äöüßé红移λ"
    extra = draw(st.none() | st.text(alphabet, min_size=1, max_size=6))
    if extra is not None and extra.upper() not in {c.upper() for c in df}:
        df[extra] = list(range(n))
    else:
        extra = None
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in df.items()})
    for k in frame:  # numeric columns as float64 / int64, text columns as str
        if not any(isinstance(v, str) for v in frame[k]):
            frame[k] = frame[k].astype(np.int64 if k in ("ID", extra) else np.float64)
        else:
            frame[k] = frame[k].astype(str)
    return Case(frame, good_mag, good_z, ids, extra)


# ---------------------------------------------------------------------------- writers


def _write(case: Case, folder: Path, fmt: str) -> Path:
    path = folder / f"cat.{fmt}"
    if fmt == "csv":
        case.df.to_csv(path, index=False)
    elif fmt == "parquet":
        case.df.to_parquet(path, index=False)
    else:
        Table.from_pandas(case.df).write(path, format="fits")
    return path


CSV_NA = {"", "n/a", "nan", "NaN", "-nan", "NA", "N/A", "null", "NULL", "None", "<NA>"}


def _text_columns(case: Case, band: str, fmt: str) -> bool:
    """Every row of the band holds text (not empty) in the magnitude or its error."""
    b = band.upper()

    def texty(col: str) -> np.ndarray:
        v = case.df[col]
        if v.dtype.kind == "f" or v.dtype.kind == "i":
            return np.zeros(len(v), bool)
        s = v.astype(str).str.strip()
        if fmt == "csv":  # pandas reads its NA strings as missing values
            s = s.mask(s.isin(CSV_NA), "")
        num = pd.to_numeric(s.mask(s == ""), errors="coerce")
        return ((s != "") & num.isna()).to_numpy()

    rows = texty(f"MAG_{b}") | texty(f"MAGERR_{b}")
    return len(rows) > 0 and bool(rows.all())


def _check(case: Case, path: Path, fmt: str) -> None:
    expect_error = [b for b in BANDS if _text_columns(case, b, fmt)]
    try:
        c = cat.read(path, "annz2", keep_columns=True)
    except (cat.CatalogError, ValueError, KeyError) as exc:
        msg = str(exc)
        assert expect_error, f"unexpected error: {msg}"
        assert str(path) in msg or path.name in msg, msg
        assert any(f"MAG_{b}" in msg for b in expect_error), msg
        return
    assert not expect_error, f"a band of pure text ({expect_error}) was read without error"
    t = c.table
    n = len(case.df)
    # every input row exactly once, in order, with its identifier
    assert len(t) == n == c.report.rows_in
    if case.ids is not None:
        np.testing.assert_array_equal(t["object_id"].to_numpy(), case.ids)
        assert c.report.duplicate_ids == n - len(set(case.ids.tolist()))
    else:
        np.testing.assert_array_equal(t["object_id"].to_numpy(), np.arange(n))
    any_bad = np.zeros(n, bool)
    measured = np.zeros(n, int)
    for b, good in case.good_mag.items():
        mag, err, flag = (t[f"{k}_{b}"].to_numpy() for k in ("mag", "magerr", "flag"))
        assert flag.dtype == np.uint16
        np.testing.assert_array_equal(flag != 0, ~good, err_msg=f"flags of band {b}")
        assert np.isfinite(mag[good]).all() and np.isfinite(err[good]).all()
        assert np.isnan(mag[~good]).all() and np.isnan(err[~good]).all()  # NaN, never inf
        # the written value comes back where it was good
        raw = pd.to_numeric(case.df[f"MAG_{b.upper()}"], errors="coerce").to_numpy(float)
        np.testing.assert_allclose(mag[good], raw[good], rtol=1e-12)
        # specific reasons where the cause is unambiguous
        rawv = case.df[f"MAG_{b.upper()}"].to_numpy()
        is_inf = np.array([_num(v) is not None and math.isinf(_num(v)) for v in rawv], bool)
        assert np.all(flag[is_inf] & F.NONFINITE)
        is_sent = np.array([_num(v) in (-9999.0, 99.0, -99.0) for v in rawv], bool)
        assert np.all(flag[is_sent] & F.SENTINEL)
        any_bad |= ~good
        measured += good | np.isfinite(t[f"flux_{b}"].to_numpy(float))
        assert c.report.band_flags[b]["missing"] == int(np.count_nonzero(flag & F.MISSING))
    z, fz = t["z_spec"].to_numpy(), t["flag_zspec"].to_numpy()
    np.testing.assert_array_equal(fz != 0, ~case.good_z)
    assert np.isfinite(z[case.good_z]).all() and np.isnan(z[~case.good_z]).all()
    # the report's counts add up and agree with the oracle
    # usable: at least three bands measured (good, or a non-detection kept as a flux)
    assert c.report.rows_all_required_good == int((~any_bad).sum())
    assert c.report.rows_unusable_prediction == int((measured < 3).sum())
    assert c.report.rows_usable_training == int(((measured >= 3) & case.good_z).sum())
    if case.extra is not None:  # extra columns (non-ASCII names included) are carried along
        np.testing.assert_array_equal(t[case.extra].to_numpy(), np.arange(n))


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@SETTINGS
@given(case=cases())
def test_csv_bad_values_property(case):
    with tempfile.TemporaryDirectory() as d:
        _check(case, _write(case, Path(d), "csv"), "csv")


@SETTINGS
@given(case=cases())
def test_parquet_bad_values_property(case):
    with tempfile.TemporaryDirectory() as d:
        _check(case, _write(case, Path(d), "parquet"), "parquet")


@SETTINGS
@given(case=cases(ascii_only=True))  # FITS column names are ASCII by the standard
def test_fits_bad_values_property(case):
    with tempfile.TemporaryDirectory() as d:
        _check(case, _write(case, Path(d), "fits"), "fits")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "fits"])
def test_identifiers_with_a_gap_keep_their_values(tmp_path, fmt):
    """An ID column with a missing value: still one row each, ``"1"`` not ``"1.0"``."""
    df = _good_frame(3)
    df["ID"] = [1.0, np.nan, 3.0]
    path = _write(Case(df, {}, np.ones(3, bool), None, None), tmp_path, fmt)
    c = cat.read(path, "annz2")
    assert c.table["object_id"].tolist() == ["1", "", "3"]


# ---------------------------------------------------------------------------- schemas


@settings(max_examples=40, deadline=None)
@given(
    bands=st.lists(
        st.sampled_from(["u", "g", "r", "q", "x1", "ü", "i", "z"]), min_size=1, max_size=4
    )
)
def test_unknown_band_in_a_schema_is_named(bands):
    spec = {"bands": bands, "mag": "MAG_{B}", "magerr": "MAGERR_{B}"}
    unknown = [b for b in bands if b not in ("u", "g", "r", "i", "z")]
    df = pd.DataFrame({f"MAG{s}_{b.upper()}": [20.0] for b in bands for s in ("", "ERR")})
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        df.to_csv(p, index=False)
        if unknown:
            with pytest.raises(KeyError, match="unknown band") as err:
                cat.read(p, spec)
            assert repr(unknown[0].lower()) in str(err.value)
        else:
            c = cat.read(p, spec)
            assert len(c) == 1 and set(c.bands) == set(bands)


def test_non_ascii_column_names_are_matched_and_named(tmp_path):
    """A schema whose columns have non-ASCII names: read works; a missing one is named."""
    spec = {
        "bands": ["g", "r"],
        "mag": "hélligkeit_{b}",
        "magerr": "fehler_{b}",
        "z": "rotverschiebung_λ",
    }
    df = pd.DataFrame(
        {
            "hélligkeit_g": [20.0, 99.0],
            "fehler_g": [0.1, 0.1],
            "hélligkeit_r": [19.0, 19.5],
            "fehler_r": [0.1, -1.0],
            "rotverschiebung_λ": [0.1, 0.2],
        }
    )
    p = tmp_path / "ü.parquet"
    df.to_parquet(p)
    c = cat.read(p, spec)
    assert c.table["flag_g"].tolist()[0] == 0 and c.table["flag_g"].tolist()[1] & F.SENTINEL
    assert c.table["flag_r"].tolist()[1] & F.ERR_NEGATIVE
    df.drop(columns=["fehler_r"]).to_parquet(p)
    with pytest.raises(cat.CatalogError, match="'fehler_r'") as err:
        cat.read(p, spec)
    assert "ü.parquet" in str(err.value)


# ---------------------------------------------------------------------------- malformed files


def _good_frame(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    d = {"ID": np.arange(n), "Z": rng.uniform(0, 1, n)}
    for b in BANDS:
        d[f"MAG_{b}"] = rng.uniform(17, 22, n)
        d[f"MAGERR_{b}"] = rng.uniform(0.01, 0.2, n)
    return pd.DataFrame(d)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_fits_is_named(tmp_path, keep):
    full = tmp_path / "full.fits"
    Table.from_pandas(_good_frame(2000)).write(full)
    data = full.read_bytes()
    bad = tmp_path / "cut.fits"
    bad.write_bytes(data[: int(len(data) * keep)])
    try:
        c = cat.read(bad, "annz2")
    except cat.CatalogError as exc:
        assert "cut.fits" in str(exc) and "truncated" in str(exc)
    else:  # only the FITS block padding after the last row was cut: every row is there
        assert keep > 0.99
        ref = cat.read(full, "annz2").table
        pd.testing.assert_frame_equal(c.table, ref)


def test_fits_cut_by_one_byte_of_data_is_named(tmp_path):
    full = tmp_path / "full.fits"
    Table.from_pandas(_good_frame(2000)).write(full)
    from astropy.io import fits

    with fits.open(full) as h:
        end = h[1]._data_offset + h[1].header["NAXIS1"] * h[1].header["NAXIS2"]
    bad = tmp_path / "cut.fits"
    bad.write_bytes(full.read_bytes()[: end - 1])
    with pytest.raises(cat.CatalogError, match="cut.fits.*truncated|truncated.*cut.fits"):
        cat.read(bad, "annz2")


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.95])
def test_truncated_parquet_is_named(tmp_path, keep):
    full = tmp_path / "full.parquet"
    _good_frame(2000).to_parquet(full)
    data = full.read_bytes()
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(cat.CatalogError) as err:
        cat.read(bad, "annz2")
    assert "cut.parquet" in str(err.value)


def test_parquet_with_a_corrupted_page_is_named(tmp_path):
    """Footer intact, data bytes flipped: an error naming the file, never silent garbage."""
    full = tmp_path / "full.parquet"
    _good_frame(2000).to_parquet(full, compression="zstd")
    data = bytearray(full.read_bytes())
    for i in range(200, 2000, 7):
        data[i] ^= 0x5A
    bad = tmp_path / "flipped.parquet"
    bad.write_bytes(bytes(data))
    try:
        c = cat.read(bad, "annz2")
    except cat.CatalogError as exc:
        assert "flipped.parquet" in str(exc)
    else:  # the damage did not hit a checked page: rows all there, flags consistent
        assert len(c) == 2000


def test_ragged_csv_line(tmp_path):
    df = _good_frame(5)
    p = tmp_path / "ragged.csv"
    text = df.to_csv(index=False).splitlines()
    text.insert(3, text[3] + ",1,2,3")  # a line with too many fields
    p.write_text("\n".join(text) + "\n")
    with pytest.raises(cat.CatalogError) as err:
        cat.read(p, "annz2")
    assert "ragged.csv" in str(err.value) and "line 4" in str(err.value)  # 1-based, header = 1


def test_short_csv_line_is_a_flagged_row_not_a_lost_one(tmp_path):
    df = _good_frame(5)
    p = tmp_path / "short.csv"
    lines = df.to_csv(index=False).splitlines()
    lines[2] = ",".join(lines[2].split(",")[:4])  # row 1 lacks its last columns
    p.write_text("\n".join(lines) + "\n")
    c = cat.read(p, "annz2")
    assert len(c) == 5 and c.table["object_id"].tolist() == [0, 1, 2, 3, 4]
    assert c.report.rows_all_required_good == 4 and c.table["flag_z"].iloc[1] != 0


@pytest.mark.parametrize(
    "name,content",
    [
        ("notes.csv", "this is not a catalogue\njust some words\n"),
        ("photo.fits", b"\xff\xd8\xff\xe0JFIF" + bytes(range(256)) * 10),
        ("random.parquet", bytes(range(256)) * 10),
        ("table.fits", None),  # a FITS file with only an image, no table
        ("data.train", "1 2 3\n"),  # ANNz ASCII with an impossible layout
    ],
)
def test_not_a_catalogue(tmp_path, name, content):
    p = tmp_path / name
    if content is None:
        from astropy.io import fits

        fits.PrimaryHDU(np.zeros((4, 4))).writeto(p)
    else:
        p.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(cat.CatalogError) as err:
        cat.read(p, "annz2" if not name.endswith(".train") else "annz")
    assert name in str(err.value)


def test_missing_file_and_folder(tmp_path):
    for p in (tmp_path / "nope.fits", tmp_path / "no" / "such" / "dir.parquet"):
        with pytest.raises(cat.CatalogError, match="not found") as err:
            cat.read(p, "annz2")
        assert str(p) in str(err.value)


def test_zero_and_one_row_files(tmp_path):
    for n in (0, 1):
        df = _good_frame(n)
        for fmt in ("csv", "parquet", "fits"):
            p = tmp_path / f"n{n}.{fmt}"
            case = Case(df, {}, np.ones(n, bool), df["ID"].to_numpy(), None)
            _write(case, tmp_path, fmt).rename(p)
            c = cat.read(p, "annz2")
            assert len(c) == n == c.report.rows_in
            assert c.table["object_id"].tolist() == list(range(n))


# ---------------------------------------------------------------------------- unwritable output


def test_write_under_a_file_fails_cleanly_naming_the_path(tmp_path):
    """A folder that cannot be written: a path *under a regular file* (blocks root too)."""
    c = cat.read(_write(Case(_good_frame(10), {}, None, None, None), tmp_path, "csv"), "annz2")
    blocker = tmp_path / "some_file"
    blocker.write_text("I am a file")
    for name in ("child.fits", "child.parquet"):
        with pytest.raises(OSError) as err:
            cat.write(c, blocker / name)
        assert "some_file" in str(err.value)
    assert blocker.read_text() == "I am a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.csv", "some_file"]


@contextlib.contextmanager
def _read_only_bind(folder: Path):
    """Mount ``folder`` read-only over itself (root can't write there); skip if not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if ok.returncode != 0:
        pytest.skip(
            f"cannot bind-mount (needs root with CAP_SYS_ADMIN): {ok.stderr.decode()[:200]}"
        )
    try:
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only: {ro.stderr.decode()[:200]}")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_write_into_read_only_folder_fails_and_leaves_nothing(tmp_path):
    c = cat.read(_write(Case(_good_frame(10), {}, None, None, None), tmp_path, "csv"), "annz2")
    target = tmp_path / "ro"
    with _read_only_bind(target):
        with pytest.raises(OSError) as err:
            cat.write(c, target / "vac.fits")
        assert "Read-only" in str(err.value) or "ro" in str(err.value)
        assert str(target) in str(err.value)
    assert list(target.iterdir()) == []
