"""How many connections the faults service holds open at once, per proxy and in all.

Each proxied connection costs two sockets and a few tasks; a client that opens connections
without end (or a loop the API did not catch) would otherwise take the process to its file
limit, where it answers nothing. Past a cap a new connection is closed at once and the
refusal is logged, at most one line a second (the line says how many went unlogged).
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 1.0
# No cap: proxies made outside the faults service (tests, embedding); the service passes
# its settings' caps (TLSSIM_FAULTS_MAX_CONNECTIONS, ..._PER_PROXY).
UNBOUNDED = 1 << 30


@dataclass(slots=True)
class ConnectionBudget:
    """Shared by every proxy of one faults service."""

    max_total: int = UNBOUNDED
    max_per_proxy: int = UNBOUNDED
    open: int = 0
    refused: int = 0
    #: Refusals by proxy name, (name,) -> count (the tlssim_fault_connections_refused metric).
    refused_by: collections.Counter[tuple[str, ...]] = field(default_factory=collections.Counter)
    _unlogged: int = 0
    _last_log: float = field(default=-LOG_INTERVAL_S)

    def admit(self, proxy: str, proxy_open: int) -> bool:
        """Take one connection for `proxy` (which holds `proxy_open` now), or refuse it."""
        if proxy_open >= self.max_per_proxy:
            self._refuse(
                proxy,
                f"proxy {proxy} holds {proxy_open} connections, its limit "
                "(TLSSIM_FAULTS_MAX_CONNECTIONS_PER_PROXY)",
            )
            return False
        if self.open >= self.max_total:
            self._refuse(
                proxy,
                f"the faults service holds {self.open} connections, its limit "
                "(TLSSIM_FAULTS_MAX_CONNECTIONS)",
            )
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open = max(0, self.open - 1)

    def _refuse(self, proxy: str, why: str) -> None:
        self.refused += 1
        self.refused_by[(proxy,)] += 1
        now = time.monotonic()
        if now - self._last_log < LOG_INTERVAL_S:
            self._unlogged += 1
            return
        more = f"; {self._unlogged} more refused since the last such line" if self._unlogged else ""
        log.warning("proxy %s: new connection refused: %s%s", proxy, why, more)
        self._last_log, self._unlogged = now, 0
