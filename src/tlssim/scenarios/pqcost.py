"""What post-quantum cryptography costs on a slow link: the same handshake with classical
keys, with the hybrid key exchange, then with ML-DSA certificates as well, through a
1 Mbit/s link with 50 ms latency whose segments are cut to an Ethernet MTU's payload."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tlssim.faults.rest_client import FaultsApi
from tlssim.report.model import Report
from tlssim.report.wirecost import handshake_cost
from tlssim.topology.endpoints import Endpoints

LINK = "client_server"
RATE_KB_S = 125  # 1 Mbit/s
LATENCY_MS = 50
SEGMENT_BYTES = 1460  # a TCP segment's payload on a 1500-byte MTU path
SLOW_LINK: tuple[dict[str, Any], ...] = tuple(
    {"type": kind, "stream": stream, "attributes": attributes}
    for stream in ("upstream", "downstream")
    for kind, attributes in (
        ("latency", {"latency": LATENCY_MS, "jitter": 0}),
        ("bandwidth", {"rate": RATE_KB_S}),
        ("slicer", {"average_size": SEGMENT_BYTES, "delay": 100}),
    )
)


@dataclass(frozen=True, slots=True)
class Variant:
    label: str
    request: dict[str, Any]


VARIANTS = (
    Variant(
        "classical (x25519, ECDSA P-256)",
        {
            "server_name": "valid.tlssim.test",
            "groups": ["x25519"],
            "signature_schemes": ["ecdsa_secp256r1_sha256"],
        },
    ),
    Variant(
        "hybrid (X25519MLKEM768, ECDSA P-256)",
        {"server_name": "valid.tlssim.test", "signature_schemes": ["ecdsa_secp256r1_sha256"]},
    ),
    Variant("hybrid and ML-DSA-44 chain", {"server_name": "mldsa44.tlssim.test"}),
    Variant("hybrid and ML-DSA-65 chain", {"server_name": "mldsa65.tlssim.test"}),
)

Handshake = Callable[[dict[str, Any]], Awaitable[Report]]


def _line(label: str, report: Report, first: Report | None) -> str:
    cost = handshake_cost(report.steps)
    took = report.timings.get("handshake_ms") or 0.0
    text = f"{label}: {cost.sent} B up, {cost.received} B down, {took:.0f} ms"
    if first is not None:
        base = handshake_cost(first.steps)
        extra = cost.sent + cost.received - base.sent - base.received
        text += f" ({extra:+d} B, {took - (first.timings.get('handshake_ms') or 0.0):+.0f} ms)"
    return text


async def compare_on_a_slow_link(
    api: FaultsApi, endpoints: Endpoints, handshake: Handshake
) -> tuple[bool, str]:
    """Runs every variant through the slow link; passes when each completes, each weighs
    more than the one before, and the ML-DSA-65 handshake takes longer than the classical
    one. The outcome lists bytes and time per variant, with the difference to classical."""
    await handshake(VARIANTS[0].request)  # warm the channels outside the measurement
    for spec in SLOW_LINK:
        await api.acall("POST", f"/proxies/{LINK}/toxics", spec)
    reports = [await handshake(v.request) for v in VARIANTS]
    failed = [v.label for v, r in zip(VARIANTS, reports, strict=True) if not r.ok]
    if failed:
        return False, f"did not complete: {', '.join(failed)}"
    weights = [handshake_cost(r.steps) for r in reports]
    totals = [c.sent + c.received for c in weights]
    ordered = all(a < b for a, b in itertools.pairwise(totals))
    slower = (reports[-1].timings.get("handshake_ms") or 0.0) > (
        reports[0].timings.get("handshake_ms") or 0.0
    )
    lines = [
        _line(v.label, r, None if i == 0 else reports[0])
        for i, (v, r) in enumerate(zip(VARIANTS, reports, strict=True))
    ]
    return ordered and slower, "\n".join(lines)
