"""Any survey's catalogue through the command line: no errors, text columns, old models."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from photcat.pipeline.cli import main
from tests.conftest import shared_path

DATA = Path(__file__).parent / "data"


def _boss_head(tmp_path, rows: int) -> Path:
    src = shared_path("boss_dr10_annz2", "boss_dr10_ugriz_specz.csv.gz")
    with gzip.open(src, "rt") as fh:
        lines = [next(fh) for _ in range(rows + 1)]
    path = tmp_path / f"boss{rows}.csv"
    path.write_text("".join(lines))
    return path


def _read_vac(out: Path) -> pd.DataFrame:
    if out.suffix == ".fits":
        t = Table.read(out)
        return pd.DataFrame({c: [v.decode() if isinstance(v, bytes) else v for v in np.asarray(t[c])] if t[c].dtype.kind in "SU" else np.asarray(t[c]) for c in t.colnames if t[c].ndim == 1})  # fmt: skip
    if out.is_dir():
        return pd.concat([pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))], ignore_index=True)  # fmt: skip
    return pd.read_parquet(out)


def test_boss_with_its_text_column_to_every_output(tmp_path):
    """The shared BOSS file with its src_file text column, predicted to a Parquet file, a
    Parquet folder and FITS: every input column that is not photometry is kept value for
    value, and the photometry equals the input wherever its band is not flagged."""
    path = _boss_head(tmp_path, 1500)
    model = tmp_path / "knn"
    assert main(["train", "--catalog", str(path), "--schema", "annz2", "--target", "photoz", "--model", "knn", "--out", str(model)]) == 0  # fmt: skip
    raw = pd.read_csv(path)
    for out in (tmp_path / "v.parquet", tmp_path / "vdir", tmp_path / "v.fits"):
        assert main(["predict", "--model", str(model), "--catalog", str(path), "--schema", "annz2", "--out", str(out)]) == 0  # fmt: skip
        vac = _read_vac(out)
        assert len(vac) == len(raw)
        assert [str(v).strip() for v in vac["src_file"]] == raw["src_file"].tolist(), out
        zok = vac["flag_zspec"].to_numpy() == 0
        np.testing.assert_array_equal(vac["z_spec"][zok], raw["Z"][zok])
        assert zok.mean() > 0.95
        for b in "ugriz":
            good = vac[f"flag_{b}"].to_numpy() == 0
            np.testing.assert_array_equal(vac[f"mag_{b}"][good], raw[f"MAG_{b.upper()}"][good])
            np.testing.assert_array_equal(vac[f"magerr_{b}"][good], raw[f"MAGERR_{b.upper()}"][good])  # fmt: skip
            assert (vac[f"flag_{b}"][~good] != 0).all()  # a value not kept says why


def test_old_model_folder_predicts_identically(tmp_path):
    """A knn model folder saved by photcat before the open band registry and asinh features
    (commit 3911941, tests/data/legacy_knn_v2) loads and predicts exactly what it predicted
    then on the first 1,200 BOSS rows."""
    path = _boss_head(tmp_path, 1200)
    out = tmp_path / "v.parquet"
    assert main(["predict", "--model", str(DATA / "legacy_knn_v2"), "--catalog", str(path), "--schema", "annz2", "--out", str(out)]) == 0  # fmt: skip
    got = pd.read_parquet(out)
    want = pd.read_parquet(DATA / "legacy_knn_v2_expected.parquet")
    for c in want.columns:
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(), err_msg=c)
    spec = json.loads((DATA / "legacy_knn_v2" / "manifest.json").read_text())["feature_spec"]
    assert "magnitudes" not in spec  # saved before the option existed: read as Pogson


def _skyserver(tmp_path) -> Path:
    return shared_path("sdss_skyserver_dr14", "skyserver_dr14_10k.csv.gz")


def test_model_with_error_inputs_refuses_a_catalogue_without_errors(tmp_path, capsys):
    path = _boss_head(tmp_path, 800)
    model = tmp_path / "mlp"
    params = '{"error_mode": "inputs", "epochs": 3, "hidden_layers": [4]}'
    assert main(["train", "--catalog", str(path), "--schema", "annz2", "--target", "photoz", "--model", "normal-mlp", "--params", params, "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    noerr = tmp_path / "noerr.csv"
    pd.read_csv(path).drop(columns=[f"MAGERR_{b}" for b in "UGRIZ"]).to_csv(noerr, index=False)
    schema = '{"preset": "annz2", "magerr": null}'
    code = main(["predict", "--model", str(model), "--catalog", str(noerr), "--schema", schema, "--out", str(tmp_path / "v.parquet")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "takes magnitude errors as inputs" in err and "['u', 'g', 'r', 'i', 'z']" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v.parquet").exists()


@pytest.mark.slow
def test_skyserver_table_without_errors_trains_and_predicts_from_the_command_line(tmp_path):
    """A SkyServer-style CSV (no magnitude errors, a text class column, rounded objids):
    the default photo-z committee is trained and applied with only --schema skyserver; it
    drops its error inputs by itself and says so in the model manifest."""
    path = _skyserver(tmp_path)
    model, out = tmp_path / "m", tmp_path / "vac.parquet"
    assert main(["train", "--catalog", str(path), "--schema", "skyserver", "--target", "photoz", "--out", str(model)]) == 0  # fmt: skip
    config = json.loads((model / "manifest.json").read_text())["config"]
    assert config["magnitude_errors"] is False and config["error_mode"].startswith("none")
    assert config["bands_without_errors"] == ["u", "g", "r", "i", "z"]
    assert main(["predict", "--model", str(model), "--catalog", str(path), "--schema", "skyserver", "--out", str(out)]) == 0  # fmt: skip
    vac = pd.read_parquet(out)
    raw = pd.read_csv(path)
    assert len(vac) == len(raw) and vac["class"].tolist() == raw["class"].tolist()
    galaxies = (vac["object_class"] == 1).to_numpy()
    z, zp = vac["z_spec"].to_numpy()[galaxies], vac["photoz_q50"].to_numpy()[galaxies]
    assert np.isfinite(zp).mean() > 0.99
    ok = np.isfinite(zp) & np.isfinite(z)
    e = (zp[ok] - z[ok]) / (1 + z[ok])
    print(
        f"skyserver galaxies: {ok.sum()} with photo-z and z_spec, sigma_NMAD {1.4826 * np.median(np.abs(e - np.median(e))):.4f}"
    )
    nmad = 1.4826 * np.median(np.abs(e - np.median(e)))
    assert nmad < 0.05, nmad  # SDSS main galaxies from ugriz alone: ~0.02-0.03
