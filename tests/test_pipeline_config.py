"""The shipped example configuration covers every pipeline parameter and is accepted."""

from __future__ import annotations

from pathlib import Path

import toml

import photcat.pipeline
from photcat.pipeline.config import check_config
from photcat.pipeline.tasks import PredictFolder, RunPipeline

EXAMPLE = Path(photcat.pipeline.__file__).with_name("example.toml")


def test_example_covers_every_parameter():
    data = toml.load(EXAMPLE)
    documented = set(data["RunPipeline"]) | set(data["PredictFolder"])
    params = {n for n, _ in RunPipeline.get_params()} | {n for n, _ in PredictFolder.get_params()}
    params -= {"target_folder"}  # given on the command line
    assert params == documented


def test_example_values_are_the_defaults():
    data = toml.load(EXAMPLE)["RunPipeline"]
    for name, param in RunPipeline.get_params():
        default = param._default
        value = data[name]
        assert param.normalize(value) == param.normalize(default), name


def test_example_is_accepted():
    assert "RunPipeline" in check_config(EXAMPLE)
