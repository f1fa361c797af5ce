"""The colour markup: rendering per colour depth, stripping, escaping, wrapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.net.ansi import ColourDepth, escape, render, strip, visible_width, wrap


def test_basic_tags_render_to_sgr() -> None:
    assert render("{red}hi{/}") == "\x1b[31mhi\x1b[0m"
    assert render("{bold}{bright-green}x{/}") == "\x1b[1m\x1b[92mx\x1b[0m"
    assert render("{on-blue}x{/}") == "\x1b[44mx\x1b[0m"
    assert render("{on-bright-black}x{/}") == "\x1b[100mx\x1b[0m"
    assert render("{bold red on-white}x{/}") == "\x1b[1;31;47mx\x1b[0m"


def test_tags_are_case_insensitive() -> None:
    assert render("{RED}x{/}") == render("{red}x{/}")


def test_unclosed_attributes_are_reset_at_the_end() -> None:
    assert render("{red}hi") == "\x1b[31mhi\x1b[0m"
    assert render("{red}hi{/}") == "\x1b[31mhi\x1b[0m"
    assert render("plain") == "plain"


def test_escaped_and_unknown_braces_are_literal() -> None:
    assert render("{{red}") == "{red}"
    assert render("a {sic} b {") == "a {sic} b {"
    assert render("} and {}") == "} and {}"
    assert render("{red nonsense}") == "{red nonsense}"
    assert render(escape("{red}danger{/}")) == "{red}danger{/}"


def test_hex_colours_follow_the_depth() -> None:
    assert render("{#ff8800}x", ColourDepth.TRUECOLOR) == "\x1b[38;2;255;136;0mx\x1b[0m"
    assert render("{#ff8800}x", ColourDepth.XTERM256) == "\x1b[38;5;208mx\x1b[0m"
    assert render("{#ff0000}x", ColourDepth.ANSI16) == "\x1b[91mx\x1b[0m"
    assert render("{on-#000000}x", ColourDepth.ANSI16) == "\x1b[40mx\x1b[0m"
    assert render("{#808080}x", ColourDepth.XTERM256) == "\x1b[38;5;244mx\x1b[0m"
    assert render("{#12345}x") == "{#12345}x"  # not six digits: literal


def test_no_colour_strips_everything() -> None:
    assert render("{red}hi{/} {{x}", ColourDepth.NONE) == "hi {x}"
    assert strip("{bold}a{/}b") == "ab"


@pytest.mark.parametrize(
    "raw",
    [
        "\x1b[31m",  # CSI colour
        "\x1b[2J",  # clear screen
        "\x1b]0;owned\x07",  # OSC window title
        "\x1b]52;c;AAAA\x1b\\",  # OSC clipboard write
        "\x1bc",  # terminal reset
        "\x07",  # bell
        "\r",
        "\x9b",  # C1 CSI
    ],
)
def test_raw_escapes_and_controls_never_pass(raw: str) -> None:
    for depth in ColourDepth:
        out = render(f"a{raw}b", depth)
        assert out == "ab", (raw, depth, out)


def test_newlines_and_tabs_pass() -> None:
    assert render("a\nb\tc") == "a\nb\tc"


def test_visible_width_ignores_markup_and_counts_wide_characters() -> None:
    assert visible_width("{red}abc{/}") == 3
    assert visible_width("{{") == 1
    assert visible_width("日本") == 4
    assert visible_width("e\u0301") == 1  # e + combining acute
    assert visible_width("\x1b[31mx") == 1


def test_wrap_breaks_at_spaces() -> None:
    text = "The quick brown fox jumps over the lazy dog"
    assert wrap(text, 15) == "The quick brown\nfox jumps over\nthe lazy dog"


def test_wrap_ignores_markup_width() -> None:
    text = "{red}aaaa{/} {bold}bbbb{/} cccc"
    out = wrap(text, 9)
    assert out == "{red}aaaa{/} {bold}bbbb{/}\ncccc"
    assert [visible_width(line) for line in out.split("\n")] == [9, 4]


def test_wrap_keeps_existing_newlines_and_cuts_long_words() -> None:
    assert wrap("ab\ncd", 10) == "ab\ncd"
    assert wrap("abcdefghij", 4) == "abcd\nefgh\nij"
    assert wrap("xx abcdefghij", 4) == "xx a\nbcde\nfghi\nj"


def test_wrap_keeps_a_prompts_trailing_space() -> None:
    assert wrap("HP 10 > ", 80) == "HP 10 > "
    assert wrap("aaa bbb > ", 7) == "aaa bbb\n> "


def test_wrap_escaped_braces_stay_escaped() -> None:
    out = wrap("{{red} " + "x" * 10, 8)
    assert out == "{{red} xx\nxxxxxxxx"
    assert render(out, ColourDepth.NONE) == "{red} xx\nxxxxxxxx"


def test_wrap_zero_width_means_no_wrap() -> None:
    assert wrap("a " * 100, 0) == "a " * 100


def test_wrap_wide_characters() -> None:
    assert wrap("日本語のテキスト", 6) == "日本語\nのテキ\nスト"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=40))
def test_wrapped_lines_fit_and_keep_the_words(text: str, width: int) -> None:
    out = wrap(text, width)
    for line in out.split("\n"):
        # A single wide character may exceed a width of 1; nothing else may.
        assert visible_width(line) <= max(width, 2)
    # Wrapping only trades spaces for newlines.
    assert strip(out).replace("\n", "").replace(" ", "") == strip(text).replace("\n", "").replace(
        " ", ""
    )


@given(st.text(max_size=300))
def test_render_never_emits_foreign_escapes(text: str) -> None:
    plain = strip(text)
    assert "\x1b" not in plain
    coloured = render(text, ColourDepth.TRUECOLOR)
    # Every ESC in the output starts one of our SGR sequences.
    for chunk in coloured.split("\x1b")[1:]:
        assert chunk.startswith("[") and "m" in chunk
