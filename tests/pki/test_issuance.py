"""Issuing leaves from CSRs: real chains that OpenSSL and Python's ssl accept."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from tests.pki.helpers import MovableClock, csr_der, pem
from tlssim.pki import Authority, ChainVerifier, InvalidRequest, NotFound, issuer_id
from tlssim.pki.keys import build_csr, generate_private_key, private_key_to_pem
from tlssim.pki.profiles import build_hierarchy, build_profiles

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")


def _write_chain(tmp_path: Path, authority: Authority, leaf: x509.Certificate) -> list[str]:
    (tmp_path / "root.pem").write_bytes(pem(authority.ca("root").certificate))
    (tmp_path / "inter.pem").write_bytes(pem(authority.ca("intermediate").certificate))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    return [
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "inter.pem"),
    ]


@needs_openssl
@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa2048", "ed25519"])
def test_openssl_verifies_server_leaf_for_its_name(
    authority: Authority, tmp_path: Path, key_type: str
) -> None:
    _, der = csr_der(key_type, "valid.tlssim.test")
    issued = authority.issue(der, "server")
    args = _write_chain(tmp_path, authority, issued.leaf)
    # Real time here: openssl uses the system clock, and the default clock starts in 2026.
    at = str(int(authority.clock.now().timestamp()))
    ok = subprocess.run(
        [
            OPENSSL or "openssl",
            "verify",
            *args,
            "-attime",
            at,
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "valid.tlssim.test",
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = subprocess.run(
        [
            OPENSSL or "openssl",
            "verify",
            *args,
            "-attime",
            at,
            "-verify_hostname",
            "other.tlssim.test",
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert wrong.returncode != 0


def test_python_ssl_completes_a_handshake_with_the_issued_chain(tmp_path: Path) -> None:
    from tlssim.clock import SystemClock

    authority = Authority.open(tmp_path / "ca", SystemClock())
    key, der = csr_der("ecdsa-p256", "valid.tlssim.test")
    issued = authority.issue(der)
    (tmp_path / "chain.pem").write_bytes(b"".join(pem(c) for c in issued.chain))
    (tmp_path / "key.pem").write_bytes(private_key_to_pem(key))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    client_ctx = ssl.create_default_context(cadata=authority.trust_bundle_pem())

    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="valid.tlssim.test")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values())
    peer = client.getpeercert()
    assert peer is not None
    assert ("DNS", "valid.tlssim.test") in peer["subjectAltName"]
    authority.close()


def test_leaf_carries_revocation_pointers_and_key_identifiers(authority: Authority) -> None:
    _, der = csr_der("rsa2048", "rsa2048.tlssim.test")
    leaf = authority.issue(der).leaf
    ext = leaf.extensions
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ] == ["http://127.0.0.1:8080"]
    dp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    inter = authority.ca("intermediate").certificate
    assert dp[0].full_name is not None
    assert dp[0].full_name[0].value == f"http://127.0.0.1:8080/crl/{issuer_id(inter)}.crl"
    ku = ext.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH in ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    assert 0 < leaf.serial_number < 2**128


def test_validity_window_follows_the_clock(authority: Authority, clock: MovableClock) -> None:
    leaf = authority.issue(csr_der()[1]).leaf
    assert leaf.not_valid_before_utc < clock.now() < leaf.not_valid_after_utc
    assert leaf.not_valid_after_utc - clock.now() > dt.timedelta(days=89)
    expired = authority.issue(csr_der()[1], "expired").leaf
    assert expired.not_valid_after_utc < clock.now()
    future = authority.issue(csr_der()[1], "not-yet-valid").leaf
    assert future.not_valid_before_utc > clock.now()


def test_san_comes_from_the_cn_when_the_csr_has_none(authority: Authority) -> None:
    key = generate_private_key("ed25519")
    csr = build_csr(key, "cn-only.tlssim.test")
    leaf = authority.issue(csr.public_bytes(serialization.Encoding.DER)).leaf
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cn-only.tlssim.test"]


def test_ocsp_responder_profile(authority: Authority) -> None:
    key = generate_private_key()
    csr = build_csr(key, "tlssim OCSP responder")
    issued = authority.issue(csr.public_bytes(serialization.Encoding.DER), "ocsp-responder")
    ext = issued.leaf.extensions
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    ext.get_extension_for_class(x509.OCSPNoCheck)  # raises when absent
    assert issued.leaf.issuer == authority.ca("intermediate").certificate.subject


def test_long_chain_profile_returns_every_intermediate(authority: Authority) -> None:
    issued = authority.issue(csr_der()[1], "long-chain")
    assert len(issued.chain) == 4
    for child, parent in zip(issued.chain, issued.chain[1:], strict=False):
        child.verify_directly_issued_by(parent)


def test_csr_with_a_bad_signature_is_rejected(authority: Authority) -> None:
    _, der = csr_der()
    tampered = der[:-3] + bytes([der[-3] ^ 0x01]) + der[-2:]
    with pytest.raises(InvalidRequest):
        authority.issue(tampered)
    with pytest.raises(InvalidRequest, match="DER CSR"):
        authority.issue(b"\x30\x03garbage")
    with pytest.raises(InvalidRequest, match="profile"):
        authority.issue(der, "no-such-profile")


def test_csr_signature_check_catches_a_swapped_key(authority: Authority) -> None:
    # A CSR whose public key was replaced after signing: structurally fine, signature bad.
    key = generate_private_key()
    other = generate_private_key()
    good = build_csr(key, "valid.tlssim.test", ("valid.tlssim.test",))
    good_der = good.public_bytes(serialization.Encoding.DER)
    old_point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    new_point = other.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    swapped = good_der.replace(old_point, new_point)
    assert swapped != good_der
    with pytest.raises(InvalidRequest, match="signature"):
        authority.issue(swapped)


def test_revoke_unknown_serial_and_bad_reason(authority: Authority) -> None:
    with pytest.raises(NotFound):
        authority.revoke("abcdef")
    serial = authority.issue(csr_der()[1]).serial_hex
    with pytest.raises(InvalidRequest):
        authority.revoke(serial, "becauseISaidSo")
    with pytest.raises(InvalidRequest):
        authority.revoke("not-hex")


def test_store_survives_reopen(tmp_path: Path, clock: MovableClock) -> None:
    first = Authority.open(tmp_path / "ca", clock)
    root = first.ca("root").certificate
    issued = first.issue(csr_der()[1])
    revoked = first.revoke(issued.serial_hex, "keyCompromise")
    kept = first.issue(csr_der()[1])
    first.close()

    again = Authority.open(tmp_path / "ca", clock)
    assert again.ca("root").certificate == root
    # every hierarchy's roots: the classical one, the ML-DSA one and the two the
    # cross-signed intermediate hangs from (the old one expired)
    roots = [again.ca(name).certificate for name in ("mldsa-root", "cross-root", "cross-old-root")]
    assert again.trust_bundle_pem() == b"".join(pem(c) for c in (root, *roots)).decode()
    record = again.store.certificate(issued.serial_hex)
    assert record is not None and record.profile == "server"
    revocation = again.store.revocation(issued.serial_hex)
    assert revocation is not None and revocation.reason == "keyCompromise"
    # The feed starts with the CA certificates (recorded as issued by their parents).
    events = again.store.events_after(0)
    ca_serials = {format(ca.certificate.serial_number, "x") for ca in again.cas.values()}
    assert {e.serial_hex for e in events[:-3]} <= ca_serials
    assert [(e.sequence, e.kind.value, e.serial_hex) for e in events[-3:]] == [
        (issued.event.sequence, "ISSUED", issued.serial_hex),
        (revoked.sequence, "REVOKED", issued.serial_hex),
        (kept.event.sequence, "ISSUED", kept.serial_hex),
    ]
    assert issued.event.sequence < revoked.sequence < kept.event.sequence
    # Revoking twice returns the original event; new events keep counting up.
    assert again.revoke(issued.serial_hex).sequence == revoked.sequence
    later = again.issue(csr_der()[1])
    assert later.event.sequence > kept.event.sequence
    again.close()


@needs_openssl
def test_crl_lists_revocations_and_openssl_verifies_it(
    authority: Authority, tmp_path: Path
) -> None:
    issued = authority.issue(csr_der()[1])
    authority.revoke(issued.serial_hex, "keyCompromise")
    der = authority.crl_der("intermediate")
    crl = x509.load_der_x509_crl(der)
    inter = authority.ca("intermediate").certificate
    assert crl.is_signature_valid(inter.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(issued.leaf.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    (tmp_path / "crl.der").write_bytes(der)
    (tmp_path / "inter.pem").write_bytes(pem(inter))
    result = subprocess.run(
        [
            OPENSSL or "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "crl.der"),
            "-CAfile",
            str(tmp_path / "inter.pem"),
            "-noout",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "verify OK" in result.stdout + result.stderr


def test_ca_certificates_are_recorded_revocable_and_point_at_their_parent(
    authority: Authority,
) -> None:
    root = authority.ca("root")
    intermediate = authority.ca("intermediate").certificate
    record = authority.store.certificate(format(intermediate.serial_number, "x"))
    assert record is not None and record.issuer_id == "root" and record.profile == "ca"
    assert authority.store.certificate(format(root.certificate.serial_number, "x")) is None
    crl_url = intermediate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_url[0].full_name is not None
    assert str(crl_url[0].full_name[0].value).endswith(f"/crl/{issuer_id(root.certificate)}.crl")
    authority.revoke(format(intermediate.serial_number, "x"), "cACompromise")
    crl = x509.load_der_x509_crl(authority.crl_der("root"))
    assert crl.is_signature_valid(root.certificate.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(intermediate.serial_number) is not None


def test_responder_profile_may_name_its_issuer_and_others_may_not(authority: Authority) -> None:
    root = authority.ca("root").certificate
    issued = authority.issue(
        csr_der(cn="tlssim OCSP responder")[1], f"ocsp-responder@{issuer_id(root)}"
    )
    assert issued.leaf.issuer == root.subject and issued.chain == (issued.leaf,)
    with pytest.raises(InvalidRequest):
        authority.issue(csr_der()[1], f"server@{issuer_id(root)}")
    with pytest.raises(InvalidRequest):
        authority.issue(csr_der(cn="r")[1], "ocsp-responder@00")


@pytest.mark.parametrize("depth", [1, 5, 8])
def test_long_chain_depth_is_configurable(tmp_path: Path, clock: MovableClock, depth: int) -> None:
    auth = Authority.open(
        tmp_path / "ca", clock, hierarchy=build_hierarchy(depth), profiles=build_profiles(depth)
    )
    try:
        issued = auth.issue(csr_der()[1], "long-chain")
        assert len(issued.chain) == depth + 1
        roots = auth.trusted_roots()
        assert ChainVerifier(roots, clock).verify(list(issued.chain), "valid.tlssim.test").ok
    finally:
        auth.close()
    with pytest.raises(InvalidRequest):
        build_hierarchy(9)
