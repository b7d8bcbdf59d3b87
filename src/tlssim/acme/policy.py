"""What the ACME service issues, to whom, how often and for how long (docs/acme.md)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tlssim.acme.problems import AcmeProblem

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL: Final = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# Keys a CSR may carry: what the lab's ca issues for and clients accept.
CSR_CURVES: Final = ("secp256r1", "secp384r1")
MIN_CSR_RSA_BITS: Final = 2048
MAX_CSR_RSA_BITS: Final = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class AcmePolicy:
    #: Names in these zones (each zone itself and any name under it) may be ordered.
    zones: tuple[str, ...] = ("tlssim.test",)
    #: IP identifiers (RFC 8738) in these networks may be ordered.
    ip_networks: tuple[IpNetwork, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    #: Lifetime of the certificates issued.
    lifetime: dt.timedelta = dt.timedelta(days=90)
    #: New orders one account may place in an hour (more: rateLimited with Retry-After).
    orders_per_hour: int = 300
    #: Identifiers in one order.
    max_identifiers: int = 100
    #: External account binding keys by key id; when any, new accounts must present one.
    eab_keys: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def eab_required(self) -> bool:
        return bool(self.eab_keys)

    def check_identifier(self, kind: str, value: str) -> str:
        """The identifier's canonical value; rejectedIdentifier (or unsupportedIdentifier,
        malformed) when it may not be ordered."""
        if kind == "dns":
            name = value.lower().rstrip(".")
            if name.startswith("*."):
                raise AcmeProblem(
                    "rejectedIdentifier", f"{value[:80]}: wildcards are not issued here"
                )
            labels = name.split(".")
            if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
                raise AcmeProblem("rejectedIdentifier", f"{value[:80]!r} is not a DNS name")
            if not any(name == z or name.endswith("." + z) for z in self.zones):
                raise AcmeProblem(
                    "rejectedIdentifier",
                    f"{name[:80]} is outside the names this server issues "
                    f"({', '.join(self.zones)})",
                )
            return name
        if kind == "ip":
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                raise AcmeProblem("malformed", f"{value[:80]!r} is not an IP address") from None
            if not any(address in network for network in self.ip_networks):
                raise AcmeProblem(
                    "rejectedIdentifier", f"{address} is outside the addresses this server issues"
                )
            return str(address)
        raise AcmeProblem("unsupportedIdentifier", f"identifier type {kind[:20]!r} (dns, ip)")


def check_csr_key(csr: x509.CertificateSigningRequest) -> None:
    """badCSR unless the CSR's key is RSA 2048-4096, ECDSA P-256/P-384 or Ed25519."""
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_CSR_RSA_BITS <= key.key_size <= MAX_CSR_RSA_BITS:
            raise AcmeProblem(
                "badCSR",
                f"an RSA key of {key.key_size} bits is not issued "
                f"({MIN_CSR_RSA_BITS} to {MAX_CSR_RSA_BITS})",
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CSR_CURVES:
            raise AcmeProblem("badCSR", f"keys on {key.curve.name} are not issued (P-256, P-384)")
        return
    if isinstance(key, ed25519.Ed25519PublicKey):
        return
    raise AcmeProblem("badCSR", f"a {type(key).__name__} is not issued")


def resolve(mapping: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The address a lab name maps to: the first pattern (exact, or shell-style such as
    *.tlssim.test) that matches; None when none does."""
    for pattern, address in mapping:
        if pattern == name or fnmatch.fnmatchcase(name, pattern):
            return address
    return None


def parse_resolve(text: str) -> tuple[tuple[str, str], ...]:
    """`*.tlssim.test=127.0.0.1,other.test=10.0.0.5` -> the pairs; ValueError if malformed."""
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        pattern, sep, address = item.partition("=")
        if not sep or not pattern.strip() or not address.strip():
            raise ValueError(f"{item!r} is not NAME=ADDRESS")
        pairs.append((pattern.strip().lower(), address.strip()))
    return tuple(pairs)
