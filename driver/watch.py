"""`jitrealm run --watch`: rebuild and reload blueprints as their sources are saved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from driver.app import Realm
from driver.tenancy.errors import WorldError
from driver.world import ids
from sandbox.protocol import AdmissionError, CompileError


def watch_sources(realm: Realm, notify: Callable[[str], None]) -> Callable[[], Awaitable[None]]:
    """A coroutine factory for `--watch`: rebuild and reload changed sources.

    Polls modification times twice a second; a well-kept file-watching
    library (watchfiles) would add a compiled dependency for what is a
    dozen lines here, and polling works the same on every platform.
    """
    world = realm.config.world_dir

    def scan() -> dict[Path, float]:
        found: dict[Path, float] = {}
        for pattern in ("*.c", "*.py", "*.h"):
            for path in world.rglob(pattern):
                try:
                    found[path] = path.stat().st_mtime
                except OSError:
                    pass
        return found

    async def run() -> None:
        seen = scan()
        while True:
            await trio.sleep(0.5)
            now = scan()
            changed = [p for p, m in now.items() if seen.get(p) != m]
            seen = now
            for source in changed:
                rel = source.relative_to(world)
                if rel.parts[0] in ("include", "lib"):
                    continue
                try:
                    path = ids.normalize_blueprint(rel.as_posix())
                except ids.BadId:
                    continue
                try:
                    # A new file is built and loaded too; build warnings
                    # (a misspelled hook) follow the report, one a line.
                    notify("[watch] " + await realm.reload(path))
                except (CompileError, AdmissionError, WorldError, OSError) as exc:
                    notify(f"[watch] {path}: {exc}")

    return run
