"""The faults service process: Toxiproxy-compatible API (default :8474) and its proxies.

Proxies are TCP proxies or, with `"protocol": "tlssim-grpc"`, gRPC TlsServer relays;
see docs/faults.md for the API, the proxy kinds and the handshake-aware tls_* toxics.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from tlssim.endpoints import FAULTS_API_PORT
from tlssim.faults import CONFIG_ENV, FaultsServer, ProxySpec, load_config, seed_from_env

log = logging.getLogger(__name__)

DEFAULT_API_LISTEN = f"127.0.0.1:{FAULTS_API_PORT}"


async def serve(
    api_listen: str = DEFAULT_API_LISTEN,
    proxies: Sequence[ProxySpec] = (),
    seed: int | None = None,
) -> None:
    """Run the API and the proxies (plus those in $TLSSIM_FAULTS_CONFIG) until cancelled."""
    initial = list(proxies)
    config = os.environ.get(CONFIG_ENV)
    if config:
        initial += load_config(config)
    if seed is None:
        seed = seed_from_env()
    server = FaultsServer(api_listen, seed)
    await server.start(initial)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()
