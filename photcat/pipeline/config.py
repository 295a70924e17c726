"""Luigi configuration files (cfg or TOML): checked key by key, then handed to Luigi.

Luigi silently ignores a misspelt key; photcat does not: an unknown section or key is an
error naming the key, the section and the file.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import luigi

# Luigi's own sections, passed through unchecked.
LUIGI_SECTIONS = {
    "core",
    "worker",
    "scheduler",
    "retcode",
    "logging",
    "resources",
    "email",
    "smtp",
    "execution_summary",
    "task_history",
}


class ConfigError(ValueError):
    """A configuration file names something photcat does not know."""


def _read(path: Path) -> dict[str, dict]:
    if path.suffix.lower() == ".toml":
        import toml

        try:
            data = toml.load(path)
        except toml.TomlDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        return {k: v for k, v in data.items() if isinstance(v, dict)}
    cp = configparser.ConfigParser()
    try:
        cp.read(path)
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid cfg file: {exc}") from exc
    return {s: dict(cp.items(s, raw=True)) for s in cp.sections()}


def task_classes() -> dict[str, type]:
    from photcat.pipeline import tasks

    return {
        c.get_task_family(): c
        for c in vars(tasks).values()
        if isinstance(c, type)
        and issubclass(c, luigi.Task)
        and c.__module__ == tasks.__name__
        and not c.__name__.startswith("_")
    }


def check_config(path: str | Path) -> dict[str, dict]:
    """Parse ``path`` and reject unknown sections or keys with a message naming them."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    sections = _read(path)
    known = task_classes()
    for section, values in sections.items():
        if section in LUIGI_SECTIONS:
            continue
        if section not in known:
            raise ConfigError(
                f"unknown section [{section}] in {path}; photcat sections: {', '.join(sorted(known))}"
            )
        params = {name for name, _ in known[section].get_params()}
        for key in values:
            if key.replace("-", "_") not in params:
                raise ConfigError(
                    f"unknown key {key!r} in section [{section}] of {path}; "
                    f"known keys: {', '.join(sorted(params))}"
                )
    return sections


def use_config(path: str | Path) -> None:
    """Check a configuration file, then make Luigi read it (cfg or TOML by extension)."""
    path = Path(path)
    check_config(path)
    parser = "toml" if path.suffix.lower() == ".toml" else "cfg"
    os.environ["LUIGI_CONFIG_PARSER"] = parser
    luigi.configuration.add_config_path(str(path))
    luigi.configuration.get_config(parser).reload()
