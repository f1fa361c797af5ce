"""Render once, deliver many: what one kind of client receives for a text.

In a crowded room every line is said to many sessions, and a ``look`` shows
the same description, exits and names to everyone. What a client receives
for a markup text depends only on what *kind* of client it is (the width to
wrap to, the colour depth, the charset, the transport's line ends), not on
which session it is. So the work is done once per kind: a :class:`Renderer`
is shared by every session of one kind (:func:`renderer_for`), and turns a
markup text into exactly what :func:`~driver.net.ansi.wrap`, then
:func:`~driver.net.ansi.render`, then the transport's encoding would have
made of it (``tests/unit/test_render.py`` holds it to that), remembering the
answer:

* by **text**: a line said to the room is rendered for the first session of
  each kind and handed, as the same ``bytes`` object, to all the others
  (texts of more than one line are not remembered whole: see below);
* by **line**: a room's description, its exits and each "X is here." line
  are rendered once per kind, however the lines are put together (every
  viewer of a room sees all its players but themself, so the texts differ
  while their lines repeat). What a line renders to depends only on the
  line, so a room whose state changes simply produces new lines; nothing
  needs invalidating, and lines nobody sends any more age out.

Splitting at newlines is exact (see :func:`~driver.net.ansi.render_open`)
except when a text holds a raw escape sequence, which may run across lines:
such a text is rendered whole, as before.

The caches are bounded: each keeps two generations of entries (the current
one, and the one before it, whose entries move to the current one when
used); when the current one is full, the previous one is dropped. Texts of
several lines, or longer than :data:`MAX_TEXT`, are put together from their
lines every time (a look's full text is different for each viewer anyway);
lines longer than :data:`MAX_LINE` are not remembered at all.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, cast

from driver.net.ansi import ColourDepth, render, render_open, wrap

__all__ = ["MAX_LINE", "MAX_TEXT", "Renderer", "ansi_renderer", "renderer_for"]

#: Longest text remembered whole, and longest line remembered, in characters.
MAX_TEXT = 1024
MAX_LINE = 4096
#: Entries per generation, for texts and for lines.
GENERATION = 2048

Out = TypeVar("Out", str, bytes)
V = TypeVar("V")

_RESET = "\x1b[0m"


class _Generations(Generic[V]):
    """A bounded map that forgets what has not been used for a while."""

    __slots__ = ("new", "old")

    def __init__(self) -> None:
        self.new: dict[str, V] = {}
        self.old: dict[str, V] = {}

    def get_old(self, key: str) -> V | None:
        """After a miss in ``new``: the entry from the previous generation,
        moved into the current one."""
        value = self.old.pop(key, None)
        if value is not None:
            self.put(key, value)
        return value

    def put(self, key: str, value: V) -> None:
        if len(self.new) >= GENERATION:
            self.old = self.new
            self.new = {}
        self.new[key] = value


class Renderer(Generic[Out]):
    """Markup to what one kind of client receives; shared by every session
    of that kind (see module docstring).

    ``encode`` turns rendered text (no markup; newlines as ``\\n``) into the
    transport's form: bytes for a telnet or terminal stream, or the text
    itself. It must work line by line: ``encode(a + "\\n" + b) == encode(a)
    + newline + encode(b)``.
    """

    __slots__ = ("width", "depth", "_encode", "_newline", "_reset", "_texts", "_lines")

    def __init__(self, width: int, depth: ColourDepth, encode: Callable[[str], Out], newline: Out) -> None:
        self.width = width
        self.depth = depth
        self._encode: Callable[[str], Out] = encode
        self._newline: Out = newline
        self._reset: Out = encode(_RESET)
        self._texts: _Generations[Out] = _Generations()
        # A line's rendering, and whether it leaves an attribute on (None:
        # it has no tag); see ansi.render_open.
        self._lines: _Generations[tuple[Out, bool | None]] = _Generations()

    def text(self, text: str) -> Out:
        """``text`` (markup) as this kind of client receives it."""
        try:
            return self._texts.new[text]
        except KeyError:
            pass
        if len(text) > MAX_TEXT or text.find("\n", 0, len(text) - 1) >= 0:
            # Several lines: a look, different for each viewer, made of lines
            # that are not (see _render). Kept whole, it would seldom be
            # asked for again and would hold its lines twice.
            return self._render(text)
        value = self._texts.get_old(text)
        if value is None:
            value = self._render(text)
            self._texts.put(text, value)
        return value

    def _render(self, text: str) -> Out:
        if "\x1b" in text:
            # A raw escape sequence may run across lines: all at once.
            return self._encode(render(wrap(text, self.width), self.depth))
        lines = text.split("\n")
        if len(lines) == 1 or (len(lines) == 2 and not lines[1]):
            # One line (a say, a prompt): remembered as a text already, not
            # again as a line.
            rendered, state = render_open(wrap(lines[0], self.width), self.depth)
            out = self._encode(rendered)
            if len(lines) == 2:
                out += self._newline
            return out + self._reset if state else out
        # Every line known (a look at a room seen before): no Python-level
        # loop but the search for the last line with a tag.
        entries = list(map(self._lines.new.get, lines))
        if None in entries:
            for i, entry in enumerate(entries):
                if entry is None:
                    entries[i] = self._line(lines[i])
        known = cast(list[tuple[Out, bool | None]], entries)
        out = self._newline.join(map(_first, known))
        for _, state in reversed(known):
            if state is not None:
                return out + self._reset if state else out
        return out

    def _line(self, line: str) -> tuple[Out, bool | None]:
        entry = self._lines.get_old(line)
        if entry is None:
            rendered, state = render_open(wrap(line, self.width), self.depth)
            entry = (self._encode(rendered), state)
            if len(line) <= MAX_LINE:
                self._lines.put(line, entry)
        return entry


_first = operator.itemgetter(0)


# Every shared renderer, by what makes a kind of client. Kinds are few in
# practice (a handful of window widths, two or three colour depths); the
# bound only matters against a client that keeps changing its window size.
# Sessions keep their renderer, so dropping the registry costs sharing, not
# correctness.
_RENDERERS: dict[Hashable, Renderer[Any]] = {}
_MAX_KINDS = 256


def renderer_for(
    kind: Hashable, width: int, depth: ColourDepth, encode: Callable[[str], Out], newline: Out
) -> Renderer[Out]:
    """The renderer shared by every client of ``kind`` (which must determine
    the other arguments: a transport name, the width, the depth, the codec)."""
    found = _RENDERERS.get(kind)
    if found is None:
        if len(_RENDERERS) >= _MAX_KINDS:
            _RENDERERS.clear()
        found = _RENDERERS[kind] = Renderer(width, depth, encode, newline)
    return cast(Renderer[Out], found)


def _unchanged(text: str) -> str:
    return text


def ansi_renderer(width: int, depth: ColourDepth) -> Renderer[str]:
    """The shared renderer from markup to ANSI text (newlines as ``\\n``),
    for transports that frame or encode text themselves (WebSocket)."""
    return renderer_for(("ansi", width, depth), width, depth, _unchanged, "\n")
