"""Seals: a record of every file a task wrote (size, mtime, SHA-256), written last.

A target counts as done only when its seal exists and matches. A crash after the output's
rename but before the seal leaves no seal, so the task runs again; a file truncated or
edited afterwards fails the check and is rebuilt (replaced atomically), and the log says so. The check is
cheap when size and mtime match the seal; otherwise the content hash decides.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from photcat.fileio import sha256_file, write_json

log = logging.getLogger("photcat")


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return out


def seal(paths: list[Path], seal_path: Path) -> None:
    """Record every file under ``paths`` in ``seal_path`` (atomically)."""
    record = {}
    for f in _files(paths):
        st = f.stat()
        record[str(f.relative_to(seal_path.parent))] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256_file(f),
        }
    write_json(seal_path, {"files": record})


def check(paths: list[Path], seal_path: Path) -> str | None:
    """None when ``paths`` match their seal, else the reason they do not."""
    if not seal_path.exists():
        return "no seal (the task did not finish)"
    try:
        record = json.loads(seal_path.read_text())["files"]
    except (json.JSONDecodeError, KeyError, OSError) as exc:
        return f"unreadable seal {seal_path.name}: {exc}"
    present = {str(f.relative_to(seal_path.parent)): f for f in _files(paths)}
    if set(present) != set(record):
        return f"files differ from the seal: {sorted(set(present) ^ set(record))[:5]}"
    for rel, f in present.items():
        st, want = f.stat(), record[rel]
        if st.st_size != want["size"]:
            return f"{rel} has {st.st_size} bytes, the seal says {want['size']}"
        if st.st_mtime_ns != want["mtime_ns"] and sha256_file(f) != want["sha256"]:
            return f"{rel} content differs from its seal (sha256)"
    return None
