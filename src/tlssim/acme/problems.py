"""RFC 7807 problem documents with the ACME error types (RFC 8555 section 6.7)."""

from __future__ import annotations

import json
from typing import Any, Final

ACME_ERROR: Final = "urn:ietf:params:acme:error:"
PROBLEM_JSON: Final = "application/problem+json"

# The HTTP status each error type is answered with.
STATUS: Final = {
    "accountDoesNotExist": 400,
    "alreadyRevoked": 400,
    "badCSR": 400,
    "badNonce": 400,
    "badPublicKey": 400,
    "badRevocationReason": 400,
    "badSignatureAlgorithm": 400,
    "caa": 403,
    "connection": 400,
    "dns": 400,
    "externalAccountRequired": 400,
    "incorrectResponse": 400,
    "invalidContact": 400,
    "malformed": 400,
    "orderNotReady": 403,
    "rateLimited": 429,
    "rejectedIdentifier": 400,
    "serverInternal": 500,
    "tls": 400,
    "unauthorized": 403,
    "unsupportedContact": 400,
    "unsupportedIdentifier": 400,
    "userActionRequired": 403,
}


class AcmeProblem(Exception):
    """An ACME error: its type (the part after urn:ietf:params:acme:error:), a one-line
    detail, and further members (subproblems, algorithms, identifier)."""

    def __init__(
        self, kind: str, detail: str, *, status: int | None = None, **members: Any
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        if kind not in STATUS:
            raise ValueError(f"unknown ACME error type {kind!r}")
        self.kind = kind
        self.detail = detail
        self.status = status or STATUS[kind]
        self.members = members
        #: Seconds a client should wait before trying again (rateLimited, badNonce faults).
        self.retry_after: int | None = None

    @classmethod
    def malformed(cls, detail: str) -> AcmeProblem:
        return cls("malformed", detail)

    @property
    def type(self) -> str:
        return ACME_ERROR + self.kind

    def document(self) -> dict[str, Any]:
        return {"type": self.type, "detail": self.detail, "status": self.status, **self.members}

    def body(self) -> bytes:
        return json.dumps(self.document()).encode() + b"\n"
