"""Resumable sessions: what a client keeps, and the server's bounded TLS 1.2 session cache.

No clock lives here: the caller ages sessions (``ClientConfig.session_age_ms``) and evicts
what it considers stale (``SessionCache.remove`` / ``clear``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from tlssim.tls.constants import CipherSuite, ProtocolVersion


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """An opaque resumable session, handed out in ``SessionReceived``.

    TLS 1.2: ``session_id`` and the master secret. TLS 1.3: the ticket, its age obfuscator
    and lifetime, and the PSK derived from the resumption master secret (``secret``).
    """

    version: ProtocolVersion
    cipher_suite: CipherSuite
    secret: bytes
    server_name: str | None
    session_id: bytes = b""
    extended_master_secret: bool = False
    #: TLS 1.2: how the original handshake agreed the keys ("x25519", "rsa"...), so that a
    #: resumption can report it; "" when unknown.
    key_exchange: str = ""
    ticket: bytes = b""
    ticket_age_add: int = 0
    ticket_lifetime: int = 0
    #: TLS 1.3: the ticket's max_early_data_size (0: the server takes no 0-RTT with it).
    max_early_data: int = 0

    def __repr__(self) -> str:  # never print the secret
        return (
            f"Session({self.version.label}, {self.cipher_suite.name}, "
            f"server_name={self.server_name!r}, id={self.session_id.hex()[:16]}, "
            f"ticket={len(self.ticket)} bytes)"
        )


class SessionCache:
    """A server's TLS 1.2 session cache: session id -> Session, least recently used out."""

    def __init__(self, max_size: int = 1024) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: bytes) -> Session | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
        return session

    def put(self, session: Session) -> None:
        self._sessions[session.session_id] = session
        self._sessions.move_to_end(session.session_id)
        while len(self._sessions) > self.max_size:
            self._sessions.popitem(last=False)

    def remove(self, session_id: bytes) -> None:
        self._sessions.pop(session_id, None)

    def clear(self) -> None:
        self._sessions.clear()
