"""The legacy hosts against the real stack: our client refuses them by default and tells
why, reaches them with --allow-legacy (saying what it enables); OpenSSL reaches them at
@SECLEVEL=0 with the legacy suite forced; the modern hosts never speak legacy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.integration.conftest import LocalStack
from tlssim.topology import vhosts

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
GNUTLS_CLI = shutil.which("gnutls-cli")
needs_gnutls = pytest.mark.skipif(GNUTLS_CLI is None, reason="gnutls-cli not installed")


def handshake(stack: LocalStack, *args: str) -> tuple[dict[str, Any], str]:
    done = stack.tlssim("handshake", "--json", "--revocation", "hard", *args)
    assert done.stdout, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report, done.stderr


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in report["steps"] if s["name"] == name)
    return found


@pytest.mark.parametrize(
    ("host", "version", "suite", "etm"),
    [
        ("tls-v1-0", "TLSv1.0", "TLS_RSA_WITH_AES_128_CBC_SHA", True),
        ("tls-v1-1", "TLSv1.1", "TLS_RSA_WITH_AES_128_CBC_SHA", True),
        ("cbc", "TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", False),
        ("static-rsa", "TLSv1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256", None),
        ("3des", "TLSv1.2", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", True),
        ("rc4", "TLSv1.2", "TLS_ECDHE_RSA_WITH_RC4_128_SHA", False),
    ],
)
def test_allow_legacy_reaches_each_legacy_host(
    stack: LocalStack, host: str, version: str, suite: str, etm: bool | None
) -> None:
    report, stderr = handshake(stack, "--server-name", f"{host}.tlssim.test", "--allow-legacy")
    assert report["ok"], report
    assert report["version"] == version and report["cipher_suite"] == suite
    assert step(report, "ServerHello")["fields"].get("encrypt_then_mac") is etm
    assert "--allow-legacy: offering TLS 1.1 and 1.0" in stderr
    assert "Sweet32" in stderr and "Lucky Thirteen" in stderr


@pytest.mark.parametrize(
    ("host", "alert", "reason"),
    [
        ("dh480", "insufficient_security", "Logjam"),
        ("dh1024", "insufficient_security", "Logjam"),
        ("dh-small-subgroup", "illegal_parameter", "small subgroups"),
        ("dh-composite", "illegal_parameter", "composite DH modulus"),
    ],
)
def test_with_allow_legacy_our_client_refuses_weak_dh_groups(
    stack: LocalStack, host: str, alert: str, reason: str
) -> None:
    report, _ = handshake(stack, "--server-name", f"{host}.tlssim.test", "--allow-legacy")
    assert not report["ok"], report
    assert report["alert"]["description"] == alert and report["alert"]["sent_by"] == "client"
    done = stack.tlssim("handshake", "--server-name", f"{host}.tlssim.test", "--allow-legacy")
    assert reason in " ".join(done.stdout.split()), done.stdout


def test_with_allow_legacy_dh2048_completes(stack: LocalStack) -> None:
    report, _ = handshake(stack, "--server-name", "dh2048.tlssim.test", "--allow-legacy")
    assert report["ok"], report
    assert report["cipher_suite"] == "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"
    assert step(report, "ServerKeyExchange")["fields"]["group_bits"] == 2048


@pytest.mark.parametrize(
    "host", ["tls-v1-0", "tls-v1-1", "cbc", "static-rsa", "dh480", "dh-composite", "3des", "rc4"]
)
def test_the_story_says_why_the_client_does_not_go_there(stack: LocalStack, host: str) -> None:
    name = f"{host}.tlssim.test"
    done = stack.tlssim("handshake", "--server-name", name)
    assert done.returncode == 1, done.stdout + done.stderr
    story = " ".join(done.stdout.split())
    assert "Why a modern client does not go there" in story, done.stdout
    attack = {
        "tls-v1-0": "BEAST",
        "tls-v1-1": "Lucky Thirteen",
        "cbc": "POODLE",
        "dh480": "Logjam",
        "dh-composite": "composite",
        "3des": "Sweet32",
        "rc4": "RFC 7465",
    }
    assert attack.get(host, "forward secrecy") in story, done.stdout


def test_legacy_versions_and_suites_need_allow_legacy(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--tls", "1.0", "--server-name", "tls-v1-0.tlssim.test")
    assert done.returncode != 0 and "--allow-legacy" in done.stderr, done.stderr
    done = stack.tlssim(
        "handshake", "--cipher", "TLS_RSA_WITH_AES_128_CBC_SHA", "--server-name", "cbc.tlssim.test"
    )
    assert done.returncode != 0 and "Lucky Thirteen" in done.stderr, done.stderr
    report, _ = handshake(
        stack, "--tls", "1.0", "--allow-legacy", "--server-name", "mozilla-old.tlssim.test"
    )
    assert report["ok"] and report["version"] == "TLSv1.0", report


# -- OpenSSL ------------------------------------------------------------------------------


def s_client(stack: LocalStack, host: str, *extra: str) -> str:
    _, port = stack.server_tcp
    done = subprocess.run(
        [
            OPENSSL or "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            host,
            "-msg",
            *extra,
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout + done.stderr


@needs_openssl
@pytest.mark.parametrize(
    ("host", "args", "protocol", "cipher"),
    [
        ("tls-v1-0", ("-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"), "TLSv1", "AES128-SHA"),
        ("tls-v1-1", ("-tls1_1", "-cipher", "AES256-SHA:@SECLEVEL=0"), "TLSv1.1", "AES256-SHA"),
        ("cbc", ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"), "TLSv1.2", "ECDHE-RSA-AES128-SHA"),
        ("static-rsa", ("-tls1_2", "-cipher", "AES128-SHA"), "TLSv1.2", "AES128-SHA"),
        ("mozilla-old", ("-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"), "TLSv1", "AES128-SHA"),
        (
            "dh1024",
            ("-tls1_2", "-cipher", "DHE-RSA-AES128-SHA:@SECLEVEL=0"),
            "TLSv1.2",
            "DHE-RSA-AES128-SHA",
        ),
        ("dh2048", ("-tls1_2", "-cipher", "DHE-RSA-AES256-SHA"), "TLSv1.2", "DHE-RSA-AES256-SHA"),
    ],
)
def test_openssl_reaches_each_legacy_mode(
    stack: LocalStack, host: str, args: tuple[str, ...], protocol: str, cipher: str
) -> None:
    out = s_client(stack, f"{host}.tlssim.test", *args)
    assert re.search(rf"Protocol\s*: {re.escape(protocol)}\n", out), out
    assert re.search(rf"Cipher\s*: {re.escape(cipher)}\n", out), out
    assert not re.search(r"Alert.*fatal", out), out


@needs_openssl
def test_cbc_host_does_mac_then_encrypt(stack: LocalStack) -> None:
    """OpenSSL asks for encrypt_then_mac; the cbc host does not grant it, tls-v1-0 does."""
    cbc = s_client(
        stack, "cbc.tlssim.test", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA", "-tlsextdebug"
    )
    assert "Cipher    : ECDHE-ECDSA-AES128-SHA" in cbc, cbc
    assert 'extension "encrypt-then-mac"' not in cbc, cbc
    old = s_client(
        stack, "tls-v1-0.tlssim.test", "-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0", "-tlsextdebug"
    )
    assert 'TLS server extension "encrypt-then-mac" (id=22), len=0' in old, old


@needs_openssl
@pytest.mark.parametrize(
    "host", sorted(h.name for h in vhosts.VIRTUAL_HOSTS if not h.versions and not h.lesson)
)
def test_modern_hosts_refuse_legacy(stack: LocalStack, host: str) -> None:
    """The lab's other hosts refuse TLS 1.0 (protocol_version) and CBC (handshake_failure)
    even at @SECLEVEL=0."""
    out = s_client(stack, host, "-tls1", "-cipher", "ALL:@SECLEVEL=0")
    assert re.search(r"<<< .*Alert.*fatal protocol_version", out), out
    out = s_client(stack, host, "-tls1_2", "-cipher", "AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0")
    assert re.search(r"<<< .*Alert.*fatal handshake_failure", out), out


@needs_gnutls
@pytest.mark.parametrize(
    ("host", "priority", "cipher"),
    [
        ("3des", "+RSA:+3DES-CBC", "(TLS1.2)-(RSA)-(3DES-CBC)-(SHA1)"),
        ("rc4", "+ECDHE-RSA:+ARCFOUR-128", "(TLS1.2)-(ECDHE-SECP256R1)-(RSA-SHA256)-(ARCFOUR-128)"),
    ],
)
def test_gnutls_reaches_3des_and_rc4(
    stack: LocalStack, host: str, priority: str, cipher: str
) -> None:
    """The system's OpenSSL has neither; GnuTLS 3.7 still speaks both when asked."""
    _, port = stack.server_tcp
    done = subprocess.run(
        [
            GNUTLS_CLI or "gnutls-cli",
            "127.0.0.1",
            "-p",
            str(port),
            "--sni-hostname",
            f"{host}.tlssim.test",
            "--insecure",
            "--priority",
            f"NONE:+VERS-TLS1.2:{priority}:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = done.stdout + done.stderr
    assert "Handshake was completed" in out, out
    assert cipher.split("-(")[-1] in out, out


LEGACY_SCENARIOS = (
    "downgrade-to-tls10",
    "cbc-padding-tamper",
    "cbc-mac-tamper",
    *(
        f"host-{h.name.removesuffix('.tlssim.test')}"
        for h in vhosts.VIRTUAL_HOSTS
        if h.versions or h.lesson
    ),
)


def test_legacy_scenarios_pass(stack: LocalStack) -> None:
    """The downgrade caught by the sentinel, padding and MAC tampering answered alike,
    and the legacy hosts' scenarios, through the faults proxy."""
    done = stack.tlssim("scenarios", "run", *LEGACY_SCENARIOS, "--json", timeout=300)
    assert done.stdout.startswith("["), done.stdout[-2000:] + done.stderr[-4000:]
    results = json.loads(done.stdout)
    assert [r["name"] for r in results] == list(LEGACY_SCENARIOS)
    failed = [r for r in results if not r["passed"]]
    assert not failed, json.dumps(failed, indent=2)
