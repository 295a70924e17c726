"""The README's first lines are the two commands, and its Python example runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    text = README.read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[0].endswith("photcat run") and "pytest" in block[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert block[1] in ci


def _python_block(section: str) -> str:
    """The first Python example under the README heading ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


@pytest.mark.slow  # trains networks
def test_python_example_runs(tmp_path, monkeypatch):
    code = _python_block("Python API")
    # same code and model, with a smaller committee trained briefly so the test stays quick
    fast = '{"n_members": 2, "hidden_layers": [16], "epochs": 15, "batch_size": 256}'
    code = code.replace(
        'registry.build("normal-committee")', f'registry.build("normal-committee", {fast})'
    )
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    X, E = scope["f"].X[scope["ok"]], scope["f"].errors[scope["ok"]]
    assert np.array_equal(scope["same"].predict_dist(X, errors=E).mean(), scope["pdf"].mean())
    assert (
        np.median(np.abs(scope["z50"] - scope["c"].table["z_spec"].to_numpy()[scope["ok"]])) < 0.03
    )


def test_rail_example_runs(tmp_path, monkeypatch, capsys):
    """The README's RAIL example, as written but with the quick knn model instead of the
    default committee: RAIL's sigma_MAD on RAIL's DC2 validation table."""
    pytest.importorskip("rail.estimation.estimator", reason="the rail extra is not installed")
    from rail.core.data import DataStore

    code = _python_block("LSST DESC RAIL and qp")
    assert code.count('model_name="normal-committee"') == 1
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 15
    code = code.replace('model_name="normal-committee"', 'model_name="knn"')
    DataStore.allow_overwrite = True
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    found = re.search(r"'point_stats_sigma_mad': array\(\[([0-9.]+)\]\)", printed)
    assert found, printed
    assert 0.01 < float(found.group(1)) < 0.06
    assert (tmp_path / "model_inform_photcat.json").is_file()
    assert (tmp_path / "model_inform_photcat_photcat" / "manifest.sha256").is_file()
