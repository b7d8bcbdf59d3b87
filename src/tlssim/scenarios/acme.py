"""ACME orders under faults on the validation link (docs/acme.md, "Faults on purpose").

The client is the lab's own minimal one (tlssim.acme.client): it answers http-01 on the
port the ACME service validates (TLSSIM_ACME_HTTP_PORT), through the faults proxy
`acme_http01`, and reports the certificate or the problem that ended the order.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tlssim import rpcutil
from tlssim.acme.addresses import client_view
from tlssim.acme.client import obtain
from tlssim.faults.rest_client import FaultsApi
from tlssim.report.model import Report
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.topology.endpoints import Endpoints

Handshake = Callable[[dict[str, Any]], Awaitable[Report]]


async def _bundle(endpoints: Endpoints) -> str:
    async with rpcutil.open_channel(endpoints.ca) as channel:
        reply = await ca_pb2_grpc.CertificateAuthorityStub(channel).GetTrustBundle(
            ca_pb2.GetTrustBundleRequest(), timeout=10
        )
    return str(reply.pem)


async def _order(endpoints: Endpoints) -> tuple[bool, str, str]:
    directory, port = client_view()
    name = f"scenario-{uuid.uuid4().hex[:8]}.tlssim.test"
    outcome = await obtain(directory, await _bundle(endpoints), name, port)
    if outcome.issued:
        return True, f"issued serial {outcome.serial} for {name}", outcome.trace_id
    return False, f"not issued: {outcome.problem}", outcome.trace_id


async def validation_link_slow(
    api: FaultsApi, endpoints: Endpoints, handshake: Handshake
) -> tuple[bool, str]:
    del handshake
    toxic = {"type": "latency", "stream": "downstream", "attributes": {"latency": 300}}
    await api.acall("POST", "/proxies/acme_http01/toxics", toxic)
    issued, actual, trace_id = await _order(endpoints)
    return issued, f"{actual} (trace {trace_id})"


async def validation_link_down(
    api: FaultsApi, endpoints: Endpoints, handshake: Handshake
) -> tuple[bool, str]:
    del handshake
    await api.acall("POST", "/proxies/acme_http01", {"enabled": False})
    issued, actual, trace_id = await _order(endpoints)
    return (not issued and actual.endswith("connection")), f"{actual} (trace {trace_id})"
