"""OCSP: the responder's answers, their checks on the client side, and OpenSSL's view."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.pki.helpers import MovableClock, csr_der, pem
from tests.pki.ocsp_fixtures import delegated_responder, store_lookup
from tlssim.pki import (
    Authority,
    OcspResponder,
    ServedIssuer,
    build_ocsp_request,
    check_ocsp_response,
)
from tlssim.pki.keys import build_csr, generate_private_key

OPENSSL = shutil.which("openssl")


def _issue(authority: Authority) -> x509.Certificate:
    return authority.issue(csr_der()[1]).leaf


def _load(der: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(der)


def test_good_then_revoked_with_time_and_reason(authority: Authority, clock: MovableClock) -> None:
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    reply = setup.responder.respond(build_ocsp_request(leaf, setup.issuer))
    assert reply.outcome == "good"
    response = _load(reply.der)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.this_update_utc == clock.now().replace(microsecond=0)
    assert response.next_update_utc == response.this_update_utc + dt.timedelta(hours=1)
    assert response.certificates == [setup.responder_cert]

    clock.advance(dt.timedelta(minutes=3))
    authority.revoke(format(leaf.serial_number, "x"), "keyCompromise")
    response = _load(setup.responder.respond(build_ocsp_request(leaf, setup.issuer)).der)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == clock.now().replace(microsecond=0)
    assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_unknown_serial_of_a_served_issuer(authority: Authority) -> None:
    setup = delegated_responder(authority)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(*_hashes(setup.issuer, hashes.SHA1()), 0x1234, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    reply = setup.responder.respond(request)
    assert reply.outcome == "unknown"
    assert _load(reply.der).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def _hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    from tlssim.pki.ocsp_responder import cert_id_hashes

    return cert_id_hashes(issuer, algorithm)


def test_unserved_issuer_is_unauthorized_and_garbage_is_malformed(authority: Authority) -> None:
    setup = delegated_responder(authority)
    untrusted_leaf = authority.issue(csr_der()[1], "untrusted").leaf
    other_issuer = authority.ca("untrusted-intermediate").certificate
    reply = setup.responder.respond(build_ocsp_request(untrusted_leaf, other_issuer))
    assert _load(reply.der).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    for garbage in (b"", b"\x30\x00", b"hello world", b"\x30\x82\xff\xff" + bytes(10)):
        reply = setup.responder.respond(garbage)
        assert reply.outcome == "malformedRequest"
        assert _load(reply.der).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_nonce_is_echoed_and_sha256_cert_ids_accepted(authority: Authority) -> None:
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    nonce = bytes(range(16))
    der = setup.responder.respond(
        build_ocsp_request(leaf, setup.issuer, nonce, hashes.SHA256())
    ).der
    response = _load(der)
    assert isinstance(response.hash_algorithm, hashes.SHA256)
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    result = check_ocsp_response(der, leaf, setup.issuer, authority.clock, nonce)
    assert result.status == "good", result.checks
    wrong = check_ocsp_response(der, leaf, setup.issuer, authority.clock, b"another nonce")
    assert wrong.status == "unavailable"
    assert wrong.alert == "bad_certificate_status_response"
    assert [c.name for c in wrong.checks if not c.ok] == ["ocsp/nonce"]


def test_client_check_passes_good_and_flags_revoked(authority: Authority) -> None:
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    good = check_ocsp_response(
        setup.responder.respond(build_ocsp_request(leaf, setup.issuer)).der,
        leaf,
        setup.issuer,
        authority.clock,
    )
    assert (good.status, good.alert) == ("good", None)
    assert {c.name for c in good.checks} >= {
        "ocsp/responder",
        "ocsp/signature",
        "ocsp/cert-id",
        "ocsp/freshness",
    }
    assert all(c.ok for c in good.checks)
    authority.revoke(format(leaf.serial_number, "x"), "superseded")
    revoked = check_ocsp_response(
        setup.responder.respond(build_ocsp_request(leaf, setup.issuer)).der,
        leaf,
        setup.issuer,
        authority.clock,
    )
    assert (revoked.status, revoked.alert, revoked.revocation_reason) == (
        "revoked",
        "certificate_revoked",
        "superseded",
    )


def test_response_signed_by_an_uncertified_key_is_rejected(authority: Authority) -> None:
    setup = delegated_responder(authority)
    # A "responder" certified by the untrusted hierarchy answers for our intermediate.
    rogue_key = generate_private_key()
    rogue_csr = build_csr(rogue_key, "rogue.tlssim.test")
    rogue_der = rogue_csr.public_bytes(serialization.Encoding.DER)
    rogue_cert = authority.issue(rogue_der, "untrusted").leaf
    rogue = OcspResponder(
        [ServedIssuer.create(setup.issuer, rogue_cert, rogue_key)],
        store_lookup(authority),
        authority.clock,
    )
    leaf = _issue(authority)
    der = rogue.respond(build_ocsp_request(leaf, setup.issuer)).der
    result = check_ocsp_response(der, leaf, setup.issuer, authority.clock)
    assert result.status == "unavailable"
    assert result.alert == "bad_certificate_status_response"
    assert [c.name for c in result.checks if not c.ok] == ["ocsp/responder"]


def test_tampered_signature_is_rejected(authority: Authority) -> None:
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    der = bytearray(setup.responder.respond(build_ocsp_request(leaf, setup.issuer)).der)
    response = _load(bytes(der))
    at = bytes(der).index(response.signature)
    der[at + 10] ^= 0xFF
    result = check_ocsp_response(bytes(der), leaf, setup.issuer, authority.clock)
    assert result.status == "unavailable"
    assert [c.name for c in result.checks if not c.ok] == ["ocsp/signature"]


def test_stale_response_is_rejected_once_next_update_passed(
    authority: Authority, clock: MovableClock
) -> None:
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    der = setup.responder.respond(build_ocsp_request(leaf, setup.issuer)).der
    clock.advance(dt.timedelta(minutes=64))  # inside nextUpdate + 5 min skew
    assert check_ocsp_response(der, leaf, setup.issuer, clock).status == "good"
    clock.advance(dt.timedelta(minutes=2))
    stale = check_ocsp_response(der, leaf, setup.issuer, clock)
    assert stale.status == "unavailable"
    assert [c.name for c in stale.checks if not c.ok] == ["ocsp/freshness"]
    assert "stale" in stale.checks[-1].detail


def test_response_for_another_certificate_fails_cert_id(authority: Authority) -> None:
    setup = delegated_responder(authority)
    leaf, other = _issue(authority), _issue(authority)
    der = setup.responder.respond(build_ocsp_request(other, setup.issuer)).der
    result = check_ocsp_response(der, leaf, setup.issuer, authority.clock)
    assert result.status == "unavailable"
    assert [c.name for c in result.checks if not c.ok] == ["ocsp/cert-id"]


def test_garbage_and_unsuccessful_responses_are_unavailable(authority: Authority) -> None:
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    assert check_ocsp_response(b"junk", leaf, setup.issuer, authority.clock).status == (
        "unavailable"
    )
    malformed = setup.responder.respond(b"junk").der
    result = check_ocsp_response(malformed, leaf, setup.issuer, authority.clock)
    assert result.status == "unavailable"
    assert result.checks[0].name == "ocsp/response-status"


def _openssl_ocsp(intermediate: str | None, *args: str) -> str:
    """Runs `openssl ocsp ARGS [-verify_other INTERMEDIATE] -resp_text`; returns its output."""
    other = ["-verify_other", intermediate] if intermediate else []
    done = subprocess.run(
        [OPENSSL or "openssl", "ocsp", *args, *other, "-resp_text"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return done.stdout + done.stderr


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
def test_openssl_accepts_our_response_to_its_request(tmp_path: Path) -> None:
    from tlssim.clock import SystemClock

    authority = Authority.open(tmp_path / "ca", SystemClock())
    setup = delegated_responder(authority)
    leaf = _issue(authority)
    files = {
        "root.pem": pem(authority.ca("root").certificate),
        "inter.pem": pem(setup.issuer),
        "leaf.pem": pem(leaf),
        "responder.pem": pem(setup.responder_cert),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    p = {name: str(tmp_path / name) for name in files}
    req, resp = str(tmp_path / "req.der"), str(tmp_path / "resp.der")
    subprocess.run(
        [
            OPENSSL or "openssl",
            "ocsp",
            "-issuer",
            p["inter.pem"],
            "-cert",
            p["leaf.pem"],
            "-reqout",
            req,
        ],
        check=True,
        capture_output=True,
        timeout=20,
    )
    (tmp_path / "resp.der").write_bytes(setup.responder.respond(Path(req).read_bytes()).der)
    # OpenSSL checks the nonce against its own request and the delegated responder's
    # chain up to the root (the issuer is "other" material the client already holds).
    out = _openssl_ocsp(p["inter.pem"], "-reqin", req, "-respin", resp, "-CAfile", p["root.pem"])
    out += "\n" + _openssl_ocsp(None, "-reqin", req, "-respin", resp, "-VAfile", p["responder.pem"])
    assert out.count("Response verify OK") == 2, out
    assert "Cert Status: good" in out, out

    authority.revoke(format(leaf.serial_number, "x"), "keyCompromise")
    (tmp_path / "resp.der").write_bytes(setup.responder.respond(Path(req).read_bytes()).der)
    out = _openssl_ocsp(
        p["inter.pem"],
        "-issuer",
        p["inter.pem"],
        "-cert",
        p["leaf.pem"],
        "-respin",
        resp,
        "-no_nonce",
        "-CAfile",
        p["root.pem"],
    )
    assert "Response verify OK" in out, out
    assert f"{p['leaf.pem']}: revoked" in out, out
    assert "Reason: keyCompromise" in out, out
    # A response from an issuer OpenSSL does not trust fails its verification.
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(pem(authority.ca("untrusted-root").certificate))
    out = _openssl_ocsp(p["inter.pem"], "-reqin", req, "-respin", resp, "-CAfile", str(other_root))
    assert "Response verify OK" not in out, out
    authority.close()


def test_revoked_profile_is_revoked_from_the_start(authority: Authority) -> None:
    setup = delegated_responder(authority)
    issued = authority.issue(csr_der()[1], "revoked")
    assert issued.event.kind.value == "REVOKED"
    der = setup.responder.respond(build_ocsp_request(issued.leaf, setup.issuer)).der
    result = check_ocsp_response(der, issued.leaf, setup.issuer, authority.clock)
    assert (result.status, result.revocation_reason) == ("revoked", "keyCompromise")
