"""The ClientHello's extensions: each one's syntax checked in one place.

``decode_hello_extensions`` decodes every extension this engine reads, whichever version
the hello will settle on, so a malformed one is a decode_error (or, where its RFC says so,
illegal_parameter) before any of it is used. What the values mean for a version (which key
shares fit, whether a PSK may be offered) is judged later, by that version's offer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tlssim.tls.constants import ExtensionType
from tlssim.tls.errors import DecodeError
from tlssim.tls.extensions import (
    decode_client_key_shares,
    decode_client_versions,
    decode_cookie,
    decode_server_name,
    decode_status_request,
    decode_uint16_list,
    index_extensions,
)
from tlssim.tls.messages import ClientHello
from tlssim.tls.tickets import OfferedPsks, decode_psk_modes
from tlssim.tls.wire import Reader


def _server_name(data: bytes) -> str | None:
    """RFC 6066 3: a ClientHello's server_name holds a non-empty ServerNameList."""
    if not data:
        raise DecodeError("empty server_name extension")
    return decode_server_name(data)


def _empty(data: bytes) -> bool:
    """extended_master_secret (RFC 7627 5.1) has an empty body."""
    if data:
        raise DecodeError("extended_master_secret with a body")
    return True


def _flag(data: bytes) -> bool:
    """early_data (4.2.10) and post_handshake_auth (4.2.6) in a ClientHello: empty."""
    if data:
        raise DecodeError("an extension that must be empty has a body")
    return True


def _opaque8(data: bytes) -> bytes:
    """renegotiation_info (RFC 5746 3.2): opaque renegotiated_connection<0..255>."""
    r = Reader(data)
    value = r.vector(1)
    r.expect_end()
    return value


def _point_formats(data: bytes) -> bytes:
    """ec_point_formats (RFC 8422 5.1.2): ECPointFormat ec_point_format_list<1..2^8-1>."""
    r = Reader(data)
    value = r.vector(1, 1)
    r.expect_end()
    return value


#: The fields that say whether an extension was sent (False when it was not).
_FLAGS = frozenset(
    {
        "status_request",
        "extended_master_secret",
        "early_data",
        "post_handshake_auth",
        "encrypt_then_mac",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloExtensions:
    """A ClientHello's extensions: all of them by type, and those we read, decoded."""

    by_type: dict[int, bytes]
    server_name: str | None
    supported_versions: tuple[int, ...] | None
    supported_groups: tuple[int, ...] | None
    signature_algorithms: tuple[int, ...] | None
    key_share: tuple[tuple[int, bytes], ...] | None
    status_request: bool
    pre_shared_key: OfferedPsks | None
    psk_key_exchange_modes: tuple[int, ...] | None
    cookie: bytes | None
    extended_master_secret: bool
    renegotiation_info: bytes | None
    ec_point_formats: bytes | None
    early_data: bool = False
    post_handshake_auth: bool = False
    encrypt_then_mac: bool = False


#: (type, field, decoder) of every extension decoded, in the order they are judged (the first
#: malformed one decides the alert).
_DECODED: tuple[tuple[int, str, Callable[[bytes], object]], ...] = (
    (ExtensionType.server_name, "server_name", _server_name),  # RFC 6066 3
    (ExtensionType.supported_versions, "supported_versions", decode_client_versions),  # 4.2.1
    (ExtensionType.supported_groups, "supported_groups", decode_uint16_list),  # 4.2.7
    (ExtensionType.signature_algorithms, "signature_algorithms", decode_uint16_list),  # 4.2.3
    (ExtensionType.key_share, "key_share", decode_client_key_shares),  # 4.2.8
    (ExtensionType.status_request, "status_request", decode_status_request),  # RFC 6066 8
    (ExtensionType.pre_shared_key, "pre_shared_key", OfferedPsks.decode),  # 4.2.11
    (ExtensionType.psk_key_exchange_modes, "psk_key_exchange_modes", decode_psk_modes),  # 4.2.9
    (ExtensionType.cookie, "cookie", decode_cookie),  # 4.2.2
    (ExtensionType.extended_master_secret, "extended_master_secret", _empty),  # RFC 7627
    (ExtensionType.renegotiation_info, "renegotiation_info", _opaque8),  # RFC 5746
    (ExtensionType.ec_point_formats, "ec_point_formats", _point_formats),  # RFC 8422
    (ExtensionType.early_data, "early_data", _flag),  # 4.2.10
    (ExtensionType.post_handshake_auth, "post_handshake_auth", _flag),  # 4.2.6
    (ExtensionType.encrypt_then_mac, "encrypt_then_mac", _empty),  # RFC 7366
)
#: The value of each field when its extension is absent.
_ABSENT: dict[str, object] = {field: False if field in _FLAGS else None for _, field, _ in _DECODED}
# Each field is stored through its slot's setter (a frozen dataclass's __init__ with
# seventeen keyword arguments costs more than the decoding of a typical hello).
_SETTERS: tuple[
    tuple[int, Callable[[object, object], None], object, Callable[[bytes], object]], ...
] = tuple(
    (etype, HelloExtensions.__dict__[field].__set__, _ABSENT[field], decode)
    for etype, field, decode in _DECODED
)
_SET_BY_TYPE = HelloExtensions.__dict__["by_type"].__set__


def decode_hello_extensions(hello: ClientHello) -> HelloExtensions:
    """Every extension we read, decoded; a repeated one is illegal_parameter (RFC 8446 4.2)."""
    by_type = index_extensions(hello.extensions)
    decoded = object.__new__(HelloExtensions)
    _SET_BY_TYPE(decoded, by_type)
    for etype, set_field, absent, decode in _SETTERS:
        body = by_type.get(etype)
        set_field(decoded, absent if body is None else decode(body))
    return decoded
