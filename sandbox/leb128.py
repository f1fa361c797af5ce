"""Unsigned LEB128, the variable-length numbers of the WebAssembly binary
format: what custom sections (a Python source version, a component's
recorded hooks) are framed with."""

from __future__ import annotations


def encode(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode(data: bytes, at: int) -> tuple[int, int]:
    """The number at ``data[at:]`` and the offset after it; ValueError for a
    truncated or over-long one (more than 5 bytes: wasm's u32)."""
    value = shift = 0
    while True:
        if at >= len(data) or shift > 35:
            raise ValueError("truncated LEB128 number")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at
