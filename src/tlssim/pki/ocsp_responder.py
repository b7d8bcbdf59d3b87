"""RFC 6960 OCSP responder logic: request DER in, signed response DER out."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tlssim.clock import Clock
from tlssim.pki.keys import (
    PrivateKey,
    certificate_public_key,
    signature_hash_for,
    subject_public_key_bits,
)

DEFAULT_RESPONSE_VALIDITY: Final = dt.timedelta(hours=1)
_CERT_ID_HASHES: Final[tuple[type[hashes.HashAlgorithm], ...]] = (
    hashes.SHA1,
    hashes.SHA256,
    hashes.SHA384,
    hashes.SHA512,
)


class CertStatus(enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """What the responder knows about one serial number."""

    status: CertStatus
    revocation_time: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None


UNKNOWN: Final = StatusRecord(CertStatus.UNKNOWN)

# (issuer certificate, serial number) -> what is known about it.
StatusLookup = Callable[[x509.Certificate, int], StatusRecord]


def cert_id_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CertID for certificates issued by `issuer`."""
    name = hashes.Hash(algorithm)
    name.update(issuer.subject.public_bytes())
    key = hashes.Hash(algorithm)
    key.update(subject_public_key_bits(certificate_public_key(issuer)))
    return name.finalize(), key.finalize()


@dataclass(frozen=True, slots=True)
class ServedIssuer:
    """An issuing CA this responder answers for, and the key that signs its answers.

    `responder_cert` is either the issuer itself or a delegated responder certificate
    (OCSPSigning EKU) that the issuer signed.
    """

    issuer: x509.Certificate
    responder_cert: x509.Certificate
    responder_key: PrivateKey
    cert_ids: dict[tuple[str, bytes, bytes], None] = field(default_factory=dict, repr=False)

    @classmethod
    def create(
        cls,
        issuer: x509.Certificate,
        responder_cert: x509.Certificate,
        responder_key: PrivateKey,
    ) -> ServedIssuer:
        ids: dict[tuple[str, bytes, bytes], None] = {}
        for algorithm in _CERT_ID_HASHES:
            instance = algorithm()
            ids[(instance.name, *cert_id_hashes(issuer, instance))] = None
        return cls(issuer, responder_cert, responder_key, ids)


@dataclass(frozen=True, slots=True)
class ParsedOcspRequest:
    """A well-formed single request for a certificate of an issuer we serve."""

    served: ServedIssuer
    serial_number: int
    hash_algorithm: hashes.HashAlgorithm
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    nonce: bytes | None


@dataclass(frozen=True, slots=True)
class OcspReply:
    """A DER OCSPResponse and what it says, for logs and HTTP caching."""

    der: bytes
    outcome: str  # good / revoked / unknown / malformedRequest / unauthorized / ...
    next_update: dt.datetime | None = None


def unsuccessful_reply(status: ocsp.OCSPResponseStatus) -> OcspReply:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return OcspReply(response.public_bytes(serialization.Encoding.DER), _camel(status.name))


def _camel(enum_name: str) -> str:
    head, *rest = enum_name.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


_CERT_STATUS: Final = {
    CertStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
    CertStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    CertStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


class OcspResponder:
    """Signs answers for the issuers it serves; built once, then `respond` per request."""

    def __init__(
        self,
        served: Iterable[ServedIssuer],
        lookup: StatusLookup,
        clock: Clock,
        *,
        validity: dt.timedelta = DEFAULT_RESPONSE_VALIDITY,
    ) -> None:
        self.lookup = lookup
        self.clock = clock
        self.validity = validity
        self.served: tuple[ServedIssuer, ...] = ()
        self._served: dict[tuple[str, bytes, bytes], ServedIssuer] = {}
        for issuer in served:
            self.add(issuer)

    def add(self, served: ServedIssuer) -> None:
        """Answers for `served.issuer` from now on, replacing its previous responder key."""
        self.served = (*(s for s in self.served if s.issuer != served.issuer), served)
        for cert_id in served.cert_ids:
            self._served[cert_id] = served

    def serves(self, issuer: x509.Certificate) -> bool:
        return any(s.issuer == issuer for s in self.served)

    def parse(self, request_der: bytes) -> ParsedOcspRequest | OcspReply:
        """The request, or the error reply to send (malformedRequest / unauthorized)."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
            serial = request.serial_number
            nonce = _request_nonce(request)
        except Exception:  # garbage, multiple requests, unsupported hash: all malformed
            return unsuccessful_reply(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if serial <= 0:  # RFC 5280 4.1.2.2: serial numbers are positive
            return unsuccessful_reply(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        served = self._served.get((algorithm.name, name_hash, key_hash))
        if served is None:
            return unsuccessful_reply(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        return ParsedOcspRequest(served, serial, algorithm, name_hash, key_hash, nonce)

    def answer(self, request: ParsedOcspRequest, record: StatusRecord | None = None) -> OcspReply:
        """A signed response for a parsed request (looking the status up unless given)."""
        if record is None:
            record = self.lookup(request.served.issuer, request.serial_number)
        now = self.clock.now().replace(microsecond=0)
        next_update = now + self.validity
        revoked = record.status is CertStatus.REVOKED
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=request.hash_algorithm,
                cert_status=_CERT_STATUS[record.status],
                this_update=now,
                next_update=next_update,
                revocation_time=(record.revocation_time or now) if revoked else None,
                revocation_reason=record.reason if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, request.served.responder_cert)
        )
        if request.served.responder_cert is not request.served.issuer:
            builder = builder.certificates([request.served.responder_cert])
        if request.nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(request.nonce), critical=False)
        key = request.served.responder_key
        response = builder.sign(key, signature_hash_for(key))
        return OcspReply(
            response.public_bytes(serialization.Encoding.DER), record.status.value, next_update
        )

    def respond(self, request_der: bytes) -> OcspReply:
        parsed = self.parse(request_der)
        if isinstance(parsed, OcspReply):
            return parsed
        return self.answer(parsed)


def _request_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
