"""The grammar of things: plurals, stacks, "all.coin", counts, near misses."""

from __future__ import annotations

import pytest

from driver.players import nouns
from driver.world.objects import MudObject


def thing(oid: str, short: str, ids: list[str], name: str = "", plural: str = "") -> MudObject:
    obj = MudObject(oid, oid.split("#")[0], "v1")
    obj.set("short", short)
    obj.set("ids", ids)
    if name:
        obj.set("name", name)
    if plural:
        obj.set("plural", plural)
    return obj


@pytest.mark.parametrize(
    ("short", "plural"),
    [
        ("a silver coin", "silver coins"),
        ("an apple", "apples"),
        ("a box", "boxes"),
        ("a berry", "berries"),
        ("a key", "keys"),
        ("a brass lamp", "brass lamps"),
        ("a pair of boots", "pairs of boots"),
        ("a notched longsword (wielded)", "notched longswords (wielded)"),
        ("a knife", "knives"),
        ("a goose", "geese"),
        ("a mug of brown ale", "mugs of brown ale"),
    ],
)
def test_plurals(short: str, plural: str) -> None:
    assert nouns.pluralize(short) == plural


@pytest.mark.parametrize(
    ("word", "single"),
    [("coins", "coin"), ("boxes", "box"), ("berries", "berry"), ("geese", "goose"),
     ("knives", "knife"), ("glass", "glass"), ("coin", "coin"), ("mugs", "mug")],
)  # fmt: skip
def test_singulars(word: str, single: str) -> None:
    assert nouns.singular_word(word) == single


def test_stacks_group_identical_things_in_order_of_arrival() -> None:
    a, b = thing("/obj/coin#1", "a silver coin", ["coin"]), thing("/obj/coin#2", "a silver coin", ["coin"])
    lamp = thing("/obj/lamp#3", "a brass lamp", ["lamp"])
    lit = thing("/obj/lamp#4", "a lit brass lamp", ["lamp"])
    c = thing("/obj/coin#5", "a silver coin", ["coin"])
    groups = nouns.stacks([a, lamp, b, lit, c])
    assert groups == [[a, b, c], [lamp], [lit]]
    assert [nouns.stack_phrase(g) for g in groups] == ["three silver coins", "a brass lamp", "a lit brass lamp"]
    assert nouns.list_phrase([a, lamp, b]) == "two silver coins and a brass lamp"
    odd = [thing(f"/obj/fish#{i}", "a red herring", ["herring"], plural="red herrings, smoked") for i in (1, 2)]
    assert nouns.list_phrase(odd) == "two red herrings, smoked"


@pytest.mark.parametrize(
    ("text", "noun", "count", "every"),
    [
        ("all", "", None, True),
        ("all.coin", "coin", None, True),
        ("all coins", "coins", None, True),
        ("all of the coins", "coins", None, True),
        ("every lamp", "lamp", None, True),
        ("2 coins", "coins", 2, False),
        ("two coins", "coins", 2, False),
        ("the coin", "coin", None, False),
        ("coins", "coins", None, False),
    ],
)
def test_parse_selection(text: str, noun: str, count: int | None, every: bool) -> None:
    assert nouns.parse_selection(text) == nouns.Selection(noun, count, every)


def test_select() -> None:
    coins = [thing(f"/obj/coin#{i}", "a silver coin", ["coin", "silver coin"]) for i in range(3)]
    lamp = thing("/obj/lamp#9", "a brass lamp", ["lamp"])
    pool = [coins[0], lamp, coins[1], coins[2]]
    pick = nouns.select
    assert pick(nouns.parse_selection("coin"), pool) == [coins[0]]
    assert pick(nouns.parse_selection("coins"), pool) == coins
    assert pick(nouns.parse_selection("2 coins"), pool) == coins[:2]
    assert pick(nouns.parse_selection("two silver coins"), pool) == coins[:2]
    assert pick(nouns.parse_selection("all.coin"), pool) == coins
    assert pick(nouns.parse_selection("all"), pool) == pool
    assert pick(nouns.parse_selection("all lamps"), pool) == [lamp]
    assert pick(nouns.parse_selection("swords"), pool) == []


@pytest.mark.parametrize(
    ("word", "guess"),
    [("lok", "look"), ("inventroy", "inventory"), ("swrod", "sword"), ("nroth", "north"),
     ("xyzzy", None), ("lo", None), ("look", None)],
)  # fmt: skip
def test_near_miss(word: str, guess: str | None) -> None:
    known = ["look", "inventory", "sword", "north", "say", "lamp"]
    assert nouns.near_miss(word, known) == guess
