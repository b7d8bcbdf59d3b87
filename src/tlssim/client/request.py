"""From a HandshakeRequest (protos/tlssim/rpc/v1/client.proto) to what the client will do:
the target names, the engine's configuration and the options of the run, checked once."""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass
from typing import Any, Final

from tlssim.client.identity import certified_from_pem
from tlssim.pki.errors import PkiError
from tlssim.report.revocation import RevocationPolicy
from tlssim.tls import (
    CipherSuite,
    ClientConfig,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.config import DEFAULT_TLS12_CIPHER_SUITES, DEFAULT_TLS13_CIPHER_SUITES
from tlssim.tls.keyexchange import ECDHE_GROUPS, SUPPORTED_GROUPS
from tlssim.tls.keyschedule import TLS13_SUITES
from tlssim.tls.signatures import SUPPORTED_SCHEMES
from tlssim.tls.tls12 import LEGACY_SUITES, TLS12_SUITES
from tlssim.topology.endpoints import split_host_port

# The name sent and verified when the request names none: the lab's valid host.
DEFAULT_SERVER_NAME: Final = "valid.tlssim.test"
DEFAULT_APPLICATION_DATA: Final = b"GET / HTTP/1.1\r\nHost: tlssim\r\n\r\n"
DEFAULT_REVOCATION: Final = RevocationPolicy.SOFT

VERSIONS: Final = {
    "": (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2),
    "1.3": (ProtocolVersion.TLSv1_3,),
    "1.2": (ProtocolVersion.TLSv1_2,),
    # with allow_legacy only
    "1.1": (ProtocolVersion.TLSv1_1,),
    "1.0": (ProtocolVersion.TLSv1_0,),
}
#: What allow_legacy adds to an offer of both versions: TLS 1.1 and 1.0 below them.
LEGACY_VERSIONS: Final = (ProtocolVersion.TLSv1_1, ProtocolVersion.TLSv1_0)
#: What allow_legacy enables, as the CLI says it.
ALLOW_LEGACY_ENABLES: Final = (
    "TLS 1.1 and 1.0 (BEAST, the MD5/SHA-1 PRF), CBC suites with MAC-then-encrypt or "
    "encrypt_then_mac (POODLE, Lucky Thirteen), 3DES (Sweet32), RC4 (its biases), "
    "finite-field DHE (Logjam) and RSA key transport (no forward secrecy, ROBOT): offered "
    "after the modern choices, for a lesson only"
)


# What a request may name: only what the engine can actually use. The CLI offers the same.
USABLE_SUITES: Final = {
    ProtocolVersion.TLSv1_3: tuple(TLS13_SUITES),
    ProtocolVersion.TLSv1_2: tuple(TLS12_SUITES),
}
#: With allow_legacy: every suite below TLS 1.3 the engine runs.
LEGACY_USABLE_SUITES: Final = tuple(TLS12_SUITES) + tuple(LEGACY_SUITES)
USABLE_GROUPS: Final = tuple(SUPPORTED_GROUPS)
USABLE_SIGNATURE_SCHEMES: Final = (
    *(SignatureScheme(s) for s in SUPPORTED_SCHEMES),
    # TLS 1.2 ServerKeyExchange only: offering these alone is how a request asks for them
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pkcs1_sha384,
    SignatureScheme.rsa_pkcs1_sha512,
)
# Bounds on what a caller controls (a DNS name is at most 253 characters).
CLIENT_CERT_MODES: Final = ("", "auto", "none", "pem")
MAX_SERVER_NAME = 253
MAX_LIST = 64
MAX_APPLICATION_DATA = 64 * 1024
MAX_CLOCK_SKEW_S = 100 * 365 * 86400


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
    expect_echo: bool
    #: 0-RTT data for the resumed handshake (see HandshakeRequest.early_data).
    early_data: bytes = b""
    #: What answers a CertificateRequest: "auto" (the client's enrolled certificate, added
    #: by the service), "none" or "pem" (already in ``config.client_certificate``).
    client_cert: str = "auto"
    #: Why that one (the story tells it with the client's Certificate).
    client_cert_why: str = ""
    #: Whether a missing issuer is fetched from the AIA caIssuers URL (off by default).
    chase_aia: bool = False
    #: TLS 1.3: a KeyUpdate(update_requested) once connected, before the data.
    key_update: bool = False


def plan_for(request: Any) -> Plan:
    """Checks a HandshakeRequest; raises BadRequest with what is wrong."""
    _check_bounds(request)
    target = target_for(request.server_name, request.no_sni)
    try:
        revocation = RevocationPolicy(request.revocation or DEFAULT_REVOCATION)
    except ValueError:
        known = ", ".join(p.value for p in RevocationPolicy)
        raise BadRequest(f"revocation policy must be one of {known}") from None
    client_cert, why = client_cert_mode(request)
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
        expect_echo=not request.no_echo,
        early_data=request.early_data,
        client_cert=client_cert,
        client_cert_why=why,
        chase_aia=request.chase_aia,
        key_update=request.key_update,
    )


#: Why the client answers a CertificateRequest as it does, by mode and whether it was asked.
CLIENT_CERT_WHY: Final = {
    ("auto", False): "the lab's own server asks: the client's enrolled lab certificate "
    "(--client-cert none to send none)",
    ("none", False): "--tcp reaches a server outside the lab, which gets no lab identity "
    "unless asked for (--client-cert auto or FILE)",
    ("auto", True): "--client-cert auto: the client's enrolled lab certificate",
    ("none", True): "--client-cert none",
    ("pem", True): "--client-cert FILE: the chain given",
}


def client_cert_mode(request: Any) -> tuple[str, str]:
    """What answers a CertificateRequest, and why: the request's choice, or by default the
    lab's certificate through the server service and none over --tcp."""
    if request.client_cert:
        return request.client_cert, CLIENT_CERT_WHY.get((request.client_cert, True), "")
    mode = "none" if request.tcp_address else "auto"
    return mode, CLIENT_CERT_WHY[(mode, False)]


def client_config(request: Any, target: Target) -> ClientConfig:
    """The engine's configuration for a HandshakeRequest."""
    legacy = request.allow_legacy
    if request.tls_version not in VERSIONS:
        raise BadRequest(f"TLS version {request.tls_version!r} is not supported; use 1.2 or 1.3")
    if request.key_exchange not in ("", "ecdhe", "rsa"):
        raise BadRequest(f"key exchange {request.key_exchange!r}: use rsa or ecdhe")
    versions = VERSIONS[request.tls_version]
    if max(versions) < ProtocolVersion.TLSv1_2 and not legacy:
        raise BadRequest(
            f"TLS {request.tls_version} is refused by default (BEAST, POODLE, the MD5/SHA-1 "
            "PRF); add --allow-legacy for a lesson"
        )
    if legacy and request.tls_version in ("", "1.2"):
        versions += LEGACY_VERSIONS
    if request.key_exchange == "rsa":
        if versions == (ProtocolVersion.TLSv1_3,):
            raise BadRequest("RSA key transport exists only in TLS 1.2; use --tls 1.2")
        versions = tuple(v for v in versions if v <= ProtocolVersion.TLSv1_2)
    kwargs: dict[str, Any] = {"versions": versions}
    kwargs["cipher_suites"] = (
        _chosen_suites(request.cipher_suites, versions, legacy)
        if request.cipher_suites
        else _suites_for(versions, request.key_exchange, legacy)
    )
    if request.groups:
        groups = _usable(NamedGroup, request.groups, USABLE_GROUPS, "group")
        ecdhe = set(groups) & set(ECDHE_GROUPS)
        if ProtocolVersion.TLSv1_3 not in versions and not ecdhe and request.key_exchange != "rsa":
            raise BadRequest("ML-KEM groups exist only in TLS 1.3; use --tls 1.3")
        kwargs["supported_groups"] = groups
        kwargs["key_share_groups"] = groups[:1]
    if request.signature_schemes:
        kwargs["signature_schemes"] = _usable(
            SignatureScheme, request.signature_schemes, USABLE_SIGNATURE_SCHEMES, "signature scheme"
        )
    if request.client_cert not in CLIENT_CERT_MODES:
        raise BadRequest(f"client certificate {request.client_cert!r}: use auto, none or pem")
    if request.client_cert == "pem":
        try:
            kwargs["client_certificate"] = certified_from_pem(
                request.client_cert_pem, request.client_key_pem
            )
        except (ValueError, PkiError) as exc:
            raise BadRequest(f"client certificate: {exc}") from None
    return ClientConfig(
        server_name=target.sni,
        entropy=os.urandom,
        request_ocsp=not request.no_status_request,
        ask_replica=True,
        offer_psk_modes=bool(request.resume),
        **kwargs,
    )


def _check_bounds(request: Any) -> None:
    """Sizes and numbers a caller controls, before anything is built from them."""
    name = request.server_name
    if len(name) > MAX_SERVER_NAME:
        raise BadRequest(
            f"server name is {len(name)} characters long; at most {MAX_SERVER_NAME} are allowed"
        )
    if bad := next((c for c in name if not " " < c < "\x7f"), None):
        what = "a space" if bad == " " else f"{bad!r}"
        raise BadRequest(
            f"server name {name!r} holds {what}: a name is printable ASCII, without spaces"
        )
    for what, values in (
        ("cipher suites", request.cipher_suites),
        ("groups", request.groups),
        ("signature schemes", request.signature_schemes),
    ):
        if len(values) > MAX_LIST:
            raise BadRequest(f"at most {MAX_LIST} {what}, got {len(values)}")
    skew = request.clock_skew_seconds
    if not math.isfinite(skew) or abs(skew) > MAX_CLOCK_SKEW_S:
        raise BadRequest(f"clock skew must be a number of seconds within +-{MAX_CLOCK_SKEW_S}")
    if len(request.application_data) > MAX_APPLICATION_DATA:
        raise BadRequest(f"application data is limited to {MAX_APPLICATION_DATA} bytes")
    if len(request.early_data) > MAX_APPLICATION_DATA:
        raise BadRequest(f"early data is limited to {MAX_APPLICATION_DATA} bytes")
    if request.early_data and not request.resume:
        raise BadRequest("early data rides on a resumed session: ask for resume too")
    if request.early_data and request.tls_version == "1.2":
        raise BadRequest("early data (0-RTT) exists only in TLS 1.3")
    if request.key_update and request.tls_version not in ("", "1.3"):
        raise BadRequest(f"KeyUpdate exists only in TLS 1.3, not in TLS {request.tls_version}")
    if request.tcp_address:
        try:
            _, port = split_host_port(request.tcp_address)
        except ValueError as exc:
            raise BadRequest(f"tcp address: {exc}") from None
        if not 0 < port < 65536:
            raise BadRequest(f"tcp address: port {port} is out of range (1-65535)")


def _usable(enum: Any, names: Any, usable: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    chosen = []
    for name in names:
        member = enum.__members__.get(name)
        if member not in usable:
            known = ", ".join(m.name for m in usable)
            raise BadRequest(f"{what} {name!r} cannot be used; choose from {known}")
        chosen.append(member)
    return tuple(chosen)


def _chosen_suites(
    names: Any, versions: tuple[ProtocolVersion, ...], legacy: bool = False
) -> tuple[CipherSuite, ...]:
    """The named suites; each must belong to a version on offer (legacy ones with
    allow_legacy only)."""
    every = tuple(
        s for v in (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2) for s in USABLE_SUITES[v]
    )
    if legacy:
        every += tuple(LEGACY_SUITES)
    elif any(n in CipherSuite.__members__ and CipherSuite[n] in LEGACY_SUITES for n in names):
        raise BadRequest(
            "CBC and 3DES suites are refused by default (POODLE, Lucky Thirteen, Sweet32); "
            "add --allow-legacy for a lesson"
        )
    suites = _usable(CipherSuite, names, every, "cipher suite")
    for suite in suites:
        if suite in LEGACY_SUITES and any(v <= ProtocolVersion.TLSv1_2 for v in versions):
            continue
        if not any(suite in USABLE_SUITES[v] for v in versions if v in USABLE_SUITES):
            other = next(v for v in USABLE_SUITES if suite in USABLE_SUITES[v])
            offered = [s.name for v in versions for s in USABLE_SUITES.get(v, ())]
            raise BadRequest(
                f"{suite.name} is a {other.label} suite; for {versions[0].label} use one "
                f"of {', '.join(offered)}"
            )
    return suites


def _suites_for(
    versions: tuple[ProtocolVersion, ...], key_exchange: str, legacy: bool = False
) -> tuple[CipherSuite, ...]:
    """The default suites for these versions, narrowed to one TLS 1.2 key exchange if asked.

    RSA key transport (no forward secrecy) is offered only when asked for (``rsa``) or with
    allow_legacy, which also adds the CBC and 3DES suites after the AEAD ones."""
    suites: tuple[CipherSuite, ...] = ()
    if ProtocolVersion.TLSv1_3 in versions and key_exchange != "rsa":
        suites += DEFAULT_TLS13_CIPHER_SUITES
    if any(v <= ProtocolVersion.TLSv1_2 for v in versions):
        rsa_kx = tuple(s for s in DEFAULT_TLS12_CIPHER_SUITES if s.name.startswith("TLS_RSA_"))
        ecdhe = tuple(s for s in DEFAULT_TLS12_CIPHER_SUITES if s not in rsa_kx)
        if legacy:
            rsa_kx += tuple(s for s in LEGACY_SUITES if s.name.startswith("TLS_RSA_"))
            ecdhe += tuple(s for s in LEGACY_SUITES if not s.name.startswith("TLS_RSA_"))
        default = ecdhe + rsa_kx if legacy else ecdhe
        suites += {"rsa": rsa_kx, "ecdhe": ecdhe}.get(key_exchange, default)
    return suites
