"""What a handshake costs on the wire, from a report's steps: bytes per flight and the
messages that post-quantum keys make large (key shares, certificate chain,
CertificateVerify). Sizes are handshake message bytes (4-byte header included), without
record headers and AEAD overhead, so they compare across versions and transports; what
went over the connection, records and all, is the report's `wire`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

SENT, RECEIVED = "sent", "received"  # the report's Direction values


class Step(Protocol):
    """What the cost reads of a report's step (`model.Step`, which the report's JSON carries
    this module's figures for: the model imports this module, not the other way)."""

    @property
    def name(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def at_ms(self) -> float: ...
    @property
    def size(self) -> int: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


#: Steps that are not part of the handshake's flights.
_NOT_HANDSHAKE = frozenset({"ApplicationData"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Flight:
    """Messages one side sent in a row, before the other answered."""

    direction: str  # "sent" (client -> server) or "received"
    messages: tuple[str, ...]
    size: int
    #: When its last message was sent or received, ms after the run started.
    at_ms: float


@dataclass(frozen=True, kw_only=True, slots=True)
class HandshakeCost:
    flights: tuple[Flight, ...]
    sent: int  # client -> server handshake bytes
    received: int  # server -> client
    #: Key exchange payloads: the client's shares (one per offered group) and the server's.
    client_key_shares: tuple[int, ...]
    server_key_share: int
    #: The server's certificates (DER, leaf first) and its OCSP staple.
    certificates: tuple[int, ...]
    ocsp_staple: int
    #: The server's CertificateVerify message (its signature and 8 bytes of framing).
    certificate_verify: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "flights": [
                {
                    "direction": str(f.direction),
                    "messages": list(f.messages),
                    "bytes": f.size,
                    "at_ms": f.at_ms,
                }
                for f in self.flights
            ],
            "sent_bytes": self.sent,
            "received_bytes": self.received,
            "client_key_share_bytes": list(self.client_key_shares),
            "server_key_share_bytes": self.server_key_share,
            "certificate_bytes": list(self.certificates),
            "ocsp_staple_bytes": self.ocsp_staple,
            "certificate_verify_bytes": self.certificate_verify,
        }


def handshake_cost(steps: Iterable[Step]) -> HandshakeCost:
    flights: list[Flight] = []
    totals = {SENT: 0, RECEIVED: 0}
    client_shares: tuple[int, ...] = ()
    server_share = certificate_verify = staple = 0
    certificates: tuple[int, ...] = ()
    for step in steps:
        direction = str(step.direction)
        if direction not in totals or step.name in _NOT_HANDSHAKE:
            continue
        totals[direction] += step.size
        last = flights[-1] if flights else None
        if last is not None and last.direction == direction:
            flights[-1] = Flight(
                direction=last.direction,
                messages=(*last.messages, step.name),
                size=last.size + step.size,
                at_ms=step.at_ms,
            )
        else:
            flights.append(
                Flight(
                    direction=direction,
                    messages=(step.name,),
                    size=step.size,
                    at_ms=step.at_ms,
                )
            )
        fields = step.fields
        if step.name == "ClientHello" and "key_share_sizes" in fields:
            client_shares = tuple(int(n) for n in fields["key_share_sizes"])
        elif step.name == "ServerHello" and "key_share_size" in fields:
            server_share = int(fields["key_share_size"])
        elif step.name == "Certificate" and direction == RECEIVED:
            certificates = tuple(int(n) for n in fields.get("sizes", ()))
            staple = int(fields.get("ocsp_staple_size", 0))
        elif step.name == "CertificateVerify" and direction == RECEIVED:
            certificate_verify = step.size
    return HandshakeCost(
        flights=tuple(flights),
        sent=totals[SENT],
        received=totals[RECEIVED],
        client_key_shares=client_shares,
        server_key_share=server_share,
        certificates=certificates,
        ocsp_staple=staple,
        certificate_verify=certificate_verify,
    )


def cost_lines(cost: HandshakeCost) -> list[str]:
    """The cost in words, for the story: one line for the flights, one for the big parts."""
    if not cost.flights:
        return []
    arrows = {SENT: "client", RECEIVED: "server"}
    flights = ", ".join(f"{arrows[f.direction]} {f.size} B" for f in cost.flights)
    lines = [
        f"handshake messages: {cost.sent} B sent, {cost.received} B received; flights: {flights}"
    ]
    parts: list[str] = []
    if cost.client_key_shares:
        shares = " + ".join(str(n) for n in cost.client_key_shares)
        parts.append(f"key shares {shares} B offered, {cost.server_key_share} B answered")
    if cost.certificates:
        chain = " + ".join(str(n) for n in cost.certificates)
        parts.append(f"certificates {chain} = {sum(cost.certificates)} B")
    if cost.ocsp_staple:
        parts.append(f"OCSP staple {cost.ocsp_staple} B")
    if cost.certificate_verify:
        parts.append(f"signature {cost.certificate_verify} B")  # the CertificateVerify message
    if parts:
        lines.append("of which: " + ", ".join(parts))
    return lines
