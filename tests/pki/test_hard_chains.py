"""The certificates and chains a modern client must refuse or build (badssl.com's kinds),
judged by our verifier, by cryptography's own path builder and by `openssl verify`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID, SignatureAlgorithmOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tests.pki.helpers import csr_der, pem
from tlssim.pki import Authority, ChainVerifier, issuer_id
from tlssim.pki.profiles import (
    CONSTRAINED_SUBTREE,
    CROSS_INTERMEDIATE,
    CROSS_INTERMEDIATE_BY_OLD_ROOT,
    CROSS_OLD_ROOT,
    CROSS_ROOT,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")


def _issue(authority: Authority, profile: str, host: str) -> tuple[x509.Certificate, ...]:
    return authority.issue(csr_der(cn=host)[1], profile).chain


def _verifier(authority: Authority) -> ChainVerifier:
    return ChainVerifier(authority.trusted_roots(), authority.clock)


def _cryptography_path(
    authority: Authority, chain: tuple[x509.Certificate, ...], host: str
) -> list[x509.Certificate]:
    """cryptography's own verifier, handed every presented certificate as intermediates."""
    verifier = (
        PolicyBuilder()
        .store(Store(authority.trusted_roots()))
        .time(authority.clock.now())
        .build_server_verifier(x509.DNSName(host))
    )
    return verifier.verify(chain[0], list(chain[1:]))


def _openssl_verify(
    authority: Authority,
    tmp_path: Path,
    leaf: x509.Certificate,
    untrusted: tuple[x509.Certificate, ...],
    host: str,
    *extra: str,
) -> str:
    """`openssl verify` of `leaf` with the bundle as CAfile, `untrusted` as -untrusted."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(authority.trust_bundle_pem())
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    args = ["-CAfile", str(bundle), "-verify_hostname", host, "-purpose", "sslserver"]
    if untrusted:
        (tmp_path / "untrusted.pem").write_bytes(b"".join(pem(c) for c in untrusted))
        args += ["-untrusted", str(tmp_path / "untrusted.pem")]
    at = str(int(authority.clock.now().timestamp()))
    done = subprocess.run(
        [OPENSSL or "openssl", "verify", *args, "-attime", at, *extra, str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout + done.stderr


# -- SHA-1 ---------------------------------------------------------------------------------


def test_sha1_leaf_is_signed_with_sha1_and_refused_for_collisions(authority: Authority) -> None:
    host = "sha1-leaf.tlssim.test"
    chain = _issue(authority, "sha1-leaf", host)
    leaf, intermediate = chain
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA1
    # A real signature: the intermediate's key verifies it over the (re-encoded) TBS.
    public = intermediate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))
    result = _verifier(authority).verify(list(chain), host)
    assert result.alert == "bad_certificate"
    detail = result.check("signature/chain").detail
    assert "signed with SHA-1" in detail and "collisions" in detail, detail
    with pytest.raises(VerificationError, match="Forbidden signature algorithm"):
        _cryptography_path(authority, chain, host)


def test_sha1_intermediate_is_refused_though_the_leaf_is_sha256(authority: Authority) -> None:
    host = "sha1-intermediate.tlssim.test"
    chain = _issue(authority, "sha1-intermediate", host)
    assert chain[0].signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert chain[1].signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA1
    result = _verifier(authority).verify(list(chain), host)
    assert result.alert == "bad_certificate"
    assert result.check("signature/chain").detail.startswith(
        "certificate 1 (CN=tlssim SHA-1 Intermediate CA,O=tlssim) is signed with SHA-1"
    )


@needs_openssl
@pytest.mark.parametrize("profile", ["sha1-leaf", "sha1-intermediate"])
def test_openssl_refuses_sha1_at_its_tls_security_level(
    authority: Authority, tmp_path: Path, profile: str
) -> None:
    host = f"{profile}.tlssim.test"
    leaf, *rest = _issue(authority, profile, host)
    # s_client verifies at the TLS security level (1 or more): SHA-1's 63 bits are too few.
    out = _openssl_verify(authority, tmp_path, leaf, tuple(rest), host, "-auth_level", "1")
    assert "error 68 at" in out and "CA signature digest algorithm too weak" in out, out
    # `openssl verify` alone sets no level, and accepts it.
    assert out != (plain := _openssl_verify(authority, tmp_path, leaf, tuple(rest), host))
    assert plain.strip().endswith(": OK"), plain


# -- name constraints ----------------------------------------------------------------------


def test_name_constrained_intermediate_permits_only_its_subtree(
    authority: Authority, tmp_path: Path
) -> None:
    host = "name-constrained.tlssim.test"
    chain = _issue(authority, "name-constrained", host)
    constraints = chain[1].extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName(CONSTRAINED_SUBTREE)]
    result = _verifier(authority).verify(list(chain), host)
    assert result.alert == "bad_certificate"
    detail = result.check("signature/chain").detail
    assert f"nameConstraints permit {CONSTRAINED_SUBTREE}" in detail, detail
    with pytest.raises(VerificationError, match="name constraints"):
        _cryptography_path(authority, chain, host)


@needs_openssl
def test_openssl_finds_the_name_constraint_violation(authority: Authority, tmp_path: Path) -> None:
    host = "name-constrained.tlssim.test"
    leaf, intermediate = _issue(authority, "name-constrained", host)
    out = _openssl_verify(authority, tmp_path, leaf, (intermediate,), host)
    assert "error 47 at 0 depth lookup: permitted subtree violation" in out, out


# -- cross-signed, one root expired --------------------------------------------------------


def test_cross_signed_chain_is_sent_old_path_first(authority: Authority) -> None:
    _, by_old_root, by_new_root = _issue(authority, "cross-signed", "cross-signed.tlssim.test")
    old_root = authority.ca(CROSS_OLD_ROOT).certificate
    new_root = authority.ca(CROSS_ROOT).certificate
    assert old_root in authority.trusted_roots() and new_root in authority.trusted_roots()
    assert old_root.not_valid_after_utc < authority.clock.now()  # expired, still in the bundle
    assert by_old_root == authority.ca(CROSS_INTERMEDIATE_BY_OLD_ROOT).certificate
    assert by_new_root == authority.ca(CROSS_INTERMEDIATE).certificate
    # one intermediate: the same subject and key, certified by each root
    assert by_old_root.subject == by_new_root.subject
    assert by_old_root.public_key() == by_new_root.public_key()
    assert (by_old_root.issuer, by_new_root.issuer) == (old_root.subject, new_root.subject)


def test_path_builders_find_the_good_root(authority: Authority) -> None:
    host = "cross-signed.tlssim.test"
    chain = _issue(authority, "cross-signed", host)
    new_root = authority.ca(CROSS_ROOT).certificate
    path = _cryptography_path(authority, chain, host)
    assert path == [chain[0], chain[2], new_root]
    result = _verifier(authority).verify(list(chain), host)
    assert result.ok, result.checks
    assert result.verified_chain == (chain[0], chain[2], new_root)
    # Handed only the old root's certificate of the intermediate, there is no good path.
    only_old = _verifier(authority).verify([chain[0], chain[1]], host)
    assert only_old.alert == "certificate_expired", only_old.checks
    detail = only_old.check("signature/chain").detail
    assert detail.startswith("every path from the server's certificate ends at CN=tlssim Old Root")


@needs_openssl
def test_openssl_takes_the_first_path_and_meets_the_expired_root(
    authority: Authority, tmp_path: Path
) -> None:
    host = "cross-signed.tlssim.test"
    leaf, by_old_root, by_new_root = _issue(authority, "cross-signed", host)
    out = _openssl_verify(authority, tmp_path, leaf, (by_old_root, by_new_root), host)
    assert "error 10 at 2 depth lookup: certificate has expired" in out, out
    assert "tlssim Old Root CA" in out, out
    # The same certificates the other way round: OpenSSL takes the new root's path.
    out = _openssl_verify(authority, tmp_path, leaf, (by_new_root, by_old_root), host)
    assert out.strip().endswith(": OK"), out


# -- AIA caIssuers -------------------------------------------------------------------------


def test_aia_chain_leaf_names_where_its_issuer_is(authority: Authority) -> None:
    host = "aia-chain.tlssim.test"
    leaf, intermediate = _issue(authority, "aia-chain", host)
    access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = {d.access_method: str(d.access_location.value) for d in access}
    assert urls[AuthorityInformationAccessOID.CA_ISSUERS] == (
        f"http://127.0.0.1:8080/ca/{issuer_id(intermediate)}.crt"
    )
    assert urls[AuthorityInformationAccessOID.OCSP] == "http://127.0.0.1:8080"
    verifier = _verifier(authority)
    assert verifier.verify([leaf], host).alert == "unknown_ca"
    assert verifier.verify([leaf, intermediate], host).ok
    # Other leaves name no caIssuers.
    plain = _issue(authority, "server", "valid.tlssim.test")[0]
    access = plain.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_method for d in access] == [AuthorityInformationAccessOID.OCSP]


@needs_openssl
def test_openssl_fetches_nothing_but_verifies_with_the_issuer_given(
    authority: Authority, tmp_path: Path
) -> None:
    host = "aia-chain.tlssim.test"
    leaf, intermediate = _issue(authority, "aia-chain", host)
    out = _openssl_verify(authority, tmp_path, leaf, (), host)
    assert "error 20 at 0 depth lookup: unable to get local issuer certificate" in out, out
    out = _openssl_verify(authority, tmp_path, leaf, (intermediate,), host)
    assert out.strip().endswith(": OK"), out


# -- names: many, or no CN, or no subject --------------------------------------------------


@pytest.mark.parametrize(("profile", "count"), [("1000-sans", 1000), ("10000-sans", 10000)])
def test_many_sans(authority: Authority, profile: str, count: int) -> None:
    host = f"{profile}.tlssim.test"
    chain = _issue(authority, profile, host)
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    assert len(dns) == count and dns[0] == host and dns[-1] == f"n{count - 1}.{host}"
    assert _verifier(authority).verify(list(chain), host).ok


def test_no_common_name_and_no_subject(authority: Authority, tmp_path: Path) -> None:
    no_cn = _issue(authority, "no-common-name", "no-common-name.tlssim.test")
    assert not no_cn[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert no_cn[0].subject.rfc4514_string() == "O=tlssim"
    no_subject = _issue(authority, "no-subject", "no-subject.tlssim.test")
    assert len(no_subject[0].subject) == 0
    san = no_subject[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.DNSName) == [
        "no-subject.tlssim.test"
    ]
    for chain, host in ((no_cn, "no-common-name.tlssim.test"), (no_subject, san.value[0].value)):
        assert _verifier(authority).verify(list(chain), host).ok
        assert _cryptography_path(authority, chain, host)[0] == chain[0]
        if OPENSSL is not None:
            out = _openssl_verify(authority, tmp_path, chain[0], chain[1:], host)
            assert out.strip().endswith(": OK"), out
