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

import hashlib
import os
import threading
from dataclasses import dataclass

#: The largest max_early_data_size a NewSessionTicket can carry (uint32, 4.6.1).
MAX_EARLY_DATA_LIMIT = 0xFFFFFFFF
#: What a server takes in 0-RTT by default: one record's worth.
DEFAULT_MAX_EARLY_DATA = 16384
DEFAULT_REGISTER_CAPACITY = 1_000_000
SCOPE_LENGTH = 8


class UsedTickets:
    """Tickets whose early data was accepted, by SHA-256 of the ticket (thread-safe).
    ``scope`` names this register in the tickets its server issues."""

    def __init__(self, capacity: int = DEFAULT_REGISTER_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.scope = os.urandom(SCOPE_LENGTH)
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, ticket: bytes) -> bool:
        """True the first time ``ticket`` is seen (and remembers it); False afterwards,
        and for every new ticket once the register is full."""
        digest = hashlib.sha256(ticket).digest()
        with self._lock:
            if digest in self._seen or len(self._seen) >= self.capacity:
                return False
            self._seen.add(digest)
            return True

    def is_full(self) -> bool:
        return len(self._seen) >= self.capacity


@dataclass(frozen=True, slots=True, kw_only=True)
class EarlyDataSettings:
    """A server's 0-RTT: tickets allow ``max_size`` bytes of early data, accepted at most
    once per ticket while ``used_tickets`` is set. ``used_tickets=None`` switches
    anti-replay OFF: the same early data is accepted as often as it is replayed (only to
    show why the defence exists)."""

    max_size: int = DEFAULT_MAX_EARLY_DATA
    used_tickets: UsedTickets | None
