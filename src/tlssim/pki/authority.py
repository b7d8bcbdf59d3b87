"""The certificate authority: a CA hierarchy kept in the store, issuing leaves from CSRs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from tlssim.clock import Clock
from tlssim.pki.errors import InvalidRequest, NotFound, UnknownIssuer
from tlssim.pki.keys import (
    PrivateKey,
    certificate_public_key,
    certificates_to_pem,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
    signature_hash_for,
    supported_public_key,
)
from tlssim.pki.policy import NamePolicy, check_csr_bounds, check_request_size
from tlssim.pki.profiles import (
    DEFAULT_HIERARCHY,
    DEFAULT_PROFILES,
    CaSpec,
    CertificateProfile,
    lookup_profile,
    split_profile_name,
)
from tlssim.pki.reasons import REVOCATION_REASONS
from tlssim.pki.sha1 import resigned_with_sha1
from tlssim.pki.store import CertificateStore, Issuance, StatusEvent, StoredCa

DEFAULT_OCSP_URL: Final = "http://127.0.0.1:8080"
CRL_VALIDITY: Final = dt.timedelta(days=1)
# CAs start a year before they are created, so that a leaf of the "expired" profile sits
# inside its issuer's window, like a real certificate that has since expired.
_CA_BACKDATE: Final = dt.timedelta(days=365)
_ORGANIZATION: Final = "tlssim"
CA_PROFILE: Final = "ca"  # how CA certificates are recorded in the store
_DNS_NAME: Final = re.compile(
    r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}"
)


def issuer_id(ca_cert: x509.Certificate) -> str:
    """A CA's public id: lowercase hex SHA-1 of its public key (its SKI and OCSP key hash).

    It names the CA's CRL (`<crl base>/<issuer id>.crl`) and is computable by anyone
    holding the CA certificate.
    """
    return x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key()).digest.hex()


def serial_to_hex(serial: int) -> str:
    return format(serial, "x")


def serial_from_hex(serial_hex: str) -> int:
    try:
        value = int(serial_hex, 16)
    except ValueError:
        raise InvalidRequest(f"serial {serial_hex!r} is not hexadecimal") from None
    if value <= 0:
        raise InvalidRequest("serial must be positive")
    return value


def new_serial() -> int:
    """A random positive 128-bit serial number."""
    return secrets.randbits(128) or 1


def reason_flag(reason: str) -> x509.ReasonFlags:
    """An RFC 5280 CRLReason by its name ("keyCompromise"); empty means unspecified."""
    known = ", ".join(REVOCATION_REASONS)
    if reason == x509.ReasonFlags.remove_from_crl.value:
        raise InvalidRequest(
            f"{reason} is only for delta CRLs (RFC 5280 5.3.1), not a revocation; use one of "
            f"{known}"
        )
    if (reason or "unspecified") not in REVOCATION_REASONS:
        raise InvalidRequest(f"unknown revocation reason {reason!r}; known: {known}")
    return x509.ReasonFlags(reason or "unspecified")


@dataclass(frozen=True, slots=True)
class CertificateAuthorityKeys:
    """One CA of the hierarchy with its signing key loaded."""

    id: str
    parent_id: str | None
    trusted: bool
    certificate: x509.Certificate
    private_key: PrivateKey


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A fresh leaf, its chain up to (not including) the root, and its latest feed event
    (ISSUED, or REVOKED for a profile that revokes at once)."""

    chain: tuple[x509.Certificate, ...]  # leaf first
    serial_hex: str
    event: StatusEvent

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def _signed(builder: x509.CertificateBuilder, key: PrivateKey, hash_name: str) -> x509.Certificate:
    """`builder` signed by `key` with its usual hash, or with SHA-1 when `hash_name` says
    "sha1" (the lab's certificates a client must refuse)."""
    cert = builder.sign(key, signature_hash_for(key))
    if hash_name == "sha1":
        return resigned_with_sha1(cert, key)
    if hash_name:
        raise InvalidRequest(f"unknown signature hash {hash_name!r}")
    return cert


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool, key_encipherment: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class Authority:
    """Issues, revokes and publishes; every change is written to the store first."""

    def __init__(
        self,
        store: CertificateStore,
        clock: Clock,
        cas: Mapping[str, CertificateAuthorityKeys],
        *,
        ocsp_url: str,
        crl_base_url: str,
        profiles: Mapping[str, CertificateProfile],
    ) -> None:
        self.store = store
        self.clock = clock
        self.cas = dict(cas)
        self.ocsp_url = ocsp_url
        self.crl_base_url = crl_base_url.rstrip("/")
        self.profiles = dict(profiles)
        # A cross-certificate shares its CA's key, hence its id: the first CA keeps it.
        self._by_issuer_id: dict[str, CertificateAuthorityKeys] = {}
        for ca in self.cas.values():
            self._by_issuer_id.setdefault(issuer_id(ca.certificate), ca)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        clock: Clock,
        *,
        ocsp_url: str = DEFAULT_OCSP_URL,
        crl_base_url: str | None = None,
        hierarchy: tuple[CaSpec, ...] = DEFAULT_HIERARCHY,
        profiles: Mapping[str, CertificateProfile] = DEFAULT_PROFILES,
    ) -> Authority:
        """Opens (or, at first start, creates) the authority kept in `data_dir`.

        CAs of `hierarchy` missing from the store are created, so the hierarchy can grow.
        """
        store = CertificateStore(data_dir)
        stored = store.load_cas()
        base = ocsp_url.rstrip("/")
        crl_base = (crl_base_url or f"{base}/crl").rstrip("/")
        cas: dict[str, CertificateAuthorityKeys] = {
            ca.id: CertificateAuthorityKeys(
                ca.id,
                ca.parent_id,
                ca.trusted,
                x509.load_der_x509_certificate(ca.cert_der),
                private_key_from_pem(ca.key_pem),
            )
            for ca in stored.values()
        }
        for ca in cas.values():  # data directories from before CAs were recorded
            if ca.parent_id is not None:
                serial_hex = serial_to_hex(ca.certificate.serial_number)
                if store.certificate(serial_hex) is None:
                    store.record_issued(**asdict(_ca_issuance(ca)))
        for spec in hierarchy:
            if spec.id not in cas:
                parent = None if spec.parent is None else cas[spec.parent]
                key = (
                    None if spec.cross_certifies is None else cas[spec.cross_certifies].private_key
                )
                created = _create_ca(spec, parent, clock.now(), base, crl_base, key)
                store.save_ca(
                    StoredCa(
                        created.id,
                        created.parent_id,
                        created.trusted,
                        private_key_to_pem(created.private_key),
                        created.certificate.public_bytes(serialization.Encoding.DER),
                    ),
                    None if parent is None else _ca_issuance(created),
                )
                cas[spec.id] = created
        return cls(
            store,
            clock,
            cas,
            ocsp_url=base,
            crl_base_url=crl_base,
            profiles=profiles,
        )

    def close(self) -> None:
        self.store.close()

    # -- lookups ------------------------------------------------------------------------

    def trusted_roots(self) -> list[x509.Certificate]:
        return [ca.certificate for ca in self.cas.values() if ca.parent_id is None and ca.trusted]

    def trust_bundle_pem(self) -> str:
        return certificates_to_pem(self.trusted_roots())

    def ca(self, ca_id: str) -> CertificateAuthorityKeys:
        try:
            return self.cas[ca_id]
        except KeyError:
            raise UnknownIssuer(f"no CA named {ca_id!r}") from None

    def ca_by_issuer_id(self, public_id: str) -> CertificateAuthorityKeys:
        try:
            return self._by_issuer_id[public_id]
        except KeyError:
            raise UnknownIssuer(f"no CA with issuer id {public_id!r}") from None

    def ca_by_certificate_der(self, der: bytes) -> CertificateAuthorityKeys:
        for ca in self.cas.values():
            if ca.certificate.public_bytes(serialization.Encoding.DER) == der:
                return ca
        raise UnknownIssuer("the given issuer certificate is not one of this authority's CAs")

    def chain_above(self, ca_id: str) -> tuple[x509.Certificate, ...]:
        """The CA certificates from `ca_id` up to, but not including, its root."""
        chain: list[x509.Certificate] = []
        ca = self.ca(ca_id)
        while ca.parent_id is not None:
            chain.append(ca.certificate)
            ca = self.ca(ca.parent_id)
        return tuple(chain)

    # -- issuing and revoking -----------------------------------------------------------

    def issue(
        self,
        csr_der: bytes,
        profile_name: str = "server",
        *,
        policy: NamePolicy | None = None,
        lifetime: dt.timedelta | None = None,
    ) -> IssuedCertificate:
        """Checks the CSR (its size, signature and, given a `policy`, that the caller may
        have it: PolicyRefused if not) and issues a leaf for its key under the named profile
        (living `lifetime`, when given and shorter than the profile's validity)."""
        check_request_size(csr_der, profile_name)
        name, issuer_public_id = split_profile_name(profile_name)
        profile = lookup_profile(self.profiles, name)
        try:
            csr = x509.load_der_x509_csr(csr_der)
            # The subject, extensions and key are decoded on first use: decode them here,
            # where a malformed one is the caller's error, not a crash further on.
            _ = (csr.subject, csr.extensions, csr.public_key())
        except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
            # InvalidVersion and UnsupportedAlgorithm are no ValueErrors
            raise InvalidRequest(f"not a well-formed DER CSR: {exc}") from exc
        check_csr_bounds(csr)
        try:
            signature_ok = csr.is_signature_valid
        except Exception as exc:  # unsupported algorithms surface here
            raise InvalidRequest(f"cannot check the CSR signature: {exc}") from exc
        if not signature_ok:
            raise InvalidRequest("the CSR signature does not verify")
        if policy is not None:
            policy.check(csr, profile.name, issuer_named=issuer_public_id is not None)
        if issuer_public_id is None:
            issuer = self.ca(profile.issuer)
        elif profile.any_issuer:
            issuer = self.ca_by_issuer_id(issuer_public_id)
        else:
            raise InvalidRequest(f"profile {name!r} cannot be issued by another CA")
        if lifetime is not None and lifetime < profile.validity:
            profile = dataclasses.replace(profile, validity=lifetime)
        leaf = self._build_leaf(csr, profile, issuer)
        serial_hex = serial_to_hex(leaf.serial_number)
        event = self.store.record_issued(
            serial_hex=serial_hex,
            issuer_id=issuer.id,
            profile=profile.name,
            subject=leaf.subject.rfc4514_string(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            cert_der=leaf.public_bytes(serialization.Encoding.DER),
        )
        if profile.revoke_with_reason is not None:
            event = self.revoke(serial_hex, profile.revoke_with_reason)
        crosses = tuple(self.ca(ca_id).certificate for ca_id in profile.cross_certificates)
        return IssuedCertificate((leaf, *crosses, *self.chain_above(issuer.id)), serial_hex, event)

    def revoke(self, serial_hex: str, reason: str = "") -> StatusEvent:
        """Revokes an issued certificate now; revoking twice returns the first event."""
        flag = reason_flag(reason)
        normalized = serial_to_hex(serial_from_hex(serial_hex))
        record = self.store.certificate(normalized)
        if record is None:
            raise NotFound(f"no certificate with serial {serial_hex} was issued here")
        return self.store.record_revocation(
            normalized, record.issuer_id, self.clock.now(), flag.value
        )

    def crl_der(self, ca_id: str = "intermediate") -> bytes:
        """A fresh CRL of one CA, signed by it, numbered by the latest feed sequence."""
        ca = self.ca(ca_id)
        now = self.clock.now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.certificate.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(self.store.latest_sequence()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    certificate_public_key(ca.certificate)
                ),
                critical=False,
            )
        )
        for revocation in self.store.revocations_by_issuer(ca.id):
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(revocation.serial_hex, 16))
                .revocation_date(revocation.revoked_at)
            )
            if revocation.reason != "unspecified":
                entry = entry.add_extension(
                    x509.CRLReason(x509.ReasonFlags(revocation.reason)), critical=False
                )
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(ca.private_key, signature_hash_for(ca.private_key))
        return crl.public_bytes(serialization.Encoding.DER)

    def _build_leaf(
        self,
        csr: x509.CertificateSigningRequest,
        profile: CertificateProfile,
        issuer: CertificateAuthorityKeys,
    ) -> x509.Certificate:
        try:
            public_key = supported_public_key(csr.public_key())
        except InvalidRequest as exc:
            raise InvalidRequest(f"{exc} in CSR") from None
        now = self.clock.now()
        not_before = now + profile.not_before_offset
        subject_alt_name = (
            x509.SubjectAlternativeName([x509.DNSName(n) for n in profile.subject_alt_names])
            if profile.subject_alt_names
            else _subject_alt_name(csr, from_cn=profile.requires_subject_alt_name)
        )
        if subject_alt_name is not None and profile.extra_alt_names:
            subject_alt_name = _with_extra_names(subject_alt_name, profile.extra_alt_names)
        subject = (
            _subject(csr.subject, subject_alt_name) if profile.subject is None else profile.subject
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject)
            .public_key(public_key)
            .serial_number(new_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_before + profile.validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(
                    digital_signature=True,
                    key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                    ca=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(list(profile.extended_key_usages)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    certificate_public_key(issuer.certificate)
                ),
                critical=False,
            )
        )
        for extension in revocation_pointers(
            self.ocsp_url, self.crl_base_url, issuer.certificate, ca_issuers=profile.ca_issuers
        ):
            builder = builder.add_extension(extension, critical=False)
        if subject_alt_name is not None:
            # RFC 5280 4.2.1.6: with an empty subject the SAN is all there is: critical.
            builder = builder.add_extension(subject_alt_name, critical=len(subject) == 0)
        elif profile.requires_subject_alt_name:
            raise InvalidRequest("the CSR has neither a subjectAltName extension nor a CN")
        if profile.ocsp_no_check:
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        if profile.must_staple:
            builder = builder.add_extension(
                x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False
            )
        return _signed(builder, issuer.private_key, profile.signature_hash)


def _with_extra_names(san: x509.SubjectAlternativeName, count: int) -> x509.SubjectAlternativeName:
    """`san` and `count` more DNS names below its first one (n1.HOST, n2.HOST, ...)."""
    first = san.get_values_for_type(x509.DNSName)
    base = first[0] if first else "tlssim.test"
    extra = [x509.DNSName(f"n{i}.{base}") for i in range(1, count + 1)]
    return x509.SubjectAlternativeName([*san, *extra])


def _subject(subject: x509.Name, subject_alt_name: x509.SubjectAlternativeName | None) -> x509.Name:
    """The CSR's subject; for an empty one (as certbot sends), a CN naming the first
    subjectAltName, as public CAs do (a leaf with an empty subject needs a critical SAN)."""
    if len(subject) or subject_alt_name is None:
        return subject
    for name in subject_alt_name:
        # A CN holds 1 to 64 characters (RFC 5280's ub-common-name): an empty name is skipped.
        if isinstance(name, x509.DNSName | x509.IPAddress) and 1 <= len(str(name.value)) <= 64:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(name.value))])
    return subject


def _subject_alt_name(
    csr: x509.CertificateSigningRequest, *, from_cn: bool
) -> x509.SubjectAlternativeName | None:
    """The CSR's own SAN extension, else (when `from_cn`) a DNS name or IP from its CN."""
    try:
        return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    except ValueError as exc:
        raise InvalidRequest(f"the CSR's extensions do not parse: {exc}") from exc
    if not from_cn:
        return None
    common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not common_names or not isinstance(common_names[0].value, str):
        return None
    cn = common_names[0].value.strip()
    if not cn:
        return None
    try:
        return x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(cn))])
    except ValueError:
        pass
    if not _DNS_NAME.fullmatch(cn):
        raise InvalidRequest(f"the CSR's CN {cn!r} is neither a DNS name nor an IP address")
    return x509.SubjectAlternativeName([x509.DNSName(cn)])


def ca_issuers_url(ocsp_url: str, issuer: x509.Certificate) -> str:
    """Where the responder's HTTP front serves `issuer`'s certificate (DER)."""
    return f"{ocsp_url.rstrip('/')}/ca/{issuer_id(issuer)}.crt"


def revocation_pointers(
    ocsp_url: str, crl_base_url: str, issuer: x509.Certificate, *, ca_issuers: bool = False
) -> tuple[x509.AuthorityInformationAccess, x509.CRLDistributionPoints]:
    """Where the status of a certificate issued by `issuer` is found: the responder (AIA)
    and the issuer's CRL (`<crl base>/<issuer id>.crl`); with `ca_issuers`, the AIA also
    names where the issuer's certificate is (RFC 5280 4.2.2.1, caIssuers)."""
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
    ]
    if ca_issuers:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(ca_issuers_url(ocsp_url, issuer)),
            )
        )
    return (
        x509.AuthorityInformationAccess(access),
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[
                        x509.UniformResourceIdentifier(f"{crl_base_url}/{issuer_id(issuer)}.crl")
                    ],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
    )


def _ca_issuance(ca: CertificateAuthorityKeys) -> Issuance:
    assert ca.parent_id is not None
    cert = ca.certificate
    return Issuance(
        serial_hex=serial_to_hex(cert.serial_number),
        issuer_id=ca.parent_id,
        profile=CA_PROFILE,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def self_signed_certificate(
    key: PrivateKey, host: str, now: dt.datetime, validity: dt.timedelta = dt.timedelta(days=90)
) -> x509.Certificate:
    """A self-signed server certificate for `host` (the server's "self-signed" host)."""
    name = _name(host)
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, signature_hash_for(key))
    )


def _create_ca(
    spec: CaSpec,
    parent: CertificateAuthorityKeys | None,
    now: dt.datetime,
    ocsp_url: str,
    crl_base_url: str,
    key: PrivateKey | None = None,
) -> CertificateAuthorityKeys:
    """A CA certificate for `spec`, signed by `parent` (None: self-signed), for a new key,
    or for `key` (a cross-certificate of a CA that exists)."""
    key = generate_private_key(spec.key_type) if key is None else key
    subject = _name(spec.common_name)
    signer_key = key if parent is None else parent.private_key
    issuer_name = subject if parent is None else parent.certificate.subject
    issuer_public = (
        key.public_key() if parent is None else certificate_public_key(parent.certificate)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(now - _CA_BACKDATE)
        .not_valid_after(now + spec.validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=spec.path_length), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=False, ca=True), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    )
    if parent is not None:
        for extension in revocation_pointers(ocsp_url, crl_base_url, parent.certificate):
            builder = builder.add_extension(extension, critical=False)
    if spec.permitted_dns_names:
        constraints = x509.NameConstraints(
            permitted_subtrees=[x509.DNSName(n) for n in spec.permitted_dns_names],
            excluded_subtrees=None,
        )
        builder = builder.add_extension(constraints, critical=True)
    cert = _signed(builder, signer_key, spec.signature_hash)
    return CertificateAuthorityKeys(
        spec.id, spec.parent, spec.trusted if parent is None else parent.trusted, cert, key
    )
