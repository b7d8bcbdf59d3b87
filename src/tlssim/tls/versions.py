"""Version negotiation in one place (RFC 8446 section 4.2.1).

Only TLS 1.3 is implemented; TLS 1.2 support plugs in here (and in the state tables).
"""

from __future__ import annotations

from tlssim.tls.constants import ExtensionType, ProtocolVersion
from tlssim.tls.errors import IllegalParameter, ProtocolVersionError
from tlssim.tls.extensions import decode_client_versions, decode_uint16

#: Versions this engine can run, best first.
IMPLEMENTED_VERSIONS = (ProtocolVersion.TLSv1_3,)


def server_select_version(extensions: dict[int, bytes]) -> ProtocolVersion:
    """The version a server picks from a ClientHello's extensions."""
    body = extensions.get(ExtensionType.supported_versions)
    if body is None:
        raise ProtocolVersionError("client does not offer TLS 1.3 (no supported_versions)")
    offered = decode_client_versions(body)
    for version in IMPLEMENTED_VERSIONS:
        if version in offered:
            return version
    raise ProtocolVersionError("no common protocol version")


def client_check_version(
    extensions: dict[int, bytes], offered: tuple[ProtocolVersion, ...]
) -> ProtocolVersion:
    """The version a ServerHello selected; it must be one we offered."""
    body = extensions.get(ExtensionType.supported_versions)
    if body is None:
        raise ProtocolVersionError("server selected a version below TLS 1.3")
    selected = decode_uint16(body)
    if selected not in offered:
        raise IllegalParameter("server selected a version we did not offer")
    return ProtocolVersion(selected)
