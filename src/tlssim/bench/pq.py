"""Post-quantum handshakes: CPU per handshake and bytes on the wire, tlssim's engine
against OpenSSL 4 (the library pyOpenSSL ships, which has ML-KEM and ML-DSA), both in this
one process over memory, on the same certificates.

The rows: x25519 against X25519MLKEM768 on an ECDSA P-256 chain, then X25519MLKEM768 on
ML-DSA-44 and ML-DSA-65 leaves under an ML-DSA-65 CA. Each side sends its leaf and the CA
(as the ECDSA bench chain does); no chain check, no OCSP. Bytes are TLS records as they
would cross a socket, counted on each direction of the pump up to the client's Finished.
pyOpenSSL cannot turn off OpenSSL's TLS 1.3 session ticket: its server still issues one
after the handshake (not counted in the bytes; a few µs in its CPU), ours issues none.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlssim.bench.certs import HOST
from tlssim.bench.engine import Timing, in_memory_handshake, measure
from tlssim.pki import throwaway
from tlssim.pki.keys import generate_private_key, private_key_to_pem
from tlssim.tls import (
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
)


@dataclass(frozen=True)
class PqCase:
    name: str
    chain: str  # "ecdsa", "mldsa44" or "mldsa65"
    group: NamedGroup


#: The classical handshake: the engine section's TLS 1.3 case, here against OpenSSL 4.
CLASSICAL = "ECDSA P-256, x25519"
CASES = (
    PqCase(CLASSICAL, "ecdsa", NamedGroup.x25519),
    PqCase("ECDSA P-256, X25519MLKEM768", "ecdsa", NamedGroup.X25519MLKEM768),
    PqCase("ML-DSA-44, X25519MLKEM768", "mldsa44", NamedGroup.X25519MLKEM768),
    PqCase("ML-DSA-65, X25519MLKEM768", "mldsa65", NamedGroup.X25519MLKEM768),
)


@dataclass(frozen=True)
class Wire:
    client_to_server: int
    server_to_client: int


@dataclass(frozen=True)
class PqResult:
    case: str
    ours: Timing
    ours_wire: Wire
    openssl: Timing | None  # None when pyOpenSSL is not installed
    openssl_wire: Wire | None


def create_chains(directory: Path) -> dict[str, CertifiedKey]:
    """ECDSA P-256 under an ECDSA CA and ML-DSA-44/65 under an ML-DSA-65 CA, as
    CertifiedKeys and as `<kind>.crt` (leaf, CA) and `<kind>.key` PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    ecdsa_ca_key = generate_private_key("ecdsa-p256")
    mldsa_ca_key = generate_private_key("mldsa65")
    cas = {
        "ecdsa": (throwaway.make_ca_with_key("tlssim bench CA", ecdsa_ca_key), ecdsa_ca_key),
        "mldsa": (throwaway.make_ca_with_key("tlssim bench ML-DSA CA", mldsa_ca_key), mldsa_ca_key),
    }
    chains: dict[str, CertifiedKey] = {}
    for kind, key_type in (("ecdsa", "ecdsa-p256"), ("mldsa44", "mldsa44"), ("mldsa65", "mldsa65")):
        ca, ca_key = cas["ecdsa" if kind == "ecdsa" else "mldsa"]
        key = generate_private_key(key_type)
        leaf = throwaway.make_leaf(ca, ca_key, HOST, key)
        certs = (leaf, ca)
        (directory / f"{kind}.crt").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        )
        (directory / f"{kind}.key").write_bytes(private_key_to_pem(key))
        chains[kind] = CertifiedKey(
            chain=tuple(c.public_bytes(serialization.Encoding.DER) for c in certs),
            private_key=key,
        )
    return chains


def tlssim_handshake(case: PqCase, certified: CertifiedKey, wire: list[Wire]) -> Callable[[], None]:
    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> CertifiedKey:
        return certified

    client_config = ClientConfig(
        server_name=HOST,
        entropy=os.urandom,
        supported_groups=(case.group,),
        key_share_groups=(case.group,),
        request_ocsp=False,
    )
    server_config = ServerConfig(entropy=os.urandom, certificate_selector=select)

    def once() -> None:
        up, down = in_memory_handshake(
            ClientConnection(client_config), ServerConnection(server_config)
        )
        wire[:] = [Wire(up, down)]

    return once


def openssl_handshake(case: PqCase, directory: Path, wire: list[Wire]) -> Callable[[], None]:
    """OpenSSL 4's client against OpenSSL 4's server, through memory BIOs."""
    from OpenSSL import SSL
    from OpenSSL._util import lib

    server_ctx = SSL.Context(SSL.TLS_METHOD)
    server_ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    server_ctx.use_certificate_chain_file(str(directory / f"{case.chain}.crt"))
    server_ctx.use_privatekey_file(str(directory / f"{case.chain}.key"))
    server_ctx.set_options(SSL.OP_NO_TICKET)
    client_ctx = SSL.Context(SSL.TLS_METHOD)
    client_ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    for ctx in (client_ctx, server_ctx):
        assert lib.SSL_CTX_set1_curves_list(ctx._context, case.group.name.encode()) == 1

    def pump(conn: SSL.Connection) -> bytes:
        with contextlib.suppress(SSL.WantReadError):
            conn.do_handshake()
        out = b""
        with contextlib.suppress(SSL.WantReadError):
            while True:
                out += conn.bio_read(65536)
        return out

    def once() -> None:
        client = SSL.Connection(client_ctx, None)
        client.set_tlsext_host_name(HOST.encode())
        client.set_connect_state()
        server = SSL.Connection(server_ctx, None)
        server.set_accept_state()
        up = down = 0
        to_server = pump(client)
        finished_sent = False
        for _ in range(10):
            up += len(to_server)
            if to_server:
                server.bio_write(to_server)
            to_client = pump(server)
            if not finished_sent:  # what answers the client's Finished is a ticket
                down += len(to_client)
            if to_client:
                client.bio_write(to_client)
            to_server = pump(client)
            finished_sent = client.get_finished() is not None
            if not to_server and not to_client:
                break
        if client.get_peer_finished() is None or server.get_peer_finished() is None:
            raise RuntimeError("OpenSSL handshake did not complete")
        wire[:] = [Wire(up, down)]

    return once


def openssl_version() -> str:
    """The OpenSSL that pyOpenSSL runs on ("OpenSSL 4.0.3 ..."), or why there is none."""
    if not openssl_available():
        return "no pyOpenSSL"
    from OpenSSL import SSL

    return SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode().rsplit(" ", 3)[0]


def openssl_available() -> bool:
    try:
        from OpenSSL import SSL  # noqa: F401
    except ImportError:
        return False
    return True


def run(directory: Path, n: int) -> list[PqResult]:
    chains = create_chains(directory)
    results = []
    for case in CASES:
        ours_wire: list[Wire] = []
        ours = measure(tlssim_handshake(case, chains[case.chain], ours_wire), n)
        theirs = theirs_wire = None
        if openssl_available():
            openssl_wire: list[Wire] = []
            theirs = measure(openssl_handshake(case, directory, openssl_wire), n)
            theirs_wire = openssl_wire[0]
        results.append(PqResult(case.name, ours, ours_wire[0], theirs, theirs_wire))
    return results


def leaf_sizes(directory: Path) -> dict[str, int]:
    """DER size of each chain's leaf (for the docs' explanation of the bytes)."""
    return {
        kind: len(
            x509.load_pem_x509_certificates((directory / f"{kind}.crt").read_bytes())[
                0
            ].public_bytes(serialization.Encoding.DER)
        )
        for kind in ("ecdsa", "mldsa44", "mldsa65")
    }
