"""One tenant's world: its objects, blueprints, schedule and event queue.

Everything that happens in a tenant is an *event* processed one at a time,
in order: a player's command line, a due callout, a heartbeat, a room reset,
or a hook that an earlier event caused (an object arrived, a clone was made,
a message was told). Events that an event causes are *follow-ups*: they run
right after it, before anything else in the queue, which is what "after the
current event, never inside it" means in the host API.

Running a hook is a transaction (see :mod:`sandbox`): the outcome's state
changes and effects are applied here only if the hook returned normally.

A callout storm cannot starve anything: a tenant's turn is bounded in time
(:attr:`Quotas.turn_budget_ms`), follow-ups per event are capped, and
zero-delay callouts beyond :attr:`Quotas.max_zero_delay_per_turn` in one turn
wait for the next one.
"""

from __future__ import annotations

import functools
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import cbor2
import trio

from driver.runtimes import Runtime, RuntimeKind
from driver.tenancy import publishing, usage
from driver.tenancy.blueprints import Blueprints
from driver.tenancy.budgets import Budgets
from driver.tenancy.control import (
    BlueprintVersions,
    ErrorInfo,
    LogLine,
    PublishResult,
    QuarantineInfo,
    Usage,
)
from driver.tenancy.errorlog import ErrorLog
from driver.tenancy.errors import QUARANTINED, GuestErrorRecord, NoSuchBlueprint, QuotaExceeded
from driver.tenancy.guestlog import GuestLog
from driver.tenancy.output import Outbox, Output
from driver.tenancy.quarantine import Quarantine
from driver.tenancy.quotas import Quotas
from driver.tenancy.txn import Txn
from driver.world import ids
from driver.world.changes import Changes
from driver.world.objects import Graph, MudObject
from driver.world.settings import WorldSettings
from driver.world.timers import Callout, Callouts, Periodic
from sandbox.protocol import (
    CancelCallout,
    Clone,
    Destruct,
    Effect,
    Emote,
    ErrorKind,
    Gmcp,
    GuestError,
    Hook,
    Move,
    Outcome,
    Say,
    ScheduleCallout,
    SetHeartbeat,
    Tell,
)

#: An event: a piece of work run one at a time, in order, in its tenant.
Event = Callable[[], Awaitable[None]]


class Committer(Protocol):
    """The persistence layer's side of :meth:`Tenant.end_event`."""

    def event_done(self, tenant: Tenant, outbox: Outbox) -> None: ...


def _monotonic_ms() -> float:
    return time.monotonic() * 1000


class Tenant:
    """See module docstring."""

    def __init__(
        self,
        name: str,
        runtimes: Runtime | Mapping[RuntimeKind, Runtime],
        output: Output,
        *,
        quotas: Quotas | None = None,
        clock: Callable[[], float] = _monotonic_ms,
    ) -> None:
        self.name = name
        if not isinstance(runtimes, Mapping):
            runtimes = {RuntimeKind.WASM: runtimes}
        self.output = output
        self.quotas = quotas or Quotas()
        self.clock = clock
        self.changes = Changes()
        self.graph = Graph(on_change=self.touch)
        self.blueprints = Blueprints(runtimes)
        self.callouts = Callouts()
        self.heartbeats = Periodic()
        self.resets = Periodic(jitter=self.quotas.reset_jitter)
        self.queue: deque[Event] = deque()  # timers and messages, in order
        self.commands: deque[tuple[str, Event]] = deque()  # players' events: served first
        # Player id -> events queued (a plain dict: a Counter's missing keys and
        # deletions are Python calls, and this is twice per command).
        self.pending_commands: dict[str, int] = {}
        self.pending_heartbeats: set[str] = set()  # at most one heartbeat per object waits
        self.timers_paused = False  # `jitrealm run --timers-paused`, until a wizard resumes
        self.budgets = Budgets(self.quotas, clock)
        self.quarantine = Quarantine(self.quotas, clock)
        self.followups: deque[Event] = deque()
        self.backlog: deque[Event] = deque()  # follow-ups a turn's end cut off, in order
        self.error_log = ErrorLog(name, self.quotas.max_errors_kept)  # see errors, usage
        #: Told of every guest error as it is recorded (the players layer
        #: shows wizards the details); None: nobody listens.
        self.on_error: Callable[[GuestErrorRecord], None] | None = None
        self.log = GuestLog()  # what guest code logged, for its authors (driver.tenancy.guestlog)
        self.settings = WorldSettings()  # title, start room, port, suspended: kept in the store
        self.clone_counter = 0
        self._next_handle = 1
        self.unsaved_components: dict[str, bytes] = {}  # published, not yet persisted
        #: Reads a kept version's bytes from the store, to activate a version
        #: the runtime no longer holds (a rollback); None: the tenant keeps
        #: its kept versions' bytes in ``component_cache`` instead.
        self.load_component: publishing.ComponentLoader | None = None
        self.component_cache: dict[str, bytes] = {}
        self.actor: str | None = None  # the player whose command is running
        self._zero_delay_this_turn = 0
        self.events_run = 0
        self.in_event = False
        self.outbox: Outbox = []
        self.has_work = trio.Event()  # set when an event is queued (the loop waits on it)
        self.committer: Committer | None = None
        self._wall_offset = time.time() * 1000 - clock()

    # -- ids ------------------------------------------------------------------------

    def wall_ms(self) -> int:
        """The world clock guests see (`now-ms`): Unix milliseconds that move
        with the tenant's own clock (a test clock moves both)."""
        return int(self._wall_offset + self.clock())

    def next_clone_id(self, blueprint: str) -> str:
        self.clone_counter += 1
        self.changes.counters = True
        return ids.clone_id(blueprint, self.clone_counter)

    def next_handle(self) -> int:
        self.changes.counters = True
        handle = self._next_handle
        self._next_handle += 1
        return handle

    def peek_handle(self) -> int:
        """The handle the next callout will get (persisted with the counters)."""
        return self._next_handle

    def set_next_handle(self, handle: int) -> None:
        self._next_handle = max(self._next_handle, handle)

    def touch(self, obj: MudObject) -> None:
        """Mark ``obj`` changed (its record or its state) for persistence."""
        self.changes.object(obj.id)

    @property
    def errors(self) -> deque[GuestErrorRecord]:
        """The newest guest error records (``max_errors_kept``), oldest first."""
        return self.error_log.records

    # -- publishing (see driver.tenancy.publishing) ------------------------------------

    async def publish(
        self, path: str, component: bytes, *, source: Path | None = None, language: str = "c",
        kind: RuntimeKind = RuntimeKind.WASM,
    ) -> tuple[str, str | None]:  # fmt: skip
        """Publish and activate a new version of a blueprint built from the
        server's own world sources; returns (version, previous version).
        The operator's code: no component size quota."""
        result = await publishing.publish(
            self, path, component, kind=kind, language=language, source=source, quota=False
        )
        if result.activated and not result.unchanged:
            self.migrate_soon(path)
        return result.version, result.previous

    async def publish_version(
        self, path: str, data: bytes, *, kind: RuntimeKind | None = None, language: str | None = None,
        source: Path | None = None, stage: bool = False, canary: int = 0,
    ) -> PublishResult:  # fmt: skip
        """An author's publish: size quota, admission, then stage, or canary
        and activate (see :func:`driver.tenancy.publishing.publish`)."""
        result = await publishing.publish(
            self,
            path,
            data,
            kind=kind,
            language=language,
            source=source,
            stage=stage,
            canary=canary,
        )
        if result.activated and not result.unchanged:
            self.migrate_soon(path)
        return result

    async def activate(
        self, path: str, version: str | None = None, *, canary: int = 0
    ) -> PublishResult:
        """Make a kept version current: staged, or a rollback (None: the one
        before the current one). See :func:`driver.tenancy.publishing.activate`."""
        result = await publishing.activate(self, path, version, canary=canary)
        if result.activated and not result.unchanged:
            self.migrate_soon(path)
        return result

    def migrate_soon(self, path: str) -> int:
        """After a reload: queue, as world events behind the players'
        commands, the move of every object of ``path`` still on an older
        version to the current one. Each runs its on-reload (and so its
        describe), so a verb, description or detail the new version adds
        reaches every clone within moments, and no player's command waits
        for the clones it does not touch (a command that reaches an object
        not yet moved moves it first, see :meth:`run_hook`). Returns how
        many were queued; past the queue's quota the rest move lazily."""
        bp = self.blueprints.get(path)
        if bp is None or bp.version is None:
            return 0
        queued = 0
        for obj in list(self.graph.by_blueprint(path)):
            if obj.version == bp.version:
                continue
            if not self.enqueue(functools.partial(self._bring_up_to_date, obj.id)):
                break
            queued += 1
        return queued

    async def _bring_up_to_date(self, object_id: str) -> None:
        obj = self.graph.get(object_id)
        if obj is None or obj.blueprint is None or self.quarantine.holds(obj.id, obj.blueprint):
            return
        bp = self.blueprints.by_path.get(obj.blueprint)
        if bp is not None and bp.version is not None and obj.version != bp.version:
            await self._migrate(obj, bp.version)

    def versions(self, path: str) -> BlueprintVersions:
        """``path``'s kept versions, oldest first (raises NoSuchBlueprint)."""
        return publishing.versions(self, path)

    def all_versions(self) -> list[BlueprintVersions]:
        """Every blueprint's kept versions, by path."""
        return publishing.all_versions(self)

    # -- reports (see driver.tenancy.usage) ------------------------------------------------

    def usage(self, connections: int = 0, players_online: int = 0) -> Usage:
        """What the tenant uses now; the players layer knows its connections."""
        return usage.usage(self, connections, players_online)

    def error_infos(self, limit: int = 100) -> list[ErrorInfo]:
        """The newest ``limit`` error records, oldest first."""
        return usage.error_infos(self, limit)

    def log_lines(
        self,
        limit: int = 100,
        *,
        blueprint: str | None = None,
        level: str | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        """The newest ``limit`` lines guest code logged, oldest first (filtered:
        see :meth:`driver.tenancy.guestlog.GuestLog.query`)."""
        return self.log.query(limit, blueprint=blueprint, level=level, since=since)

    def quarantine_infos(self) -> list[QuarantineInfo]:
        """What is quarantined now (``recovery.release`` lifts it)."""
        return usage.quarantine_infos(self.quarantine)

    def set_quotas(self, quotas: Quotas) -> None:
        """New quotas, effective at once: everything that read the old ones
        (budgets and their buckets, quarantine, the error log's size, room
        reset jitter) reads the new ones. Per-call limits and caps (objects,
        callouts, state) are read from ``self.quotas`` at each use."""
        self.quotas = quotas
        self.budgets.set_quotas(quotas)
        self.quarantine.quotas = quotas
        self.error_log.resize(quotas.max_errors_kept)
        self.resets.jitter = quotas.reset_jitter

    # -- loading and cloning ----------------------------------------------------------

    def can_load(self, object_id: str) -> bool:
        """True if ``object_id`` names a blueprint whose master could be loaded."""
        if ids.is_clone(object_id) or ids.is_player(object_id):
            return False
        bp = self.blueprints.get(object_id)
        return bp is not None and bp.version is not None

    async def find(self, object_id: str) -> MudObject | None:
        """The live object, loading a blueprint's master object on first use."""
        obj = self.graph.get(object_id)
        if obj is None and self.can_load(object_id):
            obj = await self.load(object_id)
        return obj

    async def load(self, path: str) -> MudObject:
        """Create ``path``'s master object and run its ``on-load`` now.

        Masters load synchronously (not as a follow-up) because whoever asked
        for them — a player walking in, `goto`, a move — needs the state that
        ``on-load`` sets (`short`, `long`, `exits`) immediately.
        """
        existing = self.graph.get(path)
        if existing is not None:
            return existing
        bp = self.blueprints.get(path)
        if bp is None or bp.version is None:
            raise NoSuchBlueprint(path)
        obj = self._create(path, path)
        self.resets.set(obj.id, self.quotas.reset_interval_ms, self.clock())
        self.changes.resets.add(obj.id)
        await self._nested(functools.partial(self.run_hook, obj, Hook.ON_LOAD, ()))
        return obj

    async def _nested(self, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` and its follow-ups now, as an event inside the event.

        Loading a room is its own little event: what its ``on-load`` sets in
        motion (the clones it makes load, the things it moves in arrive) is
        done before whoever asked for the room looks at it."""
        outer, self.followups = self.followups, deque()
        try:
            await work()
            budget = self.quotas.max_followups_per_event
            while self.followups and budget > 0:
                budget -= 1
                await self.followups.popleft()()
        finally:
            leftovers, self.followups = self.followups, outer
            self.followups.extend(leftovers)

    async def clone(self, blueprint: str) -> MudObject:
        """Make a clone now and run its ``on-load`` (wizard `clone`)."""
        bp = self.blueprints.get(blueprint)
        if bp is None or bp.version is None:
            raise NoSuchBlueprint(blueprint)
        if len(self.graph) >= self.quotas.max_objects:
            raise QuotaExceeded(f"object quota reached ({self.quotas.max_objects})")
        obj = self._create(self.next_clone_id(blueprint), blueprint)
        await self.run_hook(obj, Hook.ON_LOAD, ())
        return obj

    def _create(self, object_id: str, blueprint: str) -> MudObject:
        bp = self.blueprints.by_path[blueprint]
        obj = self.graph.add(MudObject(object_id, blueprint, bp.version))
        self.touch(obj)
        assert bp.version is not None
        self.blueprints.pin(bp.version)
        if ids.is_clone(object_id):
            bp.clones_made += 1
        return obj

    def add_player(self, player_id: str, state: dict[str, bytes]) -> MudObject:
        obj = self.graph.get(player_id)
        if obj is None:
            obj = self.graph.add(MudObject(player_id, None, None))
        obj.state.update(state)
        self.touch(obj)
        return obj

    def destruct(self, obj: MudObject) -> None:
        """Take ``obj`` out of the world for good (its contents fall out)."""
        env = obj.env
        fallen = self.graph.remove(obj)
        self.changes.delete(obj.id)
        for handle in self.callouts.drop_object(obj.id):
            self.changes.callout_gone(handle)
        self.heartbeats.stop(obj.id)
        self.resets.stop(obj.id)
        self.budgets.forget(obj.id)
        if obj.version is not None:
            self.blueprints.unpin(obj.version)
        if env is not None:
            self.followup_hook(env, Hook.ON_LEAVE, (obj.id, None))
            for item in fallen:
                if item.is_player:
                    self.output.room_changed(item.id)

    # -- moving -----------------------------------------------------------------------

    def move(self, obj: MudObject, dest: MudObject | None) -> None:
        """Move ``obj`` and queue the hooks that follow from it."""
        old = self.graph.move(obj, dest)
        if old is dest:
            return
        old_id = old.id if old is not None else None
        dest_id = dest.id if dest is not None else None
        if old is not None:
            self.followup_hook(old, Hook.ON_LEAVE, (obj.id, dest_id))
            self._notify_watchers(old, obj, "leave", {"to": dest_id})
        if dest is not None:
            self.followup_hook(dest, Hook.ON_ENTER, (obj.id, old_id))
            self._notify_watchers(dest, obj, "arrive", {"from": old_id})
        if obj.is_player:
            self.output.room_changed(obj.id)

    def _notify_watchers(
        self, room: MudObject, mover: MudObject, kind: str, info: dict[str, Any]
    ) -> None:
        """lpMUD's init(): objects that set `hears` learn who comes and goes."""
        payload: bytes | None = None
        for other in room.contents or ():
            if other is mover or other.is_player or not other.flag("hears"):
                continue
            if payload is None:
                payload = cbor2.dumps(info)
            self.followup_hook(other, Hook.ON_MESSAGE, (mover.id, kind, payload))

    # -- hooks ------------------------------------------------------------------------

    def followup_hook(self, obj: MudObject, hook: Hook, args: Sequence[Any]) -> None:
        if obj.is_player:
            return
        target = obj.id

        async def event() -> None:
            live = self.graph.get(target)
            if live is not None:
                await self.run_hook(live, hook, args)

        self.followup(event)

    async def run_hook(self, obj: MudObject, hook: Hook, args: Sequence[Any]) -> Outcome | None:
        """Run one hook of ``obj`` and apply its outcome, all or nothing.
        None for players and for quarantined objects (nothing ran)."""
        if obj.blueprint is None or self.quarantine.holds(obj.id, obj.blueprint):
            return None
        bp = self.blueprints.by_path[obj.blueprint]
        current = bp.version
        assert current is not None
        if obj.version != current:
            await self._migrate(obj, current)
        outcome = await self.blueprints.runtime_of(bp).invoke(
            current, obj.id, hook, args, obj.state, self.quotas.limits, Txn(self), tenant=self.name
        )
        self.budgets.charge_fuel(obj.id, outcome.fuel_used)
        if outcome.logs:
            at = time.time()
            for level, text in outcome.logs:
                self.log.add(at, obj.id, level, text, obj.blueprint, current)
        if outcome.error is None:
            over = self.budgets.refuse(obj.id, outcome, self._state_size_after(obj, outcome))
            if over is not None:
                outcome = Outcome(
                    GuestError(ErrorKind.HOST_LIMIT, f"{obj.id}: {over}"),
                    fuel_used=outcome.fuel_used, wall_ms=outcome.wall_ms, logs=outcome.logs,
                )  # fmt: skip
        if outcome.error is not None:
            self._record_error(obj, hook, outcome)
            return outcome
        await self.apply(obj, outcome)
        return outcome

    def _state_size_after(self, obj: MudObject, outcome: Outcome) -> int:
        known = self.budgets.state_bytes.get(obj.id)
        if known is None:
            known = _state_size(obj.state)
            self.budgets.set_state_bytes(obj.id, known)
        for key, value in outcome.state_changes.items():
            old = obj.state.get(key)
            if old is not None:
                known -= len(key) + len(old)
            if value is not None:
                known += len(key) + len(value)
        return known

    async def _migrate(self, obj: MudObject, current: str) -> None:
        """Move ``obj`` to its blueprint's current version; on-reload runs first."""
        old = obj.version
        self.blueprints.pin(current)
        obj.version = current
        self.touch(obj)
        if old is not None:
            self.blueprints.unpin(old)
            await self.run_hook(obj, Hook.ON_RELOAD, (old,))

    def _record_error(self, obj: MudObject, hook: Hook, outcome: Outcome) -> None:
        error = outcome.error
        assert error is not None
        # Players get a friendly word and a reference; the details (which
        # mean nothing to them, and show the world's insides) go to the
        # error log and to the wizards, who find the record by its ref.
        ref = secrets.token_hex(3)
        actor = self.actor
        record = self._keep_error(GuestErrorRecord(
            time.time(), obj.id, hook, str(error.kind), error.message, ref, actor, obj.blueprint, obj.version,
        ))  # fmt: skip
        for caught in self.quarantine.strike(obj.id, obj.blueprint):
            why = f"{error.kind}: {error.message}"
            self._keep_error(GuestErrorRecord(
                time.time(), caught, hook, QUARANTINED, f"stopped after repeated failures (last: {why})",
                ref, actor, obj.blueprint, obj.version,
            ))  # fmt: skip
            self._quarantined(caught, why)
        if actor is not None:
            self.output.text(
                actor,
                f"{{red}}Something went wrong with {obj.short}; the wizards have been told. "
                f"(ref {ref}){{/}}\n",
            )
        if self.on_error is not None:
            self.on_error(record)

    def _keep_error(self, record: GuestErrorRecord) -> GuestErrorRecord:
        """Number and keep ``record``; it is saved with the next commit."""
        self.changes.errors = True
        return self.error_log.add(record)

    def _quarantined(self, name: str, why: str) -> None:
        self.stop_timers(name, f"stopped after repeated failures (last: {why})")

    def stop_timers(self, name: str, why: str) -> None:
        """``name`` (an object or a blueprint) is quarantined: its callouts and
        heartbeats go, and the wizards are told."""
        doomed = list(self.graph.by_blueprint(name))
        live = self.graph.get(name)
        if live is not None and live not in doomed:
            doomed.append(live)
        for obj in doomed:
            for handle in self.callouts.drop_object(obj.id):
                self.changes.callout_gone(handle)
            self.heartbeats.stop(obj.id)
        self.output.wizard_notice(
            f"{{yellow}}[quarantine] {name}: {why}. `release {name}` or a new version lifts it.{{/}}\n"
        )

    # -- applying outcomes -----------------------------------------------------------

    async def apply(self, obj: MudObject, outcome: Outcome) -> None:
        """Apply a successful outcome of a hook ``obj`` ran."""
        if outcome.state_changes:
            self.budgets.set_state_bytes(obj.id, self._state_size_after(obj, outcome))
            for key, value in outcome.state_changes.items():
                if value is None:
                    obj.state.pop(key, None)
                else:
                    obj.state[key] = value
            self.touch(obj)
        for effect in outcome.effects:
            await self._apply_effect(obj, effect)

    async def _apply_effect(self, obj: MudObject, effect: Effect) -> None:
        match effect:
            case Tell(target, text):
                if target not in self.graph and self.can_load(target):
                    # As lpMUD's call_other: telling a blueprint's master
                    # object (a daemon, say) loads it first.
                    await self.find(target)
                self.tell(obj, target, text)
            case Say(text):
                self.say(obj, text)
            case Emote(text):
                self.emote(obj, text)
            case Gmcp(target_id, package, data):
                player = self.graph.get(target_id)
                if player is not None and player.is_player:
                    self.output.gmcp(player.id, package, data)
            case ScheduleCallout(handle, method, delay_ms, payload):
                self.schedule_callout(handle, obj.id, method, delay_ms, payload)
            case CancelCallout(handle):
                if self.callouts.cancel(handle, owner=obj.id):
                    self.changes.callout_gone(handle)
            case SetHeartbeat(interval_ms):
                self.set_heartbeat(obj, interval_ms)
            case Clone(blueprint, new_id):
                clone = self._create(new_id, blueprint)
                self.followup_hook(clone, Hook.ON_LOAD, ())
            case Destruct(target_id):
                doomed = self.graph.get(target_id)
                if doomed is not None and not doomed.is_player:
                    self.destruct(doomed)
            case Move(target_id, dest_id):
                mover = self.graph.get(target_id)
                dest = await self.find(dest_id)
                if mover is not None and dest is not None and not self.graph.inside(dest, mover):
                    self.move(mover, dest)

    # -- messaging ----------------------------------------------------------------------

    def tell(self, sender: MudObject, target_id: str, text: str) -> None:
        target = self.graph.get(target_id)
        if target is None:
            return
        if target.is_player:
            self.output.text(target.id, text if text.endswith("\n") else text + "\n")
        else:
            self.followup_hook(target, Hook.ON_MESSAGE, (sender.id, "tell", cbor2.dumps(text)))

    def _broadcast(self, speaker: MudObject, kind: str, line: str, text: str) -> None:
        room = speaker.env
        if room is None:
            # A room (no environment) narrates to what it contains.
            room, line = speaker, text + "\n"
        payload: bytes | None = None
        # Once per listener in a crowded room: the bound method taken once,
        # and MudObject.is_player (a blueprint of None) tested inline.
        tell = self.output.text
        for other in room.contents or ():
            if other is speaker:
                continue
            if other.blueprint is None:
                tell(other.id, line)
            elif other.flag("hears"):
                if payload is None:
                    payload = cbor2.dumps(text)
                self.followup_hook(other, Hook.ON_MESSAGE, (speaker.id, kind, payload))

    def say(self, speaker: MudObject, text: str) -> None:
        self._broadcast(speaker, "say", f"{speaker.name} says: {text}\n", text)

    def emote(self, speaker: MudObject, text: str) -> None:
        self._broadcast(speaker, "emote", f"{speaker.name} {text}\n", text)

    # -- scheduling ------------------------------------------------------------------

    def schedule_callout(
        self, handle: int, object_id: str, method: str, delay_ms: int, args: bytes
    ) -> None:
        now = self.clock()
        callout = Callout(handle, object_id, method, args, now + delay_ms)
        self.changes.callout(handle)
        if delay_ms > 0 or self._zero_delay_this_turn >= self.quotas.max_zero_delay_per_turn:
            self.callouts.schedule(callout)
            return
        # Zero delay: a follow-up of the current event. It is registered by
        # handle (so it can still be cancelled) but kept off the timer heap.
        self._zero_delay_this_turn += 1
        self.callouts.by_handle[handle] = callout
        self.followup(functools.partial(self._fire, handle))

    async def _fire(self, handle: int) -> None:
        callout = self.callouts.by_handle.pop(handle, None)
        if callout is None:
            return  # cancelled
        self.changes.callout_gone(handle)
        await self._run_callout(callout)

    async def _run_callout(self, callout: Callout) -> None:
        obj = self.graph.get(callout.object_id)
        if obj is None or self.quarantine.holds(obj.id, obj.blueprint):
            return
        wait = self.budgets.fuel_wait_ms(obj.id)
        if wait > 0:
            # Over its fuel budget: the callout waits (still pending, still
            # cancellable, still saved) until the debt is paid.
            callout.due = self.clock() + wait
            self.budgets.note_fuel_wait(wait)
            self.callouts.schedule(callout)
            self.changes.callout(callout.handle)
            return
        await self.run_hook(obj, Hook.ON_CALLOUT, (callout.method, callout.args))

    def set_heartbeat(self, obj: MudObject, interval_ms: int) -> None:
        if interval_ms > 0:
            interval_ms = max(interval_ms, self.quotas.min_heartbeat_ms)
        obj.heartbeat_ms = interval_ms
        self.heartbeats.set(obj.id, interval_ms, self.clock())
        self.touch(obj)

    def next_due(self) -> float | None:
        dues = [
            d
            for d in (self.callouts.next_due(), self.heartbeats.next_due(), self.resets.next_due())
            if d is not None
        ]
        return min(dues) if dues else None

    def collect_due(self, now: float) -> None:
        """Queue the callouts, heartbeats and resets that are due, as long as
        the timer queue has room (the rest stay due on their heaps), and at
        most one heartbeat per object: missed beats are skipped."""
        if self.timers_paused:
            return
        room = self.quotas.max_queued_events - len(self.queue)
        if room <= 0:
            return
        for callout in self.callouts.pop_due(now):
            self.changes.callout_gone(callout.handle)
            self.queue.append(functools.partial(self._run_callout, callout))
            room -= 1
            if room <= 0:
                return
        for object_id in self.heartbeats.pop_due(now):
            if object_id in self.pending_heartbeats:
                continue  # the last beat has not run yet: skip this one
            self.pending_heartbeats.add(object_id)
            self.queue.append(functools.partial(self._heartbeat, object_id))
        for object_id in self.resets.pop_due(now):
            self.changes.resets.add(object_id)
            self.queue.append(functools.partial(self._periodic, object_id, Hook.RESET))

    async def _heartbeat(self, object_id: str) -> None:
        self.pending_heartbeats.discard(object_id)
        wait = self.budgets.fuel_wait_ms(object_id)
        if wait > 0:
            # Over its fuel budget: this beat is skipped (it waits a beat).
            obj = self.graph.get(object_id)
            self.budgets.note_fuel_wait(min(wait, obj.heartbeat_ms) if obj is not None else 0)
            return
        await self._periodic(object_id, Hook.HEARTBEAT)

    async def _periodic(self, object_id: str, hook: Hook) -> None:
        obj = self.graph.get(object_id)
        if obj is not None:
            await self.run_hook(obj, hook, ())

    # -- the event loop ------------------------------------------------------------------

    def enqueue(self, event: Event) -> bool:
        """Queue a timer's or the world's event. False (and nothing queued)
        when the queue is full."""
        if len(self.queue) >= self.quotas.max_queued_events:
            return False
        self.queue.append(event)
        self.has_work.set()
        return True

    def enqueue_command(self, player_id: str, event: Event, *, always: bool = False) -> bool:
        """Queue a player's event (a command, arriving, leaving). Players are
        served ahead of timers and messages. False (and nothing queued) only
        when this player already has too many waiting: their own flooding,
        never the world's load. ``always``: arriving and leaving are never refused."""
        pending = self.pending_commands.get(player_id, 0)
        if not always and pending >= self.quotas.max_pending_commands:
            return False
        self.pending_commands[player_id] = pending + 1
        self.commands.append((player_id, event))
        self.has_work.set()
        return True

    def followup(self, event: Event) -> None:
        self.followups.append(event)

    @property
    def busy(self) -> bool:
        return bool(self.commands or self.backlog or self.queue or self.followups)

    async def run_event(self, event: Event, deadline: float = math.inf) -> None:
        """Run one event and then its follow-ups, then release output.

        Follow-ups stop at the cap per event (the rest wait in the main queue
        like any event, so a ping-pong of messages cannot hold the tenant) or
        when the turn's time is up (the rest stay first in line, in order, for
        the next turn)."""
        self.in_event = True
        try:
            await event()
            self.events_run += 1
            await self._run_followups(deadline)
        finally:
            self.actor = None
            self.in_event = False
            self.end_event()

    async def _run_followups(self, deadline: float) -> None:
        budget = self.quotas.max_followups_per_event
        followups = self.followups
        while followups and budget > 0:
            if time.perf_counter() >= deadline:
                # The turn is over: the chain goes on later, in order, after
                # the players' commands that are waiting.
                self.backlog.extend(followups)
                followups.clear()
                return
            budget -= 1
            await followups.popleft()()
        while followups:
            self.queue.append(followups.popleft())

    def end_event(self) -> None:
        """The event and its follow-ups are complete: release what they said.

        With a committer (persistence), output is handed over with the
        changes and released only once they are durable; without one, the
        marks are dropped and output goes out at once."""
        outbox, self.outbox = self.outbox, []
        if self.committer is not None:
            self.committer.event_done(self, outbox)
            return
        if self.changes:
            self.changes = Changes()
        if outbox:
            self.output.release(outbox)

    async def run_turn(self, budget_ms: float | None = None) -> None:
        """Run queued events until the queue is empty or the turn's time is up.

        The time is checked between events and between follow-ups, so one
        tenant's turn is over within one hook call of its budget."""
        budget = self.quotas.turn_budget_ms if budget_ms is None else budget_ms
        deadline = time.perf_counter() + budget / 1000
        self._zero_delay_this_turn = 0
        if self.followups:
            # Work done outside any event (start-up, tools, tests) set these
            # in motion: they wait their turn like a cut-off chain.
            self.backlog.extend(self.followups)
            self.followups.clear()
        commands, backlog, queue = self.commands, self.backlog, self.queue
        while (commands or backlog or queue) and time.perf_counter() < deadline:
            if commands:
                player_id, event = commands.popleft()
                pending = self.pending_commands
                left = pending.get(player_id, 0) - 1
                if left > 0:
                    pending[player_id] = left
                else:
                    pending.pop(player_id, None)
                await self.run_event(event, deadline)
            elif backlog:
                # Go on with a chain an earlier turn cut off: its follow-ups
                # are this event's, first in line.
                self.followups, self.backlog = backlog, deque()
                backlog = self.backlog
                await self.run_event(_nothing, deadline)
            else:
                await self.run_event(queue.popleft(), deadline)


async def _nothing() -> None:
    """The empty event: its follow-ups are the work."""


def _state_size(state: Mapping[str, bytes]) -> int:
    return sum(len(k) + len(v) for k, v in state.items())
