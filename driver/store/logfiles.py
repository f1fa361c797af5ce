"""A tenant's guest log on disk: JSON Lines under ``DATA/logs/``.

Every line guest code logs (``log`` at any level, a Python blueprint's
stdout and stderr) is kept in memory by its tenant and appended here by
the commit loop, at most a second later, so an author can read it offline
(``jitrealm logs --data DIR``) and after a restart. It is bounded: when a
tenant's file passes :data:`MAX_BYTES` it becomes ``<tenant>.jsonl.1``
(the previous one is dropped), so a tenant keeps at most twice that.

The log is not in the SQLite store on purpose: it is written often, read
rarely, never needed to restore a world, and not worth a transaction or a
place in dumps. Losing the last second of it in a crash is acceptable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

#: A tenant's log file is rotated past this size (one old file kept).
MAX_BYTES = 1024 * 1024


def log_dir(data_dir: Path) -> Path:
    return data_dir / "logs"


def log_file(data_dir: Path, tenant: str) -> Path:
    return log_dir(data_dir) / f"{tenant}.jsonl"


def append(
    data_dir: Path, tenant: str, rows: Iterable[dict[str, Any]], *, max_bytes: int = MAX_BYTES
) -> None:
    """Append ``rows`` (JSON objects) to ``tenant``'s log, rotating it when
    it is over ``max_bytes``. Raises OSError."""
    text = "".join(
        json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n" for row in rows
    )
    if not text:
        return
    path = log_file(data_dir, tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size >= max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def read(data_dir: Path, tenant: str) -> Iterator[dict[str, Any]]:
    """``tenant``'s kept lines, oldest first (unreadable lines skipped)."""
    path = log_file(data_dir, tenant)
    for file in (path.with_name(path.name + ".1"), path):
        try:
            with file.open(encoding="utf-8", errors="replace") as f:
                for raw in f:
                    try:
                        row = json.loads(raw)
                    except ValueError:
                        continue  # a line cut short by a crash
                    if isinstance(row, dict):
                        yield row
        except FileNotFoundError:
            continue


def tenants(data_dir: Path) -> list[str]:
    """The tenants that have a log in ``data_dir``."""
    try:
        return sorted(p.name.removesuffix(".jsonl") for p in log_dir(data_dir).glob("*.jsonl"))
    except OSError:
        return []
