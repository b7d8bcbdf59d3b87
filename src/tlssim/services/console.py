"""The console service: the live web page of the lab (tlssim.console), on HTTP."""

from __future__ import annotations

import asyncio
import logging

from tlssim.clock import Clock
from tlssim.console.app import console_app
from tlssim.console.sources import follow_all
from tlssim.console.state import LabState
from tlssim.services import runtime
from tlssim.services.settings import ConsoleSettings
from tlssim.topology.endpoints import split_host_port
from tlssim.web import WebServer

log = logging.getLogger("tlssim.console")


async def serve(settings: ConsoleSettings, clock: Clock) -> None:
    state = LabState()
    server = WebServer(console_app(state, settings.http_hosts))
    host, port = split_host_port(settings.listen)
    tasks = follow_all(
        state,
        settings.server,
        settings.client,
        settings.ca,
        settings.faults_api,
        settings.ocsp,
    )
    try:
        await server.start(host, port)
        log.info("console ready on http://%s", settings.listen)
        await runtime.run_forever()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
