"""Length-prefixed reader and writer for TLS presentation-language structures."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

from tlssim.tls.errors import DecodeError


class Reader:
    """Reads from a bytes view; any short read or leftover byte is a decode_error."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._end = len(self._data)

    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def _take(self, n: int) -> memoryview:
        pos = self._pos
        if n > self._end - pos:
            raise DecodeError("truncated structure")
        self._pos = pos + n
        return self._data[pos : pos + n]

    def uint8(self) -> int:
        return self._take(1)[0]

    def uint16(self) -> int:
        return int.from_bytes(self._take(2), "big")

    def uint24(self) -> int:
        return int.from_bytes(self._take(3), "big")

    def fixed(self, n: int) -> bytes:
        return bytes(self._take(n))

    def vector(self, length_size: int, min_len: int = 0, max_len: int | None = None) -> bytes:
        """An opaque ``<min..max>`` vector with a ``length_size``-byte length prefix."""
        n = int.from_bytes(self._take(length_size), "big")
        if n < min_len or (max_len is not None and n > max_len):
            raise DecodeError("vector length out of range")
        return bytes(self._take(n))

    @contextmanager
    def block(self, length_size: int, min_len: int = 0) -> Iterator[Reader]:
        """A nested length-prefixed block that must be consumed exactly."""
        n = int.from_bytes(self._take(length_size), "big")
        if n < min_len:
            raise DecodeError("vector too short")
        sub = Reader(self._take(n))
        yield sub
        sub.expect_end()

    def uint16_list(self, length_size: int, min_len: int = 0) -> tuple[int, ...]:
        n = int.from_bytes(self._take(length_size), "big")
        if n < min_len or n % 2:
            raise DecodeError("bad uint16 list length")
        return struct.unpack(f">{n // 2}H", self._take(n))

    def expect_end(self) -> None:
        if self._pos != self._end:
            raise DecodeError("trailing bytes")


class Writer:
    """Appends to a bytearray; ``block`` back-patches the length prefix."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def uint8(self, v: int) -> None:
        self.buf.append(v)

    def uint16(self, v: int) -> None:
        self.buf += v.to_bytes(2, "big")

    def uint24(self, v: int) -> None:
        self.buf += v.to_bytes(3, "big")

    def raw(self, b: bytes) -> None:
        self.buf += b

    def vector(self, length_size: int, b: bytes) -> None:
        self.buf += len(b).to_bytes(length_size, "big")
        self.buf += b

    def uint16_list(self, length_size: int, values: tuple[int, ...]) -> None:
        self.buf += (2 * len(values)).to_bytes(length_size, "big")
        for v in values:
            self.buf += v.to_bytes(2, "big")

    @contextmanager
    def block(self, length_size: int) -> Iterator[None]:
        start = len(self.buf)
        self.buf += bytes(length_size)
        yield
        n = len(self.buf) - start - length_size
        self.buf[start : start + length_size] = n.to_bytes(length_size, "big")

    def getvalue(self) -> bytes:
        return bytes(self.buf)
