"""The faults service process: Toxiproxy-compatible API (default :8474) and its proxies.

Proxies are TCP proxies or, with `"protocol": "tlssim-grpc"`, gRPC TlsServer relays;
see docs/faults.md for the API, the proxy kinds and the handshake-aware tls_* toxics.
"""

from __future__ import annotations

import logging

from tlssim.clock import Clock
from tlssim.faults import FaultsError, FaultsServer, load_config
from tlssim.faults.budget import ConnectionBudget
from tlssim.faults.registry import UpstreamPolicy
from tlssim.services import runtime
from tlssim.services.settings import FaultsSettings, SettingsError
from tlssim.telemetry import metrics

log = logging.getLogger(__name__)


async def serve(settings: FaultsSettings, clock: Clock | None = None) -> None:
    """Run the API and the proxies (plus those in `settings.config`) until cancelled."""
    initial = load_config(str(settings.config)) if settings.config else []
    server = FaultsServer(
        settings.api_listen,
        settings.seed,
        listen_hosts=settings.listen_hosts,
        upstreams=UpstreamPolicy(hosts=settings.upstream_hosts, reserved=settings.reserved),
        budget=ConnectionBudget(
            max_total=settings.max_connections,
            max_per_proxy=settings.max_connections_per_proxy,
        ),
        http_hosts=settings.http_hosts,
    )
    try:
        await server.start(initial)
    except FaultsError as exc:
        # a proxy of the configuration file the API would refuse: say so in one line
        await server.close()
        raise SettingsError(f"TLSSIM_FAULTS_CONFIG {settings.config}: {exc}") from None
    toxics = metrics.Reading(
        "tlssim_fault_toxics",
        "fault toxics active now, by type and link (proxy)",
        ["type", "link"],
        server.active_toxics,
    )
    connections = metrics.Reading(
        "tlssim_fault_connections",
        "connections each proxy holds now (a gRPC relay: HTTP/2 connections)",
        ["link"],
        server.open_connections,
    )
    refused = metrics.Tally(
        "tlssim_fault_connections_refused",
        "new connections closed at once: a proxy or the service at its connection limit",
        ["link"],
    )
    refused.counts = server.registry.budget.refused_by
    try:
        exposed = metrics.Metrics([toxics, connections, refused])
        async with metrics.endpoint(settings.metrics_listen, exposed, settings.http_hosts):
            await runtime.run_forever()
    finally:
        await server.close()
