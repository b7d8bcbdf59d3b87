"""Length-prefixed reader and writer for TLS presentation-language structures."""

from __future__ import annotations

import struct
from types import TracebackType

from tlssim.tls.errors import DecodeError

# The nested blocks below are small classes rather than @contextmanager generators: a
# handshake opens a few dozen, and a generator-based manager costs about three times more.


class Reader:
    """Reads from bytes; any short read or leftover byte is a decode_error.

    Each read indexes the one buffer directly (a nested block shares it, bounded by its
    own end): a handshake makes over a hundred reads, and a helper call or a memoryview
    per read cost more than the read itself.
    """

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes | memoryview, start: int = 0, end: int | None = None) -> None:
        self._data = data if type(data) is bytes else bytes(data)
        self._pos = start
        self._end = len(self._data) if end is None else end

    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def uint8(self) -> int:
        pos = self._pos
        if pos >= self._end:
            raise DecodeError("truncated structure")
        self._pos = pos + 1
        return self._data[pos]

    def uint16(self) -> int:
        pos = self._pos
        if pos + 2 > self._end:
            raise DecodeError("truncated structure")
        self._pos = pos + 2
        data = self._data
        return (data[pos] << 8) | data[pos + 1]

    def uint24(self) -> int:
        pos = self._pos
        if pos + 3 > self._end:
            raise DecodeError("truncated structure")
        self._pos = pos + 3
        return int.from_bytes(self._data[pos : pos + 3], "big")

    def fixed(self, n: int) -> bytes:
        pos = self._pos
        if n > self._end - pos:
            raise DecodeError("truncated structure")
        self._pos = pos + n
        return self._data[pos : pos + n]

    def vector(self, length_size: int, min_len: int = 0, max_len: int | None = None) -> bytes:
        """An opaque ``<min..max>`` vector with a ``length_size``-byte length prefix."""
        data, pos, end = self._data, self._pos, self._end
        start = pos + length_size
        if start > end:
            raise DecodeError("truncated structure")
        n = int.from_bytes(data[pos:start], "big")
        if n < min_len or (max_len is not None and n > max_len):
            raise DecodeError("vector length out of range")
        if n > end - start:
            raise DecodeError("truncated structure")
        self._pos = start + n
        return data[start : start + n]

    def span(self, length_size: int, min_len: int = 0) -> tuple[bytes, int, int]:
        """A nested length-prefixed block as (buffer, start, end), for a caller that reads
        its entries itself and must check it ends exactly at ``end``."""
        data, pos, end = self._data, self._pos, self._end
        start = pos + length_size
        if start > end:
            raise DecodeError("truncated structure")
        n = int.from_bytes(data[pos:start], "big")
        if n < min_len:
            raise DecodeError("vector too short")
        if n > end - start:
            raise DecodeError("truncated structure")
        self._pos = start + n
        return data, start, start + n

    def block(self, length_size: int, min_len: int = 0) -> _ReadBlock:
        """A nested length-prefixed block that must be consumed exactly."""
        return _ReadBlock(*self.span(length_size, min_len))

    def uint16_list(self, length_size: int, min_len: int = 0) -> tuple[int, ...]:
        data, pos, end = self._data, self._pos, self._end
        start = pos + length_size
        if start > end:
            raise DecodeError("truncated structure")
        n = int.from_bytes(data[pos:start], "big")
        if n < min_len or n % 2:
            raise DecodeError("bad uint16 list length")
        if n > end - start:
            raise DecodeError("truncated structure")
        self._pos = start + n
        return struct.unpack_from(f">{n // 2}H", data, start)

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
        self.buf += struct.pack(f">{len(values)}H", *values)

    def block(self, length_size: int) -> _WriteBlock:
        """``with w.block(n):`` writes what the body writes behind its n-byte length."""
        return _WriteBlock(self.buf, length_size)

    def getvalue(self) -> bytes:
        return bytes(self.buf)


class _ReadBlock(Reader):
    """A Reader over a nested block; leaving it checks that it was read to the end."""

    __slots__ = ()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.expect_end()


class _WriteBlock:
    """Reserves a length prefix on entry and fills it in with the body's size on exit."""

    __slots__ = ("_buf", "_size", "_start")

    def __init__(self, buf: bytearray, size: int) -> None:
        self._buf, self._size = buf, size

    def __enter__(self) -> None:
        self._start = len(self._buf)
        self._buf += bytes(self._size)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        start, size = self._start, self._size
        n = len(self._buf) - start - size
        self._buf[start : start + size] = n.to_bytes(size, "big")
