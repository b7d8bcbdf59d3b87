"""The server's virtual hosts: SNI name -> the certificates it presents.

A host may hold several keys (like nginx or OpenSSL with an ECDSA and an RSA certificate);
the one the client's signature_algorithms can use is presented.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "valid.tlssim.test"


@dataclass(frozen=True, slots=True)
class VirtualHost:
    name: str
    key_types: tuple[str, ...]
    profile: str = "server"
    expected: str = "success"  # what a verifying client should see; documented in the README


VIRTUAL_HOSTS: tuple[VirtualHost, ...] = (
    VirtualHost(DEFAULT_HOST, ("ecdsa-p256", "rsa2048")),
    VirtualHost("rsa2048.tlssim.test", ("rsa2048",)),
    VirtualHost("ecdsa-p256.tlssim.test", ("ecdsa-p256",)),
    VirtualHost("ed25519.tlssim.test", ("ed25519",)),
)


def find(name: str | None) -> VirtualHost | None:
    """The host for an SNI name; no SNI gets the default host."""
    wanted = (name or DEFAULT_HOST).lower().rstrip(".")
    return next((h for h in VIRTUAL_HOSTS if h.name == wanted), None)
