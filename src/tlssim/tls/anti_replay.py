"""0-RTT anti-replay for a server (RFC 8446 section 8): single-use tickets.

Early data has no protection against replay by the record layer: whoever copies a
client's first flight can send it again, on a new connection, and a server that accepts
it runs the request twice. RFC 8446 section 8 offers two defences; this engine uses the
first, single-use tickets (8.1): the server remembers every ticket whose early data it
accepted and refuses early data on any later use of it (the connection still resumes,
1-RTT). The other, ClientHello recording within a freshness window (8.2, 8.3), needs the
server to know the time a ticket was issued and the time now; this engine has no clock,
and a single-use register gives the stronger guarantee (at most once, whatever the time).

The register is bounded: once full it refuses early data for every ticket it does not
know, rather than forget one and accept its replay (it fails closed).

A register only knows the tickets its own server took, so each ticket names the register
that may take its early data (a random scope, new with each register): replicas that share
a ticket key resume each other's tickets, and a server resumes its tickets after a restart,
but only 1-RTT. Otherwise a flight copied to a second replica, or replayed after a restart
emptied the register, would be taken again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: The largest max_early_data_size a NewSessionTicket can carry (uint32, 4.6.1).
MAX_EARLY_DATA_LIMIT = 0xFFFFFFFF
#: What a server takes in 0-RTT by default: one record's worth.
DEFAULT_MAX_EARLY_DATA = 16384


class TicketRegister(Protocol):
    """Where a server records the tickets whose early data it accepted (single use).
    ``scope`` names the register in the tickets its server issues. The engine only asks;
    the register (``net.used_tickets.UsedTickets``) is made outside it, with its random
    scope and its lock, so the engine reads no OS randomness and holds no lock."""

    @property
    def scope(self) -> bytes: ...

    def first_use(self, ticket: bytes) -> bool:
        """True the first time ``ticket`` is seen (and remembers it); False afterwards,
        and for every new ticket once the register is full."""
        ...

    def is_full(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EarlyDataSettings:
    """A server's 0-RTT: tickets allow ``max_size`` bytes of early data, accepted at most
    once per ticket while ``used_tickets`` is set. ``used_tickets=None`` switches
    anti-replay OFF: the same early data is accepted as often as it is replayed (only to
    show why the defence exists)."""

    max_size: int = DEFAULT_MAX_EARLY_DATA
    used_tickets: TicketRegister | None
