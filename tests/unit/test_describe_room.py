"""A room's description is what it was before its parts were cached.

:func:`describe_room` keeps the parts of a description (the room's name,
description and exits; each thing's and player's line) keyed by the state
values they are made of. Whatever happens to the room between two looks (its
state rewritten, things and players coming and going, a player renamed), the
text must be exactly what the code before the caching built from scratch:
``old_describe_room`` below is that code, verbatim.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from driver.players.commands import describe_room
from driver.world.objects import Graph, MudObject


def old_describe_room(room: MudObject | None, viewer: MudObject) -> str:
    if room is None:
        return "You are nowhere at all. (Try `goto` or ask a wizard.)\n"
    lines = [f"{{bold cyan}}{room.short}{{/}}"]
    long = room.text("long")
    if long:
        lines.append(long.rstrip())
    exits = room.exits()
    lines.append("{green}Obvious exits: " + (", ".join(exits) if exits else "none") + ".{/}")
    things = [o for o in room.contents or () if o is not viewer]
    players = [o for o in things if o.is_player]
    items = [o for o in things if not o.is_player]
    for obj in items:
        lines.append(f"  {obj.short}")
    for obj in players:
        lines.append(f"  {{yellow}}{obj.name} is here.{{/}}")
    return "\n".join(lines) + "\n"


# State values as world code may leave them: text, empty, the wrong type.
values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.just(""),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)
exits = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["north", "east", "up"]), st.text(max_size=8), max_size=3),
    st.just(7),
)


def set_or_clear(obj: MudObject, key: str, value: Any) -> None:
    if value is None:
        obj.state.pop(key, None)
    else:
        obj.set(key, value)


step = st.one_of(
    st.tuples(st.just("room"), st.sampled_from(["short", "name", "long"]), values),
    st.tuples(st.just("exits"), st.just("exits"), exits),
    st.tuples(st.just("thing"), st.integers(0, 7), st.sampled_from(["short", "name"]), values),
    st.tuples(st.just("move"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("look"), st.integers(-1, 7)),
)


@settings(max_examples=300)
@given(st.lists(step, min_size=1, max_size=40))
def test_cached_description_is_the_old_description(steps: list[tuple[Any, ...]]) -> None:
    graph = Graph()
    room = graph.add(MudObject("/rooms/r#000001", "/rooms/r", "v1"))
    outside = graph.add(MudObject("/player/zed", None, None))
    objs = [
        graph.add(
            MudObject(f"/player/p{i}", None, None)
            if i % 2
            else MudObject(f"/obj/o#00000{i}", "/obj/o", "v1")
        )
        for i in range(8)
    ]
    for obj in objs[:4]:
        graph.move(obj, room)
    for action, *args in steps:
        if action in ("room", "exits"):
            set_or_clear(room, args[0], args[1])
        elif action == "thing":
            set_or_clear(objs[args[0]], args[1], args[2])
        elif action == "move":
            graph.move(objs[args[0]], room if args[1] else None)
        viewer = outside if action != "look" or args[0] < 0 else objs[args[0]]
        assert describe_room(room, viewer) == old_describe_room(room, viewer)
    assert describe_room(None, outside) == old_describe_room(None, outside)
