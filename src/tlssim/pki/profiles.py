"""Certificate profiles and the CA hierarchy, as data: add an entry, not a branch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from tlssim.pki.errors import InvalidRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSpec:
    """One CA of the hierarchy the authority creates at first start and keeps."""

    id: str
    common_name: str
    parent: str | None  # None: a self-signed root
    trusted: bool = True  # roots only: whether it goes into the trust bundle
    key_type: str = "ecdsa-p256"
    validity: dt.timedelta = dt.timedelta(days=3650)
    path_length: int | None = None


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


DEFAULT_LONG_CHAIN_DEPTH: Final = 3
MAX_LONG_CHAIN_DEPTH: Final = 8
# A profile name may end in "@<issuer id>" to pick the issuing CA (profiles that allow it).
ISSUER_SEPARATOR: Final = "@"


ACME_PROFILE: Final = "acme"
MLDSA_ROOT: Final = "mldsa-root"
MLDSA_INTERMEDIATE: Final = "mldsa-intermediate"


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
