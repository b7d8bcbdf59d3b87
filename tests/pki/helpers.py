"""Small helpers for the PKI tests: a movable clock and key/CSR shortcuts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlssim.pki.keys import PrivateKey, build_csr, generate_private_key

START = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class MovableClock:
    """A clock the test moves by hand."""

    at: dt.datetime = field(default=START)

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> None:
        self.at += delta


def csr_der(
    key_type: str = "ecdsa-p256", cn: str = "valid.tlssim.test", sans: tuple[str, ...] = ()
) -> tuple[PrivateKey, bytes]:
    key = generate_private_key(key_type)
    csr = build_csr(key, cn, sans or (cn,))
    return key, csr.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
