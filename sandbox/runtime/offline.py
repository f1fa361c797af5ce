"""`jitrealm invoke`: run one hook of one component, offline.

Authors use this to try a blueprint before publishing it, and the tests use
it to throw hostile guests at the sandbox from outside the process. The hook
runs against :class:`OfflineWorld`, an empty in-memory world that answers
every question the host API allows and records nothing beyond the call.

Exit status: 0 when the hook returned normally, 3 when the guest failed
(trap, fuel, deadline, memory, a host limit, bad data), 2 for bad input
(missing file, not a component, refused at admission, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cbor2

from sandbox.protocol import HOOKS, AdmissionError, Hook, Limits, Outcome, WorldRefusal
from sandbox.runtime.host import Sandbox

EXIT_OK, EXIT_BAD_INPUT, EXIT_GUEST_FAILED = 0, 2, 3


class OfflineWorld:
    """An empty world: nothing exists but the object being run and what the
    call itself creates. Clones get ids like a real tenant's."""

    def __init__(self, self_id: str) -> None:
        self.self_id = self_id
        self.env: dict[str, str] = {}
        self.clones = 0
        self.handles = 0
        self.known: set[str] = {self_id}

    def environment(self, target: str) -> str | None:
        return self.env.get(target)

    def contents(self, target: str) -> list[str]:
        return [obj for obj, where in self.env.items() if where == target]

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        return None

    def clone(self, asker: str, blueprint: str) -> str:
        if not blueprint.startswith("/"):
            raise WorldRefusal(f"no such blueprint: {blueprint}")
        self.clones += 1
        new_id = f"{blueprint}#{self.clones:06d}"
        self.known.add(new_id)
        return new_id

    def destruct(self, asker: str, target: str) -> None:
        if target not in self.known:
            raise WorldRefusal(f"no such object: {target}")
        self.known.discard(target)
        self.env.pop(target, None)

    def move(self, asker: str, target: str, destination: str) -> None:
        if target not in self.known:
            raise WorldRefusal(f"no such object: {target}")
        self.env[target] = destination

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def next_callout_handle(self) -> int:
        self.handles += 1
        return self.handles

    def cancel_callout(self, asker: str, handle: int) -> bool:
        return False


def _jsonable(value: Any) -> Any:
    """CBOR-decoded values as JSON: bytes become hex strings."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _decode_state_value(raw: bytes) -> Any:
    try:
        return _jsonable(cbor2.loads(raw))
    except Exception:
        return {"cbor-hex": raw.hex()}


def outcome_json(outcome: Outcome, state: dict[str, bytes]) -> dict[str, Any]:
    """The Outcome as `jitrealm invoke` prints it; ``state`` is the state after the call."""
    error = outcome.error
    return {
        "ok": outcome.ok,
        "error": None if error is None else {"kind": str(error.kind), "message": error.message},
        "result": outcome.result,
        "effects": [e.to_json() for e in outcome.effects],
        "state": {k: _decode_state_value(v) for k, v in sorted(state.items())},
        "logs": [{"level": lv, "text": t} for lv, t in outcome.logs],
        "fuel_used": outcome.fuel_used,
        "wall_ms": round(outcome.wall_ms, 3),
    }


def _hook_args(hook: str, raw: Sequence[str]) -> list[Any]:
    """Turn command-line words into the hook's arguments after self-id."""
    names = HOOKS[Hook(hook)].names[1:]
    if len(raw) > len(names):
        raise ValueError(f"{hook} takes {len(names)} argument(s) ({', '.join(names) or 'none'}), got {len(raw)}")
    out: list[Any] = []
    for i, name in enumerate(names):
        word = raw[i] if i < len(raw) else None
        if name in ("from", "to"):  # option<string>: absent or "none" means none
            out.append(None if word in (None, "", "none") else word)
        elif name in ("args", "payload") and hook in ("on-callout", "on-message"):
            # list<u8> carrying CBOR: the word is JSON (or plain text).
            if word is None:
                value: Any = None
            else:
                try:
                    value = json.loads(word)
                except json.JSONDecodeError:
                    value = word
            out.append(cbor2.dumps(value))
        else:
            out.append(word or "")
    return out


def _default_cache() -> Path:
    """Where compiled code is kept between runs: a Python guest takes
    seconds to compile and milliseconds to load from the cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jitrealm" / "wasm"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jitrealm invoke",
        description="Run one hook of a blueprint component offline and print the outcome as JSON.",
    )
    p.add_argument("component", type=Path,
                   help="a .wasm component file; with `jitrealm invoke`, also a blueprint id "
                   "(/examples/counter) or source file, built first if needed (--world, --build)")
    p.add_argument("hook", choices=sorted(HOOKS), help="the hook to run")
    p.add_argument("args", nargs="*", help="the hook's arguments after self-id")
    p.add_argument("--self", dest="self_id", help="the object id to run as (default /<file stem>)")
    p.add_argument("--state", default="{}", help="the object's state before the call, as a JSON object")
    d = Limits()
    p.add_argument("--fuel", type=int, default=d.fuel, help=f"fuel budget (default {d.fuel})")
    p.add_argument("--memory-mb", type=int, default=d.memory_bytes // (1024 * 1024), help="linear memory cap in MiB")
    p.add_argument("--timeout-ms", type=int, default=d.deadline_ms, help="wall-clock deadline in ms")
    p.add_argument("--cache-dir", type=Path, default=_default_cache(),
                   help="compile cache directory (default: $XDG_CACHE_HOME/jitrealm or ~/.cache/jitrealm)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_BAD_INPUT

    def bad(message: str) -> int:
        print(f"jitrealm invoke: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        data = ns.component.read_bytes()
    except OSError as exc:
        return bad(f"cannot read {ns.component}: {exc.strerror or exc}")
    try:
        initial = json.loads(ns.state)
        if not isinstance(initial, dict):
            raise ValueError("--state must be a JSON object")
        state = {str(k): cbor2.dumps(v) for k, v in initial.items()}
        args = _hook_args(ns.hook, ns.args)
        limits = Limits(
            fuel=ns.fuel,
            deadline_ms=ns.timeout_ms,
            memory_bytes=ns.memory_mb * 1024 * 1024,
        )
        if ns.fuel <= 0 or ns.timeout_ms <= 0 or ns.memory_mb <= 0:
            raise ValueError("--fuel, --timeout-ms and --memory-mb must be positive")
    except ValueError as exc:
        return bad(str(exc))

    sandbox = Sandbox(cache_dir=ns.cache_dir)
    try:
        version = sandbox.admit(data)
    except AdmissionError as exc:
        return bad(f"{ns.component}: refused: {exc}")
    self_id = ns.self_id or "/" + ns.component.stem
    outcome = sandbox.invoke(version, self_id, ns.hook, args, state, limits, OfflineWorld(self_id))
    after = dict(state)
    for key, value in outcome.state_changes.items():
        if value is None:
            after.pop(key, None)
        else:
            after[key] = value
    json.dump(outcome_json(outcome, after), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK if outcome.ok else EXIT_GUEST_FAILED


if __name__ == "__main__":
    sys.exit(main())
