"""tlssim's PKI: keys, a durable CA, an OCSP responder and client-side verification."""

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
