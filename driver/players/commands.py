"""The command interpreter: a player's line of input, start to finish.

A line is first offered to world objects near the player (their inventory,
then the room, then the room's other contents), each through its
``on-command`` hook; the first that returns true has handled it. Objects can
list the verbs they care about in their ``verbs`` state key, so the driver
skips the wasm call for any other verb. Only then do the built-in commands
get the line, then the socials (:mod:`driver.players.socials`). Unknown
input gets "What?" and, when it is one slip away from a command or verb the
player could have meant, the suggestion ("did you mean"): nothing else
happens, so a typo never does something unintended.

Players name things as in any MUD: ``get all``, ``drop 2 coins``, ``get
all.coin from satchel``; identical things are listed once ("two silver
coins"). That grammar is :mod:`driver.players.nouns`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import cbor2

from driver.net.ansi import escape
from driver.players import nouns
from driver.players.nouns import FILLER_WORDS, noun_of
from driver.players.socials import SOCIALS, Social, render
from driver.tenancy import guestlog, recovery
from driver.tenancy.errors import NoSuchBlueprint, WorldError
from driver.world import ids
from driver.world.objects import MudObject
from sandbox.build.lint import read_hooks
from sandbox.protocol import AdmissionError, CompileError, Hook

if TYPE_CHECKING:
    from driver.tenancy.tenant import Tenant

DIRECTIONS = {
    "n": "north", "s": "south", "e": "east", "w": "west",
    "ne": "northeast", "nw": "northwest", "se": "southeast", "sw": "southwest",
    "u": "up", "d": "down",
}
ALL_DIRECTIONS = set(DIRECTIONS.values()) | {"in", "out"}


class Console(Protocol):
    """What commands need from the session layer."""

    def text(self, player_id: str, text: str) -> None: ...
    def is_wizard(self, player_id: str) -> bool: ...
    def is_admin(self, player_id: str) -> bool: ...  # the world's admin (moderation)
    def online(self) -> list[tuple[str, float]]: ...  # (player id, idle seconds)
    def linkdead(self) -> list[str]: ...  # player ids whose connection was lost
    def is_linkdead(self, player_id: str) -> bool: ...
    def connected_for(self, player_id: str) -> float: ...  # seconds since login
    def vitals(self, player_id: str) -> dict[str, Any] | None: ...  # last Char.Vitals sent
    def quit(self, player_id: str) -> None: ...
    async def reload(self, blueprint: str) -> str: ...  # recompile + publish; returns a report
    def spawn(self, job: Callable[[], Awaitable[None]]) -> None: ...  # work outside any event


@dataclass(slots=True)
class Context:
    tenant: Tenant
    console: Console
    player: MudObject
    verb: str
    args: str
    commands: Commands | None = field(default=None, repr=False)

    def say(self, text: str) -> None:
        self.console.text(self.player.id, text if text.endswith("\n") else text + "\n")


Builtin = Callable[[Context], Awaitable[None]]


class Commands:
    """The built-in commands and the order in which a line is offered around."""

    def __init__(self, console: Console) -> None:
        self.console = console
        #: Who last told each player something: whom their ``reply`` answers.
        self.reply_to: dict[str, str] = {}
        self.builtins: dict[str, Builtin] = {}
        self.wizard: dict[str, Builtin] = {}
        # The admins' commands (driver.players.moderation, plugged in by the gateway).
        self.admin: dict[str, Builtin] = {}
        self.admin_help = ""
        for verb, fn in _PLAYER_COMMANDS.items():
            self.builtins[verb] = fn
        for verb, fn in _WIZARD_COMMANDS.items():
            self.wizard[verb] = fn

    # -- dispatch -----------------------------------------------------------------------

    async def handle(self, tenant: Tenant, player: MudObject, line: str) -> None:
        line = line.strip()
        if not line:
            return
        # lpMUD shorthands: 'hello == say hello, :waves == emote waves.
        if line[0] == "'":
            line = "say " + line[1:]
        elif line[0] == ":":
            line = "emote " + line[1:]
        verb, _, args = line.partition(" ")
        verb = verb.lower()
        args = args.strip()
        if await self._offer(tenant, player, verb, args):
            return
        ctx = Context(tenant, self.console, player, verb, args, self)
        fn = self.builtins.get(verb)
        if fn is None and self.console.is_wizard(player.id):
            fn = self.wizard.get(verb)
        if fn is None and self.console.is_admin(player.id):
            fn = self.admin.get(verb)
        if fn is None and (verb in DIRECTIONS or verb in ALL_DIRECTIONS):
            ctx.args = DIRECTIONS.get(verb, verb)
            fn = _go
        if fn is None and verb in SOCIALS:
            _social(ctx, SOCIALS[verb])
            return
        if fn is None:
            guess = nouns.near_miss(verb, self.known_verbs(player))
            ctx.say("What?" + (f" Did you mean {{bold}}{escape(guess)}{{/}}?" if guess else ""))
            return
        await fn(ctx)

    def known_verbs(self, player: MudObject) -> set[str]:
        """Every verb ``player`` could type here: built-in commands, socials,
        directions, and the verbs of the things around them."""
        known = set(self.builtins) | set(SOCIALS) | ALL_DIRECTIONS
        if self.console.is_wizard(player.id):
            known |= set(self.wizard)
        if self.console.is_admin(player.id):
            known |= set(self.admin)
        room = player.env
        nearby = [*(player.contents or ()), *([room] if room else []), *(room.contents or () if room else ())]
        for obj in nearby:
            verbs = obj.verbs()
            if verbs is not None and not obj.is_player:
                known |= verbs
        return known

    async def _offer(self, tenant: Tenant, player: MudObject, verb: str, args: str) -> bool:
        """Offer the line to nearby objects; True if one handled it."""
        # Players (a blueprint of None; the player among them) are not
        # offered anything: left out as the list is made, since a crowded
        # room is mostly players and this runs for every command.
        candidates = [o for o in player.contents or () if o.blueprint is not None]
        room = player.env
        if room is not None:
            if room.blueprint is not None:
                candidates.append(room)
            candidates += [o for o in room.contents or () if o.blueprint is not None]
        for obj in candidates:
            verbs = obj.verbs() if _up_to_date(tenant, obj) else None
            if verbs is not None and verb not in verbs:
                continue
            if obj.id not in tenant.graph:
                continue  # destroyed by an earlier candidate's effects
            outcome = await tenant.run_hook(obj, Hook.ON_COMMAND, (player.id, verb, args))
            if outcome is None:
                continue
            if outcome.error is not None:
                return True  # the failure was reported to the player; stop here
            if outcome.result:
                return True
        return False


def _up_to_date(tenant: Tenant, obj: MudObject) -> bool:
    """Whether ``obj`` runs its blueprint's current version. One that does
    not (just reloaded, its move still queued) is offered every verb: its
    `verbs` are the old version's, and the hook that answers moves it to the
    new one first (on-reload and describe, then on-command)."""
    bp = tenant.blueprints.get(obj.blueprint) if obj.blueprint is not None else None
    return bp is None or bp.version is None or obj.version == bp.version


# -- matching ------------------------------------------------------------------------------

# FILLER_WORDS and noun_of live in driver.players.nouns; named here too,
# where callers have always found them.
__all__ = ["FILLER_WORDS", "Commands", "Console", "Context", "describe_room", "noun_of"]

_match = nouns.match_one


def _visible(ctx: Context) -> list[MudObject]:
    room = ctx.player.env
    here = [o for o in (room.contents or ()) if o is not ctx.player] if room else []
    return list(ctx.player.contents or ()) + here


def _list_names(objects: list[MudObject]) -> str:
    return ", ".join(nouns.stack_phrase(group) for group in nouns.stacks(objects))


def _visible_names(ctx: Context) -> set[str]:
    """Every noun that names something the player can see: things, people
    and the scenery of the room and of the things (for "did you mean")."""
    names: set[str] = set()
    for obj in _visible(ctx):
        names.update(obj.nouns())
        names.add(obj.name.lower())
        names.update(_details_of(obj))
    names.update(_details_of(ctx.player.env))
    return names


def _not_here(ctx: Context, what: str, where: str = "here") -> str:
    """"You see no wel here." and, for a near miss, "Did you mean well?"."""
    noun = noun_of(what) or what
    guess = None
    words = noun.split()
    if words:
        guess = nouns.near_miss(words[-1], _visible_names(ctx))
    hint = f" Did you mean {{bold}}{escape(' '.join([*words[:-1], guess]))}{{/}}?" if guess else ""
    return f"You see no {escape(noun)} {where}.{hint}"


# -- player commands -------------------------------------------------------------------

def describe_room(
    room: MudObject | None,
    viewer: MudObject,
    *,
    stack: bool = False,
    linkdead: Callable[[str], bool] | None = None,
) -> str:
    """What ``viewer`` sees of ``room``: its name, description and exits,
    then what and who else is there.

    ``stack``: identical things are one line ("two silver coins"), as
    players see them; without, one line per thing. ``linkdead``: whether a
    player (by id) has lost their connection; their line says so.

    In a crowded room this runs for every look and every arrival, and the
    text is the same for everyone but for the viewer's own line. So the
    parts are kept (see :func:`_room_head`, :func:`_object_line`), keyed by
    the very state values they are made of: a room whose state changes, or
    a player who renames, simply makes new keys, and nothing is ever stale.
    The lines are also what :mod:`driver.net.render` renders once per kind
    of client.
    """
    if room is None:
        return "You are nowhere at all. (Try `goto` or ask a wizard.)\n"
    lines = [_room_head(room)]
    players: list[str] = []
    # Stacks by blueprint and the raw bytes of `short`: no decoding to group.
    groups: dict[tuple[str, bytes | None], list[MudObject]] = {}
    for obj in room.contents or ():
        if obj is viewer:
            continue
        if obj.blueprint is None:  # a player
            if linkdead is not None and linkdead(obj.id):
                players.append(_linkdead_line(obj))
            else:
                players.append(_object_line(obj, _PLAYER_LINES, "name", _player_line))
        elif stack:
            groups.setdefault((obj.blueprint, obj.state.get("short")), []).append(obj)
        else:
            lines.append(_object_line(obj, _ITEM_LINES, "short", _item_line))
    for group in groups.values():  # in the order each stack's first thing came
        if len(group) == 1:
            lines.append(_object_line(group[0], _ITEM_LINES, "short", _item_line))
        else:
            lines.append("  " + nouns.stack_phrase(group))
    lines += players
    lines.append("")
    return "\n".join(lines)


# Bounded caches of the parts of a room's description. A key holds the
# state values (CBOR bytes) the text is made of, so it is always right; the
# bound only limits memory, and clearing costs a recomputation.
_MAX_CACHED = 4096
_HEADS: dict[tuple[str, bytes | None, bytes | None, bytes | None, bytes | None], str] = {}
_PLAYER_LINES: dict[bytes, str] = {}  # by the player's `name`
_ITEM_LINES: dict[bytes, str] = {}  # by the thing's `short`


def _room_head(room: MudObject) -> str:
    """The room's name, description and exits, as markup lines."""
    state = room.state
    key = (room.id, state.get("short"), state.get("name"), state.get("long"), state.get("exits"))
    head = _HEADS.get(key)
    if head is None:
        lines = [f"{{bold cyan}}{room.short}{{/}}"]
        long = room.text("long")
        if long:
            lines.append(long.rstrip())
        exits = room.exits()
        lines.append("{green}Obvious exits: " + (", ".join(exits) if exits else "none") + ".{/}")
        head = "\n".join(lines)
        if len(_HEADS) >= _MAX_CACHED:
            _HEADS.clear()
        _HEADS[key] = head
    return head


def _player_line(obj: MudObject) -> str:
    return f"  {{yellow}}{obj.name} is here.{{/}}"


def _linkdead_line(obj: MudObject) -> str:
    return f"  {{yellow}}{obj.name} is here.{{/}} {{dim}}(link-dead){{/}}"


def _item_line(obj: MudObject) -> str:
    return f"  {obj.short}"


def _object_line(
    obj: MudObject, cache: dict[bytes, str], key_name: str, make: Callable[[MudObject], str]
) -> str:
    # A player's line is made of its `name`, a thing's of its `short`, when
    # that is text that is not empty; the value (CBOR bytes, as stored) is
    # the key. Otherwise the line falls back on other keys or the id, and
    # is made every time.
    raw = obj.state.get(key_name)
    if raw is None:
        return make(obj)
    line = cache.get(raw)
    if line is None:
        line = make(obj)
        if obj.text(key_name):
            if len(cache) >= _MAX_CACHED:
                cache.clear()
            cache[raw] = line
    return line


async def _look(ctx: Context) -> None:
    args = ctx.args
    if not args:
        console = ctx.console
        ctx.say(describe_room(ctx.player.env, ctx.player, stack=True, linkdead=console.is_linkdead))
        return
    args = noun_of(args) or args
    visible = _visible(ctx)
    target = _match(args, visible)
    if target is None:
        # "look at coins": the plural names them too.
        found = nouns.select(nouns.Selection(args, count=1), visible)
        target = found[0] if found else None
    if target is None:
        detail = _detail(ctx.player.env, args)
        for obj in visible:
            if detail is None and not obj.is_player:
                detail = _detail(obj, args)
        ctx.say(detail if detail is not None else _not_here(ctx, args))
        return
    text = target.text("long") or f"You see nothing special about {target.short}."
    if target.contents and not target.is_player:
        text = text.rstrip() + "\nIt contains: " + _list_names(target.contents) + "."
    if target.is_player:
        carried = target.contents or []
        text = f"{target.name}, an adventurer." + (
            "\nCarrying: " + _list_names(carried) + "." if carried else ""
        )
        if ctx.console.is_linkdead(target.id):
            text += f"\n{target.name} has lost their link and stares into space."
    ctx.say(text)


def _details_of(obj: MudObject | None) -> dict[str, str]:
    """An object's scenery: its `details` map (noun -> text). Rooms have
    them, and so may things ("the hilt" of a sword). A key may name
    several nouns, ``"bench|benches"``, as declarative rooms write them."""
    if obj is None:
        return {}
    details = obj.get("details")
    if not isinstance(details, dict):
        return {}
    found: dict[str, str] = {}
    for key, text in details.items():
        if isinstance(key, str) and isinstance(text, str):
            for noun in key.split("|"):
                found.setdefault(noun.strip().lower(), text)
    return found


def _detail(obj: MudObject | None, noun: str) -> str | None:
    """The scenery ``noun`` names in ``obj``'s `details`, if any: as typed,
    or in the singular or plural ("look at barrel" when the key is
    "barrels")."""
    details = _details_of(obj)
    if not details:
        return None
    noun = noun_of(noun)
    words = noun.split()
    if not words:
        return None
    head = words[:-1]
    for last in (words[-1], nouns.singular_word(words[-1]), nouns.plural_word(words[-1])):
        text = details.get(" ".join([*head, last]))
        if text is not None:
            return text
    return None


async def _examine(ctx: Context) -> None:
    if not ctx.args:
        ctx.say("Examine what?")
        return
    await _look(ctx)


async def _go(ctx: Context) -> None:
    direction = DIRECTIONS.get(ctx.args.lower(), ctx.args.lower())
    room = ctx.player.env
    if not direction:
        ctx.say("Go where?")
        return
    dest_id = room.exits().get(direction) if room else None
    if dest_id is None:
        ctx.say("You can't go that way.")
        return
    tenant = ctx.tenant
    dest = await tenant.find(dest_id)
    if dest is None:
        ctx.say("That way is blocked (the room beyond does not exist).")
        tenant.log.add(time.time(), room.id if room else "-", "warn", f"exit {direction} -> missing {dest_id}",
                       room.blueprint if room else None, room.version if room else None)
        return
    name = ctx.player.name
    if room is not None:
        for other in room.contents or ():
            if other.is_player and other is not ctx.player:
                ctx.console.text(other.id, f"{name} leaves {direction}.\n")
    tenant.move(ctx.player, dest)
    for other in dest.contents or ():
        if other.is_player and other is not ctx.player:
            ctx.console.text(other.id, f"{name} arrives.\n")


async def _say(ctx: Context) -> None:
    if not ctx.args:
        ctx.say("Say what?")
        return
    text = escape(ctx.args)
    ctx.say(f"You say: {text}")
    ctx.tenant.say(ctx.player, text)


async def _emote(ctx: Context) -> None:
    if not ctx.args:
        ctx.say("Emote what?")
        return
    text = escape(ctx.args)
    ctx.say(f"You emote: {ctx.player.name} {text}")
    ctx.tenant.emote(ctx.player, text)


async def _tell(ctx: Context) -> None:
    who, _, text = ctx.args.partition(" ")
    if not who or not text.strip():
        ctx.say("Tell whom what? (tell <player> <message>)")
        return
    _tell_player(ctx, ids.player_id(who), who, text)


def _tell_player(ctx: Context, target_id: str, who: str, text: str) -> None:
    target = ctx.tenant.graph.get(target_id) if target_id else None
    online = {pid for pid, _ in ctx.console.online()}
    if target is None or target.id not in online:
        ctx.say(f"No one called {escape(who)} is playing.")
        return
    ctx.console.text(target.id, f"{{magenta}}{ctx.player.name} tells you: {escape(text.strip())}{{/}}\n")
    ctx.say(f"{{magenta}}You tell {target.name}: {escape(text.strip())}{{/}}")
    if ctx.commands is not None:
        ctx.commands.reply_to[target.id] = ctx.player.id


async def _reply(ctx: Context) -> None:
    last = ctx.commands.reply_to.get(ctx.player.id) if ctx.commands is not None else None
    if last is None:
        ctx.say("No one has told you anything to reply to.")
        return
    other = ctx.tenant.graph.get(last)
    name = other.name if other is not None else last.rsplit("/", 1)[-1].capitalize()
    if not ctx.args.strip():
        ctx.say(f"Reply what to {escape(name)}? (reply <message>)")
        return
    _tell_player(ctx, last, name, ctx.args)


async def _who(ctx: Context) -> None:
    rows = ctx.console.online()
    lines = [f"{{bold}}{len(rows)} player{'s' if len(rows) != 1 else ''} online:{{/}}"]
    for pid, idle in sorted(rows):
        obj = ctx.tenant.graph.get(pid)
        name = obj.name if obj else pid
        wiz = " (wizard)" if ctx.console.is_wizard(pid) else ""
        idle_note = f" idle {int(idle // 60)}m" if idle >= 60 else ""
        lines.append(f"  {name}{wiz}{idle_note}")
    # Bodies whose player lost the connection are still in the world.
    for pid in sorted(ctx.console.linkdead()):
        obj = ctx.tenant.graph.get(pid)
        name = obj.name if obj else pid.rsplit("/", 1)[-1].capitalize()
        lines.append(f"  {name} {{dim}}(link-dead){{/}}")
    ctx.say("\n".join(lines))


async def _inventory(ctx: Context) -> None:
    items = ctx.player.contents or []
    if not items:
        ctx.say("You are empty-handed.")
    else:
        groups = nouns.stacks(items)
        ctx.say("You are carrying:\n" + "\n".join(f"  {nouns.stack_phrase(g)}" for g in groups))


async def _get(ctx: Context) -> None:
    args = ctx.args
    if not args:
        ctx.say("Get what?")
        return
    source: MudObject | None = ctx.player.env
    from_container = False
    if " from " in f" {args}":
        args, _, container_noun = f" {args}".partition(" from ")
        args = args.strip()
        source = _match(container_noun, _visible(ctx))
        if source is None or source.is_player:
            ctx.say(_not_here(ctx, container_noun))
            return
        from_container = True
    pool = [o for o in (source.contents or ()) if o is not ctx.player] if source else []
    selection = nouns.parse_selection(args or "all")
    chosen = nouns.select(selection, pool)
    if not chosen:
        if selection.every and not selection.noun:
            ctx.say(f"There is nothing in {source.short}." if from_container and source else "There is nothing here.")
        else:
            ctx.say(_not_here(ctx, selection.noun or args, "there"))
        return
    takeable = [o for o in chosen if not o.is_player and o.flag("gettable", True)]
    if not takeable:
        ctx.say(f"You can't take {_list_names(chosen) if len(chosen) == 1 else 'any of that'}.")
        return
    for obj in takeable:
        ctx.tenant.move(obj, ctx.player)
    taken = nouns.list_phrase(takeable)
    ctx.say(f"You take {taken}.")
    _tell_room(ctx, f"{ctx.player.name} takes {taken}.")
    _short_of(ctx, selection, takeable)


def _not_carried(ctx: Context, what: str) -> str:
    """"You have no swrod." and, for a near miss, "Did you mean sword?"."""
    noun = noun_of(what) or what
    carried: set[str] = set()
    for obj in ctx.player.contents or ():
        carried.update(obj.nouns())
    words = noun.split()
    guess = nouns.near_miss(nouns.singular_word(words[-1]), carried) if words else None
    hint = f" Did you mean {{bold}}{escape(guess)}{{/}}?" if guess else ""
    return f"You have no {escape(noun)}.{hint}"


def _short_of(ctx: Context, selection: nouns.Selection, done: list[MudObject]) -> None:
    """"drop 3 coins" with two: say so, after doing what could be done."""
    if selection.count is not None and len(done) < selection.count:
        was = "was" if len(done) == 1 else "were"
        ctx.say(f"(There {was} only {nouns.count_word(len(done))}.)")


async def _drop(ctx: Context) -> None:
    args = ctx.args
    if not args:
        ctx.say("Drop what?")
        return
    selection = nouns.parse_selection(args)
    chosen = nouns.select(selection, list(ctx.player.contents or ()))
    if not chosen:
        if selection.every and not selection.noun:
            ctx.say("You are empty-handed.")
        else:
            ctx.say(_not_carried(ctx, selection.noun or args))
        return
    room = ctx.player.env
    if room is None:
        ctx.say("There is nowhere to drop it.")
        return
    for obj in chosen:
        ctx.tenant.move(obj, room)
    dropped = nouns.list_phrase(chosen)
    ctx.say(f"You drop {dropped}.")
    _tell_room(ctx, f"{ctx.player.name} drops {dropped}.")
    _short_of(ctx, selection, chosen)


async def _put(ctx: Context) -> None:
    what, sep, where = ctx.args.partition(" in ")
    if not sep:
        what, sep, where = ctx.args.partition(" into ")
    if not sep or not what or not where:
        ctx.say("Put what in what? (put <thing> in <container>)")
        return
    container = _match(where, _visible(ctx))
    selection = nouns.parse_selection(what)
    carried = [o for o in ctx.player.contents or () if o is not container]
    chosen = nouns.select(selection, carried)
    if not chosen:
        ctx.say(_not_carried(ctx, selection.noun or what))
        return
    if container is None or not container.flag("container"):
        ctx.say(f"You can't put things in {escape(where)}.")
        return
    for obj in chosen:
        ctx.tenant.move(obj, container)
    ctx.say(f"You put {nouns.list_phrase(chosen)} in {container.short}.")
    _short_of(ctx, selection, chosen)


async def _give(ctx: Context) -> None:
    what, sep, whom = ctx.args.partition(" to ")
    if not sep:
        ctx.say("Give what to whom? (give <thing> to <player>)")
        return
    selection = nouns.parse_selection(what)
    chosen = nouns.select(selection, list(ctx.player.contents or ()))
    if not chosen:
        ctx.say(_not_carried(ctx, selection.noun or what))
        return
    room = ctx.player.env
    others = [o for o in (room.contents or ()) if o is not ctx.player] if room else []
    target = _match(whom, others)
    if target is None:
        ctx.say(f"{escape(whom).capitalize()} is not here.")
        return
    for obj in chosen:
        ctx.tenant.move(obj, target)
    given = nouns.list_phrase(chosen)
    ctx.say(f"You give {given} to {target.name}.")
    if target.is_player:
        ctx.console.text(target.id, f"{ctx.player.name} gives you {given}.\n")
    _short_of(ctx, selection, chosen)


async def _score(ctx: Context) -> None:
    player, console = ctx.player, ctx.console
    rank = "a wizard" if console.is_wizard(player.id) else "an adventurer"
    room = player.env
    carried = list(player.contents or ())
    minutes = int(console.connected_for(player.id) // 60)
    lines = [
        f"{{bold}}{player.name}{{/}}, {rank}.",
        f"  Location:  {room.short if room else 'nowhere'}",
        f"  Carrying:  {_list_names(carried) if carried else 'nothing'}",
        f"  Playing:   {minutes} minute{'s' if minutes != 1 else ''} this session",
    ]
    vitals = console.vitals(player.id)
    for label, key in (("Health", "hp"), ("Stamina", "sp"), ("Mana", "mp")):
        if vitals and key in vitals and f"max{key}" in vitals:
            lines.append(f"  {label + ':':<10} {vitals[key]} / {vitals['max' + key]}")
    ctx.say("\n".join(lines))


def _social(ctx: Context, social: Social) -> None:
    """A social: to the actor, the target (a player or an NPC here) and the room."""
    actor = ctx.player.name
    if not ctx.args:
        if not social.alone_room:  # one that needs someone: "Poke whom?"
            ctx.say(social.alone_self)
            return
        ctx.say(social.alone_self)
        _room_sees(ctx, render(social.alone_room, actor), except_id=None)
        return
    room = ctx.player.env
    others = [o for o in (room.contents or ()) if o is not ctx.player] if room else []
    target = _match(ctx.args, others)
    if target is None:
        ctx.say(_not_here(ctx, ctx.args))
        return
    name = target.name if target.is_player or target.name[:1].isupper() else target.short
    ctx.say(render(social.at_self, actor, name))
    if target.is_player:
        ctx.console.text(target.id, render(social.at_target, actor, name) + "\n")
    _room_sees(ctx, render(social.at_room, actor, name), except_id=target.id)


def _room_sees(ctx: Context, line: str, except_id: str | None) -> None:
    """``line`` (a whole sentence, "Ann smiles.") for everyone else in the
    room; objects that hear get it as an emote, as for `emote`."""
    room = ctx.player.env
    if room is None:
        return
    actor = ctx.player
    emote = line[len(actor.name) + 1 :] if line.startswith(actor.name + " ") else line
    payload: bytes | None = None
    for other in room.contents or ():
        if other is actor or other.id == except_id:
            continue
        if other.is_player:
            ctx.console.text(other.id, line + "\n")
        elif other.flag("hears"):
            payload = payload if payload is not None else cbor2.dumps(emote)
            ctx.tenant.followup_hook(other, Hook.ON_MESSAGE, (actor.id, "emote", payload))


def _tell_room(ctx: Context, text: str) -> None:
    room = ctx.player.env
    for other in (room.contents or ()) if room else ():
        if other.is_player and other is not ctx.player:
            ctx.console.text(other.id, text + "\n")


HELP = """{bold}Commands{/}
  look (l)                 look around; `look at <thing>` (or `x <thing>`) to examine
  north, south, ... (n, s) walk; also `go <direction>`
  say <text>  ('<text>)    speak to the room
  emote <text> (:<text>)   act: `:waves` shows "Name waves"
  tell <player> <text>     a private message; `reply <text>` answers the last one
  get/take <thing>         pick something up (`get coin from bag`, `get all`)
  drop <thing>             put it down (`drop 2 coins`, `drop all.coin`, `drop all`)
  put <thing> in <thing>   fill a bag
  give <thing> to <who>    hand something over
  inventory (i)            what you carry
  score                    who you are and how you fare
  smile, nod, wave, ...    socials, alone or at someone: `wave at marta`
                           (also grin laugh chuckle giggle shrug bow sigh wink
                           cheer clap frown blush yawn hug poke thank comfort)
  who                      who is playing
  quit                     leave (your character stays safe)
Things in the world may understand more: try what seems natural."""

WIZHELP = """{bold}Wizard commands{/}
  clone <blueprint>        make a clone (`clone /obj/sword`; a new source file is built first)
  destruct <id>            destroy an object
  stat <id>                an object's record: blueprint, version, hooks, state, callouts
  blueprints               every blueprint, its versions and clones
  reload <blueprint>       recompile and hot-swap, or load a new file (alias: update)
  goto <room>              go anywhere (`goto /rooms/meadow`)
  callouts                 pending callouts
  callouts cancel <id|bp>  cancel every callout of an object or of a blueprint's objects
  purge <blueprint>        destruct every clone of a blueprint
  quarantine [<id|bp>]     list quarantined things, or stop an object or blueprint
  release <id|bp>          lift a quarantine (a new version lifts it too)
  timers [pause|resume]    hold or release the world's timers
  errors [<ref>]           recent guest errors, or the one a player's (ref ...) names
  logs [<bp>] [<level>]    what world code logged (`logs /obj/lever warn`)"""


async def _help(ctx: Context) -> None:
    ctx.say(HELP + ("\n" + WIZHELP if ctx.console.is_wizard(ctx.player.id) else ""))
    if ctx.commands is not None and ctx.commands.admin_help and ctx.console.is_admin(ctx.player.id):
        ctx.say(ctx.commands.admin_help)


async def _quit(ctx: Context) -> None:
    ctx.say("Farewell. Your belongings are kept safe until you return.")
    ctx.console.quit(ctx.player.id)


_PLAYER_COMMANDS: dict[str, Builtin] = {
    "look": _look, "l": _look, "examine": _examine, "exa": _examine, "x": _examine, "go": _go, "say": _say, "emote": _emote, "tell": _tell,
    "who": _who, "inventory": _inventory, "i": _inventory, "inv": _inventory,
    "get": _get, "take": _get, "drop": _drop, "put": _put, "give": _give,
    "help": _help, "quit": _quit, "reply": _reply, "r": _reply, "score": _score, "sc": _score,
}


# -- wizard commands ---------------------------------------------------------------------

async def _resolve(ctx: Context, ref: str) -> MudObject | None:
    """An object by id, by blueprint path (loading it), `here`, `me`, or by noun."""
    ref = ref.strip()
    if ref in ("here", "room"):
        return ctx.player.env
    if ref == "me":
        return ctx.player
    tenant = ctx.tenant
    try:
        _, object_id = ids.split_qualified(ref, tenant.name)
    except ids.BadId:
        return None
    obj = tenant.graph.get(object_id)
    if obj is None and object_id.startswith("/") and not ids.is_clone(object_id):
        try:
            obj = await tenant.find(ids.normalize_blueprint(object_id))
        except ids.BadId:
            obj = None
    return obj or _match(ref, _visible(ctx))


async def _clone(ctx: Context) -> None:
    if not ctx.args:
        ctx.say("Clone what? (clone /obj/sword)")
        return
    try:
        path = ids.normalize_blueprint(ctx.args)
        obj = await ctx.tenant.clone(path)
    except NoSuchBlueprint as exc:
        if ctx.tenant.blueprints.get(exc.path) is None:
            _clone_new(ctx, exc.path)  # perhaps a new file, never built: build it first
        else:
            ctx.say(f"Cannot clone: {escape(str(exc))}")
        return
    except (ids.BadId, WorldError) as exc:
        ctx.say(f"Cannot clone: {escape(str(exc).strip(chr(39)))}")
        return
    _place_clone(ctx, obj)


def _place_clone(ctx: Context, obj: MudObject) -> None:
    dest = ctx.player if obj.flag("gettable", True) else ctx.player.env
    if dest is not None:
        ctx.tenant.move(obj, dest)
    ctx.say(f"Cloned {obj.id} ({obj.short}) into {'your inventory' if dest is ctx.player else 'the room'}.")


def _clone_new(ctx: Context, path: str) -> None:
    """`clone` of a blueprint the world does not have: if its source is in
    the world directory, build and load it (off the event, as `reload`
    does), then clone it in an event of its own."""
    console, tenant, player = ctx.console, ctx.tenant, ctx.player

    async def job() -> None:
        try:
            report = await console.reload(path)
        except CompileError as exc:
            report = f"{{red}}Compile error, {path} was not loaded:{{/}}\n{escape(str(exc))}"
        except (AdmissionError, WorldError, OSError) as exc:
            report = f"{{red}}Cannot clone: {escape(str(exc))}{{/}}"
        else:

            async def cloned() -> None:
                console.text(player.id, escape(report) + "\n")
                try:
                    obj = await tenant.clone(path)
                except WorldError as exc:
                    console.text(player.id, f"Cannot clone: {escape(str(exc))}\n")
                    return
                _place_clone(Context(tenant, console, player, "clone", path), obj)

            tenant.enqueue_command(player.id, cloned, always=True)
            return

        async def tell() -> None:
            console.text(player.id, report + "\n")

        tenant.enqueue_command(player.id, tell, always=True)

    ctx.say(f"{path} is not loaded; looking for its source...")
    console.spawn(job)


async def _destruct(ctx: Context) -> None:
    obj = await _resolve(ctx, ctx.args) if ctx.args else None
    if obj is None:
        ctx.say(f"No such object: {escape(ctx.args)}")
        return
    if obj.is_player:
        ctx.say("Players cannot be destructed.")
        return
    ctx.tenant.destruct(obj)
    ctx.say(f"Destructed {obj.id}.")


async def _stat(ctx: Context) -> None:
    obj = await _resolve(ctx, ctx.args or "here")
    if obj is None:
        ctx.say(f"No such object: {escape(ctx.args)}")
        return
    tenant = ctx.tenant
    bp = tenant.blueprints.get(obj.blueprint) if obj.blueprint else None
    lines = [f"{{bold}}{obj.id}{{/}}  ({tenant.name}:{obj.id})"]
    if bp is None:
        lines.append("  blueprint:   (player)")
    else:
        stale = "" if obj.version == bp.version else f" (runs {bp.short_version} on next hook)"
        lines.append(f"  blueprint:   {bp.path} [{bp.language}]")
        lines.append(f"  version:     {(obj.version or '-')[:12]}{stale}")
    lines.append(f"  environment: {obj.env.id if obj.env else '-'}")
    lines.append(f"  contents:    {', '.join(o.id for o in obj.contents or ()) or '-'}")
    hooks = await _hooks_of(tenant, obj.version) if bp is not None else None
    if bp is not None:
        shown = ", ".join(hooks) if hooks else "none" if hooks is not None else "not recorded (built elsewhere)"
        lines.append(f"  hooks:       {shown}")
    hb = tenant.heartbeats.interval(obj.id)
    unheard = hb and hooks is not None and "heartbeat" not in hooks
    lines.append(
        f"  heartbeat:   {f'every {int(hb)} ms' if hb else 'off'}"
        + (" {red}(but the blueprint defines no heartbeat hook: nothing runs){/}" if unheard else "")
    )
    lines.append("  state:")
    for key in sorted(obj.state):
        value = obj.get(key)
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        lines.append(f"    {key:<12} {len(obj.state[key]):>6} B  {escape(shown)}")
    callouts = tenant.callouts.for_object(obj.id)
    now = tenant.clock()
    lines.append(f"  callouts:    {len(callouts) or 'none'}")
    for c in callouts[:10]:
        lines.append(f"    #{c.handle} {escape(c.method)} in {max(0, int(c.due - now))} ms")
    ctx.say("\n".join(lines))


async def _hooks_of(tenant: Tenant, version: str | None) -> list[str] | None:
    """The hooks a version's component defines (recorded by the build, see
    :mod:`sandbox.build.lint`); None when not recorded or not at hand."""
    if version is None:
        return None
    data = tenant.unsaved_components.get(version) or tenant.component_cache.get(version)
    if data is None and tenant.load_component is not None:
        data = await tenant.load_component(version)
    return read_hooks(data) if data is not None else None


async def _logs(ctx: Context) -> None:
    """`logs [blueprint] [level]`: the newest lines guest code logged."""
    blueprint: str | None = None
    level: str | None = None
    for word in ctx.args.split():
        if word.lower() in guestlog.RANKS:
            level = word.lower()
        else:
            try:
                blueprint = ids.normalize_blueprint(word)
            except ids.BadId:
                ctx.say(f"logs [blueprint] [level]: {escape(word)} is neither (levels: debug, info, warn, error).")
                return
    lines = ctx.tenant.log.query(30, blueprint=blueprint, level=level)
    if not lines:
        ctx.say("No log lines" + (f" from {blueprint}" if blueprint else "") + (f" at {level} or above" if level else "") + ".")
        return
    ctx.say("\n".join(escape(guestlog.render(line)) for line in lines))


async def _blueprints(ctx: Context) -> None:
    tenant = ctx.tenant
    counts: dict[str, int] = {}
    masters: set[str] = set()
    for obj in tenant.graph.objects.values():
        if obj.blueprint is None:
            continue
        if ids.is_clone(obj.id):
            counts[obj.blueprint] = counts.get(obj.blueprint, 0) + 1
        else:
            masters.add(obj.blueprint)
    lines = [f"{{bold}}{'blueprint':<28} {'lang':<4} {'version':<12} {'vers':>4} {'clones':>6}  loaded{{/}}"]
    for path in sorted(tenant.blueprints.by_path):
        bp = tenant.blueprints.by_path[path]
        lines.append(
            f"{path:<28} {bp.language:<4} {bp.short_version:<12} {len(bp.history):>4} "
            f"{counts.get(path, 0):>6}  {'yes' if path in masters else 'no'}"
        )
    ctx.say("\n".join(lines))


async def _reload(ctx: Context) -> None:
    if not ctx.args:
        ctx.say("Reload what? (reload /rooms/meadow)")
        return
    try:
        path = ids.normalize_blueprint(ctx.args)
    except ids.BadId as exc:
        ctx.say(f"Cannot reload: {escape(str(exc))}")
        return
    # Compiling can take seconds (a Python blueprint, tens of them): it runs
    # outside the event, so the world goes on meanwhile, and the old version
    # keeps serving until the new one is admitted.
    console, tenant, player_id = ctx.console, ctx.tenant, ctx.player.id
    ctx.say(f"Reloading {path}...")

    async def job() -> None:
        try:
            report = await console.reload(path)
        except CompileError as exc:
            report = f"{{red}}Compile error, the old version keeps running:{{/}}\n{escape(str(exc))}"
        except (AdmissionError, WorldError, OSError) as exc:
            report = f"{{red}}Cannot reload {path}: {escape(str(exc))}{{/}}"

        async def tell() -> None:
            # As an event of its own, so the report goes out with the new
            # version's commit, never before it is on disk.
            console.text(player_id, report + "\n")

        tenant.enqueue_command(player_id, tell, always=True)

    console.spawn(job)


async def _goto(ctx: Context) -> None:
    dest = await _resolve(ctx, ctx.args) if ctx.args else None
    if dest is None:
        ctx.say(f"No such place: {escape(ctx.args)}")
        return
    if dest.env is not None and not dest.is_player and dest.exits() == {}:
        # `goto sword#000001`: go where the thing is.
        dest = dest.env if not dest.env.is_player else dest.env.env or dest
    if dest is ctx.player or ctx.tenant.graph.inside(dest, ctx.player):
        ctx.say("You cannot go inside yourself.")
        return
    ctx.tenant.move(ctx.player, dest)


async def _callouts(ctx: Context) -> None:
    tenant = ctx.tenant
    sub, _, rest = ctx.args.partition(" ")
    if sub == "cancel":
        name = rest.strip()
        if not name:
            ctx.say("Cancel whose callouts? (callouts cancel /npc/cat, or an object id)")
            return
        count = recovery.cancel_callouts(tenant, name)
        ctx.say(f"Cancelled {count} callout{'s' if count != 1 else ''} of {escape(name)}.")
        return
    now = tenant.clock()
    pending = sorted(tenant.callouts.by_handle.values(), key=lambda c: (c.due, c.handle))
    lines = [f"{{bold}}{len(pending)} pending callout{'s' if len(pending) != 1 else ''}{{/}}"]
    for c in pending[:50]:
        lines.append(f"  #{c.handle:<6} {c.object_id:<32} {escape(c.method):<16} in {max(0, int(c.due - now))} ms")
    if len(pending) > 50:
        lines.append(f"  ... and {len(pending) - 50} more")
    ctx.say("\n".join(lines))


async def _errors(ctx: Context) -> None:
    tenant = ctx.tenant
    ref = ctx.args.strip().lower().removeprefix("ref").strip()
    if ref:
        # `errors 7f3a2c`: the record behind a reference a player reported.
        found = [e for e in tenant.errors if e.ref == ref]
        if not found:
            ctx.say(f"No recent error has the reference {escape(ref)}.")
            return
        for e in found:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e.at))
            detail, *frames = e.message.splitlines()  # a trap's frames: "  at fn (file.c:12)"
            version = f"@{e.version[:12]}" if e.version else ""
            ctx.say(
                f"{{bold}}Error {e.ref}{{/}} at {stamp}\n  object: {e.object_id}\n  blueprint: {e.blueprint or '-'}{version}\n"
                f"  hook:   {e.hook}\n  player: {e.actor or '-'}\n  kind:   {{red}}{e.kind}{{/}}\n  detail: {escape(detail)}"
                + "".join(f"\n  {escape(frame.strip())}" for frame in frames)
            )
        return
    errors = list(tenant.errors)[-20:]
    warnings = [(ln.at, ln.object_id, ln.level, ln.text) for ln in tenant.log.query(10, level="warn")]
    if not errors and not warnings:
        ctx.say("No recent guest errors.")
        return
    lines = [f"{{bold}}Recent guest errors ({len(tenant.errors)} kept){{/}}"]
    for e in errors:
        stamp = time.strftime("%H:%M:%S", time.gmtime(e.at))
        ref = f"[{e.ref}] " if e.ref else ""
        first, _, more = e.message.partition("\n")
        where = f" {more.strip().splitlines()[0].strip()}" if more.strip() else ""  # the innermost frame
        lines.append(f"  {stamp} {ref}{e.object_id} {e.hook}: {{red}}{e.kind}{{/}} {escape(first)}{escape(where)}")
    if warnings:
        lines.append("{bold}Recent warnings from the log{/}")
        for at, obj_id, level, text in warnings:
            stamp = time.strftime("%H:%M:%S", time.gmtime(at))
            lines.append(f"  {stamp} {obj_id} [{level}] {escape(text)}")
    ctx.say("\n".join(lines))


async def _purge(ctx: Context) -> None:
    if not ctx.args:
        ctx.say("Purge which blueprint's clones? (purge /obj/stone)")
        return
    count = recovery.purge(ctx.tenant, ctx.args.strip())
    ctx.say(f"Destructed {count} clone{'s' if count != 1 else ''} of {escape(ctx.args.strip())}.")


async def _quarantine(ctx: Context) -> None:
    tenant = ctx.tenant
    if not ctx.args:
        held = sorted(tenant.quarantine.blueprints) + sorted(tenant.quarantine.objects)
        ctx.say("Quarantined: " + (", ".join(held) if held else "nothing."))
        return
    name = ctx.args.strip()
    if not recovery.quarantine(tenant, name):
        ctx.say(f"There is no object or blueprint {escape(name)}.")


async def _release(ctx: Context) -> None:
    name = ctx.args.strip()
    if not name:
        ctx.say("Release what? (release /npc/cat)")
    elif recovery.release(ctx.tenant, name):
        ctx.say(f"{escape(name)} is out of quarantine.")
    else:
        ctx.say(f"{escape(name)} is not quarantined.")


async def _timers(ctx: Context) -> None:
    tenant = ctx.tenant
    if ctx.args == "resume":
        tenant.timers_paused = False
        tenant.has_work.set()
    elif ctx.args == "pause":
        tenant.timers_paused = True
    elif ctx.args:
        ctx.say("timers, timers pause or timers resume.")
        return
    state = "held" if tenant.timers_paused else "running"
    ctx.say(
        f"Timers are {state}: {len(tenant.callouts)} callouts pending, "
        f"{len(tenant.heartbeats.entries)} heartbeats, {len(tenant.queue)} timer events waiting."
    )


_WIZARD_COMMANDS: dict[str, Builtin] = {
    "clone": _clone, "destruct": _destruct, "stat": _stat, "blueprints": _blueprints,
    "reload": _reload, "update": _reload, "goto": _goto, "callouts": _callouts, "errors": _errors,
    "purge": _purge, "quarantine": _quarantine, "release": _release, "timers": _timers, "logs": _logs,
}
