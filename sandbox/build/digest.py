"""A content hash of a directory tree: what build caches are keyed by (the
world's SDK and WIT for a blueprint's build, the SDK and WIT for the shared
Python runtime)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Sequence
from pathlib import Path


def tree_digest(
    root: Path,
    suffixes: Sequence[str] | None = None,
    *,
    skip_dirs: Collection[str] = ("__pycache__",),
    follow_links: bool = False,
) -> str:
    """A hash of every file under ``root`` (names and contents), ignoring
    hidden files and directories, ``skip_dirs`` and ``.pyc`` files (and,
    with ``suffixes``, every file not ending in one of them). Empty string
    for a missing directory."""
    if not root.is_dir():
        return ""
    h = hashlib.sha256()
    # Top-down, each directory's subdirectories sorted in place: a fixed
    # order, and the skipped ones are not walked into.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_links):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in skip_dirs)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or name.endswith(".pyc"):
                continue
            if suffixes is not None and path.suffix not in suffixes:
                continue
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
