"""The colour markup as it was rendered before rendering was shared: a
verbatim copy of ``driver/net/ansi.py`` (and of the telnet text encoding
from ``driver/net/telnet.py``) at commit 628e3f0.

:mod:`driver.net.ansi` and :mod:`driver.net.render` were rewritten for
speed (parse once, render once per kind of client, measure text without a
per-character loop). The property tests in ``test_render.py`` hold them to
exactly what this code produces, for any text and any client: this file is
the specification by example, so it must not change.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from enum import IntEnum

__all__ = [
    "ColourDepth",
    "escape",
    "render",
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


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """Split marked-up text into (kind, text) with kind one of ``text``,
    ``tag`` (text is the tag body), ``esc`` (a raw escape or control character)."""
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() > pos:
            yield "text", text[pos : match.start()]
        pos = match.end()
        kind = match.lastgroup
        if kind == "brace":
            yield "text", "{"
        elif kind == "tag":
            body = match.group("tag")
            if _parse_tag(body) is None:
                # Not markup: show the braces and re-scan the inside, which
                # may itself hold control characters.
                yield "text", "{"
                yield from _tokens(body)
                yield "text", "}"
            else:
                yield "tag", body
        else:
            yield "esc", match.group(0)
    if pos < len(text):
        yield "text", text[pos:]


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


def render(text: str, depth: ColourDepth = ColourDepth.ANSI16) -> str:
    """Turn markup into what a client with ``depth`` colours should receive.

    With ``ColourDepth.NONE`` the result is plain text (see :func:`strip`).
    """
    out: list[str] = []
    active = False  # an attribute is on that a trailing reset must clear
    for kind, value in _tokens(text):
        if kind == "text":
            out.append(value)
        elif kind == "tag" and depth > ColourDepth.NONE:
            items = _parse_tag(value)
            assert items is not None
            out.append("\x1b[" + ";".join(_sgr(item, depth) for item in items) + "m")
            for item in items:
                active = item != "reset"
    if active:
        out.append("\x1b[0m")
    return "".join(out)


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


def visible_width(text: str) -> int:
    """Columns ``text`` takes on screen once rendered (markup is zero-width)."""
    return sum(
        sum(_char_width(ch) for ch in value) for kind, value in _tokens(text) if kind == "text"
    )


def _text_width(text: str) -> int:
    if text.isascii() and text.isprintable():
        return len(text)  # the common case, without a per-character loop
    return sum(_char_width(ch) for ch in text)


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
    for kind, value in _tokens(line):
        if kind != "text":
            pieces.append(("{" + value + "}" if kind == "tag" else value, 0))
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
    return "\n".join(
        "\n".join(_wrap_line(line, width)) if visible_width(line) > width else line
        for line in text.split("\n")
    )


# ---------------------------------------------------------------- telnet text encoding (telnet.py)

_ASCII_SPELLING = {
    "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "ß": "ss",
    "Ð": "D", "ð": "d", "Þ": "Th", "þ": "th", "Ł": "L", "ł": "l", "ı": "i",
    "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "−": "-", "•": "*", "·": ".", "×": "x", "÷": "/",
}  # fmt: skip


def _transliterate(text: str, codec: str) -> bytes:
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode(codec)
        except UnicodeEncodeError:
            base = _ASCII_SPELLING.get(ch) or "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            try:
                out += base.encode(codec) if base else b"?"
            except UnicodeEncodeError:
                out += b"?"
    return bytes(out)


def encode_telnet_text(text: str, encoding: str) -> bytes:
    text = text.replace("\r\n", "\n").replace("\r", "\r\0").replace("\n", "\r\n")
    if encoding == "utf-8":
        data = text.encode("utf-8", "replace")
    elif text.isascii():
        data = text.encode("ascii")
    else:
        data = _transliterate(text, encoding)
    return data.replace(b"\xff", b"\xff\xff")
