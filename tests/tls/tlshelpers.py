"""Test helpers: a small CA with ECDSA/RSA/Ed25519 leaves, entropy feeds, in-memory pumps."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tlssim.pki import throwaway
from tlssim.pki.keys import generate_private_key
from tlssim.tls import (
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
    events,
)
from tlssim.tls.signatures import PrivateKey, key_supports

HOST = "valid.tlssim.test"
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

E = TypeVar("E", bound=events.Event)


def counter_entropy(seed: bytes = b"tlssim") -> Callable[[int], bytes]:
    """Deterministic entropy: SHA-256 in counter mode."""
    state = {"n": 0}

    def entropy(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + state["n"].to_bytes(8, "big")).digest()
            state["n"] += 1
        return out[:n]

    return entropy


def queue_entropy(*chunks: bytes) -> Callable[[int], bytes]:
    """Entropy that hands out exactly the given chunks, in order (RFC 8448 replay)."""
    pending = list(chunks)

    def entropy(n: int) -> bytes:
        chunk = pending.pop(0)
        assert len(chunk) == n, (len(chunk), n)
        return chunk

    return entropy


@dataclass(frozen=True)
class TestPKI:
    ca_cert: x509.Certificate
    ca_pem: bytes
    keys: dict[str, CertifiedKey]  # "ecdsa", "rsa", "ed25519"

    def leaf_pem(self, kind: str) -> bytes:
        der = self.keys[kind].chain[0]
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)

    def key_pem(self, kind: str) -> bytes:
        return self.keys[kind].private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@functools.cache
def pki() -> TestPKI:
    ca_cert, ca_key = throwaway.make_ca("tlssim test CA")
    keys: dict[str, CertifiedKey] = {}
    leaf_keys: dict[str, PrivateKey] = {
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(65537, 2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    for kind, key in leaf_keys.items():
        leaf = throwaway.make_leaf(ca_cert, ca_key, HOST, key)
        keys[kind] = CertifiedKey(
            chain=(
                leaf.public_bytes(serialization.Encoding.DER),
                ca_cert.public_bytes(serialization.Encoding.DER),
            ),
            private_key=key,
        )
    return TestPKI(ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), keys)


def selector_for(
    certified: CertifiedKey,
) -> Callable[[str | None, tuple[SignatureScheme, ...]], CertifiedKey]:
    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> CertifiedKey:
        return certified

    return select


def multi_selector(
    *candidates: CertifiedKey,
) -> Callable[[str | None, tuple[SignatureScheme, ...]], CertifiedKey]:
    """Pick the first key some offered scheme can sign with (like the valid.* host)."""

    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> CertifiedKey:
        for c in candidates:
            if any(key_supports(c.private_key, s) for s in schemes):
                return c
        return candidates[0]

    return select


def make_pair(
    kind: str = "ecdsa",
    client_kw: dict[str, object] | None = None,
    server_kw: dict[str, object] | None = None,
    ocsp: bytes | None = None,
) -> tuple[ClientConnection, ServerConnection]:
    certified = pki().keys[kind]
    if ocsp is not None:
        certified = CertifiedKey(
            chain=certified.chain, private_key=certified.private_key, ocsp_response=ocsp
        )
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **(client_kw or {}))  # type: ignore[arg-type]
    )
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(certified),
            **(server_kw or {}),  # type: ignore[arg-type]
        )
    )
    return client, server


def pump(
    client: ClientConnection,
    server: ServerConnection,
    accept: bool = True,
    max_rounds: int = 20,
) -> tuple[list[events.Event], list[events.Event]]:
    """Shuttle bytes both ways until quiet; accepts the certificate when asked."""
    client_events: list[events.Event] = []
    server_events: list[events.Event] = []
    for _ in range(max_rounds):
        moved = False
        data = client.data_to_send()
        if data:
            moved = True
            server_events += server.receive_data(data)
        data = server.data_to_send()
        if data:
            moved = True
            new = client.receive_data(data)
            client_events += new
            if accept and any(isinstance(e, events.CertificateReceived) for e in new):
                client_events += client.accept_certificate()
        if not moved:
            break
    return client_events, server_events


def of_type(evs: Sequence[events.Event], cls: type[E]) -> list[E]:
    """The events of one class, typed as that class."""
    return [e for e in evs if isinstance(e, cls)]


@dataclass(frozen=True)
class MldsaPKI:
    """An ML-DSA-65 root with ML-DSA-44 and ML-DSA-65 leaves (the post-quantum chains)."""

    ca_pem: bytes
    keys: dict[str, CertifiedKey]  # "mldsa44", "mldsa65"


@functools.cache
def mldsa_pki() -> MldsaPKI:
    ca_key = generate_private_key("mldsa65")
    ca_cert = throwaway.make_ca_with_key("tlssim test ML-DSA CA", ca_key)
    keys: dict[str, CertifiedKey] = {}
    for kind in ("mldsa44", "mldsa65"):
        key = generate_private_key(kind)
        leaf = throwaway.make_leaf(ca_cert, ca_key, HOST, key)
        keys[kind] = CertifiedKey(
            chain=(
                leaf.public_bytes(serialization.Encoding.DER),
                ca_cert.public_bytes(serialization.Encoding.DER),
            ),
            private_key=key,
        )
    return MldsaPKI(ca_cert.public_bytes(serialization.Encoding.PEM), keys)


def protocol_messages(
    evs: Sequence[events.Event],
    cls: type[events.HandshakeMessageSent] | type[events.HandshakeMessageReceived],
) -> list[str]:
    """The names of the messages of one direction, without TLS 1.3's compatibility
    change_cipher_spec records (they show in the events, but mean nothing)."""
    return [e.name for e in evs if isinstance(e, cls) and not e.fields.get("compatibility")]
