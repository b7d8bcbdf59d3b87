"""HTTP fronts of the services (faults REST API, OCSP over HTTP) on aiohttp.web.

Why aiohttp: its server starts and stops inside the service's own asyncio loop beside
grpc.aio, and the one library also brings websockets, streamed responses for server-sent
events and an HTTP client, where an ASGI server (uvicorn, hypercorn) would need a framework
and a client library besides.

This module holds what every front needs: `new_app` (an application with request limits,
the browser guard and errors rendered in the front's own format), `read_body` and
`read_json` (bodies with a size limit, a time limit and, for JSON, a nesting limit), and
`WebServer` (listen on HOST:PORT, stop gracefully).

The browser guard (`BrowserGuard`, docs/security.md): a local web service is reachable from
any page the operator's browser opens, so, as Jupyter does for its local server, a request
must name the service by a Host it listens as (an IP address, a loopback name, or a name
the service was given: DNS rebinding brings the attacker's own name), a state-changing
request must not come from another origin, and where writes take JSON they must say so
(a cross-origin "simple" request, the kind a page sends without asking, cannot).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)
# aiohttp's connection-level log: requests too malformed to reach a handler.
protocol_log = logging.getLogger(__name__ + ".protocol")


class _MalformedRequestsAtDebug(logging.Filter):
    """aiohttp logs each malformed request (garbage, a too long line) at ERROR with a
    traceback; that is the client's fault, so it becomes one DEBUG line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        if not protocol_log.isEnabledFor(logging.DEBUG):
            return False
        reason = " ".join(str(error.message).split())
        record.msg, record.args = "%s: %s", (record.getMessage(), reason)
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return True


protocol_log.addFilter(_MalformedRequestsAtDebug())

ErrorRenderer = Callable[[int, str], web.Response]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """What one request may cost the server."""

    max_body: int = 4 * 1024 * 1024
    # The request line, and each header line, at most this long (longer: 400).
    max_line: int = 8190
    max_headers: int = 100
    # A declared body must arrive within this; otherwise 408 and the connection is closed.
    body_timeout_s: float = 10.0
    # A connection that sends no (complete) request head for this long is closed.
    idle_timeout_s: float = 60.0
    max_json_depth: int = 32
    # How long `WebServer.stop` lets requests in progress finish.
    shutdown_grace_s: float = 2.0


LIMITS = web.AppKey("limits", HttpLimits)

# Methods that change state: a browser sends POST cross-origin without asking first.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserGuard:
    """What a request must show to reach a front's handlers.

    `names`: Host names the front answers to besides IP addresses and loopback names (its
    own listen and advertised names, its compose service name, what the operator adds with
    TLSSIM_HTTP_HOSTS); None answers any name. `json_writes`: a state-changing request with
    a body (or a Content-Type) must send Content-Type: application/json (else 415).
    """

    names: frozenset[str] | None = frozenset()
    json_writes: bool = False

    def with_names(self, *names: str) -> BrowserGuard:
        if self.names is None:
            return self
        extra = {_host_name(n) for n in names if n}
        return dataclasses.replace(self, names=self.names | extra)

    def allows_host(self, host: str) -> bool:
        name = _host_name(host)
        if self.names is None or name in LOOPBACK_NAMES or name.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name in self.names
        return True  # an address is never the attacker's own name


def _host_name(host: str) -> str:
    """The name in a Host header (or an address), without port, brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


GUARD = web.AppKey("guard", BrowserGuard)


def _guard_middleware() -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        rules = request.app[GUARD]
        host = request.headers.get("Host")
        if host is not None and not rules.allows_host(host):
            raise web.HTTPForbidden(
                text=f"Host {_shown(host)} is not a name this service answers to "
                "(TLSSIM_HTTP_HOSTS adds names)"
            )
        if request.method in STATE_CHANGING:
            origin = request.headers.get("Origin")
            if origin is not None and (host is None or origin.lower() != f"http://{host}".lower()):
                raise web.HTTPForbidden(
                    text=f"cross-origin request refused (Origin {_shown(origin)})"
                )
            has_body = request.body_exists or "Content-Type" in request.headers
            if rules.json_writes and has_body and request.content_type != "application/json":
                raise web.HTTPUnsupportedMediaType(
                    text=f"a {request.method} body must be Content-Type: application/json, "
                    f"not {_shown(request.headers.get('Content-Type', ''))}"
                )
        return await handler(request)

    return guard


def _shown(text: str) -> str:
    """Request text fit for an error line: printable, at most 80 characters."""
    cut = text[:80] + ("..." if len(text) > 80 else "")
    return repr(cut)


def json_error(status: int, message: str) -> web.Response:
    """{"error": ..., "status": ...}: the error shape of Toxiproxy's API."""
    return json_response(status, {"error": message, "status": status})


def json_response(status: int, value: object) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(value).encode() + b"\n", content_type="application/json"
    )


def text_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


def new_app(
    limits: HttpLimits,
    render_error: ErrorRenderer,
    middlewares: Iterable[Middleware] = (),
    guard: BrowserGuard | None = BrowserGuard(),
) -> web.Application:
    """An application that enforces `limits` and `guard` (None: no browser guard, for a
    front whose every answer is public and signed, as OCSP's) and answers every error,
    including a handler's unexpected exception (500), through `render_error`."""
    guarding = [] if guard is None else [_guard_middleware()]
    app = web.Application(
        client_max_size=limits.max_body,
        middlewares=[_error_middleware(render_error), *guarding, *middlewares],
        handler_args={
            "logger": protocol_log,
            "max_line_size": limits.max_line,
            "max_field_size": limits.max_line,
            "max_headers": limits.max_headers,
            "keepalive_timeout": limits.idle_timeout_s,
            # After a response, a body the handler left unread is not drained: the
            # connection closes at once (so a stalled or refused body costs no more time).
            "lingering_time": 0.0,
        },
    )
    app[LIMITS] = limits
    if guard is not None:
        app[GUARD] = guard
    return app


def _error_middleware(render_error: ErrorRenderer) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = render_error(exc.status, _message(request, exc))
            for name in ("Allow", "Connection"):
                if name in exc.headers:
                    response.headers[name] = exc.headers[name]
            if exc.status in (408, 413):
                response.force_close()  # the body's unread rest: the connection is done
            return response
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            return render_error(500, "internal error")

    return errors


def _message(request: web.Request, exc: web.HTTPException) -> str:
    if request.match_info.http_exception is exc:  # the router found no route
        if exc.status == 405:
            return f"method {request.method} not allowed for {request.path}"
        return f"no route for {request.method} {request.path}"
    return exc.text or exc.reason


async def read_body(request: web.Request) -> bytes:
    """The whole body: 413 past the app's `max_body`, 408 if it does not arrive in time."""
    limits = request.app[LIMITS]
    length = request.content_length
    if length is not None and length > limits.max_body:
        raise web.HTTPRequestEntityTooLarge(
            max_size=limits.max_body,
            actual_size=length,
            text=f"request body too large ({length} bytes; the limit is {limits.max_body})",
        )
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"request body did not arrive within {limits.body_timeout_s:g}s"
        ) from None


async def read_json(request: web.Request) -> object:
    """The body as JSON; malformed, empty or too deeply nested bodies are a 400."""
    body = await read_body(request)
    if not body.strip():
        raise web.HTTPBadRequest(text="bad request body: empty")
    limit = request.app[LIMITS].max_json_depth
    too_deep = web.HTTPBadRequest(text=f"bad request body: nested deeper than {limit} levels")
    try:
        value = json.loads(body)
    except RecursionError:  # nested past the interpreter's own limit
        raise too_deep from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"bad request body: {exc}") from None
    if _nested_deeper_than(value, limit):
        raise too_deep
    return value


def _nested_deeper_than(value: object, limit: int) -> bool:
    """Whether more than `limit` arrays/objects are nested in each other (level by level,
    without recursion)."""
    level: list[object] = [value]
    for _ in range(limit + 1):
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return False
        level = [
            child
            for item in containers
            for child in (item.values() if isinstance(item, dict) else item)
        ]
    return True


class WebServer:
    """An application listening on HOST:PORT in the running loop; `stop()` lets requests in
    progress finish (up to the app's `shutdown_grace_s`), then closes every connection."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        assert self._runner is not None, "not started"
        return int(self._runner.addresses[0][1])

    async def start(self, host: str, port: int) -> None:
        limits = self.app[LIMITS]
        if GUARD in self.app:  # the name it listens as is one it answers to
            self.app[GUARD] = self.app[GUARD].with_names(host)
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=limits.shutdown_grace_s,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
