"""What every service process shares: settings, logging, its gRPC server, signals, stop.

A service is one coroutine, ``serve(settings, clock)``, that runs until it is cancelled and
cleans up in ``finally``. ``run_service`` reads the settings once, sets up logging, runs that
coroutine and cancels it on SIGINT or SIGTERM, so every service stops the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from tlssim import otel, rpcutil
from tlssim.clock import Clock, SystemClock
from tlssim.rpcutil import trace_id_var
from tlssim.services import settings as st
from tlssim.services import trace_events
from tlssim.traces import TraceLog

log = logging.getLogger("tlssim.services")

# How long in-flight calls may finish when a service stops.
STOP_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """How to read one service's settings and start it."""

    load: Callable[[Mapping[str, str]], Any]
    serve: Callable[[Any, Clock], Coroutine[Any, Any, None]]


def _entries(name: str = "") -> dict[str, ServiceEntry]:
    # Imported here so that `tlssim serve ca` loads the ca's code and nobody else's.
    from tlssim.services import ca, client, console, faults, ocsp, server

    def acme() -> ServiceEntry:  # the ACME service (docs/acme.md)
        from tlssim.acme.settings import AcmeSettings
        from tlssim.services import acme

        return ServiceEntry(AcmeSettings.from_env, acme.serve)

    if name == "acme":
        return {"acme": acme()}
    return {
        "ca": ServiceEntry(st.CaSettings.from_env, ca.serve),
        "ocsp": ServiceEntry(st.OcspSettings.from_env, ocsp.serve),
        "server": ServiceEntry(st.ServerSettings.from_env, server.serve),
        "client": ServiceEntry(st.ClientSettings.from_env, client.serve),
        "faults": ServiceEntry(st.FaultsSettings.from_env, faults.serve),
        "console": ServiceEntry(st.ConsoleSettings.from_env, console.serve),
    }


SERVICE_NAMES = ("ca", "ocsp", "server", "client", "faults", "console", "acme")

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


class _ClippingFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        if len(record.message) > MAX_LOG_MESSAGE:
            cut = len(record.message) - MAX_LOG_MESSAGE
            record.message = f"{record.message[:MAX_LOG_MESSAGE]} ... [{cut} more characters]"
        return super().formatMessage(record)


class _JsonFormatter(_ClippingFormatter):
    """One JSON object per line, for log collectors (TLSSIM_LOG_FORMAT=json)."""

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
            "message": self.formatMessage(record),
            "logger": record.name,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)

    def formatMessage(self, record: logging.LogRecord) -> str:
        super().formatMessage(record)  # cuts record.message if too long
        return record.message


def configure_logging(service: str, level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceFilter())
    formatter: logging.Formatter
    if log_format == "json":
        formatter = _JsonFormatter(service)
    else:
        formatter = _ClippingFormatter(
            f"%(asctime)s {service} %(levelname)s [trace %(trace)s] %(message)s"
        )
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)


def run_service(name: str, env: Mapping[str, str]) -> int:
    """Runs service `name` in this process until SIGINT or SIGTERM; the exit status."""
    if name not in SERVICE_NAMES:
        known = ", ".join(SERVICE_NAMES)
        print(f"tlssim: unknown service {name!r}; choose {known}", file=sys.stderr)
        return 2
    entry = _entries(name)[name]
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
