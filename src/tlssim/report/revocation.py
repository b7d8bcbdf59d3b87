"""The revocation outcome the client's policy reaches and the report carries: the policy
asked for, each certificate's status and where it came from, as plain values."""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Where answers about the lab's own certificates come from (over gRPC).
LAB_RESPONDER = "the lab's OCSP responder"
#: An answer the server stapled to its certificate.
STAPLED = "stapled by the server"


class RevocationPolicy(enum.StrEnum):
    """hard: no status, no handshake; soft: accept with a warning; off: check nothing."""

    HARD = "hard"
    SOFT = "soft"
    OFF = "off"


class RevocationStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"
    NOT_CHECKED = "not_checked"


class RevocationSource(enum.StrEnum):
    STAPLE = "staple"
    OCSP = "ocsp"
    CRL = "crl"


@dataclass(frozen=True, kw_only=True, slots=True)
class CertificateRevocation:
    """The status of one certificate of the verified path (position 0 is the leaf)."""

    position: int
    subject: str
    serial: str  # hex
    status: RevocationStatus
    source: RevocationSource | None
    detail: str
    #: Who answered: LAB_RESPONDER, the URL the certificate names, or STAPLED.
    location: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Revocation:
    """The revocation outcome of the whole path: the status of the certificate that decided."""

    policy: RevocationPolicy
    status: RevocationStatus
    source: RevocationSource | None = None
    detail: str | None = None
    checked_ms: float | None = None
    certificates: tuple[CertificateRevocation, ...] | None = None
    location: str = ""  # of the certificate that decided


# Before any certificate is decided on (the connection failed, or a resumed session).
NOT_DECIDED = Revocation(policy=RevocationPolicy.OFF, status=RevocationStatus.UNKNOWN)
