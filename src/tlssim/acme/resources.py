"""What the ACME server keeps (RFC 8555 section 7.1): accounts, orders, authorizations,
challenges and certificates, and the nonces it handed out, all in memory."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509

from tlssim.acme import jws
from tlssim.acme.problems import AcmeProblem

MAX_NONCES: Final = 10_000


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Account:
    id: str
    key: jws.PublicKey
    contact: list[str]
    status: str = "valid"
    orders: list[str] = field(default_factory=list)
    recent_orders: deque[float] = field(default_factory=deque)
    eab_kid: str = ""


@dataclass(slots=True)
class Challenge:
    id: str
    type: str
    token: str
    authz_id: str
    status: str = "pending"
    validated: dt.datetime | None = None
    error: AcmeProblem | None = None


@dataclass(slots=True)
class Authorization:
    id: str
    account_id: str
    kind: str
    value: str
    expires: dt.datetime
    challenges: list[Challenge]
    order_id: str
    status: str = "pending"


@dataclass(slots=True)
class Certificate:
    id: str
    account_id: str
    chain_der: list[bytes]
    serial_hex: str
    ari_id: str
    leaf: x509.Certificate
    revoked: bool = False
    replaced_by: str = ""


@dataclass(slots=True)
class Order:
    id: str
    account_id: str
    identifiers: list[tuple[str, str]]
    authz_ids: list[str]
    expires: dt.datetime
    trace_id: str
    status: str = "pending"
    certificate_id: str = ""
    error: AcmeProblem | None = None
    replaces: str = ""


def ari_cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial, DER INTEGER bytes)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        key_id = aki.key_identifier or b""
    except x509.ExtensionNotFound:
        key_id = b""
    serial = cert.serial_number
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{jws.b64encode(key_id)}.{jws.b64encode(serial_bytes)}"


class AcmeState:
    """Every account, order, authorization, challenge and certificate, and the nonces."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.nonces: OrderedDict[str, None] = OrderedDict()
        self.accounts: dict[str, Account] = {}
        self.by_thumbprint: dict[str, str] = {}
        self.orders: dict[str, Order] = {}
        self.authzs: dict[str, Authorization] = {}
        self.challenges: dict[str, Challenge] = {}
        self.certificates: dict[str, Certificate] = {}
        self.by_ari: dict[str, str] = {}
        self.by_serial: dict[str, str] = {}

    def new_id(self) -> str:
        return f"{next(self._ids)}{secrets.token_hex(4)}"

    def new_nonce(self) -> str:
        nonce = jws.b64encode(secrets.token_bytes(16))
        self.nonces[nonce] = None
        while len(self.nonces) > MAX_NONCES:
            self.nonces.popitem(last=False)
        return nonce

    def take_nonce(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or nonce not in self.nonces:
            return False
        del self.nonces[nonce]
        return True
