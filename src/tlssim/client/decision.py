"""What the certificate policy decided, as plain values: the checks behind the decision,
the chain it looked at, the revocation outcome and the alert to send (None accepts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlssim.pki.checks import Check
from tlssim.report.revocation import NOT_DECIDED, Revocation

if TYPE_CHECKING:
    from cryptography import x509

    from tlssim.tls import AlertDescription


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The client's answer to a certificate chain."""

    alert: AlertDescription | None  # None accepts the chain
    chain: tuple[x509.Certificate, ...] = ()  # as presented, leaf first
    checks: tuple[Check, ...] = ()
    revocation: Revocation = NOT_DECIDED
    warnings: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.alert is None
