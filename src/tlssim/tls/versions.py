"""Version negotiation in one place (RFC 8446 sections 4.1.3 and 4.2.1, RFC 5246 E.1).

- A ClientHello with supported_versions offers exactly that list (legacy_version ignored);
  without it, it offers legacy_version (capped at TLS 1.2).
- The server picks the best version it enables among those offered: TLS 1.3 over TLS 1.2.
- A ServerHello selects TLS 1.3 only through supported_versions, and TLS 1.2 only through
  legacy_version without that extension.
- A TLS 1.3-capable server that negotiates TLS 1.2 ends ServerHello.random with DOWNGRD\\x01;
  a TLS 1.3-capable client that lands on TLS 1.2 and sees it aborts (illegal_parameter).
- A hello whose legacy_version is 0x0300 (SSL 3.0) or less aborts (protocol_version, D.5).
- TLS 1.1 and 1.0 are implemented for the lessons and legacy hosts that enable them; a
  client without supported_versions offers legacy_version and everything below it; a
  server enabling TLS 1.2 or better that negotiates them ends ServerHello.random with
  DOWNGRD\x00. A server enabling only TLS 1.1 or 1.0 behaves as servers of that time did:
  it ignores supported_versions and answers with its best version (the client refuses).
- TLS_FALLBACK_SCSV from a client that settles below our best version aborts
  (inappropriate_fallback, RFC 7507 3).
"""

from __future__ import annotations

from tlssim.tls.constants import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    AlertDescription,
    CipherSuite,
    ExtensionType,
    ProtocolVersion,
    member_of,
)
from tlssim.tls.errors import IllegalParameter, ProtocolVersionError, TLSError
from tlssim.tls.extensions import decode_uint16

#: Versions this engine can run, best first.
IMPLEMENTED_VERSIONS = (
    ProtocolVersion.TLSv1_3,
    ProtocolVersion.TLSv1_2,
    ProtocolVersion.TLSv1_1,
    ProtocolVersion.TLSv1_0,
)
#: What runs unless configured otherwise: TLS 1.1 and 1.0 only when named.
MODERN_VERSIONS = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)


def check_enabled(versions: tuple[ProtocolVersion, ...]) -> tuple[ProtocolVersion, ...]:
    """Validate a configured version list; returns it best first."""
    if not versions or any(v not in IMPLEMENTED_VERSIONS for v in versions):
        raise ValueError(f"versions must be a non-empty subset of {IMPLEMENTED_VERSIONS}")
    return tuple(v for v in IMPLEMENTED_VERSIONS if v in versions)


def server_select_version(
    supported_versions: tuple[int, ...] | None,
    legacy_version: int = 0x0303,
    enabled: tuple[ProtocolVersion, ...] = (ProtocolVersion.TLSv1_3,),
) -> ProtocolVersion:
    """The version a server picks from a ClientHello (its decoded supported_versions)."""
    _check_legacy_version(legacy_version)
    body = supported_versions
    if max(enabled) < ProtocolVersion.TLSv1_2:
        # a server from before TLS 1.3 (a legacy host) knows no supported_versions: it
        # answers legacy_version with the best version it has below it (RFC 5246 E.1),
        # and a modern client refuses that ServerHello (protocol_version)
        body = None
    if body is not None:
        offered: tuple[int, ...] = body
    else:  # legacy_version and every version below it (RFC 5246 E.1)
        offered = tuple(v for v in IMPLEMENTED_VERSIONS[1:] if v <= legacy_version)
    for version in IMPLEMENTED_VERSIONS:
        if version in enabled and version in offered:
            return version
    if body is None and enabled == (ProtocolVersion.TLSv1_3,):
        raise ProtocolVersionError("client does not offer TLS 1.3 (no supported_versions)")
    raise ProtocolVersionError("no common protocol version")


def client_check_version(
    extensions: dict[int, bytes],
    offered: tuple[ProtocolVersion, ...],
    legacy_version: int = 0x0303,
) -> ProtocolVersion:
    """The version a ServerHello selected; it must be one we offered."""
    _check_legacy_version(legacy_version)
    body = extensions.get(ExtensionType.supported_versions)
    if body is None:
        below = tuple(v for v in offered if v <= ProtocolVersion.TLSv1_2)
        if legacy_version in below:
            return ProtocolVersion(legacy_version)
        if below:
            raise ProtocolVersionError("server selected a version we do not support")
        raise ProtocolVersionError("server selected a version below TLS 1.3")
    selected = decode_uint16(body)
    if selected not in offered or selected < ProtocolVersion.TLSv1_3:
        raise IllegalParameter("server selected a version we did not offer")
    return member_of(ProtocolVersion, selected)


def _check_legacy_version(legacy_version: int) -> None:
    if legacy_version <= 0x0300:
        raise ProtocolVersionError("hello with legacy_version 0x0300 or below (RFC 8446 D.5)")


def server_check_fallback(
    cipher_suites: tuple[int, ...],
    selected: ProtocolVersion,
    enabled: tuple[ProtocolVersion, ...],
) -> None:
    """A client retrying with a lower version says so; below our best it is an attack."""
    if CipherSuite.TLS_FALLBACK_SCSV in cipher_suites and selected < max(enabled):
        raise TLSError(
            "TLS_FALLBACK_SCSV below our highest version", AlertDescription.inappropriate_fallback
        )


def downgrade_random(
    random: bytes, negotiated: ProtocolVersion, enabled: tuple[ProtocolVersion, ...]
) -> bytes:
    """ServerHello.random with the downgrade sentinel when it applies (4.1.3)."""
    if ProtocolVersion.TLSv1_3 in enabled and negotiated == ProtocolVersion.TLSv1_2:
        return random[:24] + DOWNGRADE_TLS12
    if max(enabled) >= ProtocolVersion.TLSv1_2 and negotiated < ProtocolVersion.TLSv1_2:
        return random[:24] + DOWNGRADE_TLS11
    return random


def client_check_downgrade(
    server_random: bytes, negotiated: ProtocolVersion, offered: tuple[ProtocolVersion, ...]
) -> None:
    """A TLS 1.3-capable client that negotiated below 1.3 rejects the sentinels."""
    capable = ProtocolVersion.TLSv1_3 in offered and negotiated < ProtocolVersion.TLSv1_3
    if capable and server_random[24:] in (DOWNGRADE_TLS12, DOWNGRADE_TLS11):
        raise IllegalParameter("downgrade sentinel in ServerHello.random")
