"""The world build's manifest: which component each blueprint path runs.

``build/manifest.json`` is what ``jitrealm build`` leaves behind and what
the driver reads at start-up. Outputs are content-addressed (a component's
file name is its version, the SHA-256 of its bytes), so the manifest is the
only file that changes when a blueprint is rebuilt, and it is replaced
atomically. Example::

    {
      "format": 1,
      "world_dir": "/srv/jitrealm/world-src",
      "blueprints": {
        "/examples/counter": {
          "version": "9f2c…",                      # sha256 of the output
          "language": "c",                         # c | python | json
          "source": "examples/counter.c",          # relative to world_dir
          "component": "components/9f2c….wasm",    # relative to the build dir
          "key": "41d0…"                           # hash of the build inputs
        },
        "/rooms/garden": {
          "version": "…", "language": "json", "source": "rooms/garden.json",
          "bundle": "bundles/….json", "key": "…"
        }
      }
    }

``key`` is what makes builds incremental: the hash of everything that went
into the output (source, SDK, WIT, toolchain versions and flags). A build
whose key matches and whose output file exists is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsonschema

FILENAME = "manifest.json"
FORMAT = 1

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
#: A relative '/'-separated path with no ".." segment.
_RELATIVE = {"type": "string", "minLength": 1, "pattern": r"^(?!/)(?!(.*/)?\.\.(/|$))"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "JitRealm build manifest",
    "type": "object",
    "required": ["format", "world_dir", "blueprints"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "world_dir": {"type": "string"},
        "blueprints": {
            "type": "object",
            "propertyNames": {"pattern": r"^(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$"},
            "additionalProperties": {
                "type": "object",
                "required": ["version", "language", "source", "key"],
                "additionalProperties": False,
                "properties": {
                    "version": _HEX64,
                    "key": _HEX64,
                    "language": {"enum": ["c", "python", "json"]},
                    "source": _RELATIVE,
                    "component": _RELATIVE,
                    "bundle": _RELATIVE,
                },
                "oneOf": [{"required": ["component"]}, {"required": ["bundle"]}],
            },
        },
    },
}


class ManifestError(Exception):
    """The manifest exists but is not one this code can read."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One blueprint's build output."""

    version: str
    language: str
    source: str  # relative to the world dir, '/'-separated
    key: str
    component: str | None = None  # relative to the build dir (wasm blueprints)
    bundle: str | None = None  # relative to the build dir (declarative bundles)

    @property
    def output(self) -> str:
        """The output file, relative to the build dir."""
        out = self.component or self.bundle
        assert out is not None
        return out

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def load(build_dir: Path) -> dict[str, Entry]:
    """The blueprints of ``build_dir``'s manifest; empty if there is none.

    Raises :class:`ManifestError` if the file is not valid JSON or does not
    match :data:`SCHEMA`.
    """
    path = build_dir / FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        jsonschema.validate(data, SCHEMA)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not JSON: {exc}") from None
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ManifestError(f"{path}: {where}: {exc.message}") from None
    return {bp: Entry(**fields) for bp, fields in data["blueprints"].items()}


def save(build_dir: Path, world_dir: Path, entries: Mapping[str, Entry]) -> Path:
    """Write the manifest atomically (readers see the old or the new file)."""
    data = {
        "format": FORMAT,
        "world_dir": str(world_dir.resolve()),
        "blueprints": {bp: entries[bp].to_json() for bp in sorted(entries)},
    }
    jsonschema.validate(data, SCHEMA)
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / FILENAME
    partial = path.with_name(f".{FILENAME}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
