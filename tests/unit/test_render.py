"""Shared rendering gives every client exactly what rendering per session gave.

The reference is ``ansi_reference.py``: the markup code as it was before it
was rewritten for speed (a verbatim copy). For any text, width, colour depth
and charset, the fast functions and a shared :class:`Renderer` (from cold,
from its caches, after other texts have filled them) must produce the same
bytes as wrapping, rendering and encoding that text the old way.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver.net import ansi, render
from driver.net.ansi import ColourDepth
from driver.net.telnet import encode_text

from . import ansi_reference as reference

# Markup-heavy text: tags (known, unknown, broken), escaped braces, raw
# escape sequences, controls, wide and combining characters, latin-1 that
# is IAC when encoded, spaces and newlines in runs.
FRAGMENTS = [
    "{red}", "{/}", "{bold red on-white}", "{#ff8800}", "{on-#000000}", "{bright-green}",
    "{RED}", "{sic}", "{red nonsense}", "{{", "{", "}", "{}", "{#12345}",
    "\x1b[31m", "\x1b[2J", "\x1b]0;title\x07", "\x1b]52;c;AA\nAA\x1b\\", "\x1bc", "\x1b",
    "\x07", "\r", "\r\n", "\x9b", "\x7f", "\t", "\n", "\n\n", " ", "   ",
    "日本語", "e\u0301", "\u200b", "ÿ", "Æsir", "“quoted”", "—", "\udcff",
    "word", "longerwordthanmostwidths", "a", "x" * 30,
]  # fmt: skip
texts = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40
).map("".join)
widths = st.one_of(st.just(0), st.integers(min_value=1, max_value=90))
depths = st.sampled_from(list(ColourDepth))
encodings = st.sampled_from(["utf-8", "latin-1", "ascii"])


@settings(max_examples=400)
@given(texts, depths)
def test_render_is_the_reference(text: str, depth: ColourDepth) -> None:
    assert ansi.render(text, depth) == reference.render(text, depth)
    assert ansi.strip(text) == reference.strip(text)


@settings(max_examples=400)
@given(texts, widths)
def test_wrap_and_width_are_the_reference(text: str, width: int) -> None:
    assert ansi.visible_width(text) == reference.visible_width(text)
    assert ansi.wrap(text, width) == reference.wrap(text, width)


def old_telnet(text: str, width: int, depth: ColourDepth, encoding: str) -> bytes:
    """What a telnet session sent for ``text`` before rendering was shared."""
    if width > 0:
        text = reference.wrap(text, width)
    return reference.encode_telnet_text(reference.render(text, depth), encoding)


def telnet_renderer(width: int, depth: ColourDepth, encoding: str) -> render.Renderer[bytes]:
    return render.Renderer(width, depth, functools.partial(encode_text, encoding=encoding), b"\r\n")


@settings(max_examples=400)
@given(st.lists(texts, min_size=1, max_size=6), widths, depths, encodings)
def test_a_shared_telnet_renderer_sends_what_a_session_sent(
    batch: list[str], width: int, depth: ColourDepth, encoding: str
) -> None:
    renderer = telnet_renderer(width, depth, encoding)
    for _ in range(2):  # cold, then from the caches
        for text in batch:
            assert renderer.text(text) == old_telnet(text, width, depth, encoding), text
    # The same lines in other texts come from the line cache.
    joined = "\n".join(batch)
    assert renderer.text(joined) == old_telnet(joined, width, depth, encoding)


@settings(max_examples=300)
@given(st.lists(texts, min_size=1, max_size=6), widths, depths)
def test_a_shared_ansi_renderer_renders_what_a_session_rendered(
    batch: list[str], width: int, depth: ColourDepth
) -> None:
    renderer = render.ansi_renderer(width, depth)
    for text in batch + batch:
        assert renderer.text(text) == reference.render(reference.wrap(text, width), depth)


def test_attributes_left_on_carry_across_lines_exactly() -> None:
    renderer = telnet_renderer(20, ColourDepth.XTERM256, "utf-8")
    for text in [
        "{red}starts red\nand stays red{/} until here\n{bold}never closed",
        "{red}red\nplain line\n",
        "{red}x{/}\n{green}y\n",
        "no tags\n{red}last line",
    ]:
        assert renderer.text(text) == old_telnet(text, 20, ColourDepth.XTERM256, "utf-8")


def test_sessions_of_one_kind_share_one_renderer_and_its_bytes() -> None:
    encode = functools.partial(encode_text, encoding="utf-8")
    a = render.renderer_for(("test", 60, ColourDepth.XTERM256), 60, ColourDepth.XTERM256, encode, b"\r\n")
    b = render.renderer_for(("test", 60, ColourDepth.XTERM256), 60, ColourDepth.XTERM256, encode, b"\r\n")
    other = render.renderer_for(("test", 80, ColourDepth.ANSI16), 80, ColourDepth.ANSI16, encode, b"\r\n")
    assert a is b and a is not other
    line = "Ann says: {red}hello{/}\n"
    assert a.text(line) is b.text(line)  # rendered once, the same bytes for both
    assert other.text(line) == old_telnet(line, 80, ColourDepth.ANSI16, "utf-8")


def test_caches_stay_bounded_and_correct_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "GENERATION", 8)
    renderer = telnet_renderer(30, ColourDepth.ANSI16, "utf-8")
    texts = [f"{{red}}line {i}{{/}} " + "word " * (i % 9) for i in range(100)]
    for _ in range(3):
        for text in texts:
            assert renderer.text(text) == old_telnet(text, 30, ColourDepth.ANSI16, "utf-8")
    assert len(renderer._texts.new) <= 8 and len(renderer._texts.old) <= 8  # noqa: SLF001
    assert len(renderer._lines.new) <= 8 and len(renderer._lines.old) <= 8  # noqa: SLF001


def test_long_texts_and_lines_are_rendered_but_not_kept() -> None:
    renderer = telnet_renderer(40, ColourDepth.ANSI16, "latin-1")
    text = ("{red}ÿ words {/}" * 200 + "\n") * 3
    assert len(text) > render.MAX_TEXT
    assert renderer.text(text) == old_telnet(text, 40, ColourDepth.ANSI16, "latin-1")
    assert text not in renderer._texts.new  # noqa: SLF001
