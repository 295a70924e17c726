"""Luigi tasks: thin wrappers over photcat.catalogs, features, models and pipeline functions.

Every target lives under ``output_dir`` at a path that includes a signature: a hash of the
task's significant parameters and of its inputs (the catalogue file's SHA-256, or the
upstream targets' own signed paths). Change an input or a parameter and the path changes, so
the task runs again; change nothing and every target exists, so nothing runs. Every target is
written atomically (temporary file or folder, then rename), so a killed run resumes cleanly.
Each task runs under a per-task file lock (``output_dir/.locks``) and seals its outputs
before releasing it, so two local-scheduler processes on one folder do not run a task twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import inspect
import json
import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path

import luigi
import pandas as pd

from photcat import __version__
from photcat.catalogs.formats import format_from_name
from photcat.catalogs.partitions import part_name
from photcat.catalogs.schema import parse_schema_arg
from photcat.features.spec import (
    DEFAULT_FLAG_POLICY,
    DEFAULT_MAGNITUDES,
    DEFAULT_MIN_BANDS,
    MAGNITUDES,
    POLICIES,
)
from photcat.features.uvj import DEFAULT_PRESET
from photcat.fileio import sha256_file, write_json
from photcat.models.registry import DEFAULTS, TASKS
from photcat.pipeline import integrity
from photcat.pipeline.training import DEFAULT_GALAXY_CLASS, SPLIT_FRACTIONS
from photcat.pipeline.vac import DEFAULT_PDF_GRID, PredictConfig

log = logging.getLogger("photcat")


@lru_cache(maxsize=256)
def _content_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def input_checksum(path: str | Path) -> str:
    """SHA-256 of a catalogue file's content (cached per path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    return _content_sha256(str(p.resolve()), st.st_size, st.st_mtime_ns)


def resolve_catalog(catalog: str) -> Path:
    """The catalogue path; an empty value means the shipped default sample."""
    if catalog:
        return Path(catalog)
    from photcat.catalogs.sample import sample_path

    return sample_path("sdss-gst")


def _plain(value):
    """Luigi's frozen containers -> plain JSON types."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@contextlib.contextmanager
def _task_lock(root: Path, task_id: str):
    """An exclusive lock (``flock``) per task under ``root/.locks``: one process runs a task at
    a time, even when several local-scheduler processes share an output folder."""
    folder = root / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(task_id.encode()).hexdigest()[:24] + ".lock")
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _locked_run(run):
    """Wrap a task's ``run``: take the task's lock, skip if another process finished it while
    this one waited, else run and seal before releasing the lock."""

    @functools.wraps(run)
    def wrapper(self):
        if not self.sealed:
            return run(self)
        return self.locked(lambda: run(self))

    wrapper._photcat_locked = True
    return wrapper


def _sweep(paths: list[Path]) -> None:
    """Remove temporary files and folders that a killed earlier attempt left beside (or, for
    folder targets, inside) ``paths``: ``.NAME.*.tmp`` (io_atomic) and ``.NAME.tmp-*`` /
    ``.NAME.old-*`` (model folders). Only called while holding the task's lock."""
    for p in paths:
        for pattern in (f".{p.name}.*.tmp", f".{p.name}.tmp-*", f".{p.name}.old-*"):
            for q in p.parent.glob(pattern):
                if q.is_dir():
                    shutil.rmtree(q, ignore_errors=True)
                else:
                    q.unlink(missing_ok=True)
        if p.is_dir():
            for q in p.rglob(".*.tmp"):
                q.unlink(missing_ok=True)


# part of every signature: bumped when what a task writes changes for the same inputs and
# parameters, so that an output folder made by an older photcat is rebuilt, not reused
# (2: Pogson non-detections kept as fluxes in the canonical table, issue 16)
OUTPUT_FORMAT = 2


class PhotcatTask(luigi.Task):
    """Base: output folder, signatures and provenance shared by all photcat tasks."""

    sealed = True  # False for wrapper tasks that write nothing of their own

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get("run")
        # generator runs (dynamic dependencies) stay unlocked: they resume across calls
        if run is not None and not inspect.isgeneratorfunction(run):
            if not getattr(run, "_photcat_locked", False):
                cls.run = _locked_run(run)

    output_dir = luigi.Parameter(
        default="photcat-output", significant=False, description="folder for every output"
    )

    def signature_inputs(self) -> list[str]:
        """What this task's result depends on besides its parameters."""
        reqs = luigi.task.flatten(self.requires())
        # relative to the output folder, so a moved or copied folder keeps its signatures
        return [
            os.path.relpath(t.path, self.root) for r in reqs for t in luigi.task.flatten(r.output())
        ]

    def signature(self) -> str:
        params = {k: v for k, v in self.to_str_params(only_significant=True).items()}
        blob = json.dumps(
            [self.get_task_family(), params, self.signature_inputs(), OUTPUT_FORMAT], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def provenance(self) -> dict:
        """Configuration and versions written into every output."""
        return {
            "task": self.get_task_family(),
            "signature": self.signature(),
            "params": {k: _plain(v) for k, v in self.param_kwargs.items()},
            "photcat_version": __version__,
        }

    @property
    def root(self) -> Path:
        return Path(self.output_dir)

    # --- integrity: a target is complete when it exists and matches its seal
    def produced(self) -> list[Path]:
        """Every file or folder this task writes (default: its outputs)."""
        return [Path(t.path) for t in luigi.task.flatten(self.output())]

    def seal_path(self) -> Path:
        first = self.produced()[0]
        return first.with_name(first.name + ".seal.json")

    def complete(self) -> bool:
        paths = self.produced()
        if not all(p.exists() for p in paths):
            return False
        problem = integrity.check(paths, self.seal_path())
        if problem is None:
            return True
        # Not deleted here: another process may be between writing and sealing this very
        # target. The task runs again and replaces the files atomically, then seals them.
        log.warning("photcat: %s is not intact (%s): rebuilding it", paths[0], problem)
        return False

    def locked(self, work):
        """Run ``work()`` under this task's lock, unless another process completed the task
        meanwhile; clear a killed attempt's temporary files first, seal the outputs after."""
        with _task_lock(self.root, self.task_id):
            paths = self.produced()
            if all(p.exists() for p in paths) and integrity.check(paths, self.seal_path()) is None:
                log.info("photcat: %s was completed by another process", paths[0])
                return None
            _sweep([*paths, self.seal_path()])
            result = work()
            integrity.seal(paths, self.seal_path())
            return result

    def on_success(self):
        paths = self.produced()
        if integrity.check(paths, self.seal_path()) is not None:  # locked runs sealed already
            integrity.seal(paths, self.seal_path())
        return super().on_success()


class IngestCatalog(PhotcatTask):
    """Read any supported catalogue into a canonical Parquet file, one row group per partition."""

    catalog = luigi.Parameter(default="", description="catalogue file; empty = shipped SDSS sample")
    schema = luigi.Parameter(default="sdss", description="schema preset or JSON mapping")
    partition_rows = luigi.IntParameter(default=2500, description="rows per partition")

    def signature_inputs(self) -> list[str]:
        return [input_checksum(resolve_catalog(self.catalog))]

    def output(self):
        stem = resolve_catalog(self.catalog).name.split(".")[0]
        return luigi.LocalTarget(
            str(self.root / "ingest" / f"{stem}-{self.signature()}" / "report.json")
        )

    def parquet_path(self) -> Path:
        return Path(self.output().path).with_name("canonical.parquet")

    def produced(self) -> list[Path]:
        return [Path(self.output().path), self.parquet_path()]

    def run(self):
        from photcat.pipeline.stages import ingest

        _, report = ingest(
            resolve_catalog(self.catalog),
            parse_schema_arg(self.schema),
            self.parquet_path(),
            rows=self.partition_rows,
            provenance=self.provenance(),
            input_sha256=input_checksum(resolve_catalog(self.catalog)),  # cached: hashed once
        )
        write_json(self.output().path, report)


class TrainingSet(PhotcatTask):
    """Rows with z_spec, rest-frame U−V/V−J and UVJ labels, and a seeded split."""

    catalog = IngestCatalog.catalog
    schema = IngestCatalog.schema
    partition_rows = IngestCatalog.partition_rows
    split_seed = luigi.IntParameter(default=42, description="seed of the train/valid/test split")
    train_fraction = luigi.FloatParameter(default=SPLIT_FRACTIONS[0])
    valid_fraction = luigi.FloatParameter(default=SPLIT_FRACTIONS[1])
    uvj_preset = luigi.Parameter(
        default=DEFAULT_PRESET, description="UVJ boundary preset for labels"
    )
    restframe = luigi.BoolParameter(default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING)

    def requires(self):
        return self.clone(IngestCatalog)

    def output(self):
        return luigi.LocalTarget(str(self.root / "trainset" / f"{self.signature()}.parquet"))

    def run(self):
        from photcat.catalogs.writer import write
        from photcat.pipeline.training import training_set

        ingest = self.requires()
        table = pd.read_parquet(ingest.parquet_path())
        report = json.loads(Path(ingest.output().path).read_text())
        ts = training_set(
            table,
            fractions=(self.train_fraction, self.valid_fraction),
            seed=self.split_seed,
            uvj_preset=self.uvj_preset,
            restframe=self.restframe,
        )
        meta = {**self.provenance(), "required_bands": report["required_bands"]}
        write(ts, self.output().path, meta=meta)


class ClassTrainingSet(TrainingSet):
    """Rows with an object class (column ``class_column``) and a seeded split; rows also in
    the photo-z training set keep its split, so one ``split`` column serves both models."""

    class_column = luigi.Parameter(
        default="", description="text column of object classes (SDSS: class); empty = none"
    )

    def requires(self):
        return {"ingest": self.clone(IngestCatalog), "trainset": self.clone(TrainingSet)}

    def output(self):
        return luigi.LocalTarget(str(self.root / "trainset" / f"class-{self.signature()}.parquet"))

    def run(self):
        from photcat.catalogs.writer import write
        from photcat.pipeline.training import class_training_set

        ingest = self.requires()["ingest"]
        table = pd.read_parquet(ingest.parquet_path())
        photoz = pd.read_parquet(self.input()["trainset"].path, columns=["source_row", "split"])
        ts = class_training_set(
            table,
            self.class_column,
            fractions=(self.train_fraction, self.valid_fraction),
            seed=self.split_seed,
            splits=photoz.set_index("source_row")["split"],
        )
        report = json.loads(Path(ingest.output().path).read_text())
        meta = {**self.provenance(), "required_bands": report["required_bands"]}
        write(ts, self.output().path, meta=meta)


class TrainModel(TrainingSet):
    """Fit one model (photo-z, quiescent or object class) and save it with its manifest."""

    target = luigi.ChoiceParameter(choices=list(TASKS), default="photoz")
    model = luigi.Parameter(default="", description="model name; empty = the target's default")
    model_params = luigi.DictParameter(default={}, description="parameters overriding the model's")
    bands = luigi.ListParameter(default=[], description="bands for colours; empty = schema's bands")
    reference_band = luigi.Parameter(default="r", description="band whose magnitude is a feature")
    flag_policy = luigi.ChoiceParameter(
        choices=list(POLICIES),
        default=DEFAULT_FLAG_POLICY,
        description="what a missing band does: mask, impute or drop (photcat.features.spec)",
    )
    min_bands = luigi.IntParameter(
        default=DEFAULT_MIN_BANDS, description="fewest good bands a row needs for a prediction"
    )
    magnitudes = luigi.ChoiceParameter(
        choices=list(MAGNITUDES),
        default=DEFAULT_MAGNITUDES,
        description="magnitudes in the features: asinh (SDSS softening) or pogson",
    )
    seed = luigi.IntParameter(default=0, description="seed of model initialisation and training")
    class_column = ClassTrainingSet.class_column
    galaxy_class = luigi.Parameter(
        default=DEFAULT_GALAXY_CLASS,
        description="the class model's galaxy class (flag bit probably_not_galaxy)",
    )

    def requires(self):
        return self.trainset_task()

    def trainset_task(self) -> TrainingSet:
        """The training set of this model: photo-z rows, or rows with an object class."""
        if self.target == "class":
            if not self.class_column:
                raise ValueError("a class model needs class_column (the text column of classes)")
            return self.clone(ClassTrainingSet)
        return self.clone(TrainingSet)

    def model_name(self) -> str:
        from photcat.models.registry import DEFAULTS

        return self.model or DEFAULTS[self.target]

    def output(self):
        name = f"{self.target}-{self.model_name()}-{self.signature()}"
        return luigi.LocalTarget(str(self.root / "models" / name))

    def run(self):
        from photcat.pipeline.stages import parquet_meta, train_and_save
        from photcat.pipeline.training import default_spec

        path = Path(self.input().path)
        ts = pd.read_parquet(path)
        spec = default_spec(
            ts,
            tuple(self.bands),
            self.reference_band or None,
            self.flag_policy,
            tuple(json.loads(parquet_meta(path)).get("required_bands") or ()),
            self.magnitudes,
            self.min_bands,
            morphology=self.target == "class",
        )
        train_and_save(
            ts,
            Path(self.output().path),
            target=self.target,
            model=self.model_name(),
            params=_plain(self.model_params),
            spec=spec,
            seed=self.seed,
            provenance=self.provenance(),
            label=self.class_column if self.target == "class" else None,
            galaxy_class=self.galaxy_class,
        )


class EvaluateModel(TrainModel):
    """Metrics of a trained model on the test split of the training set."""

    def requires(self):
        return {"model": self.clone(TrainModel), "trainset": self.trainset_task()}

    def output(self):
        return luigi.LocalTarget(
            str(self.root / "evaluate" / f"{self.target}-{self.signature()}.json")
        )

    def run(self):
        from photcat.pipeline.stages import evaluate_saved

        metrics = evaluate_saved(
            Path(self.input()["model"].path), Path(self.input()["trainset"].path)
        )
        write_json(self.output().path, {**metrics, "provenance": self.provenance()})


class _PredictParams(TrainingSet):
    target_catalog = luigi.Parameter(
        default="", description="catalogue to predict; empty = --catalog"
    )
    target_schema = luigi.Parameter(default="", description="its schema; empty = --schema")
    photoz_model = luigi.Parameter(
        default=DEFAULTS["photoz"], description="photo-z model name (see `photcat models`)"
    )
    photoz_params = luigi.DictParameter(default={})
    quiescent_model = luigi.Parameter(
        default=DEFAULTS["quiescent"], description="star-forming/quiescent model name"
    )
    quiescent_params = luigi.DictParameter(default={})
    class_column = ClassTrainingSet.class_column
    class_model = luigi.Parameter(
        default=DEFAULTS["class"], description="object-class model name (with class_column)"
    )
    class_params = luigi.DictParameter(default={})
    galaxy_class = TrainModel.galaxy_class
    bands = TrainModel.bands
    reference_band = TrainModel.reference_band
    flag_policy = TrainModel.flag_policy
    min_bands = TrainModel.min_bands
    magnitudes = TrainModel.magnitudes
    seed = TrainModel.seed
    pdf_zmin = luigi.FloatParameter(default=DEFAULT_PDF_GRID[0], description="PDF grid start (z)")
    pdf_zmax = luigi.FloatParameter(default=DEFAULT_PDF_GRID[1], description="PDF grid end (z)")
    pdf_nz = luigi.IntParameter(
        default=DEFAULT_PDF_GRID[2], description="PDF grid points; 0 = no gridded PDF"
    )
    vac_restframe = luigi.BoolParameter(
        default=True,
        parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="rest-frame U-V, V-J and UVJ label in the catalogue (at z_spec, else photo-z)",
    )

    def model_tasks(self) -> list[TrainModel]:
        """The models the catalogue is predicted with: photo-z, quiescent, and the object
        classes when ``class_column`` is set (the galaxy models' parameters do not depend on
        it, so turning it on does not retrain them)."""
        galaxy = {"class_column": "", "galaxy_class": DEFAULT_GALAXY_CLASS}
        tasks = [
            self.clone(
                TrainModel,
                target="photoz",
                model=self.photoz_model,
                model_params=self.photoz_params,
                **galaxy,
            ),
            self.clone(
                TrainModel,
                target="quiescent",
                model=self.quiescent_model,
                model_params=self.quiescent_params,
                **galaxy,
            ),
        ]
        if self.class_column:
            tasks.append(
                self.clone(
                    TrainModel,
                    target="class",
                    model=self.class_model,
                    model_params=self.class_params,
                )
            )
        return tasks

    def split_tasks(self) -> list[TrainingSet]:
        """Training sets whose ``split`` column the catalogue carries (photo-z first)."""
        if not self.predicts_training_catalog():
            return []
        out = [self.clone(TrainingSet)]
        if self.class_column:
            out.append(self.clone(ClassTrainingSet))
        return out

    def predicts_training_catalog(self) -> bool:
        return (self.target_catalog or self.catalog) == self.catalog and (
            self.target_schema or self.schema
        ) == self.schema

    def target_ingest(self) -> IngestCatalog:
        return self.clone(
            IngestCatalog,
            catalog=self.target_catalog or self.catalog,
            schema=self.target_schema or self.schema,
        )


class PredictPartition(_PredictParams):
    """Value-added columns for one partition (row group) of the target catalogue."""

    index = luigi.IntParameter(description="partition number")

    def requires(self):
        # the train/valid/test split is carried into the catalogue
        return [self.target_ingest(), *self.model_tasks(), *self.split_tasks()]

    def signature(self) -> str:
        # the partition number is in the file name: all partitions share one folder
        params = {
            k: v for k, v in self.to_str_params(only_significant=True).items() if k != "index"
        }
        blob = json.dumps(
            [self.get_task_family(), params, self.signature_inputs(), OUTPUT_FORMAT], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def output(self):
        name = f"{part_name(self.index)}.parquet"
        return luigi.LocalTarget(str(self.root / "predict" / self.signature() / name))

    def predict_config(self) -> PredictConfig:
        grid = (self.pdf_zmin, self.pdf_zmax, self.pdf_nz)
        return PredictConfig(grid, self.vac_restframe, self.uvj_preset)

    def run(self):
        from photcat.pipeline.stages import predict_partition

        predict_partition(
            self.target_ingest().parquet_path(),
            self.index,
            [Path(m.output().path) for m in self.model_tasks()],
            Path(self.output().path),
            config=self.predict_config(),
            provenance=self.provenance(),
            splits=tuple(Path(t.output().path) for t in self.split_tasks()),
        )


class AssembleCatalog(_PredictParams):
    """The value-added catalogue: every input row, predictions, flags, provenance."""

    output_format = luigi.ChoiceParameter(
        choices=["fits", "parquet"], default="fits", description="value-added catalogue format"
    )

    def requires(self):
        return [self.target_ingest(), *self.model_tasks()]

    def output(self):
        stem = resolve_catalog(self.target_catalog or self.catalog).name.split(".")[0]
        return luigi.LocalTarget(
            str(self.root / "catalog" / f"{stem}-vac-{self.signature()}.{self.output_format}")
        )

    def partitions(self) -> list[PredictPartition]:
        report = json.loads(Path(self.target_ingest().output().path).read_text())
        return [self.clone(PredictPartition, index=i) for i in range(report["partitions"])]

    def run(self):
        from photcat.pipeline.stages import assemble

        parts = self.partitions()
        yield parts  # dynamic dependencies: one task per partition
        self.locked(  # the lock is taken after the yield, never held across it
            lambda: assemble(
                [Path(p.output().path) for p in parts],
                Path(self.output().path),
                provenance=self.provenance(),
            )
        )


class Report(AssembleCatalog):
    """HTML report with plots and a metrics JSON for the assembled catalogue."""

    def requires(self):
        evals = [
            self.clone(
                EvaluateModel,
                target=t.target,
                model=t.model,
                model_params=t.model_params,
                class_column=t.class_column,
                galaxy_class=t.galaxy_class,
            )
            for t in self.model_tasks()
        ]
        return {"catalog": self.clone(AssembleCatalog), "evaluate": evals}

    def output(self):
        return luigi.LocalTarget(str(self.root / "report" / self.signature() / "index.html"))

    def produced(self) -> list[Path]:
        return [Path(self.output().path).parent]  # the page, its figures and metrics.json

    def complete(self) -> bool:
        # the report describes the catalogue: a damaged catalogue is rebuilt, and so is the report
        return super().complete() and self.requires()["catalog"].complete()

    def run(self):
        from photcat.pipeline.report import make_report

        evaluations = [json.loads(Path(t.path).read_text()) for t in self.input()["evaluate"]]
        make_report(
            Path(self.input()["catalog"].path),
            Path(self.output().path).parent,
            evaluations=evaluations,
            uvj_preset=self.uvj_preset,
            provenance=self.provenance(),
        )


def folder_catalogs(folder: str | Path, pattern: str = "*") -> list[Path]:
    """Catalogue files in ``folder`` (sorted, non-recursive), skipping hidden and temporary files."""
    return [
        p
        for p in sorted(Path(folder).glob(pattern))
        if p.is_file() and not p.name.startswith(".") and format_from_name(p) is not None
    ]


class PredictFolder(_PredictParams):
    """Value-added catalogues for every catalogue file in a folder: a scheduled batch run.

    Each file is its own chain of tasks (ingest, predict partitions, assemble), so files that
    already have a value-added catalogue are skipped and a nightly run only processes new ones.
    """

    target_folder = luigi.Parameter(description="folder of catalogue partitions to predict")
    pattern = luigi.Parameter(default="*", description="glob of files to take from the folder")
    output_format = AssembleCatalog.output_format

    def requires(self):
        return [
            self.clone(AssembleCatalog, target_catalog=str(p))
            for p in folder_catalogs(self.target_folder, self.pattern)
        ]

    def output(self):
        return [r.output() for r in self.requires()]

    def complete(self) -> bool:
        return all(r.complete() for r in self.requires())

    sealed = False

    def on_success(self):
        return None

    def run(self):  # everything happens in the required tasks
        pass


class RunPipeline(Report):
    """The whole pipeline: ingest, train, evaluate, predict every partition, assemble, report."""

    def requires(self):
        return self.clone(Report)

    def output(self):
        return self.requires().output()

    def complete(self) -> bool:
        return self.requires().complete()

    sealed = False

    def on_success(self):
        return None

    def run(self):  # everything happens in the required tasks
        pass
