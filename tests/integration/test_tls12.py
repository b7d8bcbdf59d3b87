"""TLS 1.2 through the services: RSA key transport as the walkthrough tells it, and ECDHE."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client
from tlssim.report.revocation import RevocationSource

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("host", "kx", "suite"),
    [
        ("rsa2048.tlssim.test", "rsa", "TLS_RSA_WITH_AES_128_GCM_SHA256"),
        ("valid.tlssim.test", "rsa", "TLS_RSA_WITH_AES_128_GCM_SHA256"),
        ("valid.tlssim.test", "ecdhe", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        ("rsa2048.tlssim.test", "ecdhe", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ],
)
def test_tls12_key_exchanges(stack: LocalStack, host: str, kx: str, suite: str) -> None:
    report = stack.handshake("--server-name", host, "--tls", "1.2", "--kx", kx, ok=True)
    assert report.version == "TLSv1.2"
    assert report.cipher_suite == suite
    assert report.key_exchange == ("rsa" if kx == "rsa" else "x25519")
    assert report.revocation.source == RevocationSource.STAPLE


@pytest.mark.parametrize(
    "suite",
    [
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ],
)
def test_tls12_other_suites(stack: LocalStack, suite: str) -> None:
    report = stack.handshake(
        "--server-name", "rsa2048.tlssim.test", "--tls", "1.2", "--cipher", suite, ok=True
    )
    assert report.cipher_suite == suite


def test_rsa_story_names_the_walkthrough_steps_in_order(stack: LocalStack) -> None:
    done = stack.tlssim(
        "handshake", "--server-name", "rsa2048.tlssim.test", "--tls", "1.2", "--kx", "rsa"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    story = " ".join(done.stdout.split())  # wrapped to the terminal: words, single-spaced
    walkthrough = [
        "ClientHello",  # supported versions, cipher suites, random
        "ServerHello",  # selected version and suite, random
        "Certificate",  # the chain
        "certificate check",  # CA signature, chain, domain, expiry, revocation
        "encrypted premaster secret",  # ClientKeyExchange with the server's public key
        "derive the session keys from the premaster secret",
        "Finished",  # client's
        "Finished",  # server's
        "result: OK",
    ]
    position = 0
    for phrase in walkthrough:
        found = story.find(phrase, position)
        assert found >= 0, f"{phrase!r} missing after position {position}:\n{story}"
        position = found + len(phrase)


def test_version_negotiation_picks_tls13_when_both_are_offered(stack: LocalStack) -> None:
    report = stack.handshake("--server-name", "valid.tlssim.test")
    assert report.version == "TLSv1.3"


def test_rsa_key_exchange_refused_for_tls13(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--tls", "1.3", "--kx", "rsa")
    assert done.returncode == 2  # usage
    assert "only in TLS 1.2" in done.stderr


@pytest.mark.parametrize(
    ("cipher", "host"),
    [
        ("AES128-GCM-SHA256", "rsa2048.tlssim.test"),
        ("AES256-GCM-SHA384", "rsa2048.tlssim.test"),
        ("ECDHE-RSA-AES128-GCM-SHA256", "rsa2048.tlssim.test"),
        ("ECDHE-RSA-CHACHA20-POLY1305", "rsa2048.tlssim.test"),
        ("ECDHE-ECDSA-AES128-GCM-SHA256", "ecdsa-p256.tlssim.test"),
    ],
)
def test_openssl_s_client_tls12(stack: LocalStack, bundle: Path, cipher: str, host: str) -> None:
    done = openssl_client(
        stack.server_tcp,
        *("-cipher", cipher, "-status"),
        server_name=host,
        ca_file=bundle,
        verify=True,
        verify_hostname=host,
        version="1.2",
        stdin="hello\n",
    )
    assert "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr
    assert f"Cipher is {cipher}" in done.stdout, done.stdout
    assert "OCSP Response Status: successful" in done.stdout
