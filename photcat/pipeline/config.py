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


# Keys of Luigi's own sections (their ``luigi.Config`` classes' parameters) are checked too;
# these sections take free-form keys.
FREE_SECTIONS = {"logging", "resources", "task_history"}
# [core] keys Luigi reads directly rather than through its ``core`` class (luigi/rpc.py,
# luigi/interface.py, luigi/setup_logging.py)
CORE_EXTRA_KEYS = {
    "default_scheduler_host",
    "default_scheduler_port",
    "default_scheduler_url",
    "rpc_connect_timeout",
    "rpc_retry_attempts",
    "rpc_retry_wait",
    "rpc_log_retries",
    "no_configure_logging",
    "autoload_range",
    "hdfs_tmp_dir",
}


def _read(path: Path) -> dict[str, dict]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if path.suffix.lower() == ".toml":
        import toml

        try:
            data = toml.loads(text)
        except toml.TomlDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        loose = [k for k, v in data.items() if not isinstance(v, dict)]
        if loose:
            raise ConfigError(
                f"top-level key {loose[0]!r} in {path}: every key belongs in a [Section]"
            )
        return data
    cp = configparser.ConfigParser()
    try:
        cp.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(
            f"{path}, line {exc.lineno}: a key before any [Section]: {exc.line.strip()!r}"
        ) from exc
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid cfg file: {exc}") from exc
    return {s: dict(cp.items(s, raw=True)) for s in cp.sections()}


# The tasks ``photcat run`` starts; every other task is cloned from one of them, which passes
# their values down, so a key in another task's section would be silently ignored.
TOP_TASKS = ("RunPipeline", "PredictFolder")


def _luigi_params(section: str) -> dict | None:
    """Parameters of one of Luigi's own sections; None when it takes any key."""
    if section in FREE_SECTIONS:
        return None
    import luigi.interface  # noqa: F401 - registers [core]
    import luigi.notifications  # noqa: F401 - [email], [smtp]
    import luigi.retcodes  # noqa: F401
    import luigi.scheduler  # noqa: F401
    import luigi.worker  # noqa: F401
    from luigi.task_register import Register, TaskClassException

    try:
        cls = Register.get_task_cls(section)
    except TaskClassException:
        return None
    return dict(cls.get_params())


def _check_value(param: luigi.Parameter, value, where: str) -> None:
    """Parse a configured value the way Luigi will, so a bad one fails now, named."""
    try:
        if isinstance(value, str):
            param.parse(value)
            return
        kinds = [
            (luigi.BoolParameter, bool),
            (luigi.IntParameter, int),
            (luigi.FloatParameter, (int, float)),
            (luigi.DictParameter, dict),
            (luigi.ListParameter, (list, tuple)),
        ]
        for ptype, ok in kinds:
            if isinstance(param, ptype):
                if not isinstance(value, ok) or (ok is int and isinstance(value, bool)):
                    raise ValueError(f"expected {ptype.__name__[:-9].lower() or 'a'} value")
                return
        param.parse(str(value))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: bad value {value!r} ({exc})") from exc


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
            params = _luigi_params(section)
            if params is None:
                continue
            extra = CORE_EXTRA_KEYS if section == "core" else set()
            for key, value in values.items():
                name = key.replace("-", "_")
                if name in params:
                    _check_value(params[name], value, f"[{section}] {key} in {path}")
                elif name not in extra:
                    raise ConfigError(
                        f"unknown key {key!r} in Luigi's section [{section}] of {path}; "
                        f"known keys: {', '.join(sorted(set(params) | extra))}"
                    )
            continue
        if section not in known:
            raise ConfigError(
                f"unknown section [{section}] in {path}; photcat sections: {', '.join(sorted(known))}"
            )
        params = dict(known[section].get_params())
        if section not in TOP_TASKS and values:
            key = next(iter(values))
            raise ConfigError(
                f"[{section}] {key} in {path} would have no effect: photcat run passes the "
                f"values of [{TOP_TASKS[0]}] (or [{TOP_TASKS[1]}]) to every task; set it there"
            )
        for key, value in values.items():
            if key.replace("-", "_") not in params:
                raise ConfigError(
                    f"unknown key {key!r} in section [{section}] of {path}; "
                    f"known keys: {', '.join(sorted(params))}"
                )
            _check_value(params[key.replace("-", "_")], value, f"[{section}] {key} in {path}")
    return sections


def use_config(path: str | Path) -> None:
    """Check a configuration file, then make Luigi read it (cfg or TOML by extension)."""
    path = Path(path)
    check_config(path)
    parser = "toml" if path.suffix.lower() == ".toml" else "cfg"
    os.environ["LUIGI_CONFIG_PARSER"] = parser
    luigi.configuration.add_config_path(str(path))
    config = luigi.configuration.get_config(parser)
    config.reload()
    if parser == "toml":  # Luigi parses a ListParameter from JSON text, not from a TOML array
        import json

        known = task_classes()
        for section, values in config.data.items():
            params = dict(known[section].get_params()) if section in known else {}
            for key, value in list(values.items()):
                param = params.get(key.replace("-", "_"))
                if isinstance(param, luigi.ListParameter) and isinstance(value, list | tuple):
                    values[key] = json.dumps(list(value))
