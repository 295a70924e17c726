"""Object types carried from the catalogue (issue 14, item 7): stars and QSOs are flagged
and get no galaxy quantities."""

from __future__ import annotations

import numpy as np


def test_stars_and_qsos_get_no_galaxy_quantities(tmp_path):
    """SDSS `class` (spectroscopic) and `type` (photometric, 6 = star) columns: stars and
    QSOs are flagged in flag_photcat, their P(quiescent) and rest-frame colours are NaN,
    and they are left out of training sets (issue 14, item 7)."""
    import pandas as pd

    from photcat.catalogs import read
    from photcat.catalogs.flags import OBJECT_CLASSES
    from photcat.pipeline import stream
    from photcat.pipeline.stream import read_output
    from photcat.pipeline.training import training_set
    from photcat.pipeline.vac import FLAG_BITS, PredictConfig
    from tests.test_stream import train_models

    models = train_models(tmp_path / "m")
    rng = np.random.default_rng(5)
    n = 12
    df = pd.DataFrame({"objID": np.arange(n), "z": rng.uniform(0.05, 0.3, n)})
    for b in "ugriz":
        df[f"modelMag_{b}"] = rng.uniform(16, 19, n) + 0.3 * "ugriz".index(b)
        df[f"modelMagErr_{b}"] = 0.03
    df["class"] = ["GALAXY"] * 6 + ["STAR", "QSO", "star ", "GALAXY", "", "QSO"]
    df["type"] = [3, 3, 3, 6, 6, 3, 6, 3, 3, 6, 6, 6]
    path = tmp_path / "objects.csv"
    df.to_csv(path, index=False)
    cat = read(path, "sdss")
    expected = np.array([1, 1, 1, 1, 1, 1, 2, 3, 2, 1, 2, 3])  # class wins over type
    np.testing.assert_array_equal(cat.table["object_class"], expected)
    out = tmp_path / "vac.parquet"
    stream.predict_catalog(path, models, out, config=PredictConfig(restframe=True))
    t, _, _ = read_output(out)
    flag = t["flag_photcat"].to_numpy()
    star, qso = expected == OBJECT_CLASSES["star"], expected == OBJECT_CLASSES["qso"]
    assert ((flag & FLAG_BITS["star"]) > 0).tolist() == star.tolist()
    assert ((flag & FLAG_BITS["qso"]) > 0).tolist() == qso.tolist()
    other = star | qso
    assert t.loc[other, "p_quiescent"].isna().all() and t.loc[other, "uv"].isna().all()
    assert (t.loc[other, "uvj_quiescent"] == -1).all()
    assert t.loc[~other, "p_quiescent"].notna().all() and t.loc[~other, "uv"].notna().all()
    assert np.isfinite(t["photoz_mean"]).all()  # a galaxy photo-z, flagged as not valid
    assert len(training_set(cat.table, restframe=False)) == int((~other).sum())
