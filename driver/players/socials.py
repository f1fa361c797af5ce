"""Socials: the small gestures (``smile``, ``nod``, ``wave at marta``) every
MUD player types in their first minutes, as plain data.

Each social says what the actor, the room and (when there is one) the
target see; :func:`render` fills in the names. The command glue (finding
the target, telling everyone) lives with the other commands in
:mod:`driver.players.commands`. A world's own objects see the line first,
so a room or an NPC can give any of these verbs a meaning of its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Social:
    """The lines of one social. ``{actor}`` and ``{target}`` are names."""

    alone_self: str
    alone_room: str
    at_self: str
    at_target: str
    at_room: str


def _regular(verb: str, alone: str = "", at: str = "at") -> Social:
    """A social whose lines follow the usual pattern: "You smile (warmly)." /
    "Ann smiles (warmly)." / "You smile at Bob." / "Ann smiles at you.";
    ``verb`` is the third person ("smiles")."""
    you = verb[:-2] if verb.endswith(("shes", "ches", "sses")) else verb[:-1]
    tail = f" {alone}" if alone else ""
    return Social(
        alone_self=f"You {you}{tail}.",
        alone_room=f"{{actor}} {verb}{tail}.",
        at_self=f"You {you} {at} {{target}}.",
        at_target=f"{{actor}} {verb} {at} you.",
        at_room=f"{{actor}} {verb} {at} {{target}}.",
    )


SOCIALS: dict[str, Social] = {
    "smile": _regular("smiles", "happily"),
    "grin": _regular("grins", "broadly"),
    "nod": _regular("nods", "solemnly"),
    "wave": _regular("waves", "cheerfully"),
    "laugh": _regular("laughs", "out loud"),
    "chuckle": _regular("chuckles", "quietly"),
    "giggle": _regular("giggles"),
    "shrug": _regular("shrugs", "helplessly"),
    "bow": _regular("bows", "gracefully", "to"),
    "sigh": _regular("sighs", "deeply"),
    "wink": _regular("winks", "knowingly"),
    "cheer": _regular("cheers", "enthusiastically", "for"),
    "clap": _regular("claps", "", "for"),
    "frown": _regular("frowns"),
    "blush": _regular("blushes", "", "at"),
    "yawn": _regular("yawns", "sleepily"),
    "hug": Social(
        "You hug yourself. It helps, a little.",
        "{actor} hugs themself.",
        "You hug {target}.",
        "{actor} hugs you.",
        "{actor} hugs {target}.",
    ),
    "poke": Social(
        "Poke whom?",
        "",
        "You poke {target} in the ribs.",
        "{actor} pokes you in the ribs.",
        "{actor} pokes {target} in the ribs.",
    ),
    "thank": Social(
        "You thank everyone.",
        "{actor} thanks everyone.",
        "You thank {target}.",
        "{actor} thanks you.",
        "{actor} thanks {target}.",
    ),
    "comfort": Social(
        "Comfort whom?",
        "",
        "You comfort {target}.",
        "{actor} comforts you.",
        "{actor} comforts {target}.",
    ),
}


def render(template: str, actor: str, target: str = "") -> str:
    """A social's line with the names in (names are never markup)."""
    return template.replace("{actor}", actor).replace("{target}", target)
