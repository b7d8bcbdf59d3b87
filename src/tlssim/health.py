"""`python -m tlssim.health [--restart-after SECONDS] HOST:PORT | http://HOST:PORT/PATH`:
exit 0 when the gRPC service at HOST:PORT answers the standard health check as SERVING (or
the URL answers 200), 1 otherwise, 2 for a target that is neither form.

Container health checks run it every few seconds in every container, so it is built on the
socket module alone: importing gRPC (and urllib) cost about 0.3 s of CPU per check, which at
the compose tests' 2 s interval kept a whole core busy on an idle stack. The gRPC check is one
HTTP/2 (h2c) exchange written by hand: the client preface and SETTINGS, then a
grpc.health.v1.Health/Check call for the whole server (service ""), judged by the status in
its one response message; anything else (a refused or silent port, a RST_STREAM, GOAWAY, a
trailers-only error such as UNIMPLEMENTED, NOT_SERVING) is not healthy.

With `--restart-after SECONDS`, a check that has failed for that long, counted from the
first failure after a success (kept in a small file in the temporary directory: a service
still starting is never counted), also kills the process listening on the checked port: a
service that is alive but no longer answers then exits, and the container's restart policy
starts it again (Docker restarts containers that exit, not those that are merely unhealthy).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

USAGE = "usage: python -m tlssim.health [--restart-after SECONDS] HOST:PORT|http://HOST:PORT/PATH"

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 0, 1, 3, 4, 6, 7
_END_STREAM = _ACK = 0x1
_END_HEADERS, _PADDED = 0x4, 0x8
_STREAM = 1
_SERVING = 1  # grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">I", stream)
        + payload
    )


def _literal(text: str) -> bytes:
    """An HPACK string literal, not Huffman-coded (every string here is under 127 bytes)."""
    raw = text.encode()
    if len(raw) > 126:
        raise ValueError(f"header value too long for this probe: {text!r}")
    return bytes((len(raw),)) + raw


def _check_request(authority: str) -> bytes:
    """The client's side of a whole Health/Check call, ready to send in one write."""
    headers = (
        b"\x83"  # :method POST (HPACK static table entry 3)
        + b"\x86"  # :scheme http (entry 6)
        + b"\x04"
        + _literal("/grpc.health.v1.Health/Check")  # :path, name from entry 4
        + b"\x01"
        + _literal(authority)  # :authority, name from entry 1
        + b"\x0f\x10"
        + _literal("application/grpc")  # content-type, name from entry 31
        + b"\x00"
        + _literal("te")
        + _literal("trailers")
    )
    message = b""  # HealthCheckRequest(service=""): every field at its default
    body = b"\x00" + struct.pack(">I", len(message)) + message  # not compressed, length
    return (
        _PREFACE
        + _frame(_SETTINGS, 0, 0)
        + _frame(_HEADERS, _END_HEADERS, _STREAM, headers)
        + _frame(_DATA, _END_STREAM, _STREAM, body)
    )


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]  # IndexError on a truncated varint
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _status_of(message: bytes) -> int:
    """Field 1 (status) of a HealthCheckResponse; 0 (UNKNOWN) when absent."""
    status, at = 0, 0
    while at < len(message):
        tag, at = _varint(message, at)
        if tag == 0x08:
            status, at = _varint(message, at)
        elif tag & 7 == 0:
            _, at = _varint(message, at)
        elif tag & 7 == 2:
            length, at = _varint(message, at)
            at += length
        else:
            raise ValueError(f"unexpected field tag {tag}")
    return status


class _Frames:
    """HTTP/2 frames read from a socket, until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._buffer = b""

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer in time")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the service")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def next(self) -> tuple[int, int, int, bytes]:
        header = self._read(9)
        length = int.from_bytes(header[:3], "big")
        kind, flags = header[3], header[4]
        stream = int.from_bytes(header[5:], "big") & 0x7FFFFFFF
        return kind, flags, stream, self._read(length)


def serving(address: str, timeout: float = 2.0) -> bool:
    """Whether the gRPC server at HOST:PORT reports SERVING for the whole server."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection(_endpoint(address), timeout=timeout) as sock:
            sock.sendall(_check_request(address))
            frames = _Frames(sock, deadline)
            body = b""
            while True:
                kind, flags, stream, payload = frames.next()
                if kind == _SETTINGS and not flags & _ACK:
                    sock.sendall(_frame(_SETTINGS, _ACK, 0))
                elif kind == _GOAWAY or (kind == _RST_STREAM and stream == _STREAM):
                    return False
                elif kind == _DATA and stream == _STREAM:
                    if flags & _PADDED:
                        payload = payload[1 : len(payload) - payload[0]]
                    body += payload
                    if len(body) >= 5 and len(body) >= 5 + int.from_bytes(body[1:5], "big"):
                        size = int.from_bytes(body[1:5], "big")
                        return body[0] == 0 and _status_of(body[5 : 5 + size]) == _SERVING
                if stream == _STREAM and flags & _END_STREAM:
                    return False  # ended without a response message: an error status
    except (OSError, ValueError, IndexError):
        return False


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an HTTP GET of `url` (http:// only) answers 200."""
    netloc, _, path = url.removeprefix("http://").partition("/")
    request = f"GET /{path} HTTP/1.1\r\nHost: {netloc}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection(_endpoint(netloc), timeout=timeout) as sock:
            sock.sendall(request.encode())
            head = b""
            while b"\r\n" not in head and len(head) < 1024:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                head += chunk
    except (OSError, ValueError):
        return False
    status_line = head.partition(b"\r\n")[0].split()
    return (
        len(status_line) >= 2 and status_line[0].startswith(b"HTTP/") and status_line[1] == b"200"
    )


def healthy(target: str) -> bool:
    return answers(target) if target.startswith("http://") else serving(target)


def _endpoint(netloc: str) -> tuple[str, int]:
    """HOST:PORT (or [V6]:PORT) as a socket address; ValueError if it is not one."""
    host, colon, port = netloc.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not HOST:PORT: {netloc!r}")
    return host.strip("[]"), int(port)


def target_port(target: str) -> int:
    return _endpoint(target.removeprefix("http://").split("/")[0])[1]


def listeners(port: int) -> list[int]:
    """Pids of the processes holding a listening TCP socket on `port` (those we may see)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rpartition(":")[2], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
    return pids


def _state_file(target: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9]+", "_", target)
    return Path(tempfile.gettempdir()) / f"tlssim-health-{safe}"


def check(target: str, restart_after: float | None) -> int:
    state = _state_file(target)
    if healthy(target):
        with contextlib.suppress(OSError):
            state.write_text("ok")
        return 0
    try:
        seen = state.read_text()
    except OSError:
        return 1  # never healthy yet: starting, not stuck
    if restart_after is None:
        return 1
    now = time.time()
    try:
        since = float(seen)
    except ValueError:
        state.write_text(repr(now))
        since = now
    if now - since >= restart_after:
        pids = listeners(target_port(target))
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        print(
            f"unhealthy for {now - since:.0f} s: killed {pids or 'nothing'} to restart it",
            file=sys.stderr,
        )
        state.unlink(missing_ok=True)
    return 1


def main(argv: list[str]) -> int:
    restart_after = None
    if len(argv) == 3 and argv[0] == "--restart-after":
        try:
            restart_after = float(argv[1])
        except ValueError:
            print(USAGE, file=sys.stderr)
            return 2
        argv = argv[2:]
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        target_port(argv[0])
    except ValueError as exc:
        print(f"{exc}\n{USAGE}", file=sys.stderr)
        return 2
    return check(argv[0], restart_after)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
