"""Certificate profiles and the CA hierarchy, as data: add an entry, not a branch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tlssim.pki.errors import InvalidRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSpec:
    """One CA of the hierarchy the authority creates at first start and keeps."""

    id: str
    common_name: str
    parent: str | None  # None: a self-signed root
    trusted: bool = True  # roots only: whether it goes into the trust bundle
    key_type: str = "ecdsa-p256"
    # From its creation; CAs start a year back, so a negative one makes an expired CA.
    validity: dt.timedelta = dt.timedelta(days=3650)
    path_length: int | None = None
    # "sha1": the parent signs this CA's certificate with SHA-1 (else the key's usual hash).
    signature_hash: str = ""
    # DNS subtrees the CA may issue for (a critical nameConstraints extension), if any.
    permitted_dns_names: tuple[str, ...] = ()
    # A cross-certificate: this CA's certificate is a second one, by `parent`, for the key
    # and subject of the CA named here.
    cross_certifies: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateProfile:
    """How a leaf is issued from a CSR: issuer, validity window and extensions."""

    name: str
    issuer: str = "intermediate"
    # The window, relative to the moment of issuance.
    not_before_offset: dt.timedelta = dt.timedelta(minutes=-5)
    validity: dt.timedelta = dt.timedelta(days=90)
    extended_key_usages: tuple[ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,)
    # SANs come from the CSR's SAN extension, else from its CN.
    requires_subject_alt_name: bool = True
    ocsp_no_check: bool = False
    must_staple: bool = False
    # When set, the leaf names these hosts instead of the CSR's (the "wrong host" case).
    subject_alt_names: tuple[str, ...] = ()
    # When set, the leaf is revoked right after issuance with this CRLReason name.
    revoke_with_reason: str | None = None
    # Whether a request may name another issuing CA ("ocsp-responder@<issuer id>"): how the
    # responder gets a delegated certificate from every CA it answers for.
    any_issuer: bool = False
    # "sha1": the issuer signs the leaf with SHA-1 (else its key's usual hash).
    signature_hash: str = ""
    # When set, the leaf's subject instead of the CSR's (an empty Name: no subject at all,
    # and the subjectAltName is then critical, RFC 5280 4.2.1.6).
    subject: x509.Name | None = None
    # This many further DNS names in the SAN, below the host's own name ("1000-sans").
    extra_alt_names: int = 0
    # Whether the AIA names the issuer's certificate (caIssuers) besides the responder.
    ca_issuers: bool = False
    # Cross-certificates (CA ids) the chain carries ahead of the issuer's own path.
    cross_certificates: tuple[str, ...] = ()


DEFAULT_LONG_CHAIN_DEPTH: Final = 3
MAX_LONG_CHAIN_DEPTH: Final = 8
# A profile name may end in "@<issuer id>" to pick the issuing CA (profiles that allow it).
ISSUER_SEPARATOR: Final = "@"


ACME_PROFILE: Final = "acme"
MLDSA_ROOT: Final = "mldsa-root"
MLDSA_INTERMEDIATE: Final = "mldsa-intermediate"
SHA1_INTERMEDIATE: Final = "sha1-intermediate"
CONSTRAINED_INTERMEDIATE: Final = "constrained-intermediate"
#: The only DNS subtree the constrained intermediate may issue for.
CONSTRAINED_SUBTREE: Final = "permitted.tlssim.test"
CROSS_ROOT: Final = "cross-root"
CROSS_OLD_ROOT: Final = "cross-old-root"
CROSS_INTERMEDIATE: Final = "cross-intermediate"
CROSS_INTERMEDIATE_BY_OLD_ROOT: Final = "cross-intermediate-by-old-root"


def long_chain_ca_id(level: int) -> str:
    return f"long-{level}"


def build_hierarchy(long_chain_depth: int = DEFAULT_LONG_CHAIN_DEPTH) -> tuple[CaSpec, ...]:
    """root -> intermediate, an untrusted root -> intermediate, root -> long-1 -> ... ->
    long-N (N = `long_chain_depth`, 1..8: the intermediates a long-chain leaf carries), and
    the ML-DSA root -> ML-DSA intermediate.

    The long-chain CAs have no pathLenConstraint, so a data directory can later be opened
    with a deeper chain (the missing CAs are added below the existing ones).
    """
    if not 1 <= long_chain_depth <= MAX_LONG_CHAIN_DEPTH:
        raise InvalidRequest(
            f"long chain depth must be 1..{MAX_LONG_CHAIN_DEPTH}, not {long_chain_depth}"
        )
    long_chain = tuple(
        CaSpec(
            id=long_chain_ca_id(level),
            common_name=f"tlssim Long Chain CA {level}",
            parent="root" if level == 1 else long_chain_ca_id(level - 1),
        )
        for level in range(1, long_chain_depth + 1)
    )
    return (
        CaSpec(id="root", common_name="tlssim Root CA", parent=None),
        CaSpec(
            id="intermediate",
            common_name="tlssim Intermediate CA",
            parent="root",
            validity=dt.timedelta(days=1825),
            path_length=0,
        ),
        CaSpec(
            id="untrusted-root", common_name="tlssim Untrusted Root CA", parent=None, trusted=False
        ),
        CaSpec(
            id="untrusted-intermediate",
            common_name="tlssim Untrusted Intermediate CA",
            parent="untrusted-root",
            validity=dt.timedelta(days=1825),
            path_length=0,
        ),
        *long_chain,
        # The post-quantum hierarchy (FIPS 204): a category 5 root, since an anchor lives
        # ten years and sits in trust stores, over a category 3 intermediate, whose key and
        # signature travel in every handshake (docs/post-quantum.md says why these sets).
        CaSpec(id=MLDSA_ROOT, common_name="tlssim ML-DSA Root CA", parent=None, key_type="mldsa87"),
        CaSpec(
            id=MLDSA_INTERMEDIATE,
            common_name="tlssim ML-DSA Intermediate CA",
            parent=MLDSA_ROOT,
            key_type="mldsa65",
            validity=dt.timedelta(days=1825),
            path_length=0,
        ),
        # Chains a client must judge or build (badssl.com's kinds): an intermediate whose
        # certificate the root signed with SHA-1; one whose name constraints its leaves
        # break; and an intermediate certified by two trusted roots, one of them expired.
        CaSpec(
            id=SHA1_INTERMEDIATE,
            common_name="tlssim SHA-1 Intermediate CA",
            parent="root",
            validity=dt.timedelta(days=1825),
            path_length=0,
            signature_hash="sha1",
        ),
        CaSpec(
            id=CONSTRAINED_INTERMEDIATE,
            common_name="tlssim Name-Constrained Intermediate CA",
            parent="root",
            validity=dt.timedelta(days=1825),
            path_length=0,
            permitted_dns_names=(CONSTRAINED_SUBTREE,),
        ),
        CaSpec(id=CROSS_ROOT, common_name="tlssim Cross Root CA", parent=None),
        CaSpec(
            id=CROSS_OLD_ROOT,
            common_name="tlssim Old Root CA",
            parent=None,
            validity=dt.timedelta(days=-30),  # expired a month ago, still in the bundle
        ),
        CaSpec(
            id=CROSS_INTERMEDIATE,
            common_name="tlssim Cross-Signed Intermediate CA",
            parent=CROSS_ROOT,
            validity=dt.timedelta(days=1825),
            path_length=0,
        ),
        CaSpec(
            id=CROSS_INTERMEDIATE_BY_OLD_ROOT,
            common_name="tlssim Cross-Signed Intermediate CA",
            parent=CROSS_OLD_ROOT,
            validity=dt.timedelta(days=1825),
            path_length=0,
            cross_certifies=CROSS_INTERMEDIATE,
        ),
    )


_DAY = dt.timedelta(days=1)
_CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


def build_profiles(
    long_chain_depth: int = DEFAULT_LONG_CHAIN_DEPTH,
) -> Mapping[str, CertificateProfile]:
    """The leaf profiles; "long-chain" is issued by the deepest long-chain CA."""
    return {
        p.name: p
        for p in (
            CertificateProfile(name="server"),
            CertificateProfile(
                name="ocsp-responder",
                validity=30 * _DAY,
                extended_key_usages=(ExtendedKeyUsageOID.OCSP_SIGNING,),
                requires_subject_alt_name=False,
                ocsp_no_check=True,
                any_issuer=True,
            ),
            CertificateProfile(name="expired", not_before_offset=-120 * _DAY, validity=30 * _DAY),
            CertificateProfile(
                name="not-yet-valid", not_before_offset=30 * _DAY, validity=90 * _DAY
            ),
            CertificateProfile(name="must-staple", must_staple=True),
            CertificateProfile(name="wrong-host", subject_alt_names=("wrong.host.tlssim.invalid",)),
            CertificateProfile(name="revoked", revoke_with_reason="keyCompromise"),
            CertificateProfile(name="untrusted", issuer="untrusted-intermediate"),
            CertificateProfile(name="long-chain", issuer=long_chain_ca_id(long_chain_depth)),
            # leaves of the ML-DSA hierarchy (the CSR's key is ML-DSA-44 or -65)
            CertificateProfile(name="mldsa", issuer=MLDSA_INTERMEDIATE),
            CertificateProfile(
                name="mldsa-revoked", issuer=MLDSA_INTERMEDIATE, revoke_with_reason="keyCompromise"
            ),
            # certificates and chains a modern client refuses, or must build (badssl.com's kinds)
            CertificateProfile(name="sha1-leaf", signature_hash="sha1"),
            CertificateProfile(name="sha1-intermediate", issuer=SHA1_INTERMEDIATE),
            CertificateProfile(name="name-constrained", issuer=CONSTRAINED_INTERMEDIATE),
            CertificateProfile(
                name="cross-signed",
                issuer=CROSS_INTERMEDIATE,
                cross_certificates=(CROSS_INTERMEDIATE_BY_OLD_ROOT,),
            ),
            CertificateProfile(name="aia-chain", ca_issuers=True),
            CertificateProfile(name="1000-sans", extra_alt_names=999),
            CertificateProfile(name="10000-sans", extra_alt_names=9999),
            CertificateProfile(
                name="no-common-name",
                subject=x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tlssim")]),
            ),
            CertificateProfile(name="no-subject", subject=x509.Name([])),
            # what the ACME service has issued for its accounts (docs/acme.md)
            CertificateProfile(name=ACME_PROFILE),
            # client identities (mutual TLS): clientAuth, and the failure cases a server meets
            CertificateProfile(
                name="client", validity=30 * _DAY, extended_key_usages=(_CLIENT_AUTH,)
            ),
            CertificateProfile(
                name="client-expired",
                not_before_offset=-120 * _DAY,
                validity=30 * _DAY,
                extended_key_usages=(_CLIENT_AUTH,),
            ),
            CertificateProfile(
                name="client-revoked",
                revoke_with_reason="keyCompromise",
                extended_key_usages=(_CLIENT_AUTH,),
            ),
        )
    }


DEFAULT_HIERARCHY: Final[tuple[CaSpec, ...]] = build_hierarchy()
DEFAULT_PROFILES: Final[Mapping[str, CertificateProfile]] = build_profiles()


def split_profile_name(name: str) -> tuple[str, str | None]:
    """ "ocsp-responder@ab12..." -> ("ocsp-responder", "ab12..."); no "@" -> (name, None)."""
    profile, separator, issuer = (name or "server").partition(ISSUER_SEPARATOR)
    return profile, (issuer if separator else None)


def lookup_profile(profiles: Mapping[str, CertificateProfile], name: str) -> CertificateProfile:
    try:
        return profiles[name or "server"]
    except KeyError:
        raise InvalidRequest(
            f"unknown certificate profile {name!r}; known: {', '.join(sorted(profiles))}"
        ) from None
