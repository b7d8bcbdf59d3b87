"""Our client and server against other TLS stacks' programs: OpenSSL's s_server and
s_client, Botan's tls_server, GnuTLS's gnutls-serv and NSS's tstclnt (tests/peers.py starts
and drives them; scripts/bootstrap.sh installs them).

What they found: a crash when a server closes right after its Finished; ECDSA schemes bound
to the key's curve in TLS 1.2, where a scheme fixes only the hash; the lab's client identity
handed to any server that asked; and NSS's client hanging against our server in TLS 1.2
(tstclnt's own race, docs/interop.md).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import LocalStack
from tests.peers import (
    PEER_HOST,
    HoldUntilAlert,
    PeerPki,
    ServerPeer,
    need,
    nss_db,
    run_client,
    version,
)
from tlssim.client.run import NO_KEY_UPDATE_IN_TLS12, SERVER_CLOSED_BEFORE_DATA
from tlssim.report.model import Direction, Report

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def peer_pki(tmp_path_factory: pytest.TempPathFactory) -> PeerPki:
    return PeerPki.create(tmp_path_factory.mktemp("peer-pki"))


def _args(address: str, pki: PeerPki, *extra: str) -> tuple[str, ...]:
    """Our client against a peer's server at ``address``, trusting the peers' CA."""
    return (
        *("--tcp", address, "--ca-file", str(pki.ca)),
        *("--server-name", PEER_HOST, "--revocation", "off", "--no-echo", *extra),
    )


def _handshake(
    stack: LocalStack, peer: ServerPeer, pki: PeerPki, *extra: str
) -> subprocess.CompletedProcess[str]:
    """The story of a handshake with the peer."""
    return stack.tlssim("handshake", *_args(peer.address, pki, *extra))


def _report(stack: LocalStack, peer: ServerPeer, pki: PeerPki, *extra: str) -> Report:
    """The report of a handshake with the peer."""
    return stack.handshake(*_args(peer.address, pki, *extra))


def _sent(report: Report, name: str) -> list[Mapping[str, Any]]:
    return [s.fields for s in report.steps if s.name == name and s.direction == Direction.SENT]


# -- 1. a server that closes right after its Finished -------------------------------------------


def test_openssl_server_closing_right_after_its_finished_tls12(
    stack: LocalStack, peer_pki: PeerPki, tmp_path: Path
) -> None:
    """``s_server -quiet </dev/null`` sends ChangeCipherSpec, Finished and close_notify one
    after the other; a relay hands them to our client in one write (as one read found them
    in the report): the handshake is reported complete, then why no data went (exit 1, no
    traceback)."""
    command = ["openssl", "s_server", "-accept", "{port}", "-quiet"]
    command += ["-cert", str(peer_pki.cert), "-key", str(peer_pki.key)]
    for story in (True, False):
        with ServerPeer("openssl", command, tmp_path / "s_server.log", stdin_eof=True) as peer:
            relay = HoldUntilAlert(peer.port)
            args = _args(relay.address, peer_pki, "--tls", "1.2")
            if story:
                done = stack.tlssim("handshake", *args)
            else:
                report = stack.handshake(*args, ok=False)  # exit 1
            relay.stop()
        assert relay.held_flushes == 1  # Finished and close_notify went in one write
        if story:
            assert "Traceback" not in done.stderr and "internal error" not in done.stderr
            assert done.returncode == 1, done.stdout + done.stderr
            assert SERVER_CLOSED_BEFORE_DATA in " ".join(done.stdout.split())
            assert "echo:" not in done.stdout  # no data went, none came back
        else:
            assert report.version == "TLSv1.2", report  # the handshake completed
            assert report.error == SERVER_CLOSED_BEFORE_DATA
            assert report.application_data.sent == 0


# -- 2. TLS 1.2 ECDSA schemes fix the hash, not the curve ----------------------------------------


def test_botan_server_signs_its_key_exchange_p384_style_with_a_p256_key(
    stack: LocalStack, peer_pki: PeerPki, tmp_path: Path
) -> None:
    command = ["botan", "tls_server", str(peer_pki.cert), str(peer_pki.key), "--port={port}"]
    with ServerPeer("botan", command, tmp_path / "botan.log") as peer:
        report = _report(stack, peer, peer_pki)
    assert report.ok, (version("botan"), report.alert, report.error)
    assert report.version == "TLSv1.2"
    assert report.signature_scheme == "ecdsa_secp384r1_sha384"


def test_openssl_server_signing_only_ecdsa_sha384_with_a_p256_key(
    stack: LocalStack, peer_pki: PeerPki, tmp_path: Path
) -> None:
    command = ["openssl", "s_server", "-accept", "{port}", "-quiet", "-sigalgs", "ECDSA+SHA384"]
    command += ["-cert", str(peer_pki.cert), "-key", str(peer_pki.key)]
    with ServerPeer("openssl", command, tmp_path / "s_server.log") as peer:
        report = _report(stack, peer, peer_pki, "--tls", "1.2")
    assert report.ok, (report.alert, report.error)
    assert report.signature_scheme == "ecdsa_secp384r1_sha384"


def test_our_tls12_client_certificate_verify_with_a_p256_key_and_only_sha384_asked(
    stack: LocalStack, peer_pki: PeerPki, tmp_path: Path
) -> None:
    """OpenSSL asks for a client certificate signed ecdsa_secp384r1_sha384 only."""
    command = ["openssl", "s_server", "-accept", "{port}", "-tls1_2", "-Verify", "1"]
    command += ["-client_sigalgs", "ECDSA+SHA384", "-CAfile", str(peer_pki.ca)]
    command += ["-cert", str(peer_pki.cert), "-key", str(peer_pki.key)]
    with ServerPeer("openssl", command, tmp_path / "s_server.log") as peer:
        report = _report(
            stack,
            peer,
            peer_pki,
            *("--client-cert", str(peer_pki.client_cert)),
            *("--client-key", str(peer_pki.client_key)),
        )
    assert report.ok, (report.alert, report.error, peer.output())
    assert _sent(report, "CertificateVerify") == [{"signature_scheme": "ecdsa_secp384r1_sha384"}]
    assert "CN = client.peer.test" in peer.output() or "client.peer.test" in peer.output()


def test_openssl_client_offering_only_ecdsa_sha384_to_our_server(
    stack: LocalStack, bundle: Path
) -> None:
    """Our server picks its P-256 certificate for a TLS 1.2 client that signs nothing but
    ecdsa_secp384r1_sha384, and signs its ServerKeyExchange with it."""
    host, port = stack.server_tcp
    done = run_client(
        "openssl",
        [
            *("openssl", "s_client", "-connect", f"{host}:{port}"),
            *("-servername", "valid.tlssim.test", "-tls1_2", "-sigalgs", "ECDSA+SHA384"),
            *("-CAfile", str(bundle), "-verify_return_error"),
        ],
        20,
    )
    assert done.returncode == 0, done.output
    assert "Peer signature type: ECDSA" in done.output
    assert "Peer signing digest: SHA384" in done.output
    assert "Verify return code: 0 (ok)" in done.output


# -- 3. no lab identity for a server outside the lab unless asked -------------------------------


@pytest.fixture(scope="module")
def gnutls_serv(
    peer_pki: PeerPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPeer]:
    """gnutls-serv asks for a client certificate by default (and accepts none)."""
    log = tmp_path_factory.mktemp("gnutls") / "gnutls-serv.log"
    command = ["gnutls-serv", "-p", "{port}", "--x509certfile", str(peer_pki.cert)]
    command += ["--x509keyfile", str(peer_pki.key)]
    with ServerPeer("gnutls-serv", command, log) as peer:
        yield peer


def test_tcp_sends_an_empty_certificate_to_gnutls_by_default(
    stack: LocalStack, peer_pki: PeerPki, gnutls_serv: ServerPeer
) -> None:
    report = _report(stack, gnutls_serv, peer_pki)
    assert report.ok, (version("gnutls-serv"), report.alert, report.error)
    assert any(s.name == "CertificateRequest" for s in report.steps)
    (cert,) = _sent(report, "Certificate")
    assert cert["certificates"] == 0
    assert "outside the lab" in cert["why"]
    assert not _sent(report, "CertificateVerify")
    story = _handshake(stack, gnutls_serv, peer_pki)
    assert "empty Certificate" in " ".join(story.stdout.split())
    assert "outside the lab" in " ".join(story.stdout.split())


def test_tcp_with_client_cert_auto_presents_the_lab_identity_to_gnutls(
    stack: LocalStack, peer_pki: PeerPki, gnutls_serv: ServerPeer
) -> None:
    report = _report(stack, gnutls_serv, peer_pki, "--client-cert", "auto")
    assert report.ok, (report.alert, report.error)
    (cert,) = _sent(report, "Certificate")
    assert cert["certificates"] >= 1
    assert "--client-cert auto" in cert["why"]
    assert _sent(report, "CertificateVerify")


# -- 4. NSS's client against our server in TLS 1.2 -----------------------------------------------

NSS_RUNS = 30


def test_nss_tstclnt_finishes_every_tls12_handshake_with_our_server(
    stack: LocalStack, bundle: Path, tmp_path: Path
) -> None:
    """30 handshakes, none past 5 s. tstclnt's -O (synchronous certificate check): with its
    default asynchronous check, -Q misses the end of a handshake whose last flight was
    already read while the check completed, and polls forever (against OpenSSL's server
    too); docs/interop.md shows the trace."""
    host, port = stack.server_tcp
    with nss_db(tmp_path / "nssdb", bundle) as db:
        command = ["tstclnt", "-h", host, "-p", str(port), "-a", "valid.tlssim.test"]
        command += ["-d", f"sql:{db}", "-V", "tls1.2:tls1.2", "-Q", "-O"]
        results = [run_client("tstclnt", command, 5) for _ in range(NSS_RUNS)]
    hung = [r for r in results if r.timed_out]
    assert not hung, f"{len(hung)} of {NSS_RUNS} hung ({version('tstclnt')}): {hung[0].output}"
    failed = [r for r in results if r.returncode != 0]
    assert not failed, failed[0].output
    assert all("subject DN: CN=valid.tlssim.test" in r.output for r in results)


def test_peer_versions_are_known() -> None:
    for name in ("openssl", "gnutls-serv", "botan", "tstclnt"):
        need(name)
        assert version(name) != "unknown", name


# -- 5. KeyUpdate against OpenSSL's server -------------------------------------------------------

#: `s_server -rev` sends each line back reversed: a palindrome comes back as it went.
PALINDROME = "racecar\n"


def test_key_update_against_openssl_server_then_the_echo_under_new_keys(
    stack: LocalStack, peer_pki: PeerPki, tmp_path: Path
) -> None:
    """Our KeyUpdate(update_requested), the data under the new key; s_server answers with
    its own KeyUpdate and sends the line back under its new key."""
    command = ["openssl", "s_server", "-accept", "{port}", "-tls1_3", "-rev"]
    command += ["-cert", str(peer_pki.cert), "-key", str(peer_pki.key)]
    with ServerPeer("openssl", command, tmp_path / "s_server.log") as peer:
        address = peer.address
        report = stack.handshake(
            *("--tcp", address, "--ca-file", str(peer_pki.ca), "--server-name", PEER_HOST),
            *("--revocation", "off", "--tls", "1.3", "--key-update", "--data", PALINDROME),
        )
        story = stack.tlssim(
            "handshake",
            *("--tcp", address, "--ca-file", str(peer_pki.ca), "--server-name", PEER_HOST),
            *("--revocation", "off", "--tls", "1.3", "--key-update", "--data", PALINDROME),
        )
    assert report.ok, (report.alert, report.error)
    order = [(s.name, s.direction) for s in report.steps]
    sent_update = order.index(("KeyUpdate", Direction.SENT))
    answer = order.index(("KeyUpdate", Direction.RECEIVED))
    assert sent_update < order.index(("ApplicationData", Direction.SENT))
    assert answer < order.index(("ApplicationData", Direction.RECEIVED))
    updates = {s.direction: s.fields["request"] for s in report.steps if s.name == "KeyUpdate"}
    assert updates == {
        Direction.SENT: "update_requested",
        Direction.RECEIVED: "update_not_requested",
    }
    assert report.application_data.echoed == len(PALINDROME)
    assert story.returncode == 0, story.stderr
    assert "KeyUpdate" in story.stdout and "update_requested" in story.stdout


def test_key_update_fails_the_run_when_a_server_chooses_tls12(
    stack: LocalStack, peer_pki: PeerPki, tmp_path: Path
) -> None:
    """Both versions offered, the server picks TLS 1.2: no KeyUpdate and no data go, and the
    report says why (not as a missing echo)."""
    command = ["openssl", "s_server", "-accept", "{port}", "-tls1_2", "-rev"]
    command += ["-cert", str(peer_pki.cert), "-key", str(peer_pki.key)]
    with ServerPeer("openssl", command, tmp_path / "s_server.log") as peer:
        report = stack.handshake(
            *("--tcp", peer.address, "--ca-file", str(peer_pki.ca), "--server-name", PEER_HOST),
            *("--revocation", "off", "--key-update", "--data", PALINDROME),
            ok=False,
        )
    assert report.version == "TLSv1.2"
    assert report.error == NO_KEY_UPDATE_IN_TLS12
    assert not [s for s in report.steps if s.name in ("KeyUpdate", "ApplicationData")]


def test_key_update_is_refused_for_tls12(stack: LocalStack, peer_pki: PeerPki) -> None:
    done = stack.tlssim(
        "handshake",
        *("--tcp", "127.0.0.1:9", "--ca-file", str(peer_pki.ca), "--tls", "1.2"),
        "--key-update",
    )
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        "tlssim: --key-update is TLS 1.3 only: KeyUpdate does not exist in TLS 1.2"
    ]
    assert not done.stdout
