"""What `jitrealm invoke` runs when it is given a blueprint, not a component.

An author tries a blueprint offline by its id or its source file, as the
SDKs' comments show::

    jitrealm invoke /examples/counter on-command /player/ann push ""
    jitrealm invoke world-src/examples/counter.c on-command /player/ann push ""

Either is built first if it needs to be (into the build directory, exactly
as ``jitrealm build`` would: same cache, same manifest), and the built
component is what runs. A ``.wasm`` file is run as it is.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.build import manifest as build_manifest
from sandbox.build import worldbuild
from sandbox.protocol import CompileError


def _world_of(source: Path, default: Path) -> Path:
    """The world directory a source file belongs to: ``default`` if it is
    inside it, else the nearest directory above it with a ``world.json`` or
    an SDK directory (``include/``, ``lib/``)."""
    source = source.resolve()
    if source.is_relative_to(default.resolve()):
        return default
    for parent in source.parents:
        if (parent / "world.json").is_file() or any(
            (parent / d).is_dir() for d in worldbuild.SDK_DIRS.values()
        ):
            return parent
    return source.parent


def component_for(
    target: str, *, world_dir: Path, build_dir: Path, wit_dir: Path
) -> tuple[Path, str | None, list[str]]:
    """The component file to run for ``target``, the object id to run it
    as (None: the caller's default) and the build's warnings. ``target`` is a ``.wasm`` file, a
    blueprint source file, or a blueprint id (``/examples/counter``) of
    ``world_dir``. Raises FileNotFoundError (nothing by that name) or
    CompileError (the source does not build)."""
    path = Path(target)
    if path.suffix == ".wasm" or (path.is_file() and path.suffix not in worldbuild.LANGUAGES):
        return path, None, []
    if path.is_file():
        world = _world_of(path, world_dir)
        return _built(path, world, build_dir, wit_dir)
    if target.startswith("/"):
        relative = target.strip("/")
        for suffix in worldbuild.LANGUAGES:
            source = world_dir / (relative + suffix)
            if source.is_file():
                return _built(source, world_dir, build_dir, wit_dir)
        entry = (
            build_manifest.load(build_dir).get("/" + relative)
            if (build_dir / "manifest.json").is_file()
            else None
        )
        if entry is not None and entry.component:
            return build_dir / entry.component, "/" + relative, []
        raise FileNotFoundError(
            f"no blueprint {target}: no {relative}.c or .py in {world_dir}, and nothing built"
        )
    raise FileNotFoundError(f"cannot read {target}: no such file")


def _built(
    source: Path, world: Path, build_dir: Path, wit_dir: Path
) -> tuple[Path, str, list[str]]:
    artifact = worldbuild.compile_one(source, world_dir=world, build_dir=build_dir, wit_dir=wit_dir)
    if artifact.language == "json":
        raise CompileError("a declarative room bundle has no hooks to invoke", file=str(source))
    return artifact.output, artifact.blueprint, worldbuild.warning_lines(artifact.warnings)
