"""Sample catalogues that ship with photcat's dependencies: no download needed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from photcat.catalogs.reader import Catalog, read

SAMPLES: dict[str, tuple[str, str, str]] = {
    # name -> (package, path inside it, schema)
    "sdss-gst": ("kcorrect", "data/test/gst_tests_small.fits", "sdss"),
}


def sample_path(name: str = "sdss-gst") -> Path:
    """Path of a shipped sample catalogue file."""
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; available: {', '.join(SAMPLES)}")
    package, inner, _ = SAMPLES[name]
    path = Path(str(resources.files(package).joinpath(inner)))
    if not path.exists():
        raise FileNotFoundError(f"sample {name!r} not found at {path}; is {package} installed?")
    return path


def sample(name: str = "sdss-gst", *, keep_columns: bool = False) -> Catalog:
    """A shipped sample as a canonical :class:`Catalog`.

    ``sdss-gst``: kcorrect's ``gst_tests_small.fits``, 10,000 real SDSS galaxies (MODELFLUX
    ugriz in nanomaggies, Galactic extinction, spectroscopic z) with 2MASS J/H/Ks (Vega,
    converted to AB).
    """
    return read(sample_path(name), SAMPLES[name][2], keep_columns=keep_columns)
