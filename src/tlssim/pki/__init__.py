"""tlssim's PKI: keys, a durable CA, an OCSP responder and client-side verification.

Names are loaded on first use, so that importing one light module of the package (say
``tlssim.pki.checks`` for the command line) does not load every CA and OCSP dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tlssim.pki.authority import Authority, IssuedCertificate, issuer_id
    from tlssim.pki.checks import Check
    from tlssim.pki.errors import InvalidRequest, NotFound, PkiError, UnknownIssuer
    from tlssim.pki.keys import KEY_TYPES, build_csr, generate_private_key
    from tlssim.pki.ocsp_responder import (
        CertStatus,
        OcspReply,
        OcspResponder,
        ServedIssuer,
        StatusRecord,
    )
    from tlssim.pki.revocation import OcspVerification, build_ocsp_request, check_ocsp_response
    from tlssim.pki.verify import ChainVerification, ChainVerifier

_WHERE = {
    "Authority": "tlssim.pki.authority",
    "CertStatus": "tlssim.pki.ocsp_responder",
    "ChainVerification": "tlssim.pki.verify",
    "ChainVerifier": "tlssim.pki.verify",
    "Check": "tlssim.pki.checks",
    "InvalidRequest": "tlssim.pki.errors",
    "IssuedCertificate": "tlssim.pki.authority",
    "KEY_TYPES": "tlssim.pki.keys",
    "NotFound": "tlssim.pki.errors",
    "OcspReply": "tlssim.pki.ocsp_responder",
    "OcspResponder": "tlssim.pki.ocsp_responder",
    "OcspVerification": "tlssim.pki.revocation",
    "PkiError": "tlssim.pki.errors",
    "ServedIssuer": "tlssim.pki.ocsp_responder",
    "StatusRecord": "tlssim.pki.ocsp_responder",
    "UnknownIssuer": "tlssim.pki.errors",
    "build_csr": "tlssim.pki.keys",
    "build_ocsp_request": "tlssim.pki.revocation",
    "check_ocsp_response": "tlssim.pki.revocation",
    "generate_private_key": "tlssim.pki.keys",
    "issuer_id": "tlssim.pki.authority",
}

__all__ = [
    "KEY_TYPES",
    "Authority",
    "CertStatus",
    "ChainVerification",
    "ChainVerifier",
    "Check",
    "InvalidRequest",
    "IssuedCertificate",
    "NotFound",
    "OcspReply",
    "OcspResponder",
    "OcspVerification",
    "PkiError",
    "ServedIssuer",
    "StatusRecord",
    "UnknownIssuer",
    "build_csr",
    "build_ocsp_request",
    "check_ocsp_response",
    "generate_private_key",
    "issuer_id",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tlssim.pki' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
