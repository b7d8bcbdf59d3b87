"""The RFC 5280 CRLReason names a revocation may give (kept free of heavy imports: the
command line offers them)."""

from __future__ import annotations

from typing import Final

# Every CRLReason except removeFromCRL, which only undoes a hold in a delta CRL (RFC 5280
# 5.3.1) and never revokes.
REVOCATION_REASONS: Final = (
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
    "aACompromise",
)
