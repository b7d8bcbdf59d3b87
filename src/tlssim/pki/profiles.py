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


DEFAULT_HIERARCHY: Final[tuple[CaSpec, ...]] = (
    CaSpec(id="root", common_name="tlssim Root CA", parent=None),
    CaSpec(
        id="intermediate",
        common_name="tlssim Intermediate CA",
        parent="root",
        validity=dt.timedelta(days=1825),
        path_length=0,
    ),
    CaSpec(id="untrusted-root", common_name="tlssim Untrusted Root CA", parent=None, trusted=False),
    CaSpec(
        id="untrusted-intermediate",
        common_name="tlssim Untrusted Intermediate CA",
        parent="untrusted-root",
        validity=dt.timedelta(days=1825),
        path_length=0,
    ),
    CaSpec(id="long-1", common_name="tlssim Long Chain CA 1", parent="root", path_length=2),
    CaSpec(id="long-2", common_name="tlssim Long Chain CA 2", parent="long-1", path_length=1),
    CaSpec(id="long-3", common_name="tlssim Long Chain CA 3", parent="long-2", path_length=0),
)

_DAY = dt.timedelta(days=1)

DEFAULT_PROFILES: Final[Mapping[str, CertificateProfile]] = {
    p.name: p
    for p in (
        CertificateProfile(name="server"),
        CertificateProfile(
            name="ocsp-responder",
            validity=30 * _DAY,
            extended_key_usages=(ExtendedKeyUsageOID.OCSP_SIGNING,),
            requires_subject_alt_name=False,
            ocsp_no_check=True,
        ),
        CertificateProfile(name="expired", not_before_offset=-120 * _DAY, validity=30 * _DAY),
        CertificateProfile(name="not-yet-valid", not_before_offset=30 * _DAY, validity=90 * _DAY),
        CertificateProfile(name="must-staple", must_staple=True),
        CertificateProfile(name="wrong-host", subject_alt_names=("wrong.host.tlssim.invalid",)),
        CertificateProfile(name="revoked", revoke_with_reason="keyCompromise"),
        CertificateProfile(name="untrusted", issuer="untrusted-intermediate"),
        CertificateProfile(name="long-chain", issuer="long-3"),
    )
}


def lookup_profile(profiles: Mapping[str, CertificateProfile], name: str) -> CertificateProfile:
    try:
        return profiles[name or "server"]
    except KeyError:
        raise InvalidRequest(
            f"unknown certificate profile {name!r}; known: {', '.join(sorted(profiles))}"
        ) from None
