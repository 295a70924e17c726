"""The ``photcat`` command line: ``run`` (the Luigi pipeline) and one subcommand per stage.

Errors in arguments, configuration or input end with exit status 2 and one line naming the
problem; a failed pipeline task ends with the status set in Luigi's ``[retcode]`` section
(photcat's defaults below when the section is absent).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

USAGE_ERROR = 2
# used when Luigi's [retcode] leaves a value at 0 (Luigi's own default)
DEFAULT_RETCODES = {"task_failed": 3, "scheduling_error": 4, "not_run": 5, "missing_data": 6}

log = logging.getLogger("photcat")


class UsageError(Exception):
    """Bad arguments or configuration: reported in one line, exit status 2."""


# ----------------------------------------------------------------------------- helpers


def _json_arg(text: str | None, what: str) -> dict:
    from photcat.catalogs.schema import json_object

    if not text:
        return {}
    try:
        return json_object(text, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _schema_arg(text: str | None) -> Any:
    from photcat.catalogs.schema import parse_schema_arg

    try:
        return parse_schema_arg(text)
    except ValueError as exc:
        raise UsageError(f"--schema: {exc}") from exc


def _probe(path: Path, schema: Any):
    """Resolve ``schema`` against the first rows of ``path`` (cheap): a Catalog of few rows."""
    from photcat.catalogs import iter_read

    return next(iter(iter_read(path, schema, rows=1000, checksum=False)))


def _setup_logging(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    logging.getLogger("luigi-interface").setLevel(logging.INFO if verbose else logging.WARNING)


# ----------------------------------------------------------------------------- run


# option -> pipeline task parameter; each option's type and help come from the parameter
RUN_OPTIONS = {
    "catalog": "catalog",
    "schema": "schema",
    "target_catalog": "target_catalog",
    "target_schema": "target_schema",
    "target_folder": "target_folder",
    "out": "output_dir",
    "partition_rows": "partition_rows",
    "photoz_model": "photoz_model",
    "quiescent_model": "quiescent_model",
    "class_column": "class_column",
    "class_model": "class_model",
    "galaxy_class": "galaxy_class",
    "uvj_preset": "uvj_preset",
    "format": "output_format",
    "seed": "seed",
    "split_seed": "split_seed",
}


def _run_option_args(parser: argparse.ArgumentParser) -> None:
    """One option per :data:`RUN_OPTIONS` entry, typed and described by its Luigi parameter."""
    import luigi

    from photcat.pipeline.tasks import PredictFolder

    params = dict(PredictFolder.get_params())
    for opt, name in RUN_OPTIONS.items():
        param = params[name]
        typ = int if isinstance(param, luigi.IntParameter) else str
        text = param.description or name.replace("_", " ")
        parser.add_argument(
            f"--{opt.replace('_', '-')}", dest=opt, type=typ, default=None, help=text
        )


def _run_kwargs(args) -> dict:
    kw = {}
    for opt, param in RUN_OPTIONS.items():
        value = getattr(args, opt)
        if value is not None:
            kw[param] = value
    if args.photoz_params:
        kw["photoz_params"] = _json_arg(args.photoz_params, "--photoz-params")
    if args.quiescent_params:
        kw["quiescent_params"] = _json_arg(args.quiescent_params, "--quiescent-params")
    if args.class_params:
        kw["class_params"] = _json_arg(args.class_params, "--class-params")
    if args.bands:
        kw["bands"] = [b.strip().lower() for b in args.bands.split(",") if b.strip()]
    if args.no_restframe:  # the training set keeps the fit: its UVJ labels train P(quiescent)
        kw["vac_restframe"] = False
    return kw


def _check_values(task, config: str | None) -> None:
    """Parameter values no task could run with, refused with the key (and file) named."""
    from photcat.pipeline.config import check_config

    configured = set()
    if config:
        for values in check_config(config).values():
            configured |= {k.replace("-", "_") for k in values}

    def bad(key: str, why: str) -> UsageError:
        where = f" (set in {config})" if key in configured else ""
        return UsageError(f"{key} = {getattr(task, key)!r}{where}: {why}")

    for key in ("train_fraction", "valid_fraction"):
        if not 0 < getattr(task, key) < 1:
            raise bad(key, "a fraction must be between 0 and 1")
    if task.train_fraction + task.valid_fraction >= 1:
        raise bad(
            "valid_fraction",
            f"train_fraction + valid_fraction = {task.train_fraction + task.valid_fraction:g} "
            "leaves no test split (must be below 1)",
        )
    if task.partition_rows < 1:
        raise bad("partition_rows", "must be at least 1")
    if task.pdf_nz < 0:
        raise bad("pdf_nz", "must be 0 (no gridded PDF) or more")
    if task.pdf_zmax <= task.pdf_zmin:
        raise bad("pdf_zmax", f"must be above pdf_zmin = {task.pdf_zmin}")
    if not task.restframe:
        raise bad(
            "restframe",
            "the quiescent model is trained on rest-frame UVJ labels, which need the "
            "rest-frame fit; drop restframe = false (vac_restframe = false skips it in the "
            "catalogue only)",
        )


def preflight(task, config: str | None = None) -> None:
    """Check what can be checked before any task runs: parameter values, files, schema,
    bands, model names."""
    from photcat.catalogs import CatalogError
    from photcat.catalogs.bands import canonical_name
    from photcat.features.uvj import preset
    from photcat.models import registry
    from photcat.pipeline.tasks import resolve_catalog
    from photcat.pipeline.training import reference_band_for

    _check_values(task, config)
    for parent in [Path(task.output_dir), *Path(task.output_dir).absolute().parents]:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--out {task.output_dir}: {parent} is a file, not a folder")
    try:
        models = [(task.photoz_model, "photoz"), (task.quiescent_model, "quiescent")]
        if task.class_column:
            models.append((task.class_model, "class"))
        for model, target in models:
            if registry.model_task(model) != target:
                raise UsageError(
                    f"model {model!r} is a {registry.model_task(model)} model, not {target}"
                )
        preset(task.uvj_preset)
        targets = [task.target_catalog or task.catalog]
        if getattr(task, "target_folder", None):
            from photcat.pipeline.tasks import folder_catalogs

            if not Path(task.target_folder).is_dir():
                raise UsageError(f"--target-folder {task.target_folder} is not a folder")
            targets = [str(p) for p in folder_catalogs(task.target_folder, task.pattern)]
        probes = [_probe(resolve_catalog(task.catalog), _schema_arg(task.schema))]
        probes += [
            _probe(resolve_catalog(t), _schema_arg(task.target_schema or task.schema))
            for t in targets
        ]
        for probe, what in zip(probes, ["--catalog", *(["target"] * len(targets))], strict=True):
            wanted = [canonical_name(b) for b in task.bands]
            lacking = [b for b in wanted if b not in probe.bands]
            if lacking:
                raise UsageError(
                    f"band(s) {lacking} not in {what} {probe.meta['source']} (bands: {', '.join(probe.bands)})"
                )
            used = wanted or list(probe.bands)
            try:
                reference_band_for(task.reference_band or None, tuple(used))
            except ValueError:
                where = f" (set in {config})" if config else ""
                raise UsageError(
                    f"reference_band = {task.reference_band!r}{where} is not one of the bands "
                    f"used ({', '.join(used)})"
                ) from None
        if task.class_column:
            _check_class_column(task, probes[0].meta["source"])
        if not probes[0].report.has_redshift:
            raise UsageError(
                f"--catalog {probes[0].meta['source']} has no spectroscopic redshift to train on"
            )
    except (KeyError, CatalogError, ValueError) as exc:
        raise UsageError(str(exc).strip("'\"")) from exc


def _check_class_column(task, source: str) -> None:
    """``class_column``: the training catalogue's column of classes, learnable and writable
    (:func:`photcat.pipeline.training.check_classes`), its galaxy class among them, and the
    class model's parameters valid; before any task runs."""
    from photcat.catalogs import read_columns
    from photcat.models import registry
    from photcat.pipeline.tasks import resolve_catalog
    from photcat.pipeline.training import check_classes

    table = read_columns(resolve_catalog(task.catalog))
    if task.class_column not in table:
        have = ", ".join(map(str, table.columns))
        raise UsageError(
            f"class_column = {task.class_column!r}: --catalog {source} has no such column "
            f"(its columns: {have})"
        )
    try:
        fractions = (task.train_fraction, task.valid_fraction)
        check_classes(table, task.class_column, task.galaxy_class, source, expected=fractions)
        registry.check_params(task.class_model, dict(task.class_params))
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def vac_summary_lines(path: Path) -> list[str]:
    """Rows of a value-added catalogue file and rows flagged by reason."""
    import numpy as np
    import pyarrow.parquet as pq

    from photcat.pipeline.stream import flag_counts

    if path.suffix in (".parquet", ".pq"):
        flag = pq.read_table(path, columns=["flag_photcat"])["flag_photcat"].to_numpy()
    elif path.suffix == ".fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            flag = np.array(hdul[1].data["flag_photcat"])
    else:
        return []
    lines = [f"rows: {len(flag):,}, flagged (flag_photcat; a row can have several reasons):"]
    for k, v in flag_counts(flag).items():
        lines.append(f"  {k:<30} {v:>10,}  ({100 * v / max(len(flag), 1):.1f} %)")
    return lines


def cmd_run(args) -> int:
    import luigi
    import luigi.retcodes

    from photcat.pipeline.config import use_config
    from photcat.pipeline.tasks import PredictFolder, RunPipeline

    if args.workers < 0:
        raise UsageError(f"--workers must be at least 1 (0: all cores), got {args.workers}")
    if args.config:
        use_config(args.config)
    kwargs = _run_kwargs(args)
    try:
        task = PredictFolder(**kwargs) if "target_folder" in kwargs else RunPipeline(**kwargs)
    except (luigi.parameter.ParameterException, ValueError, TypeError) as exc:
        raise UsageError(f"bad pipeline parameter: {exc}") from exc
    preflight(task, args.config)
    from photcat.pipeline.runner import build, plan_lines, run_summary
    from photcat.pipeline.stream import resolve_workers

    if args.dry_run:
        for line in plan_lines(task):
            print(line)
        return 0
    started = time.perf_counter()
    result = build([task], workers=resolve_workers(args.workers), scheduler_url=args.scheduler_url)
    status = result.status.name
    log_file = Path(task.output_dir) / "luigi-summary.log"
    for line in run_summary(result, log_file):
        print(line, file=sys.stderr)
    if status not in ("SUCCESS", "SUCCESS_WITH_RETRY") and not task.complete():
        rc = luigi.retcodes.retcode()
        kind = {
            "FAILED": "task_failed",
            "FAILED_AND_SCHEDULING_FAILED": "task_failed",
            "SCHEDULING_FAILED": "scheduling_error",
            "NOT_RUN": "not_run",
            "MISSING_EXT": "missing_data",
        }.get(status, "task_failed")
        code = int(getattr(rc, kind, 0)) or DEFAULT_RETCODES[kind]
        print(
            f"photcat: pipeline {status.lower().replace('_', ' ')} (exit {code}); see the task errors above",
            file=sys.stderr,
        )
        return code
    if not task.complete():  # e.g. another process holds these tasks through luigid
        code = DEFAULT_RETCODES["not_run"]
        print(
            f"photcat: the pipeline is not complete yet (another run may hold its tasks); exit {code}",
            file=sys.stderr,
        )
        return code
    seconds = time.perf_counter() - started
    if isinstance(task, PredictFolder):
        for target in task.output():
            print(f"value-added catalogue: {target.path}")
        print(f"time: {seconds:,.1f} s")
        return 0
    report_dir = Path(task.output().path).parent
    vac = task.requires().requires()["catalog"].output().path
    metrics = json.loads((report_dir / "metrics.json").read_text())
    from photcat.pipeline.report import headline

    print(f"value-added catalogue: {vac}")
    print(f"report:                {report_dir / 'index.html'}")
    for line in vac_summary_lines(Path(vac)):
        print(line)
    print("headline metrics (test split):")
    for k, v in headline(metrics).items():
        print(f"  {k:<28} {v:.4f}")
    print(f"time: {seconds:,.1f} s")
    return 0


# ----------------------------------------------------------------------------- stages


def cmd_ingest(args) -> int:
    from photcat.fileio import write_json
    from photcat.pipeline.stages import ingest

    if args.out and Path(args.out).suffix.lower() not in (".fits", ".parquet", ".pq"):
        raise UsageError(f"--out {args.out}: use a .fits or .parquet file name")
    if args.partition_rows < 1:
        raise UsageError(f"--partition-rows must be at least 1, got {args.partition_rows}")
    if args.report_json and Path(args.report_json).resolve() == Path(args.catalog).resolve():
        raise UsageError(f"--report-json {args.report_json} is the input catalogue")
    provenance = {"command": "photcat ingest", "argv": sys.argv[1:]}
    report, info = ingest(
        Path(args.catalog),
        _schema_arg(args.schema),
        Path(args.out) if args.out else None,
        rows=args.partition_rows,
        provenance=provenance,
    )
    print(report.format())
    if args.out:
        print(f"canonical catalogue: {args.out}")
    if args.report_json:
        write_json(args.report_json, info)
    return 0


def cmd_train(args) -> int:
    from photcat import __version__
    from photcat.models import registry
    from photcat.pipeline import training
    from photcat.pipeline.stages import train_and_save

    model = args.model or registry.DEFAULTS[args.target]
    if registry.model_task(model) != args.target:
        raise UsageError(
            f"model {model!r} is a {registry.model_task(model)} model, not --target {args.target}"
        )
    features = tuple(c.strip() for c in (args.features or "").split(",") if c.strip())
    if features and not args.label:
        what = {"photoz": "the redshift column", "quiescent": "the 0/1 quiescent column"}
        what = what.get(args.target, "the class column")
        raise UsageError(f"--features needs --label COL naming {what} for --target {args.target}")
    if args.object_class and args.target != "photoz":
        raise UsageError("--object-class applies to --target photoz")
    if args.target == "class" and not args.label:
        raise UsageError("--target class needs --label COL naming the class column (SDSS: class)")
    from photcat.models.persistence import check_replaceable

    started = time.perf_counter()
    check_replaceable(Path(args.out))  # before a long fit
    table, spec = training.command_training_set(
        args.catalog,
        target=args.target,
        schema=_schema_arg(args.schema),
        validation=args.validation,
        features=features,
        label=args.label,
        bands=tuple(b.strip().lower() for b in (args.bands or "").split(",") if b.strip()),
        reference_band=args.reference_band or None,
        flag_policy=args.flag_policy,
        min_bands=args.min_bands,
        magnitudes=args.magnitudes,
        uvj_preset=args.uvj_preset,
        split_seed=args.split_seed,
        object_class=args.object_class,
    )
    log.info(
        "training %s on %d rows (%s)", model, int((table["split"] == "train").sum()), args.catalog
    )
    cfg = train_and_save(
        table,
        Path(args.out),
        target=args.target,
        model=model,
        params=_json_arg(args.params, "--params"),
        spec=spec,
        seed=args.seed,
        provenance={
            "command": "photcat train",
            "argv": sys.argv[1:],
            "catalog": str(args.catalog),
            "photcat_version": __version__,
            **({"object_class": args.object_class} if args.object_class else {}),
        },
        label=args.label,
        galaxy_class=args.galaxy_class,
    )
    from photcat.models.persistence import model_digest

    print(
        f"model saved: {args.out}  ({cfg['n_train']} training rows, {cfg['training_seconds']:.1f} s)"
    )
    print(f"  sha256 {model_digest(args.out)}  (pin it with photcat predict --model-sha256)")
    n_rows = len(table)
    print(
        f"  rows: {n_rows:,} with a usable target in {args.catalog}; {cfg['n_train']:,} trained "
        f"on, {cfg['n_valid']:,} validated on"
    )
    for k, v in (cfg.get("validation_metrics") or {}).items():
        if isinstance(v, float):
            print(f"  validation {k:<20} {v:.4f}")
    print(f"  time: {time.perf_counter() - started:,.1f} s")
    return 0


def cmd_predict(args) -> int:
    """Stream the catalogue partition by partition through the models (photcat.pipeline.stream)."""
    from photcat.features.columns import ColumnSpec
    from photcat.pipeline import stream
    from photcat.pipeline.loader import load_model
    from photcat.pipeline.vac import PredictConfig

    if args.workers < 0:
        raise UsageError(f"--workers must be at least 1 (0: all cores), got {args.workers}")
    if args.partition_rows < 1:
        raise UsageError(f"--partition-rows must be at least 1, got {args.partition_rows}")
    import re

    from photcat.pipeline.outputs import QP_REPRESENTATIONS, output_layout

    if args.out.endswith(("/", os.sep)) and output_layout(args.out.rstrip("/")) != "folder":
        raise UsageError(
            f"--out {args.out} ends with / (a folder) but names a {output_layout(args.out.rstrip('/'))} "
            "file; drop the / or choose a folder name without a catalogue suffix"
        )
    pins = [p.strip().lower() for p in args.model_sha256 or []]
    bad = [p for p in pins if not re.fullmatch(r"[0-9a-f]{64}", p)]
    if bad:
        raise UsageError(f"--model-sha256 {bad[0]!r} is not a SHA-256 (64 hexadecimal digits)")
    if pins and len(pins) != len(args.model):
        raise UsageError(
            f"--model-sha256 given {len(pins)} time(s) for {len(args.model)} --model; give one "
            "digest per model, in the same order"
        )
    models = [
        load_model(m, pin)
        for m, pin in zip(args.model, pins or [None] * len(args.model), strict=True)
    ]
    column_mode = any(isinstance(m.spec, ColumnSpec) for m in models)
    config = PredictConfig(
        grid=(args.pdf_zmin, args.pdf_zmax, args.pdf_nz),
        restframe=args.restframe and not column_mode,
        uvj_preset=args.uvj_preset,
    )
    started = time.perf_counter()
    qp = ()
    if args.qp_repr is not None and args.pdf_format != "qp":
        raise UsageError("--qp-repr chooses the qp files of --pdf-format qp: give both")
    if args.pdf_format == "qp":
        text = "interp" if args.qp_repr is None else args.qp_repr
        qp = tuple(r.strip() for r in text.split(",") if r.strip())
        bad = [r for r in qp if r not in QP_REPRESENTATIONS] or ([] if qp else [text])
        if bad:
            raise UsageError(f"--qp-repr {bad[0]!r}: choose from {', '.join(QP_REPRESENTATIONS)}")
        if config.grid is None and set(qp) - {"mixmod"}:
            raise UsageError("--qp-repr interp and hist need the PDF grid: --pdf-nz above 0")
        try:
            import qp as _  # noqa: F401
        except ImportError:
            raise UsageError("--pdf-format qp needs qp: pip install 'photcat[rail]'") from None
    manifest = stream.predict_catalog(
        args.catalog,
        args.model,
        args.out,
        schema=None if column_mode else _schema_arg(args.schema),
        partition_rows=args.partition_rows,
        config=config,
        workers=args.workers,
        dask_scheduler=args.dask_scheduler,
        provenance={"command": "photcat predict", "argv": sys.argv[1:]},
        overwrite=args.overwrite,
        model_sha256=pins or None,
        qp=qp,
    )
    for line in stream.summary_lines(manifest, time.perf_counter() - started):
        print(line)
    return 0


def cmd_evaluate(args) -> int:
    from photcat.pipeline.report import catalog_metrics
    from photcat.pipeline.stream import read_output

    table, arrays, meta = read_output(args.catalog)
    metrics = catalog_metrics(table, arrays, meta)
    if args.json:
        print(json.dumps(metrics, indent=2, default=str))
    else:
        from photcat.pipeline.report import headline

        print(f"{args.catalog}: {metrics['rows']:,} rows")
        for k, v in headline(metrics).items():
            print(f"  {k:<28} {v:.4f}")
        if not headline(metrics):
            print("  no truth column (z_spec, uvj_quiescent) to evaluate against")
    return 0


def cmd_report(args) -> int:
    from photcat.pipeline.report import make_report

    make_report(Path(args.catalog), Path(args.out))
    print(f"report: {Path(args.out) / 'index.html'}")
    return 0


def cmd_scheduler(args) -> int:
    """Replace this process with ``luigid``, its state file and logs in the output folder."""
    import shutil

    exe = shutil.which("luigid", path=str(Path(sys.executable).parent)) or shutil.which("luigid")
    if exe is None:
        raise UsageError("luigid not found: install luigi in this environment")
    from photcat.fileio import private_folder

    # luigid unpickles state.pickle at start: only a folder nobody else can write is used
    folder = private_folder(Path(args.out) / "luigid", ("state.pickle", "logs"))
    (folder / "logs").mkdir(mode=0o700, exist_ok=True)
    argv = [
        exe,
        "--address",
        args.address,
        "--port",
        str(args.port),
        "--state-path",
        str(folder / "state.pickle"),
        "--logdir",
        str(folder / "logs"),
    ]
    print(
        f"luigid on http://{args.address}:{args.port} (state and logs in {folder})",
        file=sys.stderr,
        flush=True,
    )
    from photcat.console import restore_stderr

    restore_stderr()  # luigid writes to the real standard error, not to the filter's pipe
    os.execv(exe, argv)
    return 0  # not reached


def cmd_models(args) -> int:
    from photcat.models import registry

    for task in registry.TASKS:
        print(
            f"{task}: " + ", ".join(registry.names(task)) + f"  (default {registry.DEFAULTS[task]})"
        )
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from photcat.features.spec import (
        DEFAULT_FLAG_POLICY,
        DEFAULT_MAGNITUDES,
        DEFAULT_MIN_BANDS,
        MAGNITUDES,
        POLICIES,
    )
    from photcat.features.uvj import DEFAULT_PRESET
    from photcat.models import registry
    from photcat.pipeline.training import DEFAULT_GALAXY_CLASS
    from photcat.pipeline.vac import DEFAULT_PDF_GRID

    p = argparse.ArgumentParser(
        prog="photcat",
        description="Photometric redshifts with PDFs and P(quiescent) for galaxy catalogues.",
    )
    from photcat import __version__

    p.add_argument("--version", action="version", version=f"photcat {__version__}")
    verbosity = argparse.ArgumentParser(add_help=False)
    for parser, default in ((p, False), (verbosity, argparse.SUPPRESS)):
        parser.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=default,
            help="show Luigi's scheduling messages and TensorFlow's start-up lines",
        )
        parser.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=default,
            help="no progress display (warnings, errors and the summary stay)",
        )
    sub = p.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser

    def add_parser(*a, **kw):
        return _add_parser(*a, parents=[verbosity], **kw)

    sub.add_parser = add_parser

    r = sub.add_parser(
        "run", help="the whole pipeline (Luigi): ingest, train, evaluate, predict, report"
    )
    r.add_argument(
        "--config", help="Luigi configuration file (.cfg or .toml); options below override it"
    )
    _run_option_args(r)
    r.add_argument(
        "--photoz-params", help="JSON parameters of the photo-z model, e.g. '{\"epochs\": 50}'"
    )
    r.add_argument("--quiescent-params", help="JSON parameters of the quiescent model")
    r.add_argument("--class-params", help="JSON parameters of the object-class model")
    r.add_argument(
        "--bands", help="comma-separated bands for colours (default: the schema's bands)"
    )
    r.add_argument(
        "--no-restframe",
        action="store_true",
        help="no rest-frame U-V, V-J columns in the value-added catalogue (the fit still "
        "runs on the training set, whose UVJ labels train the quiescent model)",
    )
    r.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Luigi worker processes, so that independent tasks (training, partitions) run at "
        "once (default 1; 0: one per available core). Luigi forks a process per task: do not "
        "use more than one from a Python process that has already run OpenMP or TensorFlow "
        "code",
    )
    r.add_argument(
        "--scheduler-url",
        help="central luigid scheduler, e.g. http://127.0.0.1:8082 (default: local)",
    )
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="list the tasks the run needs, those already complete and those that would run; "
        "run nothing",
    )
    r.set_defaults(func=cmd_run)

    i = sub.add_parser("ingest", help="read and validate a catalogue; print the ingest report")
    i.add_argument(
        "--catalog", required=True, help="catalogue file (FITS, CSV, Parquet, HDF5, ANNz ASCII)"
    )
    i.add_argument("--schema", default="sdss", help="schema preset or JSON mapping (default sdss)")
    i.add_argument("--out", help="write the canonical table here (.fits or .parquet)")
    i.add_argument(
        "--partition-rows", type=int, default=500_000, help="rows read at a time (default 500000)"
    )
    i.add_argument("--report-json", help="write the ingest report as JSON here")
    i.set_defaults(func=cmd_ingest)

    t = sub.add_parser("train", help="train one model and save it to a folder")
    t.add_argument("--catalog", required=True, help="training catalogue with a truth column")
    t.add_argument("--validation", help="validation catalogue (default: 20%% of --catalog, seeded)")
    t.add_argument("--schema", default="sdss", help="schema preset or JSON mapping (default sdss)")
    t.add_argument(
        "--target",
        required=True,
        choices=list(registry.TASKS),
        help="what to predict: photoz, quiescent, or class (object classes from --label)",
    )
    t.add_argument(
        "--model", help="model name (default: the target's default; see `photcat models`)"
    )
    t.add_argument("--params", help="JSON parameters overriding the model's defaults")
    t.add_argument(
        "--features", help="train on these existing columns (comma-separated) instead of colours"
    )
    t.add_argument(
        "--label",
        help="truth column (default: z_spec, or the UVJ label from kcorrect; --target class: "
        "the text column of classes, e.g. class)",
    )
    t.add_argument(
        "--object-class",
        choices=["galaxy", "qso"],
        help="--target photoz: train on the catalogue's objects of this spectroscopic class "
        "only; photcat predict mixes such models by a class model's probabilities",
    )
    t.add_argument(
        "--galaxy-class",
        default=DEFAULT_GALAXY_CLASS,
        help=f"--target class: the label value of galaxies (default {DEFAULT_GALAXY_CLASS}); "
        "rows unlikely to be one are flagged probably_not_galaxy",
    )
    t.add_argument(
        "--bands", help="comma-separated bands for colours (default: the schema's bands)"
    )
    t.add_argument(
        "--reference-band", default="r", help="band whose magnitude is a feature (default r)"
    )
    t.add_argument(
        "--flag-policy",
        default=DEFAULT_FLAG_POLICY,
        choices=list(POLICIES),
        help="what a missing band does: mask (zeroed and marked; default), impute (survey "
        "limit) or drop (no photo-z)",
    )
    t.add_argument(
        "--min-bands",
        type=int,
        default=DEFAULT_MIN_BANDS,
        help=f"fewest good bands a row needs for a prediction (default {DEFAULT_MIN_BANDS}, "
        "capped at the number of bands)",
    )
    t.add_argument(
        "--magnitudes",
        default=DEFAULT_MAGNITUDES,
        choices=list(MAGNITUDES),
        help="magnitudes in the features: asinh (SDSS softening; zero and negative fluxes keep "
        "a value) or pogson (default asinh)",
    )
    t.add_argument(
        "--uvj-preset", default=DEFAULT_PRESET, help="UVJ preset for the default quiescent label"
    )
    t.add_argument("--seed", type=int, default=0, help="model seed")
    t.add_argument("--split-seed", type=int, default=42, help="seed of the train/validation split")
    t.add_argument("--out", required=True, help="model folder to write")
    t.set_defaults(func=cmd_train)

    q = sub.add_parser(
        "predict",
        help="add photo-z and P(quiescent) columns to a catalogue, partition by partition",
    )
    q.add_argument(
        "--model", required=True, action="append", help="model folder (repeat for several)"
    )
    q.add_argument(
        "--catalog",
        required=True,
        help="catalogue to predict: a file, a folder of Parquet files, or a HATS catalogue",
    )
    q.add_argument("--schema", default="sdss", help="schema preset or JSON mapping (default sdss)")
    q.add_argument(
        "--out",
        required=True,
        help="value-added catalogue: FOLDER (Parquet part files + manifest.json; HATS input "
        "keeps its HEALPix layout), file.parquet (streamed), or file.fits (held in memory)",
    )
    q.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an output folder that also holds files photcat did not write (they "
        "are kept; photcat never deletes a file it did not write)",
    )
    q.add_argument(
        "--model-sha256",
        action="append",
        metavar="HEX",
        help="refuse a model folder whose digest differs (repeat once per --model, in order; "
        "`photcat train` prints it, every output records it)",
    )
    q.add_argument(
        "--partition-rows", type=int, default=500_000, help="rows per partition (default 500000)"
    )
    q.add_argument(
        "--workers",
        type=int,
        default=0,
        help="local processes predicting partitions (default 0: one per available core; "
        "1 = this process only)",
    )
    q.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="predict on a Dask cluster, e.g. tcp://10.0.0.5:8786 (model folders and output "
        "must be on a file system every worker sees)",
    )
    zmin, zmax, nz = DEFAULT_PDF_GRID
    q.add_argument("--pdf-zmin", type=float, default=zmin, help=f"PDF grid start ({zmin})")
    q.add_argument("--pdf-zmax", type=float, default=zmax, help=f"PDF grid end ({zmax})")
    q.add_argument(
        "--pdf-nz", type=int, default=nz, help=f"PDF grid points ({nz}; 0 = mixture only)"
    )
    q.add_argument(
        "--pdf-format",
        choices=("column", "qp"),
        default="column",
        help="column (default): the PDF as catalogue columns only; qp: also a qp HDF5 file "
        "of the PDFs beside the catalogue (needs pip install 'photcat[rail]'; docs/rail.md)",
    )
    q.add_argument(
        "--qp-repr",
        default=None,
        metavar="LIST",
        help="qp representations with --pdf-format qp, comma-separated: interp (default; the "
        "truncated PDF at the grid points), hist (the grid cells), mixmod (the untruncated "
        "mixture)",
    )
    q.add_argument(
        "--no-restframe", dest="restframe", action="store_false", help="skip rest-frame UVJ"
    )
    q.add_argument("--uvj-preset", default=DEFAULT_PRESET, help="UVJ preset for the label column")
    q.set_defaults(func=cmd_predict)

    e = sub.add_parser(
        "evaluate", help="metrics of a value-added catalogue against its truth columns"
    )
    e.add_argument(
        "--catalog",
        required=True,
        help="value-added catalogue written by photcat (a file, or a photcat predict folder)",
    )
    e.add_argument("--json", action="store_true", help="print every metric as JSON")
    e.set_defaults(func=cmd_evaluate)

    rp = sub.add_parser("report", help="HTML report with plots for a value-added catalogue")
    rp.add_argument(
        "--catalog",
        required=True,
        help="value-added catalogue written by photcat (a file, or a photcat predict folder)",
    )
    rp.add_argument("--out", required=True, help="report folder")
    rp.set_defaults(func=cmd_report)

    sc = sub.add_parser(
        "scheduler", help="start the central Luigi scheduler (luigid) for scheduled runs"
    )
    sc.add_argument(
        "--out", default="photcat-output", help="output folder holding luigid's state and logs"
    )
    sc.add_argument(
        "--address", default="127.0.0.1", help="address to bind (default 127.0.0.1 only)"
    )
    sc.add_argument("--port", type=int, default=8082, help="port (default 8082)")
    sc.set_defaults(func=cmd_scheduler)

    m = sub.add_parser("models", help="list the model names")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from photcat import console

    if not args.verbose:
        console.quiet_native_stderr()
    console.set_quiet(args.quiet)
    _setup_logging(args.verbose)
    from photcat.catalogs import CatalogError
    from photcat.pipeline.config import ConfigError

    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, CatalogError, FileNotFoundError) as exc:
        print(f"photcat: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as exc:  # an output path under a file, over a folder, not writable, ...
        if args.command == "run":
            raise
        print(f"photcat: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (KeyError, ValueError) as exc:
        if args.command == "run":
            raise
        print(f"photcat: error: {str(exc).strip(chr(39) + chr(34))}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
