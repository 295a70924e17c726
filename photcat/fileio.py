"""File helpers every layer shares: atomic writes and SHA-256 checksums.

Atomic writes go to a temporary file in the same folder, fsync, then ``os.replace``: a crash
(or an exception) while writing leaves either the old file or the new one, never a truncated
one; the temporary file is removed on failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` with
    the permissions the user's umask gives a new file (``mkstemp`` alone gives 0600).

    Temporary names are ``.<name>.<random>.tmp``, so a later run can find and remove the
    ones a killed run left behind (:func:`remove_temporaries`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def umask() -> int:
    """The process's umask, read without changing it (Linux ``/proc``; else set and reset)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporaries(path: str | Path) -> list[Path]:
    """Temporary files and folders :func:`atomic_path` (and photcat's staging) leave beside
    ``path`` when a run is killed: ``.<name>.<random>.tmp``, ``.<name>.parts-<random>``."""
    import re

    path = Path(path)
    if not path.parent.is_dir():
        return []
    # mkstemp / mkdtemp add 8 characters from [a-z0-9_]
    tmp = re.compile(re.escape(f".{path.name}.") + r"([a-z0-9_]{8}\.tmp|parts-[a-z0-9_]{8})")
    out = []
    for p in path.parent.iterdir():
        m = tmp.fullmatch(p.name)
        if m and not p.is_symlink() and (p.is_dir() == m.group(1).startswith("parts-")):
            out.append(p)
    return sorted(out)


def remove_temporaries(path: str | Path) -> list[Path]:
    """Remove what :func:`temporaries` finds (call only while holding the output's lock)."""
    import shutil

    gone = temporaries(path)
    for p in gone:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return gone


def private_folder(folder: str | Path, files: tuple[str, ...] = ()) -> Path:
    """Create ``folder`` with mode 0700 (or check an existing one): it and the named files in
    it must be owned by this user and writable by nobody else, else :class:`PermissionError`.

    For state that is unpickled or executed (luigid's ``state.pickle``): whoever can write
    it can run code as this user. No ancestor may let others replace the folder either
    (each must be owned by this user or root, and not writable by others unless it has the
    sticky bit, like /tmp). Everything is checked before anything is created."""
    import stat

    folder = Path(folder).absolute()
    uid = os.getuid()
    for anc in reversed(folder.parents):
        if not anc.exists():
            break
        st = os.stat(anc)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(f"{anc} is a file, not a folder")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            raise PermissionError(
                f"{anc} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}), who "
                f"could replace {folder}; use a private folder"
            )
        if st.st_uid not in (uid, 0):
            raise PermissionError(f"{anc} is owned by uid {st.st_uid}, who could replace {folder}")
    for path in [folder] + [folder / f for f in files]:
        if not path.exists() and not path.is_symlink():
            continue
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise PermissionError(f"{path} is a symbolic link; refusing to use it for state")
        if st.st_uid != uid:
            raise PermissionError(f"{path} is owned by uid {st.st_uid}, not by you ({uid})")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PermissionError(
                f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                f"run chmod go-w {path} if you trust its content"
            )
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)
    return folder


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON (indented, keys sorted) atomically."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes (of a folder: its files' bytes in sorted path order)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()
