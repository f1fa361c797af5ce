"""The WebSocket writer frames a session's messages itself (driver.net.websocket):
byte for byte what wsproto sends, every length encoding, text and binary."""

from __future__ import annotations

import pytest
from wsproto.frame_protocol import FrameProtocol

from driver.net.websocket import _FRAMED, _framed


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "a",
        "é" * 10,
        "x" * 125,
        "x" * 126,
        "y" * 65535,
        "z" * 65536,
        "ü" * 40000,
        b"",
        b"\x00" * 200,
        b"q" * 70000,
    ],
)
def test_frames_are_what_wsproto_sends(frame: str | bytes) -> None:
    wsproto = FrameProtocol(client=False, extensions=[])
    assert _framed(frame) == wsproto.send_data(frame, True)
    assert _framed(frame) == wsproto.send_data(frame, True)  # and again, from the cache


def test_the_cache_never_answers_for_another_frame() -> None:
    _FRAMED.clear()
    first = _framed("x" * 10)
    for i in range(1000):  # objects come and go; an id may be reused by another string
        assert _framed(str(i)) == FrameProtocol(client=False, extensions=[]).send_data(str(i), True)
    assert first == _framed("x" * 10)
