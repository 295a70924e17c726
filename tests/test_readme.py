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


@pytest.mark.slow  # trains networks
def test_python_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
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
