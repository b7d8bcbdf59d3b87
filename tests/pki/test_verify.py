"""ChainVerifier: each failure lands in its own named check with OpenSSL's alert."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.pki.helpers import MovableClock, csr_der
from tlssim.pki import Authority, ChainVerifier, generate_private_key


@pytest.fixture
def verifier(authority: Authority, clock: MovableClock) -> ChainVerifier:
    return ChainVerifier(authority.trusted_roots(), clock)


def _chain(
    authority: Authority, profile: str = "server", cn: str = "valid.tlssim.test"
) -> list[x509.Certificate]:
    return list(authority.issue(csr_der(cn=cn)[1], profile).chain)


def _failed(result) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {c.name: c.alert for c in result.checks if not c.ok}


def test_valid_chain_passes_every_check(authority: Authority, verifier: ChainVerifier) -> None:
    result = verifier.verify(_chain(authority), "valid.tlssim.test")
    assert result.ok and result.alert is None
    assert [c.name for c in result.checks] == ["signature/chain", "validity", "hostname"]
    assert result.verified_chain[-1] == authority.ca("root").certificate
    assert result.check("hostname").ok


def test_wrong_host_fails_only_the_hostname_check(
    authority: Authority, verifier: ChainVerifier
) -> None:
    result = verifier.verify(_chain(authority, cn="other.tlssim.test"), "wrong-host.tlssim.test")
    assert not result.ok
    assert _failed(result) == {"hostname": "bad_certificate"}
    assert result.alert == "bad_certificate"
    assert "other.tlssim.test" in result.check("hostname").detail


def test_expired_leaf_fails_validity_with_certificate_expired(
    authority: Authority, verifier: ChainVerifier
) -> None:
    result = verifier.verify(_chain(authority, "expired"), "valid.tlssim.test")
    assert _failed(result) == {"validity": "certificate_expired"}
    assert result.alert == "certificate_expired"


def test_clock_moving_past_not_after_expires_a_good_chain(
    authority: Authority, verifier: ChainVerifier, clock: MovableClock
) -> None:
    chain = _chain(authority)
    clock.advance(dt.timedelta(days=91))
    result = verifier.verify(chain, "valid.tlssim.test")
    assert _failed(result) == {"validity": "certificate_expired"}


def test_not_yet_valid_leaf_is_a_bad_certificate(
    authority: Authority, verifier: ChainVerifier
) -> None:
    result = verifier.verify(_chain(authority, "not-yet-valid"), "valid.tlssim.test")
    assert _failed(result) == {"validity": "bad_certificate"}
    assert "not valid before" in result.check("validity").detail


def test_untrusted_root_and_missing_intermediate_are_unknown_ca(
    authority: Authority, verifier: ChainVerifier
) -> None:
    untrusted = verifier.verify(_chain(authority, "untrusted"), "valid.tlssim.test")
    assert _failed(untrusted) == {"signature/chain": "unknown_ca"}
    incomplete = verifier.verify(_chain(authority)[:1], "valid.tlssim.test")
    assert _failed(incomplete) == {"signature/chain": "unknown_ca"}


def test_long_chain_verifies_and_several_failures_are_all_reported(
    authority: Authority, verifier: ChainVerifier
) -> None:
    assert verifier.verify(_chain(authority, "long-chain"), "valid.tlssim.test").ok
    both = verifier.verify(_chain(authority, "expired", cn="a.tlssim.test"), "b.tlssim.test")
    assert _failed(both) == {"validity": "certificate_expired", "hostname": "bad_certificate"}
    assert both.alert == "certificate_expired"


def test_empty_chain_and_wildcards(authority: Authority, verifier: ChainVerifier) -> None:
    assert verifier.verify([], "valid.tlssim.test").alert == "bad_certificate"
    chain = _chain(authority, cn="*.tlssim.test")
    assert verifier.verify(chain, "valid.tlssim.test").ok
    assert _failed(verifier.verify(chain, "a.b.tlssim.test")) == {"hostname": "bad_certificate"}


def test_wrong_host_profile_names_another_host(
    authority: Authority, verifier: ChainVerifier
) -> None:
    result = verifier.verify(_chain(authority, "wrong-host"), "wrong-host.tlssim.test")
    assert _failed(result) == {"hostname": "bad_certificate"}


def test_self_signed_leaf_is_unknown_ca_and_a_policy_break_is_bad_certificate(
    authority: Authority, verifier: ChainVerifier, clock: MovableClock
) -> None:
    key = generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.tlssim.test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .public_key(key.public_key())
        .not_valid_before(clock.now() - dt.timedelta(days=1))
        .not_valid_after(clock.now() + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("self-signed.tlssim.test")]), False
        )
    )
    self_signed = builder.issuer_name(name).serial_number(7).sign(key, hashes.SHA256())
    result = verifier.verify([self_signed], "self-signed.tlssim.test")
    assert _failed(result) == {"signature/chain": "unknown_ca"}

    # Signed by the real intermediate but without the extensions a server leaf needs.
    inter = authority.ca("intermediate")
    bare = (
        builder.issuer_name(inter.certificate.subject)
        .serial_number(8)
        .sign(inter.private_key, hashes.SHA256())
    )
    result = verifier.verify([bare, inter.certificate], "self-signed.tlssim.test")
    assert _failed(result) == {"signature/chain": "bad_certificate"}


def test_chain_failures_are_told_in_words(authority: Authority, verifier: ChainVerifier) -> None:
    """Quick test certificates fail in ways the validator words for PKI engineers; the
    check names the certificate and says what is wrong with it."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from tlssim.pki.throwaway import make_ca, make_leaf
    from tlssim.pki.verify import ChainVerifier as Verifier

    ca, ca_key = make_ca("Quick Test CA")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    good = make_leaf(ca, ca_key, "quick.example.test", leaf_key)
    # The same leaf, but claiming to be a CA, as a hurried `openssl req -x509` often is.
    builder = x509.CertificateBuilder(
        issuer_name=good.issuer,
        subject_name=good.subject,
        public_key=good.public_key(),
        serial_number=good.serial_number + 1,
        not_valid_before=good.not_valid_before_utc,
        not_valid_after=good.not_valid_after_utc,
        extensions=[e for e in good.extensions if e.oid != x509.BasicConstraints.oid],
    ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    as_ca = builder.sign(ca_key, hashes.SHA256())
    result = Verifier([ca]).verify([as_ca], "quick.example.test")
    detail = next(c.detail for c in result.checks if c.name == "signature/chain")
    assert detail == (
        "the certificate of CN=quick.example.test is marked as a CA (basicConstraints "
        "cA=TRUE) yet is the server's own certificate"
    )
    unknown = verifier.verify([good], "quick.example.test")
    detail = next(c.detail for c in unknown.checks if c.name == "signature/chain")
    assert detail.startswith("no chain leads from the server's certificate to a trusted root")
