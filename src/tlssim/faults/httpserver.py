"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length and chunked bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
IDLE_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request; `path` is percent-decoded, headers have lower-case names."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    """A response; an empty body with 204 sends no Content-Type."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        return cls(status, json.dumps(value).encode() + b"\n")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json(status, {"error": message, "status": status})


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """A listening HTTP server; `close()` also ends the open keep-alive connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._on_client, host, port, limit=MAX_HEAD)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        clients = list(self._clients)
        for task in clients:
            task.cancel()
        if clients:
            await asyncio.wait(clients, timeout=5)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await _serve_connection(self.handler, reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._clients.discard(task)
            writer.close()


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while True:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await _send(writer, Response.error(400, "incomplete request"), False, "")
            return
        except asyncio.LimitOverrunError:
            await _send(writer, Response.error(431, "request head too large"), False, "")
            return
        try:
            request, keep_alive = await _parse(head, reader)
        except _BadRequest as exc:
            await _send(writer, Response.error(exc.status, str(exc)), False, "")
            return
        try:
            response = await handler(request)
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            response = Response.error(500, "internal error")
        await _send(writer, response, keep_alive, request.method)
        if not keep_alive:
            return


async def _parse(head: bytes, reader: asyncio.StreamReader) -> tuple[Request, bool]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise _BadRequest(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise _BadRequest(505, "only HTTP/1.x is supported")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "malformed header line")
        headers[name.lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    body = await _read_body(headers, reader)
    url = urlsplit(target)
    return Request(method.upper(), unquote(url.path), url.query, headers, body), keep_alive


async def _read_body(headers: Mapping[str, str], reader: asyncio.StreamReader) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunk size") from None
            total += size
            if total > MAX_BODY:
                raise _BadRequest(413, "request body too large")
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise _BadRequest(400, "invalid Content-Length")
    length = int(raw)
    if length > MAX_BODY:
        raise _BadRequest(413, "request body too large")
    return await reader.readexactly(length)


async def _send(
    writer: asyncio.StreamWriter, response: Response, keep_alive: bool, method: str
) -> None:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    no_body = response.status == 204 or response.status < 200
    if not no_body:
        lines.append(f"Content-Type: {response.content_type}")
        lines.append(f"Content-Length: {len(response.body)}")
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not no_body and method != "HEAD":
        writer.write(response.body)
    await writer.drain()
