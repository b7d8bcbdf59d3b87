"""From a HandshakeRequest (protos/tlssim/rpc/v1/client.proto) to what the client will do:
the target names, the engine's configuration and the options of the run, checked once."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Final

from tlssim.client.decision import RevocationPolicy
from tlssim.tls import (
    CipherSuite,
    ClientConfig,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.config import DEFAULT_TLS12_CIPHER_SUITES, DEFAULT_TLS13_CIPHER_SUITES

# The name sent and verified when the request names none: the lab's valid host.
DEFAULT_SERVER_NAME: Final = "valid.tlssim.test"
DEFAULT_APPLICATION_DATA: Final = b"GET / HTTP/1.1\r\nHost: tlssim\r\n\r\n"
DEFAULT_REVOCATION: Final = RevocationPolicy.SOFT

VERSIONS: Final = {
    "": (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2),
    "1.3": (ProtocolVersion.TLSv1_3,),
    "1.2": (ProtocolVersion.TLSv1_2,),
}


class BadRequest(ValueError):
    """A handshake request the client cannot run; reported as INVALID_ARGUMENT."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """Who the client talks to: the name it sends as SNI (None: no server_name extension)
    and the name the certificate must hold."""

    sni: str | None
    verify_name: str


def target_for(server_name: str, no_sni: bool) -> Target:
    """The one place that decides both names: `server_name` (or the lab's valid host when
    empty) is verified, and sent as SNI unless `no_sni`."""
    name = server_name or DEFAULT_SERVER_NAME
    return Target(sni=None if no_sni else name, verify_name=name)


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """One checked request: everything a handshake run needs, nothing about gRPC."""

    target: Target
    config: ClientConfig
    revocation: RevocationPolicy
    application_data: bytes
    clock_skew: dt.timedelta
    tcp_address: str  # empty: through the server service
    ca_pem: str  # empty: the certificate authority's trust bundle
    resume: bool
    keylog: bool
    capture: bool


def plan_for(request: Any) -> Plan:
    """Checks a HandshakeRequest; raises BadRequest with what is wrong."""
    target = target_for(request.server_name, request.no_sni)
    try:
        revocation = RevocationPolicy(request.revocation or DEFAULT_REVOCATION)
    except ValueError:
        known = ", ".join(p.value for p in RevocationPolicy)
        raise BadRequest(f"revocation policy must be one of {known}") from None
    return Plan(
        target=target,
        config=client_config(request, target),
        revocation=revocation,
        application_data=request.application_data or DEFAULT_APPLICATION_DATA,
        clock_skew=dt.timedelta(seconds=request.clock_skew_seconds),
        tcp_address=request.tcp_address,
        ca_pem=request.ca_pem,
        resume=request.resume,
        keylog=request.keylog,
        capture=request.capture,
    )


def client_config(request: Any, target: Target) -> ClientConfig:
    """The engine's configuration for a HandshakeRequest."""
    if request.tls_version not in VERSIONS:
        raise BadRequest(f"TLS version {request.tls_version!r} is not supported; use 1.2 or 1.3")
    if request.key_exchange not in ("", "ecdhe", "rsa"):
        raise BadRequest(f"key exchange {request.key_exchange!r}: use rsa or ecdhe")
    versions = VERSIONS[request.tls_version]
    if request.key_exchange == "rsa":
        if versions == (ProtocolVersion.TLSv1_3,):
            raise BadRequest("RSA key transport exists only in TLS 1.2; use --tls 1.2")
        versions = (ProtocolVersion.TLSv1_2,)
    kwargs: dict[str, Any] = {"versions": versions}
    kwargs["cipher_suites"] = (
        _enum_values(CipherSuite, request.cipher_suites, "cipher suite")
        if request.cipher_suites
        else _suites_for(versions, request.key_exchange)
    )
    if request.groups:
        groups = _enum_values(NamedGroup, request.groups, "group")
        kwargs["supported_groups"] = groups
        kwargs["key_share_groups"] = groups[:1]
    if request.signature_schemes:
        kwargs["signature_schemes"] = _enum_values(
            SignatureScheme, request.signature_schemes, "signature scheme"
        )
    return ClientConfig(
        server_name=target.sni,
        entropy=os.urandom,
        request_ocsp=not request.no_status_request,
        **kwargs,
    )


def _enum_values(enum: Any, names: Any, what: str) -> tuple[Any, ...]:
    try:
        return tuple(enum[n] for n in names)
    except KeyError as exc:
        known = ", ".join(m.name for m in enum)
        raise BadRequest(f"unknown {what} {exc.args[0]!r}; known: {known}") from None


def _suites_for(
    versions: tuple[ProtocolVersion, ...], key_exchange: str
) -> tuple[CipherSuite, ...]:
    """The default suites for these versions, narrowed to one TLS 1.2 key exchange if asked."""
    suites: tuple[CipherSuite, ...] = ()
    if ProtocolVersion.TLSv1_3 in versions and key_exchange != "rsa":
        suites += DEFAULT_TLS13_CIPHER_SUITES
    if ProtocolVersion.TLSv1_2 in versions:
        rsa_kx = tuple(s for s in DEFAULT_TLS12_CIPHER_SUITES if s.name.startswith("TLS_RSA_"))
        ecdhe = tuple(s for s in DEFAULT_TLS12_CIPHER_SUITES if s not in rsa_kx)
        suites += {"rsa": rsa_kx, "ecdhe": ecdhe}.get(key_exchange, ecdhe + rsa_kx)
    return suites
