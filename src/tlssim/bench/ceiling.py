"""The ceiling of the distributed path: what this machine allows a handshake that crosses
separate gRPC processes, computed in the same run as the rows it judges.

A distributed handshake costs at least what gRPC costs for the same calls (the floor row:
the calls with nothing in them) plus what the handshake itself costs (our client and server
engines pumped in memory, with the group, chain length, chain check and staple size the
stack's handshake had). Two cores doing nothing else carry ``cores * 1000 / (floor + engine)``
such handshakes per second; every distributed row is then a fraction of that, and its CPU per
handshake a multiple of floor + engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography import x509

from tlssim.bench.certs import HOST, BenchPKI
from tlssim.bench.engine import in_memory_handshake, measure
from tlssim.pki.verify import ChainVerifier
from tlssim.report.model import Report
from tlssim.report.wirecost import handshake_cost
from tlssim.tls import (
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
    events,
)


@dataclass(frozen=True)
class EnginePair:
    cpu_ms: float  # client + server engine CPU per handshake
    what: str  # the handshake measured, in words


def engine_pair(
    report_json: str, pki: BenchPKI, n: int, group: NamedGroup | None = None
) -> EnginePair:
    """Our two engines doing the stack's handshake (as its report describes it, or in
    `group`) in memory."""
    report = Report.from_json(report_json)
    group = group or NamedGroup[report.key_exchange or "x25519"]
    staple = handshake_cost(report.steps).ocsp_staple
    base = pki.keys["ecdsa"]
    certified = CertifiedKey(
        chain=base.chain,
        private_key=base.private_key,
        ocsp_response=os.urandom(staple) if staple else None,
    )

    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> CertifiedKey:
        return certified

    client_config = ClientConfig(
        server_name=HOST,
        entropy=os.urandom,
        supported_groups=(group,),
        key_share_groups=(group,),
        request_ocsp=bool(staple),
    )
    server_config = ServerConfig(entropy=os.urandom, certificate_selector=select)
    verifier = ChainVerifier([pki.ca])

    def check(event: events.CertificateReceived) -> None:
        chain = [x509.load_der_x509_certificate(d) for d in event.chain]
        if not verifier.verify(chain, HOST).ok:
            raise RuntimeError("the bench chain did not verify")

    def once() -> None:
        in_memory_handshake(ClientConnection(client_config), ServerConnection(server_config), check)

    timing = measure(once, n)
    what = f"TLS 1.3, {group.name}, ECDSA P-256 chain of {len(base.chain)} checked" + (
        f", {staple} B staple" if staple else ""
    )
    return EnginePair(timing.cpu_us / 1000, what)


@dataclass(frozen=True)
class Ceiling:
    floor_ms: float  # gRPC's CPU per handshake's calls, all processes
    engine_ms: float
    cores: int

    @property
    def per_handshake_ms(self) -> float:
        return self.floor_ms + self.engine_ms

    @property
    def rate(self) -> float:
        """Handshakes per second the machine allows: every core busy on floor + engine."""
        return self.cores * 1000 / self.per_handshake_ms
