"""What every service process shares: settings, logging, its gRPC server, signals, stop.

A service is one coroutine, ``serve(settings, clock)``, that runs until it is cancelled and
cleans up in ``finally``. ``run_service`` reads the settings once, sets up logging, runs that
coroutine and cancels it on SIGINT or SIGTERM, so every service stops the same way. Which
services exist is the CLI's table (`cli/services.py`): the services import this module, and
this module imports none of them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from tlssim import rpcutil, terminal
from tlssim.clock import Clock, SystemClock
from tlssim.rpcutil import trace_id_var
from tlssim.services import settings as st
from tlssim.telemetry import otel, trace_events
from tlssim.telemetry.traces import TraceLog

log = logging.getLogger("tlssim.services")

# How long in-flight calls may finish when a service stops.
STOP_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """How to read one service's settings and start it (the CLI's table of services,
    `cli/services.py`, holds one per service: this module knows none of them)."""

    load: Callable[[Mapping[str, str]], Any]
    serve: Callable[[Any, Clock], Coroutine[Any, Any, None]]


# How this process exports its trace events (OpenTelemetry), when it does: set by
# run_service from its settings, used by grpc_server for the service's TraceLog.
trace_exporter: contextvars.ContextVar[Callable[[TraceLog], Callable[[], None]] | None] = (
    contextvars.ContextVar("trace_exporter", default=None)
)


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace = trace_id_var.get() or "-"
        return True


# A log message longer than this is cut: fields that come from requests (names, subjects,
# errors quoting input) can be as long as the request limits allow.
MAX_LOG_MESSAGE = 2000


def _clipped(message: str) -> str:
    if len(message) > MAX_LOG_MESSAGE:
        cut = len(message) - MAX_LOG_MESSAGE
        return f"{message[:MAX_LOG_MESSAGE]} ... [{cut} more characters]"
    return message


class SafeFormatter(logging.Formatter):
    """The one formatter of every service's log: each field of a line is cut and escaped
    (newlines and control characters shown as ``\\n``, ``\\x1b``), so text from a request or
    a peer can neither forge a line nor write to the terminal that shows the log. A
    traceback keeps its lines, each indented and escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = terminal.escape_line(_clipped(record.message))
        for name in ("name", "levelname", "trace"):
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, terminal.escape_line(value))
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(stack_info)


def _indented(text: str) -> str:
    return "\n".join(f"  {terminal.escape_line(line)}" for line in text.splitlines())


class _JsonFormatter(SafeFormatter):
    """One JSON object per line, for log collectors (TLSSIM_LOG_FORMAT=json); JSON's own
    escapes keep each field on its line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        line = {
            "time": self.formatTime(record),
            "service": self.service,
            "level": record.levelname,
            "trace": getattr(record, "trace", "-"),
            "message": _clipped(record.message),
            "logger": record.name,
        }
        if record.exc_info:
            line["exception"] = logging.Formatter.formatException(self, record.exc_info)
        # ensure_ascii escapes C1 and bidi characters; DEL is the one control it leaves.
        return json.dumps(line).replace("\x7f", "\\u007f")


# At most one warning or error line of each kind this often (see RateLimit).
LOG_INTERVAL_S = 1.0


class RateLimit(logging.Filter):
    """The one path of every warning and error line: at most one line of each kind (its
    logger and message template, or the ``rate_key`` a caller gives in ``extra``) per
    interval, whoever logs it (our code, gRPC, asyncio); the next line of that kind says how
    many were not logged. Whatever a caller does, the log grows by a bounded rate."""

    MAX_KINDS = 1024

    def __init__(
        self, interval_s: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._skipped: collections.Counter[tuple[str, str]] = collections.Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, str(getattr(record, "rate_key", None) or record.msg))
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval_s:
            self._skipped[kind] += 1
            return False
        if len(self._last) >= self.MAX_KINDS:
            self._last.clear()
        self._last[kind] = now
        if skipped := self._skipped.pop(kind, 0):
            record.msg = f"{record.getMessage()} ({skipped} more like it not logged)"
            record.args = None
        return True


def configure_logging(service: str, level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceFilter())
    handler.addFilter(RateLimit())
    formatter: logging.Formatter
    if log_format == "json":
        formatter = _JsonFormatter(service)
    else:
        formatter = SafeFormatter(
            f"%(asctime)s {service} %(levelname)s [trace %(trace)s] %(message)s"
        )
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)


def run_service(name: str, entry: ServiceEntry, env: Mapping[str, str]) -> int:
    """Runs service `name` in this process until SIGINT or SIGTERM; the exit status."""
    try:
        config = entry.load(env)
        level = st.log_level(env)
        log_format = st.log_format(env)
    except st.SettingsError as exc:
        print(f"tlssim serve {name}: {exc}", file=sys.stderr)
        return 2
    configure_logging(name, level, log_format)
    trace_exporter.set(otel.exporter_for(env))
    try:
        # Key material and databases the service writes are for its own user alone.
        os.umask(0o077)
        asyncio.run(until_signalled(entry.serve(config, SystemClock())))
    except st.SettingsError as exc:  # found while starting (a configuration file's content)
        log.error("%s cannot start: %s", name, exc)
        return 2
    except OSError as exc:
        log.error("%s cannot start: %s", name, exc)
        return 1
    return 0


async def until_signalled(service: Coroutine[Any, Any, None]) -> None:
    """Runs `service`, cancelling it on SIGINT or SIGTERM so that it stops gracefully."""
    task = asyncio.ensure_future(service)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def grpc_server(
    listen: str,
    service_name: str,
    register: Callable[[grpc.aio.Server], None],
    max_request_bytes: int = rpcutil.DEFAULT_MAX_REQUEST_BYTES,
    traces: TraceLog | None = None,
) -> AsyncIterator[grpc.aio.Server]:
    """A started gRPC server with the standard health service (and the TraceEvents of
    `traces`, when given); stopped gracefully on exit."""
    server = rpcutil.create_server(max_request_bytes)
    register(server)
    stop_export: Callable[[], None] | None = None
    if traces is not None:
        trace_events.add_to_server(traces, server)
        if (exporter := trace_exporter.get()) is not None:
            stop_export = exporter(traces)
    try:
        await rpcutil.start_server(server, listen, [service_name])
        yield server
    finally:
        await server.stop(grace=STOP_GRACE_S)
        if stop_export is not None:
            await asyncio.to_thread(stop_export)  # sends what is left


async def run_forever() -> NoReturn:
    """Parks the service's coroutine until it is cancelled."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")
