"""Enrollment credentials and the per-identity name policy, on an authority in this process."""

from __future__ import annotations

import ipaddress
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlssim.pki import Authority, InvalidRequest, issuer_id
from tlssim.pki.enrollment import (
    ADMIN,
    IDENTITIES,
    AdminToken,
    CredentialMissing,
    EnrollmentCredentials,
    credential_path,
    read_token,
    rotate,
)
from tlssim.pki.errors import PolicyRefused
from tlssim.pki.keys import generate_private_key
from tlssim.pki.policy import CLIENT_NAME, RESPONDER_COMMON_NAME, build_policies
from tlssim.topology import vhosts

POLICIES = build_policies()


def csr(
    common_name: str | None,
    *names: x509.GeneralName,
    extra: tuple[x509.NameAttribute[str], ...] = (),
    extension: x509.ExtensionType | None = None,
) -> bytes:
    attributes = list(extra)
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name, _validate=False))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    if extension is not None:
        builder = builder.add_extension(extension, critical=True)
    key = generate_private_key()
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def dns(name: str) -> bytes:
    return csr(name, x509.DNSName(name))


def refusal(authority: Authority, der: bytes, profile: str, identity: str) -> str:
    with pytest.raises(PolicyRefused) as refused:
        authority.issue(der, profile, policy=POLICIES[identity])
    assert "\n" not in str(refused.value)
    return refused.value.reason


def test_the_server_policy_allows_every_virtual_host_under_its_profile(
    authority: Authority,
) -> None:
    for host in vhosts.VIRTUAL_HOSTS:
        if host.profile != vhosts.SELF_SIGNED:
            issued = authority.issue(dns(host.name), host.profile, policy=POLICIES["server"])
            assert issued.leaf.extensions.get_extension_for_class(x509.BasicConstraints)


@pytest.mark.parametrize(
    ("der", "profile", "reason"),
    [
        (dns("www.google.com"), "server", "name-not-allowed"),
        (dns("localhost"), "server", "name-not-allowed"),
        (dns("VALID.tlssim.test."), "server", "name-not-allowed"),
        (dns("*.tlssim.test"), "server", "wildcard"),
        (csr("*"), "server", "wildcard"),
        (csr("127.0.0.1"), "server", "ip-address"),
        (csr("::1"), "server", "ip-address"),
        (
            csr("valid.tlssim.test", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
            "server",
            "ip-address",
        ),
        (
            csr("valid.tlssim.test", x509.RFC822Name("a@tlssim.test")),
            "server",
            "name-type-not-allowed",
        ),
        (
            csr("www.google.com", x509.DNSName("valid.tlssim.test")),
            "server",
            "name-not-allowed",
        ),
        (
            csr(
                "valid.tlssim.test",
                x509.DNSName("valid.tlssim.test"),
                extra=(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Google LLC"),),
            ),
            "server",
            "subject-not-allowed",
        ),
        (
            csr(
                "valid.tlssim.test",
                x509.DNSName("valid.tlssim.test"),
                extension=x509.BasicConstraints(ca=True, path_length=None),
            ),
            "server",
            "ca-requested",
        ),
        (csr(RESPONDER_COMMON_NAME), "ocsp-responder", "profile-not-allowed"),
    ],
)
def test_the_server_policy_refuses(
    authority: Authority, der: bytes, profile: str, reason: str
) -> None:
    assert refusal(authority, der, profile, "server") == reason


def test_the_responder_policy(authority: Authority) -> None:
    root = authority.ca("root").certificate
    for profile in ("ocsp-responder", f"ocsp-responder@{issuer_id(root)}"):
        issued = authority.issue(csr(RESPONDER_COMMON_NAME), profile, policy=POLICIES["ocsp"])
        assert issued.leaf.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert refusal(authority, dns("valid.tlssim.test"), "server", "ocsp") == "profile-not-allowed"
    assert (
        refusal(authority, dns("valid.tlssim.test"), "ocsp-responder", "ocsp") == "name-not-allowed"
    )
    with_key_cert_sign = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    assert (
        refusal(
            authority,
            csr(RESPONDER_COMMON_NAME, extension=with_key_cert_sign),
            "ocsp-responder",
            "ocsp",
        )
        == "ca-requested"
    )
    root_id = issuer_id(root)
    assert (
        refusal(authority, dns("valid.tlssim.test"), f"server@{root_id}", "server")
        == "issuer-not-allowed"
    )


def test_the_client_gets_only_client_certificates_naming_itself(authority: Authority) -> None:
    assert refusal(authority, dns("valid.tlssim.test"), "server", "client") == "profile-not-allowed"
    assert refusal(authority, dns("valid.tlssim.test"), "client", "client") == "name-not-allowed"
    assert refusal(authority, dns(CLIENT_NAME), "server", "client") == "profile-not-allowed"
    for profile in ("client", "client-expired", "client-revoked"):
        issued = authority.issue(dns(CLIENT_NAME), profile, policy=POLICIES["client"])
        usages = issued.chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH], profile


@pytest.mark.filterwarnings("ignore:Attribute's length")
def test_oversized_subjects_and_names_are_invalid_and_refused_quickly(
    authority: Authority,
) -> None:
    started = time.monotonic()
    megabyte_subject = csr("a" * (1024 * 1024))
    too_many = csr("valid.tlssim.test", *(x509.DNSName(f"h{i}.tlssim.test") for i in range(17)))
    long_name = csr("valid.tlssim.test", x509.DNSName("a" * 300))
    many_attributes = csr(
        "valid.tlssim.test",
        extra=tuple(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "u") for _ in range(8)),
    )
    for der in (megabyte_subject, too_many, long_name, many_attributes):
        with pytest.raises(InvalidRequest):
            authority.issue(der, "server")
    with pytest.raises(InvalidRequest, match="profile name"):
        authority.issue(dns("valid.tlssim.test"), "x" * 200)
    assert time.monotonic() - started < 5


def test_credentials_are_created_private_and_identify_their_identity(tmp_path: Path) -> None:
    credentials = EnrollmentCredentials.open(tmp_path)
    tokens = {i: read_token(credential_path(tmp_path, i)) for i in IDENTITIES}
    assert len(set(tokens.values())) == len(IDENTITIES)
    for identity, token in tokens.items():
        path = credential_path(tmp_path, identity)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert credentials.identify(token) == identity
    for wrong in (None, "", "nope", tokens["server"] + "x", tokens["server"][:-1], "x" * 10_000):
        assert credentials.identify(wrong) is None
    # Opening again keeps them.
    EnrollmentCredentials.open(tmp_path)
    assert read_token(credential_path(tmp_path, "server")) == tokens["server"]


def test_rotation_takes_effect_at_once(tmp_path: Path) -> None:
    credentials = EnrollmentCredentials.open(tmp_path)
    (tmp_path / "admin-token").write_text("old-admin\n")
    admin = AdminToken(tmp_path)
    old = read_token(credential_path(tmp_path, "ocsp"))
    assert credentials.identify(old) == "ocsp" and admin.matches("old-admin")
    written = rotate(tmp_path, ["ocsp", ADMIN])
    assert written == [credential_path(tmp_path, "ocsp"), tmp_path / "admin-token"]
    new = read_token(credential_path(tmp_path, "ocsp"))
    assert credentials.identify(old) is None
    assert credentials.identify(new) == "ocsp"
    assert not admin.matches("old-admin")
    assert admin.matches(read_token(tmp_path / "admin-token"))
    assert stat.S_IMODE((tmp_path / "admin-token").stat().st_mode) == 0o600
    # A configured admin token wins over the file.
    assert AdminToken(tmp_path, "from-env").matches("from-env")
    # A deleted credential is refused until the ca makes a new one.
    credential_path(tmp_path, "ocsp").unlink()
    assert credentials.identify(new) is None
    with pytest.raises(CredentialMissing):
        read_token(credential_path(tmp_path, "ocsp"))
    EnrollmentCredentials.open(tmp_path)
    assert credentials.identify(read_token(credential_path(tmp_path, "ocsp"))) == "ocsp"
    assert not list(tmp_path.rglob(".token.*"))  # no temporary files left behind
