"""Nouns as players type them, and things as players read them.

A player in their first minutes types ``get all``, ``drop coins``, ``drop 2
coins`` or ``get all.coin from satchel``, and expects two coins on the floor
to read "two silver coins", not as two lines that no word names together.
This module is that grammar, kept apart from the commands so it is pure
(objects in, words out) and tested as such:

* :func:`parse_selection`: ``"all.coin"``, ``"2 coins"``, ``"every lamp"``
  -> which noun, how many;
* :func:`select`: the things a selection picks out of a list;
* :func:`stacks` and :func:`stack_phrase`: identical things (same blueprint,
  same short description) shown once, counted and in the plural; an object
  may say its own plural in its ``plural`` state key;
* :func:`near_miss`: "did you mean" for a typo (``lok``, ``swrod``).

English plurals are done by rule plus a short list of exceptions; a world
whose nouns defeat the rules sets ``plural``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from driver.world.objects import MudObject

#: Words in front of a noun that say nothing about which thing is meant
#: ("look at the well", "get coin from my bag"); the C SDK's realm_noun_of
#: strips the same ones, so objects and the driver read nouns alike.
FILLER_WORDS = frozenset({"at", "in", "into", "on", "from", "to", "my", "the", "a", "an"})

_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_COUNT_NAMES = {n: word for word, n in _NUMBERS.items()}

# Plurals the rules get wrong, and words that do not change.
_IRREGULAR = {
    "man": "men", "woman": "women", "child": "children", "foot": "feet", "tooth": "teeth",
    "mouse": "mice", "goose": "geese", "knife": "knives", "leaf": "leaves", "loaf": "loaves",
    "wolf": "wolves", "half": "halves", "shelf": "shelves", "thief": "thieves", "elf": "elves",
    "dwarf": "dwarves", "ox": "oxen", "die": "dice", "person": "people", "staff": "staves",
}  # fmt: skip
_UNCHANGED = frozenset({"sheep", "fish", "deer", "moose", "bread", "ale", "cider", "gold", "silver"})
_SINGULAR = {plural: single for single, plural in _IRREGULAR.items()}


def noun_of(text: str) -> str:
    """``"at the Old Well"`` -> ``"old well"``."""
    words = text.lower().split()
    while words and words[0] in FILLER_WORDS:
        words.pop(0)
    return " ".join(words)


# -- plurals ---------------------------------------------------------------------------------


def plural_word(word: str) -> str:
    """``coin`` -> ``coins``, ``box`` -> ``boxes``, ``berry`` -> ``berries``."""
    lower = word.lower()
    if lower in _UNCHANGED:
        return word
    if lower in _IRREGULAR:
        plural = _IRREGULAR[lower]
        return plural.capitalize() if word[:1].isupper() else plural
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(lower) > 1 and lower.endswith("y") and lower[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def singular_word(word: str) -> str:
    """The reverse of :func:`plural_word`, as well as rules can; a word
    that does not look plural comes back as it is."""
    lower = word.lower()
    if lower in _SINGULAR:
        return _SINGULAR[lower]
    if lower in _UNCHANGED or len(lower) < 3 or lower.endswith(("ss", "us", "is")):
        return word
    if lower.endswith("ies") and len(lower) > 4:
        return word[:-3] + "y"
    if lower.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if lower.endswith("s"):
        return word[:-1]
    return word


def pluralize(short: str) -> str:
    """``"a silver coin"`` -> ``"silver coins"``; ``"a pair of boots"`` ->
    ``"pairs of boots"``; ``"a notched longsword (wielded)"`` -> ``"notched
    longswords (wielded)"``. The head noun is the last word before any
    ``of``/``with``/``(`` part."""
    words = short.split()
    if words and words[0].lower() in ("a", "an", "one", "the"):
        words = words[1:]
    if not words:
        return short
    head = len(words)
    for i, word in enumerate(words):
        if i and (word.lower() in ("of", "with", "from", "called") or word.startswith("(")):
            head = i
            break
    last = head - 1
    # Keep trailing punctuation where it was: "a lamp," is not likely, but cheap.
    word = words[last]
    stripped = word.rstrip(".,;:!")
    words[last] = plural_word(stripped) + word[len(stripped) :]
    return " ".join(words)


def count_word(n: int) -> str:
    """``2`` -> ``"two"`` (up to twelve), then digits."""
    return _COUNT_NAMES.get(n, str(n))


# -- stacks ----------------------------------------------------------------------------------


def stack_key(obj: MudObject) -> tuple[str, str] | None:
    """What makes two things the same to the eye: their blueprint and short
    description. Players never stack (None)."""
    if obj.blueprint is None:
        return None
    return (obj.blueprint, obj.short)


def stacks(objects: Iterable[MudObject]) -> list[list[MudObject]]:
    """``objects`` grouped into stacks of identical things, in the order
    each stack's first thing came."""
    groups: list[list[MudObject]] = []
    index: dict[tuple[str, str], list[MudObject]] = {}
    for obj in objects:
        key = stack_key(obj)
        if key is None:
            groups.append([obj])
            continue
        group = index.get(key)
        if group is None:
            group = index[key] = []
            groups.append(group)
        group.append(obj)
    return groups


def stack_phrase(group: Sequence[MudObject]) -> str:
    """``[coin]`` -> ``"a silver coin"``; ``[coin, coin]`` -> ``"two silver coins"``."""
    first = group[0]
    if len(group) == 1:
        return first.short
    return f"{count_word(len(group))} {first.text('plural') or pluralize(first.short)}"


def list_phrase(objects: Iterable[MudObject]) -> str:
    """``"two silver coins, a brass lamp and a leather satchel"``."""
    parts = [stack_phrase(group) for group in stacks(objects)]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# -- selecting ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    """What a player's words pick: ``noun`` (empty for anything), and
    either ``every`` match or up to ``count`` of them (None: one)."""

    noun: str
    count: int | None = None
    every: bool = False


def parse_selection(text: str) -> Selection:
    """``"all"``, ``"all.coin"``, ``"all coins"``, ``"every lamp"``,
    ``"2 coins"``, ``"two coins"``, ``"the coin"``."""
    words = noun_of(text).split()
    if not words:
        return Selection("")
    first = words[0]
    if first in ("all", "every", "each") or first.startswith("all."):
        rest = first[4:] if first.startswith("all.") else ""
        tail = words[1:]
        if tail and tail[0] == "of":
            tail = tail[1:]
        return Selection(noun_of(" ".join([rest, *tail])), every=True)
    if len(words) > 1:
        n = int(first) if first.isdigit() else _NUMBERS.get(first)
        if n is not None and n > 0:
            return Selection(" ".join(words[1:]), count=n)
    return Selection(" ".join(words))


def matches(obj: MudObject, noun: str) -> bool:
    """Does ``noun`` (lower case, fillers stripped) name ``obj``?"""
    if noun in obj.nouns() or noun == obj.name.lower() or noun == obj.id:
        return True
    # "rusty sword" matches a sword whose short mentions both words.
    words = noun.split()
    return len(words) > 1 and words[-1] in obj.nouns() and all(w in obj.short.lower() for w in words)


def match_one(noun: str, objects: Sequence[MudObject]) -> MudObject | None:
    """The first thing ``noun`` names: a single-word match anywhere wins
    over a thing whose short merely mentions every word."""
    noun = noun_of(noun)
    if not noun:
        return None
    for obj in objects:
        if noun in obj.nouns() or noun == obj.name.lower() or noun == obj.id:
            return obj
    words = noun.split()
    if len(words) > 1:
        for obj in objects:
            if words[-1] in obj.nouns() and all(w in obj.short.lower() for w in words):
                return obj
    return None


def _plural_noun(noun: str) -> str | None:
    """``"silver coins"`` -> ``"silver coin"``; None when it is not plural."""
    words = noun.split()
    if not words:
        return None
    single = singular_word(words[-1])
    if single == words[-1]:
        return None
    return " ".join([*words[:-1], single])


def select(selection: Selection, objects: Sequence[MudObject]) -> list[MudObject]:
    """The things ``selection`` picks from ``objects``, in their order.

    A plural noun with no count (``drop coins``) means all of them; a
    count (``drop 2 coins``) at most that many; otherwise one.
    """
    noun = selection.noun
    if not noun:
        return list(objects) if selection.every else []
    found = [o for o in objects if matches(o, noun)]
    plural = False
    if not found:
        single = _plural_noun(noun)
        if single is not None:
            found = [o for o in objects if matches(o, single)]
            plural = True
    if selection.every or (plural and selection.count is None):
        return found
    if selection.count is not None:
        return found[: selection.count]
    one = match_one(noun, objects) if not plural else (found[0] if found else None)
    return [one] if one is not None else []


# -- near misses -----------------------------------------------------------------------------


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal string alignment distance (insertions, deletions,
    substitutions and swaps of neighbours each cost one), or ``limit`` + 1
    once it is certainly over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def near_miss(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` was most likely a typo for, or None.

    One slip (a letter missing, extra, wrong or swapped) for words of up
    to five letters, two for longer ones; words under three letters and
    exact matches are never suggested. Ties go to the candidate sharing
    the first letter, then to the shorter, then alphabetical order.
    """
    word = word.lower()
    if len(word) < 3:
        return None
    limit = 1 if len(word) <= 5 else 2
    best: tuple[int, int, int, str] | None = None
    for candidate in set(candidates):
        if len(candidate) < 3 or candidate == word:
            continue
        distance = edit_distance(word, candidate, limit)
        if distance > limit:
            continue
        rank = (distance, 0 if candidate[0] == word[0] else 1, len(candidate), candidate)
        if best is None or rank < best:
            best = rank
    return best[3] if best is not None else None
