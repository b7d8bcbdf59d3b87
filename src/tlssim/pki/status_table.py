"""The responder's in-memory view of certificate status, fed by the ca's status feed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlssim.pki.ocsp_responder import UNKNOWN, CertStatus, StatusRecord


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One status change as the feed delivers it (the ca's StatusEvent without gRPC)."""

    sequence: int
    revoked: bool
    serial_hex: str
    issuer_der: bytes
    revocation_time: dt.datetime | None = None
    reason: str = ""


class StatusTable:
    """(issuer, serial) -> status, plus the last feed sequence applied (to resume from)."""

    def __init__(self) -> None:
        self.last_sequence = 0
        self.issuers: dict[bytes, x509.Certificate] = {}  # DER -> certificate, as seen
        self._records: dict[tuple[bytes, int], StatusRecord] = {}
        self._der_of: dict[x509.Certificate, bytes] = {}

    def __len__(self) -> int:
        return len(self._records)

    def apply(self, event: FeedEvent) -> None:
        """Applies an event; events at or below last_sequence were seen already."""
        if event.sequence <= self.last_sequence:
            return
        self.last_sequence = event.sequence
        if event.issuer_der not in self.issuers:
            try:
                self.issuers[event.issuer_der] = x509.load_der_x509_certificate(event.issuer_der)
            except ValueError:
                return
        key = (event.issuer_der, int(event.serial_hex, 16))
        if event.revoked:
            try:
                reason = x509.ReasonFlags(event.reason or "unspecified")
            except ValueError:
                reason = x509.ReasonFlags.unspecified
            self._records[key] = StatusRecord(CertStatus.REVOKED, event.revocation_time, reason)
        elif key not in self._records:
            self._records[key] = StatusRecord(CertStatus.GOOD)

    def lookup(self, issuer: x509.Certificate, serial_number: int) -> StatusRecord:
        der = self._der_of.get(issuer)
        if der is None:
            der = self._der_of[issuer] = issuer.public_bytes(serialization.Encoding.DER)
        return self._records.get((der, serial_number), UNKNOWN)
