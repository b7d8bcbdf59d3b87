"""A copied 0-RTT flight sent again as a new client: the server must act on it once only.

The client resumes a session and sends early data; the faults proxy on the client-server
link copies that connection's first flight (ClientHello, change_cipher_spec and the early
data record) and sends it again on a connection of its own (``tls_replay`` with
``replay_on=new_connection``), while the original goes on. The server's
``tlssim_early_data_total`` says what it did with each. With anti-replay on, the original
is accepted and the copy refused as a replay; with it off (``TLSSIM_ANTI_REPLAY=off``),
both are accepted: the request in the early data would have run twice. (The full
handshake before the resumption is copied too; it carries no early data and its copy
fails at the server without counting here.)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tlssim.faults.rest_client import FaultsApi
from tlssim.report.model import Report
from tlssim.topology.endpoints import Endpoints

EARLY_DATA = b"POST /transfer?amount=100 HTTP/1.1\r\n\r\n"
REPLAY_FIRST_FLIGHT: dict[str, Any] = {
    "type": "tls_replay",
    "stream": "upstream",
    "attributes": {
        "content_type": "application_data",
        "replay_content_type": "handshake",
        "replay_handshake_type": "client_hello",
        "replay_count": 3,
        "replay_on": "new_connection",
    },
}
# The copy's connection ends when the proxy stops waiting for its answer (3 s).
COUNTED_WITHIN_S = 10.0
_SAMPLE = re.compile(r'^tlssim_early_data_total\{outcome="(\w+)"\} ([0-9.e+]+)$', re.M)


async def early_data_counts(metrics_address: str) -> dict[str, int]:
    """The server's tlssim_early_data_total by outcome."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"http://{metrics_address}/metrics") as reply,
    ):
        text = await reply.text()
    return {outcome: int(float(n)) for outcome, n in _SAMPLE.findall(text)}


async def replayed_0rtt(
    api: FaultsApi,
    endpoints: Endpoints,
    handshake: Callable[[dict[str, Any]], Awaitable[Report]],
) -> tuple[bool, str]:
    """(passed, what happened): passed when the original's early data was accepted and the
    copy's refused as a replay."""
    metrics = endpoints.server_metrics
    before = await early_data_counts(metrics)
    await api.acall("POST", "/proxies/client_server/toxics", REPLAY_FIRST_FLIGHT)
    report = await handshake({"resume": True, "early_data": EARLY_DATA, "tls_version": "1.3"})
    deadline = time.monotonic() + COUNTED_WITHIN_S
    while True:
        now = await early_data_counts(metrics)
        added = {k: now.get(k, 0) - before.get(k, 0) for k in ("accepted", "replay", "rejected")}
        if sum(added.values()) >= 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    early = report.early_data
    client = "accepted" if early is not None and early.accepted else "not accepted"
    actual = (
        f"handshake {'success' if report.ok else f'failure ({report.error})'}, "
        f"the client's 0-RTT {client}; "
        f"server: 0-RTT accepted {added['accepted']}x, refused as a replay "
        f"{added['replay']}x, rejected otherwise {added['rejected']}x"
    )
    passed = report.ok and added["accepted"] == 1 and added["replay"] == 1
    return passed, actual
