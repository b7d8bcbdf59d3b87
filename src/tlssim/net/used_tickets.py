"""The register of used 0-RTT tickets a server keeps (RFC 8446 section 8.1, single use;
see ``tls/anti_replay.py``): bounded, thread-safe, with a random scope of its own. It lives
beside the connection loop, not in the engine, which takes its randomness through its config
and has no locks."""

from __future__ import annotations

import hashlib
import os
import threading

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
