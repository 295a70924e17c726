"""Shared test helpers: the real data in ../shared/data (skipped with a reason when absent),
the ANNz SDSS files as feature arrays, and free loopback ports.

Tests marked ``slow`` train full committees or run the whole pipeline; ``pytest -m "not slow"``
is the fast subset.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(
    os.environ.get(
        "PHOTCAT_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def shared_path(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (set PHOTCAT_SHARED_DATA)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder; skips the test when it is absent."""
    return shared_path()


@lru_cache(maxsize=4)
def load_annz(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features u-g, g-r, r-i, i-z, r; their 1-sigma errors; z_spec) of an ANNz SDSS file
    (``sdss.ugriz.<name>``)."""
    a = np.loadtxt(Path(folder) / f"sdss.ugriz.{name}")
    m, e, z = a[:, :5], a[:, 5:10], a[:, 10]
    X = np.column_stack([m[:, :-1] - m[:, 1:], m[:, 2]])
    E = np.column_stack([np.hypot(e[:, :-1], e[:, 1:]), e[:, 2]])
    return X, E, z


def edit_manifest(folder: Path, change) -> None:
    """Edit a model folder's manifest with ``change(dict)`` and re-seal it, as someone with
    write access could: the checks after the seal are what is under test."""
    import hashlib
    import json

    path = Path(folder) / "manifest.json"
    man = json.loads(path.read_text())
    change(man)
    path.write_text(json.dumps(man))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (Path(folder) / "manifest.sha256").write_text(f"{digest}  manifest.json\n")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
