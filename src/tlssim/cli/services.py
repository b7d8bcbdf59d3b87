"""`tlssim serve NAME`: runs one service in this process, configured from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tlssim import endpoints as ep
from tlssim.clock import SystemClock
from tlssim.rpcutil import trace_id_var

SERVICE_NAMES = ("ca", "ocsp", "server", "client", "faults")


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace = trace_id_var.get() or "-"
        return True


def configure_logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceFilter())
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s [trace %(trace)s] %(message)s")
    )
    logging.basicConfig(level=os.environ.get("TLSSIM_LOG_LEVEL", "INFO"), handlers=[handler])


def default_data_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(os.environ.get("TLSSIM_DATA_DIR") or Path(state) / "tlssim")


def _listen(variable: str, own_address: str) -> str:
    """Where a service binds: an explicit TLSSIM_*LISTEN, else the port of its own address."""
    if explicit := os.environ.get(variable):
        return explicit
    host = os.environ.get("TLSSIM_LISTEN_HOST", ep.DEFAULT_HOST)
    return f"{host}:{ep.split_host_port(own_address)[1]}"


def service_main(name: str) -> Callable[[], Awaitable[None]]:
    """The coroutine function that runs service `name` with addresses from the environment."""
    e = ep.Endpoints.from_env()
    clock = SystemClock()
    listen = "TLSSIM_LISTEN"
    if name == "ca":
        from tlssim.services import ca

        return lambda: ca.serve(_listen(listen, e.ca), default_data_dir() / "ca", e.ocsp_url, clock)
    if name == "ocsp":
        from tlssim.services import ocsp

        http = _listen("TLSSIM_HTTP_LISTEN", e.ocsp_url.removeprefix("http://").split("/")[0])
        return lambda: ocsp.serve(_listen(listen, e.ocsp), http, e.ca, clock)
    if name == "server":
        from tlssim.services import server

        tcp = _listen("TLSSIM_TCP_LISTEN", e.server_tcp)
        return lambda: server.serve(_listen(listen, e.server), tcp, e.ca, e.ocsp, clock)
    if name == "client":
        from tlssim.services import client

        return lambda: client.serve(_listen(listen, e.client), e.server, e.ca, e.ocsp, clock)
    if name == "faults":
        from tlssim.services import faults

        return lambda: faults.serve(_listen(listen, e.faults_api))
    raise ValueError(f"unknown service {name!r}; choose one of {', '.join(SERVICE_NAMES)}")


def run_service(name: str) -> int:
    configure_logging(name)
    main = service_main(name)

    async def runner() -> None:
        task = asyncio.ensure_future(main())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(runner())
    except OSError as exc:
        logging.getLogger("tlssim").error("%s cannot start: %s", name, exc)
        return 1
    return 0
