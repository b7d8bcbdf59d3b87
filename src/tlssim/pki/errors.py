"""The PKI error hierarchy; services map these to gRPC status codes."""

from __future__ import annotations


class PkiError(Exception):
    """Base of every error raised by tlssim.pki."""


class InvalidRequest(PkiError):
    """The caller sent something unusable: garbage DER, a bad CSR signature, unknown names."""


class UnknownIssuer(InvalidRequest):
    """The named or given issuing CA is not one of ours."""


class NotFound(PkiError):
    """No such certificate (for example a revoke of a serial we never issued)."""


class PolicyRefused(PkiError):
    """The caller is known but may not have this certificate (profile, issuer or name)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # a short code for counting refusals, e.g. "wildcard"
