"""Where ``photcat predict`` may write, and who else is writing there.

Rules (``docs/reliability.md``, "Output safety"):

- an output is never an input catalogue or a model folder, never inside one, and never
  contains one;
- ``--out`` names a ``.parquet``/``.pq`` or ``.fits`` file, or a folder; another catalogue
  suffix (``.csv``, ``.h5``, ``.fits.gz``) is refused rather than made into a folder;
- an existing output is replaced only where photcat wrote it: a file carrying photcat's
  provenance (Parquet schema metadata ``photcat``, FITS keyword ``PHOTCATV``) or a folder
  holding only what ``photcat predict`` writes. ``--overwrite`` allows a folder that also
  holds other files (they are left alone); nothing photcat did not write is ever deleted;
- one run at a time per output: :func:`output_lock` (``fcntl.flock`` on a lock file), held
  for the whole run; a second run is refused with a message naming the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from photcat.catalogs.formats import CatalogError, format_from_name
from photcat.catalogs.writer import WRITABLE_FORMATS, output_format

MANIFEST_FORMAT = "photcat.stream-manifest/1"
LOCK_NAME = ".photcat.lock"
STAGING_PREFIX = ".photcat-staging-"
# the only part names photcat writes into an output folder, and so the only ones it may replace
OWN_PART = re.compile(r"(part-\d+|dataset/Norder=\d+/Dir=\d+/Npix=\d+)\.parquet")
# the temporaries photcat's atomic writes leave in a folder output when killed
# (photcat.fileio.atomic_path: ".<name>.<8 random characters>.tmp")
OWN_TMP = re.compile(
    r"\.(manifest\.json|part-\d+\.parquet|photoz_pdf\.qp-[a-z]+\.hdf5)\.[a-z0-9_]{8}\.tmp"
)
# the qp files of the photo-z PDFs (photcat predict --pdf-format qp): inside a folder output
# as photoz_pdf.qp-<representation>.hdf5, beside a file output as <name>.qp-<repr>.hdf5;
# photcat's only if the output's manifest lists them with their SHA-256
QP_REPRESENTATIONS = ("interp", "hist", "mixmod")
QP_FILE = re.compile(r"photoz_pdf\.qp-(interp|hist|mixmod)\.hdf5")
# files photcat writes beside the parts of a HATS output (photcat.pipeline.stream._hats_metadata)
HATS_FILES = frozenset(
    {
        "partition_info.csv",
        "properties",
        "hats.properties",
        "dataset/_metadata",
        "dataset/_common_metadata",
        "dataset/data_thumbnail.parquet",
    }
)


class OutputError(CatalogError):
    """An output path photcat must not write, or one another run is writing."""


def output_layout(out: str | Path) -> str:
    """``parquet`` or ``fits`` for a file name, else ``folder``."""
    try:
        return output_format(out)
    except ValueError:
        return "folder"


def manifest_path(out: str | Path) -> Path:
    """Where the manifest of an output goes."""
    out = Path(out)
    if output_layout(out) == "folder":
        return out / "manifest.json"
    return out.with_name(out.name + ".manifest.json")


def qp_path(out: str | Path, representation: str) -> Path:
    """Where the qp file of one representation of an output's photo-z PDFs goes."""
    out = Path(out)
    if output_layout(out) == "folder":
        return out / f"photoz_pdf.qp-{representation}.hdf5"
    return out.with_name(f"{out.name}.qp-{representation}.hdf5")


def own_qp_files(out: str | Path) -> dict[str, Path]:
    """The qp files of ``out`` that photcat wrote: listed in its manifest with the SHA-256
    they still have (representation -> path)."""
    from photcat.fileio import sha256_file

    out = Path(out)
    try:
        man = json.loads(manifest_path(out).read_bytes())
    except (ValueError, OSError):
        return {}
    if not isinstance(man, dict) or man.get("format") != MANIFEST_FORMAT:
        return {}
    own = {}
    entries = man.get("qp")
    for e in entries if isinstance(entries, list) else []:
        r = e.get("representation") if isinstance(e, dict) else None
        if r not in QP_REPRESENTATIONS:
            continue
        p = qp_path(out, r)
        if p.name != e.get("file") or p.is_symlink() or not p.is_file():
            continue
        if p.stat().st_nlink == 1 and sha256_file(p) == e.get("sha256"):
            own[r] = p
    return own


def _check_qp_files(out: Path, representations) -> None:
    own = own_qp_files(out)
    for r in representations:
        p = qp_path(out, r)
        if (p.exists() or p.is_symlink()) and r not in own:
            raise OutputError(
                f"{p} exists and was not written by photcat (or was changed since): photcat "
                "writes its qp files there; move it away"
            )


def lock_path(out: str | Path) -> Path:
    """The lock file of an output: inside a folder output, beside a file output."""
    out = Path(out)
    if output_layout(out) == "folder":
        return out / LOCK_NAME
    return out.with_name(f".{out.name}.lock")


def manifest_format(path: Path) -> str | None:
    """The ``format`` of a JSON manifest, or None when it is not a JSON object naming one."""
    try:
        value = json.loads(path.read_bytes())
    except (ValueError, OSError):
        return None
    return value.get("format") if isinstance(value, dict) else None


def written_by_photcat(path: Path) -> bool:
    """True for a value-added catalogue file that photcat wrote: photcat's provenance
    (Parquet schema metadata ``photcat``, FITS ``PCMETA``) naming the models it was predicted
    with (so an ingested canonical table is not one), not a link, not hard-linked."""
    if path.is_symlink() or not path.is_file() or path.stat().st_nlink > 1:
        return False
    try:
        if format_from_name(path) == "parquet":
            import pyarrow.parquet as pq

            md = pq.read_schema(path).metadata or {}
            meta = json.loads(md.get(b"photcat", b"{}"))
        elif format_from_name(path) == "fits":
            from astropy.io import fits

            with fits.open(path, memmap=False) as hdul:
                meta = next(
                    (json.loads(h.header["PCMETA"]) for h in hdul if "PCMETA" in h.header), {}
                )
        else:
            return False
    except Exception:  # noqa: BLE001 - unreadable: not something photcat wrote
        return False
    return isinstance(meta, dict) and bool(meta.get("models"))


def _same_or_nested(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def check_output(
    out: str | Path,
    inputs: list[str | Path],
    models: list[str | Path],
    *,
    overwrite: bool = False,
    qp: tuple[str, ...] = (),
) -> None:
    """Refuse an output path that would overwrite, or sit inside, something it must not
    (with ``qp``, the qp files of those representations too).

    Raises :class:`OutputError` with a one-line message naming the path and the reason.
    """
    out = Path(out)
    layout = output_layout(out)
    fmt = format_from_name(out)
    if layout == "folder" and fmt is not None and fmt not in WRITABLE_FORMATS:
        raise OutputError(f"--out {out}: photcat writes .parquet, .fits or a folder, not {fmt}")
    if layout == "folder" and fmt in WRITABLE_FORMATS:  # .fits.gz, .fz
        raise OutputError(f"--out {out}: compressed FITS is not written; use .fits or .parquet")
    target = out.resolve()
    sidecar = manifest_path(out).resolve()
    for what, paths in (("input catalogue", inputs), ("model folder", models)):
        for p in paths:
            p = Path(p)
            pr = p.resolve()
            hit = _same_or_nested(target, pr) or sidecar == pr
            if not hit and out.exists() and p.exists():
                with contextlib.suppress(OSError):
                    hit = os.path.samefile(out, p)
            if hit:
                raise OutputError(
                    f"--out {out} is, contains or lies inside the {what} {p}; choose another"
                )
    for parent in out.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"--out {out}: {parent} is a file, not a folder")
    if layout == "folder" and out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is an existing file; a folder output needs a folder")
    if layout != "folder" and out.is_dir():
        raise OutputError(f"--out {out} is an existing folder, not a {layout} file")
    for parent in out.absolute().parents:
        man = parent / "manifest.json"
        if man.is_file() and (
            manifest_format(man) == MANIFEST_FORMAT or (parent / "manifest.sha256").exists()
        ):
            what = "a model folder" if (parent / "manifest.sha256").exists() else "the output"
            raise OutputError(f"--out {out} lies inside {what} {parent}; choose another")
    if layout == "folder":
        _check_folder(out, overwrite)
    else:
        _check_file(out)
    _check_qp_files(out, qp)


def _check_file(out: Path) -> None:
    if out.exists() and not written_by_photcat(out):
        raise OutputError(
            f"--out {out} exists and was not written by photcat; photcat replaces only its "
            "own outputs: move it away or choose another --out"
        )
    side = manifest_path(out)
    if side.exists() and manifest_format(side) != MANIFEST_FORMAT:
        raise OutputError(f"{side} exists and was not written by photcat predict")


def own_entries(out: Path) -> tuple[set[str], list[str]]:
    """(files photcat wrote in folder ``out``, other entries), as paths relative to ``out``.

    Part files count as photcat's only under a name photcat generates and with photcat's
    provenance inside; temporaries and staging folders a killed run left are photcat's."""
    own: set[str] = set()
    foreign: list[str] = []
    if not out.is_dir():
        return own, foreign
    hats = _our_hats_output(out)
    own_qp = own_qp_files(out)
    for root, dirs, files in os.walk(out):
        rel_root = Path(root).relative_to(out)
        for d in list(dirs):
            p = Path(root, d)
            rel = (rel_root / d).as_posix()
            if p.is_symlink():
                foreign.append(rel)
                dirs.remove(d)
            elif rel_root == Path(".") and d.startswith(STAGING_PREFIX):
                own.add(rel)
                dirs.remove(d)
        for f in files:
            p = Path(root, f)
            rel = (rel_root / f).as_posix()
            if p.is_symlink():
                foreign.append(rel)
            elif rel == "manifest.json":
                (own.add if manifest_format(p) == MANIFEST_FORMAT else foreign.append)(rel)
            elif p.stat().st_nlink > 1:  # a hard link: its other names may be anywhere
                foreign.append(rel)
            elif rel == LOCK_NAME or (hats and rel in HATS_FILES):
                own.add(rel)
            elif OWN_TMP.fullmatch(rel):
                own.add(rel)
            elif OWN_PART.fullmatch(rel) and written_by_photcat(p):
                own.add(rel)
            elif QP_FILE.fullmatch(rel) and p in own_qp.values():
                own.add(rel)
            else:
                foreign.append(rel)
    return own, sorted(foreign)


def _our_hats_output(out: Path) -> bool:
    """A folder holding a HATS output photcat predict wrote (its metadata files are ours)."""
    try:
        man = json.loads((out / "manifest.json").read_bytes())
    except (ValueError, OSError):
        return False
    return (
        isinstance(man, dict)
        and man.get("format") == MANIFEST_FORMAT
        and man.get("layout") == "hats"
    )


def _check_folder(out: Path, overwrite: bool) -> None:
    if not out.is_dir():
        return
    man = out / "manifest.json"
    if man.exists() and manifest_format(man) != MANIFEST_FORMAT:
        raise OutputError(
            f"{out} holds a manifest.json that photcat predict did not write (a model folder, "
            "or another tool's output): choose another --out"
        )
    _, foreign = own_entries(out)
    links = [f for f in foreign if (out / f).is_symlink() or (out / f).stat().st_nlink > 1]
    if links:
        raise OutputError(
            f"{out / links[0]} is a symbolic or hard link; photcat does not write into an "
            "output folder holding links (they could lead its writes elsewhere)"
        )
    clash = [
        f
        for f in foreign
        if OWN_PART.fullmatch(f) or f in ("manifest.json", LOCK_NAME) or f in HATS_FILES
    ]
    if clash:
        raise OutputError(
            f"{out / clash[0]} has a name photcat writes but was not written by photcat; "
            "move it away"
        )
    if foreign and not overwrite:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"--out {out} holds {len(foreign)} file(s) photcat did not write ({shown}); "
            "choose an empty folder, or pass --overwrite (they are kept)"
        )


@contextlib.contextmanager
def output_lock(
    out: str | Path, command: str = "photcat predict", *, remove_on_error: bool = False
) -> Iterator[Path]:
    """Hold the output's lock for the duration; refuse when another process holds it.

    The lock file records who holds it (pid, host, start time, command) for the message a
    second run prints. It is left in place (removing a lock file races with its next user),
    except that ``remove_on_error`` removes it when the body fails (a run that created
    nothing else leaves nothing behind).
    """
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_NOFOLLOW: a lock file made a link to another file must not truncate that file
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        why = "it is a symbolic link" if path.is_symlink() else exc.strerror
        raise OutputError(f"cannot use the lock file {path}: {why}") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise OutputError(
            f"cannot use the lock file {path}: not a regular file with one name (a hard link?)"
        )
    acquired = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            acquired = True
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            raise OutputError(
                f"{out} is being written by another run ({holder}); wait for it to finish "
                "or choose another --out"
            ) from None
        info = (
            f"pid {os.getpid()} on {socket.gethostname()}, started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {command}"
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode() + b"\n", 0)
        yield path
    except BaseException:
        if acquired and remove_on_error:
            path.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # releases the flock


__all__ = [
    "OutputError",
    "check_output",
    "lock_path",
    "manifest_path",
    "output_layout",
    "output_lock",
    "own_entries",
    "written_by_photcat",
]
