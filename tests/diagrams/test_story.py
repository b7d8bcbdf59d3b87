"""The story: the walkthrough's order per key exchange, the terminal's width, and only
what each message carries (verdicts come from the checks)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.diagrams.reports import NAMES, load
from tlssim.report.fit import two_columns
from tlssim.report.story import render
from tlssim.scenarios import SCENARIOS

WALKTHROUGH = {
    "tls12-rsa": [
        "ClientHello",
        "ServerHello",
        "Certificate",
        "certificate check",
        "ServerHelloDone",
        "ClientKeyExchange",
        "encrypted premaster secret",
        "derive the session keys from the premaster secret",
        "client -> server  ChangeCipherSpec",
        "client -> server  Finished",
        "server -> client  ChangeCipherSpec",
        "server -> client  Finished",
        "client -> server  ApplicationData",
        "server -> client  ApplicationData",
        "the echo matches",
        "result: OK",
    ],
    "tls12-ecdhe": [
        "ClientHello",
        "ServerHello",
        "Certificate",
        "certificate check",
        "ServerKeyExchange",
        "signed with its certificate's private key",
        "ServerHelloDone",
        "ClientKeyExchange",
        "the premaster secret is the ECDH shared secret",
        "derive the session keys from the premaster secret",
        "client -> server  Finished",
        "server -> client  Finished",
        "client -> server  ApplicationData",
        "the echo matches",
        "result: OK",
    ],
    "tls13": [
        "ClientHello",
        "key shares for",
        "ServerHello",
        "its key share",
        "handshake keys derived with HKDF from the (EC)DHE shared secret",
        "EncryptedExtensions",
        "Certificate",
        "certificate check",
        "CertificateVerify",
        "server -> client  Finished",
        "application keys derived with HKDF",
        "client -> server  Finished",
        "client -> server  ApplicationData",
        "the echo matches",
        "result: OK",
    ],
}


@pytest.mark.parametrize("name", sorted(WALKTHROUGH))
def test_the_story_follows_the_walkthrough(name: str) -> None:
    story = _words(render(load(name), width=80))
    position = 0
    for phrase in map(_words, WALKTHROUGH[name]):
        found = story.find(phrase, position)
        assert found >= 0, f"{phrase!r} missing after position {position}:\n{story}"
        position = found + len(phrase)


def _words(text: str) -> str:
    """Wrapping aside: sentences as single-spaced text."""
    return " ".join(text.split())


def test_rsa_key_transport_has_no_key_share_and_ecdhe_no_encrypted_premaster() -> None:
    rsa = render(load("tls12-rsa"), width=100)
    assert "key share" not in rsa
    assert "ECDH" not in rsa
    ecdhe = render(load("tls12-ecdhe"), width=100)
    assert "encrypted premaster" not in ecdhe


@pytest.mark.parametrize("width", [80, 60, 40])
@pytest.mark.parametrize("name", NAMES)
def test_no_line_is_wider_than_the_terminal(name: str, width: int) -> None:
    for line in render(load(name), width=width).splitlines():
        assert len(line) <= width, line


def test_the_revoked_story_never_claims_not_revoked() -> None:
    story = render(load("tls12-revoked"), width=80)
    assert "not revoked" not in story
    assert "staples an OCSP response" in story
    assert "FAIL revocation/leaf (staple): revoked at" in _words(story)
    assert "because: revocation/leaf" in story


def test_checks_say_their_status_once() -> None:
    story = render(load("tls13"), width=200)
    assert "good: good" not in story
    assert "revocation/leaf (staple): good, valid until" in story


def test_the_chain_is_the_one_presented() -> None:
    report = load("tls12-rsa")
    story = render(report, width=200)
    leaf = report.chain[0].subject.removeprefix("CN=")
    assert f"leaf first: {leaf} <- tlssim Intermediate CA" in story
    assert "intermediate CA -> root" not in story


def test_the_client_check_is_not_named_like_the_message() -> None:
    story = render(load("tls13"), width=100)
    assert "CertificateVerification" not in story
    # The message once, and once inside the context string it signs ("TLS 1.3, server
    # CertificateVerify").
    assert story.count("CertificateVerify") - story.count('server CertificateVerify"') == 1


def test_a_resumed_story_shows_the_first_handshake_and_no_premaster() -> None:
    story = render(load("tls12-resumed"), width=80)
    first = story.index("first handshake (full): OK")
    assert first < story.index("second handshake") < story.index("ClientHello  ")
    assert "ClientKeyExchange" in story[: story.index("second handshake")]
    resumed = story[story.index("second handshake") :]
    assert "resumes that session" in resumed
    assert "from the premaster secret" not in resumed
    assert "psk" not in resumed
    assert "no new premaster secret" in resumed


def test_a_server_alert_says_who_sent_it() -> None:
    story = render(load("server-alert"), width=80)
    assert "FATAL ALERT unrecognized_name from the server" in _words(story)
    assert "sent by the server" in story


def test_the_scenario_list_fits_80_columns() -> None:
    lines = two_columns([(s.name, s.description) for s in SCENARIOS], 80)
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    text = "\n".join(lines)
    for scenario in SCENARIOS:
        assert scenario.name in text


def test_every_extension_of_a_resuming_client_hello_is_shown() -> None:
    """A 0-RTT ClientHello's list ends in pre_shared_key: wrapped, never cut before it."""
    report = load("tls13")
    extensions = [
        "server_name",
        "supported_groups",
        "signature_algorithms",
        "status_request",
        "ec_point_formats",
        "extended_master_secret",
        "renegotiation_info",
        "supported_versions",
        "key_share",
        "psk_key_exchange_modes",
        "early_data",
        "tlssim_replica",
        "pre_shared_key",
    ]
    hello = report.steps[0]
    assert hello.name == "ClientHello"
    steps = (
        dataclasses.replace(hello, fields={**hello.fields, "extensions": extensions}),
        *report.steps[1:],
    )
    story = render(dataclasses.replace(report, steps=steps), width=80)
    shown = _words(story.split("extensions:", 1)[1].split("supported_versions:", 1)[0])
    assert shown == ", ".join(extensions), story
