"""Read, validate and write catalogues; survey schema presets; shipped sample data."""

from photcat.catalogs.formats import CatalogError
from photcat.catalogs.reader import Catalog, iter_read, read, read_columns
from photcat.catalogs.report import IngestReport
from photcat.catalogs.sample import sample, sample_path
from photcat.catalogs.schema import PRESETS, Schema, get_schema
from photcat.catalogs.writer import write

__all__ = [
    "PRESETS",
    "Catalog",
    "CatalogError",
    "IngestReport",
    "Schema",
    "get_schema",
    "iter_read",
    "read",
    "read_columns",
    "sample",
    "sample_path",
    "write",
]
