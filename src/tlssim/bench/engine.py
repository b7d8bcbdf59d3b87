"""Engine CPU per handshake: tlssim's client+server pumped in memory vs OpenSSL's through
``ssl.MemoryBIO``, both in this one process, on the same certificates.

Each handshake builds two fresh connections, shuttles bytes until both sides report the
handshake complete, and stops (no application data, no tickets, no OCSP). "chain check"
variants add certificate verification on the client: for tlssim, parsing the DER chain and
``ChainVerifier.verify`` (path, validity, hostname); for OpenSSL, ``CERT_REQUIRED`` with
``check_hostname``. Without it, tlssim's client accepts the certificate unread and OpenSSL's
runs with ``CERT_NONE``.
"""

from __future__ import annotations

import hmac
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tlssim.bench.certs import HOST, BenchPKI
from tlssim.pki.verify import ChainVerifier
from tlssim.tls import (
    CertifiedKey,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
    events,
)


@dataclass(frozen=True)
class Timing:
    """Per-handshake cost, the best batch of several (least disturbed by the machine)."""

    cpu_us: float
    wall_us: float
    handshakes: int


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the certificate: "ecdsa" or "rsa"
    versions: tuple[ProtocolVersion, ...]
    suites: tuple[CipherSuite, ...]
    openssl_ciphers: str | None  # TLS 1.2 cipher string for OpenSSL, None for TLS 1.3


CASES = (
    Case(
        "TLS 1.3 ECDSA P-256, X25519",
        "ecdsa",
        (ProtocolVersion.TLSv1_3,),
        (CipherSuite.TLS_AES_128_GCM_SHA256,),
        None,
    ),
    Case(
        "TLS 1.2 ECDHE-ECDSA, X25519",
        "ecdsa",
        (ProtocolVersion.TLSv1_2,),
        (CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,),
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    Case(
        "TLS 1.2 RSA key transport (RSA-2048)",
        "rsa",
        (ProtocolVersion.TLSv1_2,),
        (CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,),
        "AES128-GCM-SHA256",
    ),
)


def measure(once: Callable[[], None], n: int, batches: int = 3) -> Timing:
    for _ in range(max(3, n // 10)):
        once()  # warm up
    best: tuple[float, float] | None = None
    for _ in range(batches):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            once()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if best is None or cpu < best[0]:
            best = (cpu, wall)
    assert best is not None
    return Timing(best[0] / n * 1e6, best[1] / n * 1e6, n * batches)


def in_memory_handshake(
    client: ClientConnection,
    server: ServerConnection,
    check: Callable[[events.CertificateReceived], None] | None = None,
) -> tuple[int, int]:
    """Bytes shuttled in memory until both ends are connected (the certificate accepted,
    after `check`); returns the bytes sent each way (client to server, server to client)."""
    client.start()
    up = down = 0
    for _ in range(10):
        data = client.data_to_send()
        up += len(data)
        if data:
            server.receive_data(data)
        data = server.data_to_send()
        down += len(data)
        if not data:
            break
        for event in client.receive_data(data):
            if isinstance(event, events.CertificateReceived):
                if check is not None:
                    check(event)
                client.accept_certificate()
    if not (client.handshake_complete and server.handshake_complete):
        raise RuntimeError(f"tlssim handshake did not complete: {client.error or server.error}")
    return up, down


def tlssim_handshake(
    case: Case, certified: CertifiedKey, verifier: ChainVerifier | None
) -> Callable[[], None]:
    """One in-memory handshake of our client against our server."""

    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> CertifiedKey:
        return certified

    client_config = ClientConfig(
        server_name=HOST,
        entropy=os.urandom,
        versions=case.versions,
        cipher_suites=case.suites,
        supported_groups=(NamedGroup.x25519,),
        key_share_groups=(NamedGroup.x25519,),
        request_ocsp=False,
    )
    server_config = ServerConfig(entropy=os.urandom, certificate_selector=select)

    def check(event: events.CertificateReceived) -> None:
        if verifier is not None:
            chain = [x509.load_der_x509_certificate(d) for d in event.chain]
            result = verifier.verify(chain, HOST)
            assert result.ok, result.checks

    def once() -> None:
        in_memory_handshake(ClientConnection(client_config), ServerConnection(server_config), check)

    return once


def openssl_contexts(
    case: Case, pki: BenchPKI, verify: bool
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.cert_file(case.kind), pki.key_file(case.kind))
    server.num_tickets = 0
    server.options |= ssl.OP_NO_TICKET
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        client.load_verify_locations(pki.ca_file)
    else:
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
    if case.openssl_ciphers is not None:
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        client.set_ciphers(case.openssl_ciphers)
        server.set_ciphers(case.openssl_ciphers)  # Python's default list has no RSA kx
    else:
        client.minimum_version = ssl.TLSVersion.TLSv1_3
    return client, server


def openssl_handshake(case: Case, pki: BenchPKI, verify: bool) -> Callable[[], None]:
    """One in-memory handshake of OpenSSL's client against OpenSSL's server."""
    client_ctx, server_ctx = openssl_contexts(case, pki, verify)

    def once() -> None:
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname=HOST)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        client_done = server_done = False
        for _ in range(10):
            if not client_done:
                try:
                    client.do_handshake()
                    client_done = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            if not server_done:
                try:
                    server.do_handshake()
                    server_done = True
                except ssl.SSLWantReadError:
                    pass
            c_in.write(s_out.read())
            if client_done and server_done:
                return
        raise RuntimeError("OpenSSL handshake did not complete")

    return once


def tls13_crypto_calls(pki: BenchPKI) -> Callable[[], None]:
    """The cryptographic calls one TLS 1.3 ECDSA P-256 / X25519 handshake makes (client and
    server, counted with cProfile), made alone: what our handshake would cost with no
    Python in between, on the same library (the OpenSSL that `cryptography` carries)."""
    certified = pki.keys["ecdsa"]
    key = certified.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    leaf = certified.chain[0]
    hmac_key, aead_key = os.urandom(32), AESGCM(os.urandom(16))
    record = os.urandom(600)
    sealed = aead_key.encrypt(bytes(12), record, b"")

    def once() -> None:
        for _ in range(5):
            os.urandom(32)
        mine = x25519.X25519PrivateKey.from_private_bytes(os.urandom(32))
        theirs = x25519.X25519PrivateKey.from_private_bytes(os.urandom(32))
        for a, b in ((mine, theirs), (theirs, mine)):
            peer = x25519.X25519PublicKey.from_public_bytes(b.public_key().public_bytes_raw())
            a.exchange(peer)
        signature = key.sign(b"\x20" * 64 + b"content" * 20, ec.ECDSA(hashes.SHA256()))
        public = x509.load_der_x509_certificate(leaf).public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, b"\x20" * 64 + b"content" * 20, ec.ECDSA(hashes.SHA256()))
        for _ in range(43):  # the key schedule, Finished and binder HMACs of both sides
            hmac.digest(hmac_key, b"tls13 derived" * 3, "sha256")
        transcript = hashes.Hash(hashes.SHA256())
        for _ in range(14):
            transcript.update(record[:200])
        for _ in range(11):
            transcript.copy().finalize()
        for _ in range(8):  # a record protection per traffic key, both sides
            AESGCM(hmac_key[:16])
        for _ in range(2):
            aead_key.encrypt(bytes(12), record, b"")
            aead_key.decrypt(bytes(12), sealed, b"")

    return once


@dataclass(frozen=True)
class EngineResult:
    case: str
    chain_check: bool
    ours: Timing
    openssl: Timing


def run(pki: BenchPKI, n: int) -> list[EngineResult]:
    verifier = ChainVerifier([pki.ca])
    results = []
    for case in CASES:
        for check in (False, True) if case.openssl_ciphers is None else (False,):
            ours_once = tlssim_handshake(case, pki.keys[case.kind], verifier if check else None)
            ours = measure(ours_once, n)
            theirs = measure(openssl_handshake(case, pki, check), n)
            results.append(EngineResult(case.name, check, ours, theirs))
    return results
