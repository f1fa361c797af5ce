"""A small CBOR (RFC 8949) codec that runs inside a Python blueprint.

Why not cbor2? cbor2 6 is a compiled extension with no pure-Python fallback,
and a componentize-py guest can only import pure Python. State values are
small and simple, so a few dozen lines do: this codec covers the types a
blueprint stores (None, bool, int of any size, float, str, bytes, lists,
tuples, dicts) and, when encoding, writes the same bytes as cbor2's default
encoder so that the driver, which uses cbor2, sees exactly what it would have
written itself.

Decoding is more liberal than encoding: it also reads indefinite-length
items, half- and single-precision floats, ``undefined`` (as None) and tags it
does not know (as :class:`Tag`), so that anything the driver stores can be
read back.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["CBORError", "Tag", "dumps", "loads"]


class CBORError(ValueError):
    """The bytes are not CBOR, or a value has no CBOR form."""


@dataclass(frozen=True)
class Tag:
    """A tagged value whose tag this codec does not interpret."""

    tag: int
    value: Any


# -- encoding ---------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """Encode ``value`` as CBOR bytes."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _head(major: int, n: int, out: bytearray) -> None:
    """Write an item head: major type plus its argument, shortest form."""
    mt = major << 5
    if n < 24:
        out.append(mt | n)
    elif n < 0x100:
        out += bytes((mt | 24, n))
    elif n < 0x10000:
        out.append(mt | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(mt | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(mt | 27)
        out += n.to_bytes(8, "big")


def _encode(value: Any, out: bytearray) -> None:
    # bool before int: True is an int in Python.
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        _encode_int(value, out)
    elif isinstance(value, float):
        _encode_float(value, out)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        _head(3, len(data), out)
        out += data
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _head(2, len(data), out)
        out += data
    elif isinstance(value, (list, tuple)):
        _head(4, len(value), out)
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        _head(5, len(value), out)
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    elif isinstance(value, Tag):
        _head(6, value.tag, out)
        _encode(value.value, out)
    else:
        raise CBORError(f"cannot store a {type(value).__name__} as CBOR")


def _encode_int(n: int, out: bytearray) -> None:
    if 0 <= n < 1 << 64:
        _head(0, n, out)
    elif -(1 << 64) <= n < 0:
        _head(1, -1 - n, out)
    else:
        # Bignums (tags 2 and 3) carry the magnitude as big-endian bytes.
        tag, magnitude = (2, n) if n > 0 else (3, -1 - n)
        _head(6, tag, out)
        data = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
        _head(2, len(data), out)
        out += data


def _encode_float(x: float, out: bytearray) -> None:
    # cbor2 writes the non-finite values as half floats, the rest as doubles.
    if math.isnan(x):
        out += b"\xf9\x7e\x00"
    elif math.isinf(x):
        out += b"\xf9\x7c\x00" if x > 0 else b"\xf9\xfc\x00"
    else:
        out.append(0xFB)
        out += struct.pack(">d", x)


# -- decoding ---------------------------------------------------------------

_BREAK = object()


def loads(data: bytes) -> Any:
    """Decode exactly one CBOR item from ``data``."""
    reader = _Reader(bytes(data))
    value = reader.item()
    if value is _BREAK:
        raise CBORError("unexpected break code")
    if reader.pos != len(reader.data):
        raise CBORError(f"{len(reader.data) - reader.pos} bytes of trailing data after CBOR item")
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise CBORError("CBOR data ends in the middle of an item")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def argument(self, info: int) -> int | None:
        """The head's argument, or None for an indefinite length."""
        if info < 24:
            return info
        if info == 31:
            return None
        if info > 27:
            raise CBORError(f"reserved additional information {info}")
        return int.from_bytes(self.take(1 << (info - 24)), "big")

    def item(self) -> Any:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self.simple(info)
        n = self.argument(info)
        if major == 0:
            return self.definite(n)
        if major == 1:
            return -1 - self.definite(n)
        if major == 2:
            return self.string(n, bytes)
        if major == 3:
            return self.string(n, str)
        if major == 4:
            return self.array(n)
        if major == 5:
            return self.map(n)
        return self.tagged(self.definite(n))

    def definite(self, n: int | None) -> int:
        if n is None:
            raise CBORError("indefinite length not allowed here")
        return n

    def string(self, n: int | None, kind: type) -> Any:
        if n is None:
            chunks = []
            while (chunk := self.item()) is not _BREAK:
                if not isinstance(chunk, kind):
                    raise CBORError("wrong chunk type in indefinite-length string")
                chunks.append(chunk)
            return kind().join(chunks)
        data = self.take(n)
        if kind is bytes:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CBORError("text string is not valid UTF-8") from exc

    def array(self, n: int | None) -> list[Any]:
        if n is None:
            items = []
            while (item := self.item()) is not _BREAK:
                items.append(item)
            return items
        return [self.value() for _ in range(n)]

    def map(self, n: int | None) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        count = 0
        while n is None or count < n:
            key = self.item()
            if key is _BREAK and n is None:
                break
            if key is _BREAK:
                raise CBORError("unexpected break code")
            result[_hashable(key)] = self.value()
            count += 1
        return result

    def tagged(self, tag: int) -> Any:
        value = self.value()
        if tag in (2, 3) and isinstance(value, bytes):
            magnitude = int.from_bytes(value, "big")
            return magnitude if tag == 2 else -1 - magnitude
        return Tag(tag, value)

    def simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):  # null, undefined
            return None
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        if info == 31:
            return _BREAK
        raise CBORError(f"unsupported CBOR simple value (additional information {info})")

    def value(self) -> Any:
        """An item that must not be a break code."""
        item = self.item()
        if item is _BREAK:
            raise CBORError("unexpected break code")
        return item


def _hashable(key: Any) -> Any:
    """Map keys must be hashable in Python; CBOR allows arrays and maps."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        return tuple((_hashable(k), _hashable(v)) for k, v in key.items())
    return key
