"""Reliability and security round two (issue 13): one test (or more) per numbered item.

1. a manifest never names files to delete;  2. no output over inputs or models, foreign
files need --overwrite and are kept;  3. tamper-evident model folders, digest pinned;
4. one run per output (lock);  5. luigid state folder private;  6. one-line errors;
7. configuration values checked before any task;  8. temporaries, umask, suffixes, folder
outputs readable. Models: KNN photo-z and logistic quiescent (no TensorFlow), as in
tests/test_stream.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from photcat.catalogs.writer import array_width
from photcat.fileio import private_folder
from photcat.models.persistence import ModelIntegrityError
from photcat.pipeline import stream
from photcat.pipeline.cli import main
from photcat.pipeline.loader import load_model
from photcat.pipeline.outputs import output_lock
from tests.conftest import edit_manifest
from tests.test_stream import canonical_sample, train_models, write_parquet_dataset

PHOTCAT = [sys.executable, "-m", "photcat.pipeline.cli"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    return train_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """2,000 canonical rows in one Parquet file of 500-row row groups."""
    folder = tmp_path_factory.mktemp("cat")
    write_parquet_dataset(folder, canonical_sample().iloc[:2000], 1, 500)
    return folder / "chunk-00.parquet"


def predict(models, catalog, out, *extra) -> list[str]:
    args = ["predict", "--catalog", str(catalog), "--schema", "canonical", "--out", str(out)]
    args += ["--no-restframe", "--pdf-nz", "11", "--partition-rows", "500", *extra]
    for m in models:
        args += ["--model", str(m)]
    return args


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("photcat: error:"), err
    return err[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # fmt: skip


# ----------------------------------------------------------------------------- item 1


def test_1_a_manifest_never_names_files_to_delete(models, catalog, tmp_path, capsys):
    out = tmp_path / "vac"
    assert main(predict(models, catalog, out)) == 0
    victims = [tmp_path / "victim.txt", tmp_path / "abs-victim.txt"]
    for v in victims:
        v.write_text("keep me")
    man = json.loads((out / "manifest.json").read_text())
    man["partitions"] += [{"file": "../victim.txt"}, {"file": str(victims[1])}]
    (out / "manifest.json").write_text(json.dumps(man))
    assert main(predict(models, catalog, out)) == 0
    assert all(v.read_text() == "keep me" for v in victims)
    assert stream.verify(out)["rows"] == 2000


# ----------------------------------------------------------------------------- item 2


def test_2_output_over_an_input_is_refused_and_the_input_kept(models, catalog, tmp_path, capsys):
    local = tmp_path / "in" / "cat.parquet"
    local.parent.mkdir()
    shutil.copyfile(catalog, local)
    before = local.read_bytes()
    for out in (local, local.parent, local / "x", tmp_path):  # is, contains (twice), inside
        assert main(predict(models, local, out)) == 2
        assert "input catalogue" in one_line(capsys)
    assert local.read_bytes() == before
    assert sorted(p.name for p in local.parent.iterdir()) == ["cat.parquet"]


def test_2_output_over_a_model_is_refused_and_the_model_kept(models, catalog, capsys):
    before = snapshot(models[0])
    for out in (models[0], models[0] / "vac", models[0] / "vac.parquet", models[0].parent):
        assert main(predict(models, catalog, out)) == 2
        assert "model folder" in one_line(capsys)
    assert snapshot(models[0]) == before


def test_2_foreign_files_need_overwrite_and_are_never_deleted(models, catalog, tmp_path, capsys):
    out = tmp_path / "shared"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(predict(models, catalog, out)) == 2
    assert "1 file(s) photcat did not write (notes.txt)" in one_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main(predict(models, catalog, out, "--overwrite")) == 0
    assert main(predict(models, catalog, out, "--overwrite", "--partition-rows", "2000")) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.parquet"]  # 4 -> 1 part
    # a file under a name photcat writes, not written by photcat: refused even with --overwrite
    (out / "part-00003.parquet").write_text("not a catalogue")
    assert main(predict(models, catalog, out, "--overwrite")) == 2
    assert "part-00003.parquet has a name photcat writes" in one_line(capsys)
    (out / "part-00003.parquet").unlink()
    # links could lead photcat's writes elsewhere: refused even with --overwrite
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("dataset", ".photcat.lock", "part-00000.parquet"):
        if (out / name).exists():
            (out / name).unlink()
        (out / name).symlink_to(elsewhere if name == "dataset" else elsewhere / name)
        assert main(predict(models, catalog, out, "--overwrite")) == 2
        assert "symbolic or hard link" in one_line(capsys)
        (out / name).unlink()
    assert list(elsewhere.iterdir()) == []
    # an existing file that photcat did not write is never replaced
    other = tmp_path / "other.parquet"
    shutil.copyfile(catalog, other)
    assert main(predict(models, catalog, other)) == 2
    assert "not written by photcat" in one_line(capsys)
    assert other.read_bytes() == catalog.read_bytes()


def test_2_links_user_temporaries_and_nested_outputs_are_left_alone(
    models, catalog, tmp_path, capsys
):
    """Second hostile-user review: hard links, a user's own .tmp files, an output inside
    another output, an ingested table posing as an output."""
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "vac"
    out.mkdir()
    os.link(outside, out / ".photcat.lock")
    assert main(predict(models, catalog, out, "--overwrite")) == 2
    assert "hard link" in one_line(capsys)
    (out / ".photcat.lock").unlink()
    os.link(outside, out / "properties")
    assert main(predict(models, catalog, out, "--overwrite")) == 2
    assert "hard link" in one_line(capsys)
    (out / "properties").unlink()
    file_out = tmp_path / "vac.parquet"
    os.link(outside, tmp_path / ".vac.parquet.lock")
    assert main(predict(models, catalog, file_out)) == 2
    assert "not a regular file with one name" in one_line(capsys)
    assert outside.read_text() == "precious"
    (tmp_path / ".vac.parquet.lock").unlink()
    (out / ".notes.tmp").write_text("draft")
    (tmp_path / ".vac.parquet.mine.tmp").write_text("draft")
    assert main(predict(models, catalog, out, "--overwrite")) == 0
    assert main(predict(models, catalog, file_out)) == 0
    assert (out / ".notes.tmp").read_text() == "draft"
    assert (tmp_path / ".vac.parquet.mine.tmp").read_text() == "draft"
    assert main(predict(models, catalog, out / "part-00000.parquet")) == 2
    assert f"lies inside the output {out}" in one_line(capsys)
    ingested = tmp_path / "ingested.parquet"
    assert main(["ingest", "--catalog", str(catalog), "--schema", "canonical", "--out", str(ingested)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(predict(models, catalog, ingested)) == 2
    assert "not written by photcat" in one_line(capsys)


# ----------------------------------------------------------------------------- item 3


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x04
    path.write_bytes(bytes(data))


def test_3_a_byte_flip_anywhere_in_a_model_folder_is_refused(models, catalog, tmp_path, capsys):
    rng = np.random.default_rng(13)
    files = sorted(p.relative_to(models[0]) for p in models[0].rglob("*") if p.is_file())
    assert {"manifest.json", "manifest.sha256", "params.json", "model.skops"} <= {
        f.as_posix() for f in files
    }
    tried = 0
    for rel in files:
        for at in rng.integers(0, (models[0] / rel).stat().st_size, 3):
            copy = Path(shutil.copytree(models[0], tmp_path / f"flip-{tried}"))
            _flip(copy / rel, int(at))
            args = predict([copy], catalog, tmp_path / f"out-{tried}")
            assert main(args) == 2, (rel, at)
            msg = one_line(capsys)
            assert str(copy) in msg, msg
            assert not (tmp_path / f"out-{tried}").exists()
            tried += 1
    assert tried == 3 * len(files)


def test_3_the_reference_band_edit_of_the_probe_is_refused(models, catalog, tmp_path):
    copy = Path(shutil.copytree(models[0], tmp_path / "edited"))
    path = copy / "manifest.json"
    path.write_text(path.read_text().replace('"reference_band": "r"', '"reference_band": "i"'))
    with pytest.raises(ModelIntegrityError, match=r"manifest\.json failed its checksum"):
        load_model(copy)


def test_3_paths_stay_inside_and_links_are_refused(models, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    copy = Path(shutil.copytree(models[0], tmp_path / "paths"))
    edit_manifest(copy, lambda m: m["files"].update({"../outside.json": "0" * 64}))
    with pytest.raises(ModelIntegrityError, match="outside the model folder"):
        load_model(copy)
    linked = Path(shutil.copytree(models[0], tmp_path / "link"))
    (linked / "params.json").unlink()
    (linked / "params.json").symlink_to(models[0] / "params.json")
    with pytest.raises(ModelIntegrityError, match="symbolic link"):
        load_model(linked)


def test_3_digest_recorded_in_outputs_and_pinnable(models, catalog, tmp_path, capsys):
    digests = [load_model(m).sha256 for m in models]
    assert digests[0] == (models[0] / "manifest.sha256").read_text().split()[0]
    out = tmp_path / "vac.parquet"
    pins = [a for d in digests for a in ("--model-sha256", d)]
    assert main(predict(models, catalog, out, *pins)) == 0
    assert [m["sha256"] for m in stream.read_manifest(out)["models"]] == digests
    meta = json.loads(pq.read_schema(out).metadata[b"photcat"])
    assert [m["sha256"] for m in meta["models"]] == digests
    wrong = ["--model-sha256", digests[1], "--model-sha256", digests[1]]
    assert main(predict(models, catalog, tmp_path / "pinned.parquet", *wrong)) == 2
    assert "differs from the pinned --model-sha256" in one_line(capsys)
    assert not (tmp_path / "pinned.parquet").exists()


# ----------------------------------------------------------------------------- item 4


def test_4_a_second_run_into_a_locked_output_is_refused(models, catalog, tmp_path, capsys):
    out = tmp_path / "vac"
    with output_lock(out, "a test holding the lock"):
        assert main(predict(models, catalog, out)) == 2
        msg = one_line(capsys)
        assert f"pid {os.getpid()}" in msg and "a test holding the lock" in msg
    assert main(predict(models, catalog, out)) == 0  # released


def test_4_two_concurrent_predicts_never_mix_their_parts(models, catalog, tmp_path):
    out = tmp_path / "vac"
    runs = [
        subprocess.Popen(
            [*PHOTCAT, *predict(models, catalog, out, "--pdf-nz", nz)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for nz in ("11", "21")
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    assert any(rc == 0 for rc, _ in results), results
    for rc, err in results:
        assert rc == 0 or (rc == 2 and "being written by another run" in err), err
    manifest = stream.verify(out)
    nz = manifest["config"]["pdf_grid"][2]
    widths = {array_width(pq.read_schema(out / e["file"]).field("photoz_pdf")) for e in manifest["partitions"]}  # fmt: skip
    assert widths == {nz} and manifest["rows"] == 2000


# ----------------------------------------------------------------------------- item 5


def test_5_luigid_state_folder_is_private(tmp_path, capsys):
    folder = private_folder(tmp_path / "a" / "luigid", ("state.pickle",))
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    open_folder = tmp_path / "b" / "luigid"
    open_folder.mkdir(parents=True)
    open_folder.chmod(0o777)
    assert main(["scheduler", "--out", str(tmp_path / "b"), "--port", "1"]) == 2
    assert "writable by other users" in one_line(capsys)
    theirs = tmp_path / "c" / "luigid"
    theirs.mkdir(parents=True, mode=0o700)
    (theirs / "state.pickle").write_bytes(b"crafted")
    os.chown(theirs / "state.pickle", 12345, 12345)
    if os.stat(theirs / "state.pickle").st_uid == os.getuid():
        pytest.skip("cannot give a file to another user here (not root)")
    assert main(["scheduler", "--out", str(tmp_path / "c"), "--port", "1"]) == 2
    assert "owned by uid 12345" in one_line(capsys)


# ----------------------------------------------------------------------------- item 6


def test_6_bad_files_around_the_catalogue_are_one_line_errors(
    models, catalog, tmp_path, capsys, monkeypatch
):
    from astropy.table import Table

    fits = tmp_path / "cat.fits"
    Table.from_pandas(canonical_sample().iloc[:300]).write(fits)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(fits.read_bytes()[: fits.stat().st_size // 2])
    assert main(predict(models, truncated, tmp_path / "o1")) == 2
    assert "truncated.fits" in one_line(capsys)
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    assert main(predict(models, catalog, plain)) == 2  # existing non-catalogue file
    assert "notes.txt is an existing file" in one_line(capsys)
    assert main(predict(models, catalog, plain / "vac")) == 2  # under a file
    assert "is a file, not a folder" in one_line(capsys)
    assert plain.read_text() == "x"
    cases = {
        "list": lambda p: p.write_text("[]"),
        "truncated": lambda p: p.write_bytes(p.read_bytes()[:100]),
        "missing": lambda p: p.write_text(json.dumps({"format_version": 2})),
    }
    for name, damage in cases.items():
        copy = Path(shutil.copytree(models[0], tmp_path / f"m-{name}"))
        damage(copy / "manifest.json")
        edit = copy / "manifest.json"
        digest = __import__("hashlib").sha256(edit.read_bytes()).hexdigest()
        (copy / "manifest.sha256").write_text(f"{digest}  manifest.json\n")  # resealed
        assert main(predict([copy], catalog, tmp_path / f"o-{name}")) == 2
        assert f"{copy}/manifest.json" in one_line(capsys), name
    skops = Path(shutil.copytree(models[0], tmp_path / "m-skops"))
    (skops / "model.skops").write_bytes(b"not a zip file")
    sha = __import__("hashlib").sha256(b"not a zip file").hexdigest()
    edit_manifest(skops, lambda m: m["files"].update({"model.skops": sha}))
    assert main(predict([skops], catalog, tmp_path / "o-skops")) == 2
    assert str(skops) in one_line(capsys)
    # an output folder that cannot be written (as root, modes do not stop us: simulate EACCES)
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(k.get("dir")))

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    assert main(predict(models, catalog, tmp_path / "ro")) == 2
    assert "Permission denied" in one_line(capsys)


def test_6_bad_configuration_files_are_one_line_errors(tmp_path, capsys):
    top = tmp_path / "top.toml"
    top.write_text('seed = 3\n[RunPipeline]\noutput_dir = "x"\n')
    latin = tmp_path / "latin.cfg"
    latin.write_bytes("[RunPipeline]\noutput_dir = caf\xe9\n".encode("latin-1"))
    for cfg, what in ((top, "top-level key 'seed'"), (latin, "not UTF-8")):
        assert main(["run", "--config", str(cfg)]) == 2
        msg = one_line(capsys)
        assert what in msg and str(cfg) in msg


# ----------------------------------------------------------------------------- item 7


@pytest.mark.parametrize(
    "section, line, expect",
    [
        ("RunPipeline", "train_fraction = 1.5", "train_fraction = 1.5 (set in"),
        ("RunPipeline", "valid_fraction = 0.5", "leaves no test split"),
        ("RunPipeline", "partition_rows = -5", "partition_rows = -5 (set in"),
        ("RunPipeline", "reference_band = q", "reference_band = 'q' (set in"),
        ("RunPipeline", "restframe = false", "restframe = False (set in"),
        ("RunPipeline", "seed = 1.5", "[RunPipeline] seed in"),
        ("worker", "keep_alvie = true", "unknown key 'keep_alvie' in Luigi's section [worker]"),
        ("scheduler", "retry_delay = abc", "[scheduler] retry_delay in"),
        ("RunPipeline", "pdf_zmax = -1", "pdf_zmax = -1.0 (set in"),
        ("TrainingSet", "train_fraction = 0.5", "[TrainingSet] train_fraction in"),
    ],
)
def test_7_configuration_is_checked_before_any_task(tmp_path, capsys, section, line, expect):
    out = tmp_path / "run"
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(f"[{section}]\n{line}\n")
    # a subprocess each: Luigi's configuration is global to a process
    res = subprocess.run(
        [*PHOTCAT, "run", "--config", str(cfg), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert expect in err[0] and str(cfg) in err[0], err
    assert not out.exists()


def test_7_a_toml_array_for_a_list_parameter_is_read(tmp_path):
    cfg = tmp_path / "bands.toml"
    cfg.write_text('[RunPipeline]\nbands = ["g", "r", "i"]\n')
    code = (
        f"from photcat.pipeline.config import use_config; use_config({str(cfg)!r}); "
        "from photcat.pipeline.tasks import RunPipeline; print(list(RunPipeline().bands))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "['g', 'r', 'i']"


# ----------------------------------------------------------------------------- item 8


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    start = time.monotonic()
    while not ready():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() - start < timeout
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("layout", ["folder", "vac.parquet"])
def test_8_a_rerun_after_sigkill_leaves_no_temporaries(models, tmp_path, layout):
    big = tmp_path / "big.parquet"
    write_parquet_dataset(tmp_path / "bigdir", canonical_sample(), 1, 250)
    (tmp_path / "bigdir" / "chunk-00.parquet").rename(big)
    out = tmp_path / "out" / ("vac" if layout == "folder" else layout)
    args = [*PHOTCAT, *predict(models, big, out, "--partition-rows", "250")]

    def temporaries() -> list[Path]:
        return [p for p in out.parent.rglob(".*") if ".tmp" in p.name or "staging" in p.name or ".parts-" in p.name]  # fmt: skip

    proc = subprocess.Popen(args, stderr=subprocess.PIPE, start_new_session=True)
    _kill_when(proc, lambda: any(p.is_file() or any(p.iterdir()) for p in temporaries()))
    assert temporaries(), "the kill left nothing to clean: nothing was tested"
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert temporaries() == []
    assert stream.verify(out)["rows"] == 10_000


def test_8_outputs_follow_the_umask(models, catalog, tmp_path):
    old = os.umask(0o027)
    try:
        assert main(predict(models, catalog, tmp_path / "v.parquet")) == 0
        assert main(predict(models, catalog, tmp_path / "vf")) == 0
    finally:
        os.umask(old)
    for p in [tmp_path / "v.parquet", tmp_path / "v.parquet.manifest.json", tmp_path / "vf" / "manifest.json", *(tmp_path / "vf").glob("part-*")]:  # fmt: skip
        assert p.stat().st_mode & 0o777 == 0o640, p


def test_8_csv_output_refused_and_folder_outputs_evaluated(models, catalog, tmp_path, capsys):
    assert main(predict(models, catalog, tmp_path / "x.csv")) == 2
    assert "photcat writes .parquet, .fits or a folder" in one_line(capsys)
    assert not (tmp_path / "x.csv").exists()
    out = tmp_path / "vf"
    assert main(predict(models, catalog, out)) == 0
    capsys.readouterr()
    assert main(["evaluate", "--catalog", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2000
    assert main(["report", "--catalog", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "index.html").is_file()
    capsys.readouterr()
    good = (out / "manifest.json").read_text()
    for damaged in ("[1, 2]", "not json", good.replace('"partitions"', '"parts"')):
        (out / "manifest.json").write_text(damaged)
        assert main(["evaluate", "--catalog", str(out)]) == 2
        assert f"{out / 'manifest.json'}" in one_line(capsys)
        assert main(["report", "--catalog", str(out), "--out", str(tmp_path / "rep2")]) == 2
        assert "manifest.json" in one_line(capsys) and not (tmp_path / "rep2").exists()


# ----------------------------------------------------------------------------- probe findings


def test_a_failed_run_keeps_the_previous_output(models, catalog, tmp_path, capsys, monkeypatch):
    out = tmp_path / "vac"
    assert main(predict(models, catalog, out)) == 0
    before = snapshot(out)
    calls = {"n": 0}
    real = stream.predict_partition

    def fail_third(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device (simulated)")
        return real(*a, **k)

    monkeypatch.setattr(stream, "predict_partition", fail_third)  # reaches this process only
    assert main(predict(models, catalog, out, "--pdf-nz", "21", "--workers", "1")) == 2
    assert "No space left" in one_line(capsys)
    after = {k: v for k, v in snapshot(out).items() if k != ".photcat.lock"}
    assert after == {k: v for k, v in before.items() if k != ".photcat.lock"}
    assert stream.verify(out)["rows"] == 2000


def test_empty_input_and_zero_partition_rows_are_refused(models, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    canonical_sample().iloc[:0].to_csv(empty, index=False)
    for out in (tmp_path / "e.parquet", tmp_path / "ef"):
        assert main(predict(models, empty, out)) == 2
        assert "holds no rows" in one_line(capsys)
        assert not out.exists()
    cat = tmp_path / "c.csv"
    canonical_sample().iloc[:10].to_csv(cat, index=False)
    assert main(["ingest", "--catalog", str(cat), "--schema", "canonical", "--partition-rows", "0"]) == 2  # fmt: skip
    assert "--partition-rows must be at least 1" in one_line(capsys)
