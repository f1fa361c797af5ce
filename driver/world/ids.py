"""Object ids and blueprint paths.

* A blueprint is addressed by the normalized path of its source file inside
  its tenant's world, without extension: ``world-src/rooms/meadow.c`` is
  ``/rooms/meadow``. The blueprint's master object has that id.
* A clone is ``<blueprint>#<counter>`` with a six-digit (at least) per-tenant
  counter that is never reused: ``/obj/sword#000042``.
* A player is ``/player/<name>`` (lower-case).
* Fully qualified ids carry the tenant: ``demo:/obj/sword#000042``. Inside a
  tenant the prefix is implicit, and ids are always stored unqualified.
"""

from __future__ import annotations

import posixpath
import re

_SEGMENT = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
_TENANT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PLAYER_PREFIX = "/player/"


class BadId(ValueError):
    """An id or path that cannot name anything."""


def normalize_blueprint(path: str) -> str:
    """``rooms/meadow.c`` / ``/rooms/../rooms/meadow`` -> ``/rooms/meadow``.

    Raises :class:`BadId` for paths that escape the world root or contain
    anything but lower-case letters, digits, ``_``, ``-`` and ``.``.
    """
    raw = path.strip()
    if not raw:
        raise BadId("empty blueprint path")
    if "#" in raw:
        raise BadId(f"{path!r} is a clone id, not a blueprint")
    joined = posixpath.normpath("/" + raw.lstrip("/"))
    if joined.startswith("/.."):
        raise BadId(f"{path!r} escapes the world")
    stem, ext = posixpath.splitext(joined)
    if ext in (".c", ".py", ".json"):
        joined = stem
    parts = [p for p in joined.split("/") if p]
    if not parts or not all(_SEGMENT.match(p) for p in parts):
        raise BadId(f"{path!r} is not a valid blueprint path")
    return "/" + "/".join(parts)


def clone_id(blueprint: str, counter: int) -> str:
    return f"{blueprint}#{counter:06d}"


def blueprint_of(object_id: str) -> str:
    """The blueprint an object id was made from (itself for a master object)."""
    return object_id.split("#", 1)[0]


def is_clone(object_id: str) -> bool:
    return "#" in object_id


def is_player(object_id: str) -> bool:
    return object_id.startswith(PLAYER_PREFIX)


def player_id(name: str) -> str:
    return PLAYER_PREFIX + name.lower()


def qualify(tenant: str, object_id: str) -> str:
    return f"{tenant}:{object_id}"


def split_qualified(qid: str, default_tenant: str) -> tuple[str, str]:
    """``acme:/obj/x#000001`` -> ("acme", "/obj/x#000001"); no prefix -> default tenant."""
    if ":" in qid and not qid.startswith("/"):
        tenant, _, rest = qid.partition(":")
        if not _TENANT.match(tenant):
            raise BadId(f"{tenant!r} is not a tenant name")
        return tenant, rest
    return default_tenant, qid
