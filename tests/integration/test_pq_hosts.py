"""The post-quantum hosts of the running stack: OpenSSL 4 (pyOpenSSL's library) against our
server's TCP port, our client's TLS 1.2 and classical-only refusals, and revocation (staple,
live OCSP, CRL) for the ML-DSA chain."""

from __future__ import annotations

import contextlib
import datetime as dt
import select
import socket
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, mldsa
from OpenSSL import SSL
from OpenSSL._util import lib as openssl_lib

from tests.integration.conftest import LocalStack
from tlssim.pki.crl import check_crl, crl_urls
from tlssim.report.model import Alert, Party, Report
from tlssim.report.revocation import RevocationSource, RevocationStatus

pytestmark = pytest.mark.integration
T = TypeVar("T")

PQ_HOSTS = {
    "valid.tlssim.test": ec.EllipticCurvePublicKey,
    "mldsa44.tlssim.test": mldsa.MLDSA44PublicKey,
    "mldsa65.tlssim.test": mldsa.MLDSA65PublicKey,
    "pq.tlssim.test": ec.EllipticCurvePublicKey,
}


def _blocking(call: Callable[[], T], sock: socket.socket) -> T:
    """Runs a pyOpenSSL call on a socket with a timeout (non-blocking underneath)."""
    for _ in range(100):
        try:
            return call()
        except SSL.WantReadError:
            readable, _, _ = select.select([sock], [], [], 10)
            assert readable, "the server went quiet"
    raise AssertionError("no progress")


def handshake(stack: LocalStack, *args: str) -> Report:
    return stack.handshake("--revocation", "hard", *args)


def test_the_bundle_carries_the_classical_and_the_mldsa_root(bundle: Path) -> None:
    roots = x509.load_pem_x509_certificates(bundle.read_bytes())
    keys = [r.public_key() for r in roots]
    # the classical root, the ML-DSA root, and the two of cross-signed.tlssim.test
    assert len(keys) == 4
    assert sum(isinstance(k, mldsa.MLDSA87PublicKey) for k in keys) == 1
    assert sum(isinstance(k, ec.EllipticCurvePublicKey) for k in keys) == 3


@pytest.mark.parametrize("host", sorted(PQ_HOSTS))
def test_openssl4_default_client_gets_the_hybrid_and_verifies(
    stack: LocalStack, bundle: Path, host: str
) -> None:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.load_verify_locations(str(bundle))
    ctx.set_verify(SSL.VERIFY_PEER)
    sock = socket.create_connection(stack.server_tcp, timeout=10)
    conn = SSL.Connection(ctx, sock)
    conn.set_tlsext_host_name(host.encode())
    conn.set_connect_state()
    try:
        _blocking(conn.do_handshake, sock)
        assert conn.get_protocol_version_name() == "TLSv1.3"
        assert conn.get_group_name() == "X25519MLKEM768"
        # VERIFY_PEER failed the handshake otherwise; X509_V_OK against our bundle
        assert openssl_lib.SSL_get_verify_result(conn._ssl) == 0
        peer = conn.get_peer_certificate(as_cryptography=True)
        assert peer is not None and isinstance(peer.public_key(), PQ_HOSTS[host])
        conn.sendall(b"hello over a post-quantum handshake")
        assert _blocking(lambda: conn.recv(100), sock) == b"hello over a post-quantum handshake"
    finally:
        sock.close()


@pytest.mark.parametrize("host", ["mldsa44.tlssim.test", "mldsa65.tlssim.test"])
def test_our_client_verifies_the_mldsa_hosts(stack: LocalStack, host: str) -> None:
    report = handshake(stack, "--server-name", host)
    assert report.ok, (report.error, report.alert, report.checks)
    assert report.signature_scheme == host.split(".")[0]
    assert report.key_exchange == "X25519MLKEM768"
    assert report.revocation.status == RevocationStatus.GOOD
    assert report.revocation.source == RevocationSource.STAPLE
    assert len(report.chain) == 2


def test_tls12_refuses_an_mldsa_host_with_handshake_failure(stack: LocalStack) -> None:
    report = handshake(stack, "--server-name", "mldsa65.tlssim.test", "--tls", "1.2")
    assert not report.ok
    assert report.alert == Alert(
        level="fatal", description="handshake_failure", sent_by=Party.SERVER
    )


@pytest.mark.parametrize("args", [("--group", "x25519"), ("--tls", "1.2")], ids=["x25519", "tls12"])
def test_the_pq_host_refuses_classical_key_exchange(stack: LocalStack, args: tuple[str]) -> None:
    report = handshake(stack, "--server-name", "pq.tlssim.test", *args)
    assert not report.ok
    assert report.alert is not None
    assert report.alert.description == "handshake_failure"
    assert report.alert.sent_by == Party.SERVER
    for group in ("SecP256r1MLKEM768", "MLKEM768"):
        chosen = handshake(stack, "--server-name", "pq.tlssim.test", "--group", group)
        assert chosen.ok and chosen.key_exchange == group, chosen


def test_live_ocsp_and_crl_for_the_mldsa_chain(stack: LocalStack, bundle: Path) -> None:
    live = handshake(stack, "--server-name", "mldsa65.tlssim.test", "--no-staple")
    assert live.ok, live
    assert live.revocation.status == RevocationStatus.GOOD
    assert live.revocation.source == RevocationSource.OCSP

    leaf, intermediate = _presented_chain(stack, bundle, "mldsa44.tlssim.test")
    assert isinstance(intermediate.public_key(), mldsa.MLDSA65PublicKey)
    (url,) = crl_urls(leaf)
    with urllib.request.urlopen(url, timeout=10) as answer:
        crl_der = answer.read()
    outcome = check_crl(crl_der, leaf, intermediate, dt.datetime.now(dt.UTC))
    assert outcome.status == "good", outcome.checks
    assert next(c for c in outcome.checks if c.name == "crl/signature").ok


def _presented_chain(
    stack: LocalStack, bundle: Path, host: str
) -> tuple[x509.Certificate, x509.Certificate]:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.load_verify_locations(str(bundle))
    ctx.set_verify(SSL.VERIFY_PEER)
    with socket.create_connection(stack.server_tcp, timeout=10) as sock:
        conn = SSL.Connection(ctx, sock)
        conn.set_tlsext_host_name(host.encode())
        conn.set_connect_state()
        _blocking(conn.do_handshake, sock)
        chain = conn.get_peer_cert_chain(as_cryptography=True)
    assert chain is not None and len(chain) >= 2
    return chain[0], chain[1]


def test_the_story_shows_the_cost_and_explains_the_refusal(stack: LocalStack) -> None:
    story = stack.tlssim("handshake", "--server-name", "mldsa65.tlssim.test").stdout
    assert "signature 3317 B" in story, story  # CertificateVerify: 8 B framing, 3309 ML-DSA
    assert "key shares 1216 + 32 B offered, 1120 B answered" in story, story
    refused = stack.tlssim("handshake", "--server-name", "mldsa65.tlssim.test", "--tls", "1.2")
    assert "FATAL ALERT handshake_failure from the server" in refused.stdout
    assert "signs in TLS 1.3 only" in " ".join(refused.stdout.split()), refused.stdout


@pytest.mark.parametrize("group", ["X25519MLKEM768", "SecP256r1MLKEM768", "MLKEM768"])
def test_our_client_over_tcp_against_an_openssl4_mldsa65_server(
    stack: LocalStack, tmp_path: Path, group: str
) -> None:
    """`tlssim handshake --tcp` (the client service's TCP path) against OpenSSL 4 serving an
    ML-DSA-65 chain, in each hybrid or pure ML-KEM group."""
    from tests.tls.tlshelpers import HOST, mldsa_pki
    from tlssim.pki.keys import certificates_to_pem, private_key_to_pem

    pki = mldsa_pki()
    certified = pki.keys["mldsa65"]
    chain = [x509.load_der_x509_certificate(der) for der in certified.chain]
    (tmp_path / "chain.pem").write_text(certificates_to_pem(chain))
    (tmp_path / "key.pem").write_bytes(private_key_to_pem(certified.private_key))
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem)
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    assert openssl_lib.SSL_CTX_set1_curves_list(ctx._context, group.encode()) == 1
    ctx.use_certificate_chain_file(str(tmp_path / "chain.pem"))
    ctx.use_privatekey_file(str(tmp_path / "key.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    served: list[str] = []

    def serve() -> None:
        sock, _ = listener.accept()
        sock.setblocking(False)
        conn = SSL.Connection(ctx, sock)
        conn.set_accept_state()
        _blocking(conn.do_handshake, sock)
        served.append(conn.get_group_name() or "")
        with contextlib.suppress(SSL.Error):
            _blocking(lambda: conn.recv(1024), sock)  # the client's close_notify
        sock.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        report = stack.handshake(
            "--tcp",
            f"127.0.0.1:{port}",
            "--server-name",
            HOST,
            "--ca-file",
            str(tmp_path / "ca.pem"),
            "--group",
            group,
            "--no-echo",
        )
    finally:
        server.join(timeout=10)
        listener.close()
    assert report.ok, (report.error, report.alert, report.checks)
    assert report.key_exchange == group
    assert report.signature_scheme == "mldsa65"
    assert served == [group]
