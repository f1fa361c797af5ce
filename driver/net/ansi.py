"""JitRealm colour markup: parse once, render for what the client can show.

World code and the driver write text with small brace tags, and each
transport renders it for its client: ANSI SGR escape sequences for a terminal
that shows colour, plain text for one that cannot (or a screen reader). The
module knows nothing about sockets or telnet, so the WebSocket terminal stream
uses it too.

The markup
==========

``{tag}`` where *tag* is one or more words separated by spaces, all of them
known (``{bold red}``):

* ``{/}`` resets every attribute;
* styles: ``bold``, ``dim``, ``italic``, ``underline``, ``blink``, ``reverse``;
* colours: ``black``, ``red``, ``green``, ``yellow``, ``blue``, ``magenta``,
  ``cyan``, ``white``; ``bright-`` in front for the bright variant
  (``bright-red``); ``on-`` in front for the background (``on-blue``,
  ``on-bright-black``);
* 24-bit colours: ``#rrggbb`` and ``on-#rrggbb``, sent as truecolor when the
  client has it and as the nearest xterm-256 or 16-colour entry otherwise.

``{{`` is a literal ``{``. Anything else in braces that is not a known tag is
shown literally, so prose such as ``{sic}`` survives. Tag names are not case
sensitive. :func:`escape` makes untrusted text (what a player typed) safe to
embed.

Rendered text never carries a raw escape sequence or control character from
its input (only ``\\n`` and ``\\t`` pass): colour comes from markup or not at
all, so world code cannot move a player's cursor, retitle the window or worse.
Attributes still on at the end of a rendered text are reset there, so one
message's colour never bleeds into the next.
"""

from __future__ import annotations

import re
import unicodedata
from enum import IntEnum

__all__ = [
    "ColourDepth",
    "escape",
    "render",
    "render_open",
    "strip",
    "visible_width",
    "wrap",
]


class ColourDepth(IntEnum):
    """How many colours a client can show; :func:`render` downsamples to it."""

    NONE = 0  # no escape sequences at all
    ANSI16 = 16
    XTERM256 = 256
    TRUECOLOR = 1 << 24


_BASE_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
_STYLES = {"bold": 1, "dim": 2, "italic": 3, "underline": 4, "blink": 5, "reverse": 7}

# The xterm defaults for the 16 basic colours, to pick the nearest one when a
# client only has 16.
_PALETTE16 = (
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0),
    (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
    (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
)  # fmt: skip
_CUBE_STEPS = (0, 95, 135, 175, 215, 255)

# One token of marked-up text: an escaped brace, a tag candidate, a raw escape
# sequence (CSI, OSC, or a lone ESC with one following byte), or one other
# control character. Plain text is what lies between matches.
_TOKEN = re.compile(
    r"""
      (?P<brace>\{\{)
    | \{(?P<tag>[^{}\n]{1,64})\}
    | (?P<esc>
          \x1b\[[0-?]*[\x20-/]*[@-~]?           # CSI
        | \x1b\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)?  # OSC, BEL or ST terminated
        | \x1b[\x20-~]?                          # other ESC sequences
      )
    | (?P<ctrl>[\x00-\x08\x0b-\x1f\x7f\x80-\x9f])
    """,
    re.VERBOSE,
)


def escape(text: str) -> str:
    """Make ``text`` show literally when embedded in markup."""
    return text.replace("{", "{{")


def _colour(word: str) -> tuple[bool, tuple[int, int, int] | int] | None:
    """Parse one colour word into (background?, palette index 0-15 or RGB)."""
    background = word.startswith("on-")
    if background:
        word = word[3:]
    if word.startswith("#"):
        if len(word) == 7:
            try:
                value = int(word[1:], 16)
            except ValueError:
                return None
            return background, ((value >> 16) & 255, (value >> 8) & 255, value & 255)
        return None
    bright = word.startswith("bright-")
    if bright:
        word = word[7:]
    if word in _BASE_COLOURS:
        return background, _BASE_COLOURS.index(word) + (8 if bright else 0)
    return None


# A parsed tag: a tuple of items, each "reset", a style SGR number, or a colour.
_Item = str | int | tuple[bool, tuple[int, int, int] | int]


def _parse_tag(tag: str) -> tuple[_Item, ...] | None:
    """The items of a tag, or None when it is not (entirely) markup."""
    words = tag.lower().split()
    if not words:
        return None
    items: list[_Item] = []
    for word in words:
        if word == "/":
            items.append("reset")
        elif word in _STYLES:
            items.append(_STYLES[word])
        else:
            colour = _colour(word)
            if colour is None:
                return None
            items.append(colour)
    return tuple(items)


# Token kinds of :func:`_scan`.
_TEXT, _TAG, _ESC = 0, 1, 2

# Anything that makes a text more than plain text: a brace (markup, or an
# escaped brace), or a control character other than newline and tab (an
# escape sequence or a control that must be dropped). A text without any is
# its own rendering and its width is its length: the common case, decided by
# one regex search in C instead of a tokenizer.
_SPECIAL = re.compile(r"[{\x00-\x08\x0b-\x1f\x7f-\x9f]")

# A parsed tag body (or None: not markup), by body. Tags are few in practice;
# the bound keeps text full of brace-words from growing it without limit.
_TAGS: dict[str, tuple[_Item, ...] | None] = {}
_TAGS_MAX = 4096


def _tag_items(body: str) -> tuple[_Item, ...] | None:
    try:
        return _TAGS[body]
    except KeyError:
        pass
    if len(_TAGS) >= _TAGS_MAX:
        _TAGS.clear()
    items = _TAGS[body] = _parse_tag(body)
    return items


def _scan(text: str) -> list[tuple[int, str]]:
    """Split marked-up text into (kind, text) with kind ``_TEXT``, ``_TAG``
    (text is the tag body) or ``_ESC`` (a raw escape or control character)."""
    tokens: list[tuple[int, str]] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        start = match.start()
        if start > pos:
            tokens.append((_TEXT, text[pos:start]))
        pos = match.end()
        kind = match.lastgroup
        if kind == "brace":
            tokens.append((_TEXT, "{"))
        elif kind == "tag":
            body = match.group("tag")
            if _tag_items(body) is None:
                # Not markup: show the braces and re-scan the inside, which
                # may itself hold control characters.
                tokens.append((_TEXT, "{"))
                tokens += _scan(body)
                tokens.append((_TEXT, "}"))
            else:
                tokens.append((_TAG, body))
        else:
            tokens.append((_ESC, match.group(0)))
    if pos < len(text):
        tokens.append((_TEXT, text[pos:]))
    return tokens


def _nearest16(rgb: tuple[int, int, int]) -> int:
    r, g, b = rgb
    return min(
        range(16),
        key=lambda i: (
            (_PALETTE16[i][0] - r) ** 2 + (_PALETTE16[i][1] - g) ** 2 + (_PALETTE16[i][2] - b) ** 2
        ),
    )


def _nearest256(rgb: tuple[int, int, int]) -> int:
    """The closest xterm-256 entry: the 6x6x6 cube or the grey ramp."""

    def step(v: int) -> int:
        return min(range(6), key=lambda i: abs(_CUBE_STEPS[i] - v))

    r, g, b = rgb
    ri, gi, bi = step(r), step(g), step(b)
    cube = (_CUBE_STEPS[ri], _CUBE_STEPS[gi], _CUBE_STEPS[bi])
    grey_level = min(23, max(0, round(((r + g + b) / 3 - 8) / 10)))
    grey = 8 + 10 * grey_level

    def dist(c: tuple[int, int, int]) -> int:
        return (c[0] - r) ** 2 + (c[1] - g) ** 2 + (c[2] - b) ** 2

    if dist((grey, grey, grey)) < dist(cube):
        return 232 + grey_level
    return 16 + 36 * ri + 6 * gi + bi


def _sgr(item: _Item, depth: ColourDepth) -> str:
    if item == "reset":
        return "0"
    if isinstance(item, int):
        return str(item)
    assert isinstance(item, tuple)
    background, colour = item
    if isinstance(colour, int):
        base = (40 if background else 30) if colour < 8 else (100 if background else 90)
        return str(base + colour % 8)
    if depth >= ColourDepth.TRUECOLOR:
        return f"{48 if background else 38};2;{colour[0]};{colour[1]};{colour[2]}"
    if depth >= ColourDepth.XTERM256:
        return f"{48 if background else 38};5;{_nearest256(colour)}"
    return _sgr((background, _nearest16(colour)), depth)


# The SGR sequence of a tag body at a depth, and whether it leaves an
# attribute on; bounded like _TAGS.
_SGRS: dict[tuple[str, ColourDepth], tuple[str, bool]] = {}


def _tag_sgr(body: str, depth: ColourDepth) -> tuple[str, bool]:
    key = (body, depth)
    try:
        return _SGRS[key]
    except KeyError:
        pass
    items = _tag_items(body)
    assert items is not None
    if len(_SGRS) >= _TAGS_MAX:
        _SGRS.clear()
    sgr = _SGRS[key] = (
        "\x1b[" + ";".join(_sgr(item, depth) for item in items) + "m",
        items[-1] != "reset",
    )
    return sgr


def render_open(text: str, depth: ColourDepth = ColourDepth.ANSI16) -> tuple[str, bool | None]:
    """:func:`render` without the reset at the end, and whether one is due:
    True if the last tag leaves an attribute on, False if it ends with
    ``{/}``, None if the text has no tag that renders (none at all, or
    ``depth`` is ``NONE``).

    Rendering is line by line: no token spans a newline unless the text
    holds an escape sequence (an OSC may). So a text without ``\\x1b`` renders
    as its lines rendered this way, joined by newlines, with a reset at the
    end if the last line that had a tag left an attribute on. That is how a
    renderer shared between sessions (:mod:`driver.net.render`) caches by line.
    """
    if _SPECIAL.search(text) is None:
        return text, None
    out: list[str] = []
    state: bool | None = None
    colour = depth > ColourDepth.NONE
    for kind, value in _scan(text):
        if kind == _TEXT:
            out.append(value)
        elif kind == _TAG and colour:
            sgr, state = _tag_sgr(value, depth)
            out.append(sgr)
    return "".join(out), state


def render(text: str, depth: ColourDepth = ColourDepth.ANSI16) -> str:
    """Turn markup into what a client with ``depth`` colours should receive.

    With ``ColourDepth.NONE`` the result is plain text (see :func:`strip`).
    """
    out, active = render_open(text, depth)
    return out + "\x1b[0m" if active else out


def strip(text: str) -> str:
    """Markup as plain text: tags removed, escapes and control characters dropped."""
    return render(text, ColourDepth.NONE)


def _char_width(ch: str) -> int:
    """Terminal columns one character takes (East Asian wide: 2, combining: 0)."""
    if ch.isascii():
        return 1 if ch >= " " and ch != "\x7f" or ch == "\t" else 0
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


class _Widths(dict[str, int]):
    """Columns of each character seen so far: :func:`_char_width` once per
    character, then a dict lookup, so that measuring a string is
    ``sum(map(...))`` in C. Bounded: text full of distinct characters only
    costs recomputing them."""

    def __missing__(self, ch: str) -> int:
        if len(self) >= 16384:
            self.clear()
        width = self[ch] = _char_width(ch)
        return width


_WIDTH_OF = _Widths().__getitem__


def _text_width(text: str) -> int:
    """Columns of text that holds no markup and no control character but
    newline and tab (a text token)."""
    if text.isascii():
        # Printable ASCII and tab take one column, newline none.
        return len(text) - text.count("\n")
    return sum(map(_WIDTH_OF, text))


def visible_width(text: str) -> int:
    """Columns ``text`` takes on screen once rendered (markup is zero-width)."""
    if _SPECIAL.search(text) is None:
        return _text_width(text)
    return sum(_text_width(value) for kind, value in _scan(text) if kind == _TEXT)


# A piece of a word being wrapped: (source, width). Text pieces carry their
# braces escaped again; markup and escapes are zero-width and pass untouched.
_Piece = tuple[str, int]
# A word: its pieces, its width, and how many spaces came before it.
_Word = tuple[list[_Piece], int, int]


def _words(line: str) -> tuple[list[_Word], int]:
    """Split a line into words (runs of non-space, markup included) and
    count the spaces before each; also return the trailing spaces."""
    words: list[_Word] = []
    pieces: list[_Piece] = []
    width = 0
    spaces = 0
    for kind, value in _scan(line):
        if kind != _TEXT:
            pieces.append(("{" + value + "}" if kind == _TAG else value, 0))
            continue
        for k, part in enumerate(value.split(" ")):
            if k > 0:
                if pieces:
                    words.append((pieces, width, spaces))
                    pieces, width, spaces = [], 0, 0
                spaces += 1
            if part:
                part_width = _text_width(part)
                pieces.append((part.replace("{", "{{"), part_width))
                width += part_width
    if pieces:
        words.append((pieces, width, spaces))
        spaces = 0
    return words, spaces


def _wrap_line(line: str, width: int) -> list[str]:
    # Greedy fill. A word that does not fit goes to the next line (the space
    # before it is dropped); a word wider than a whole line is cut.
    words, trailing = _words(line)
    lines: list[str] = []
    cur: list[str] = []
    cur_w = 0

    def flush() -> None:
        nonlocal cur, cur_w
        lines.append("".join(cur))
        cur, cur_w = [], 0

    for pieces, w, spaces in words:
        if cur_w + spaces + w <= width:
            cur.append(" " * spaces)
            cur_w += spaces
        elif w <= width:
            if cur_w > 0:
                flush()
        elif cur_w + spaces < width:
            cur.append(" " * spaces)  # a long word starts here and is cut below
            cur_w += spaces
        elif cur_w > 0:
            flush()
        for source, pw in pieces:
            if cur_w + pw <= width or pw == 0:
                cur.append(source)
                cur_w += pw
                continue
            for ch in source.replace("{{", "{"):  # cut the text at the column
                cw = _char_width(ch)
                if cur_w + cw > width and cur_w > 0:
                    flush()
                cur.append("{{" if ch == "{" else ch)
                cur_w += cw
    # Trailing spaces matter for prompts ("> "); keep the ones that fit.
    if trailing:
        cur.append(" " * max(0, min(trailing, width - cur_w)))
    lines.append("".join(cur))
    return lines


def wrap(text: str, width: int) -> str:
    """Wrap markup to ``width`` columns of visible text; ``width <= 0`` leaves it.

    Lines break at spaces (the breaking spaces are dropped); a word longer
    than a line is cut. Markup, escape sequences and existing newlines are
    kept, so the result is still markup, ready for :func:`render`.
    """
    if width <= 0:
        return text
    if len(text) <= width and text.isascii() and "\n" not in text.rstrip("\n"):
        # The common short message: one line that already fits (markup and
        # escapes only make the visible width smaller than the length).
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        # An ASCII line no longer than the width fits, whatever it holds.
        if (len(line) > width or not line.isascii()) and visible_width(line) > width:
            lines[i] = "\n".join(_wrap_line(line, width))
    return "\n".join(lines)
