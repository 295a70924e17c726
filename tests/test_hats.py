"""HATS input (HEALPix-partitioned Parquet, the layout LSDB uses): a small catalogue built
here with the ``hats`` package's own tools, predicted pixel by pixel into the same layout."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from photcat.pipeline import stream
from photcat.pipeline.vac import PredictConfig
from tests.test_stream import GRID, canonical_sample, read_folder, train_models

hats = pytest.importorskip("hats", reason="the optional 'hats' extra is not installed")

ORDER = 2  # 192 pixels over the sky: the SDSS sample falls in a few dozen


def build_hats(base, table) -> list[tuple[int, int]]:
    """Write ``table`` (with ra, dec) as a HATS catalogue at ``base``; return its pixels."""
    from hats.catalog import PartitionInfo, TableProperties
    from hats.io import paths
    from hats.io.parquet_metadata import write_parquet_metadata
    from hats.pixel_math import HealpixPixel
    from hats.pixel_math.spatial_index import (
        SPATIAL_INDEX_COLUMN,
        compute_spatial_index,
        spatial_index_to_healpix,
    )

    table = table.copy()
    table[SPATIAL_INDEX_COLUMN] = compute_spatial_index(table["ra"], table["dec"])
    table = table.sort_values(SPATIAL_INDEX_COLUMN, kind="stable").reset_index(drop=True)
    pix = spatial_index_to_healpix(table[SPATIAL_INDEX_COLUMN].to_numpy(), target_order=ORDER)
    pixels = []
    for p in np.unique(pix):
        hp = HealpixPixel(ORDER, int(p))
        f = paths.pixel_catalog_file(base, hp)
        f.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(table[pix == p], preserve_index=False), f.path)
        pixels.append(hp)
    PartitionInfo.from_healpix(pixels).write_to_file(catalog_path=base)
    TableProperties(
        catalog_name="gst_sample",
        catalog_type="object",
        total_rows=len(table),
        ra_column="ra",
        dec_column="dec",
    ).to_properties_file(base)
    write_parquet_metadata(base)
    return [(px.order, px.pixel) for px in pixels]


def test_hats_catalogue_predicted_pixel_by_pixel(tmp_path):
    models = train_models(tmp_path / "models")
    sample = canonical_sample().iloc[:4000]
    base = tmp_path / "gst_hats"
    pixels = build_hats(base, sample)
    assert len(pixels) > 3
    cat = hats.read_hats(base)  # hats itself accepts what we built
    assert len(cat.get_healpix_pixels()) == len(pixels)

    out = tmp_path / "vac_hats"
    m = stream.predict_catalog(base, models, out, schema="canonical", config=PredictConfig(GRID))
    assert m["layout"] == "hats" and m["input"]["format"] == "hats"
    # one partition per pixel, same leaf layout, every object once
    assert sorted(tuple(e["healpix"].values()) for e in m["partitions"]) == sorted(pixels)
    for e in m["partitions"]:
        o, p = e["healpix"]["order"], e["healpix"]["pixel"]
        assert e["file"] == f"dataset/Norder={o}/Dir={p // 10000 * 10000}/Npix={p}.parquet"
    assert m["rows"] == sum(e["rows"] for e in m["partitions"]) == len(sample)
    stream.verify(out)
    table, _ = read_folder(out)
    assert sorted(table["object_id"]) == sorted(sample["object_id"])
    # each output row sits in the pixel its coordinates give
    from hats.pixel_math.spatial_index import compute_spatial_index, spatial_index_to_healpix

    for e in m["partitions"]:
        part = pq.read_table(out / e["file"], columns=["ra", "dec"]).to_pandas()
        got = spatial_index_to_healpix(compute_spatial_index(part["ra"], part["dec"]), ORDER)
        assert (got == e["healpix"]["pixel"]).all()
    assert table["photoz_mean"].notna().mean() > 0.9
    # the output is a HATS catalogue too, with the prediction columns
    vac = hats.read_hats(out)
    assert len(vac.get_healpix_pixels()) == len(pixels)
    assert {"photoz_q50", "p_quiescent"} <= set(vac.schema.names)
    assert vac.catalog_info.total_rows == len(sample)
