"""The ClientHello's extensions: each one's syntax checked in one place.

``decode_hello_extensions`` decodes every extension this engine reads, whichever version
the hello will settle on, so a malformed one is a decode_error (or, where its RFC says so,
illegal_parameter) before any of it is used. What the values mean for a version (which key
shares fit, whether a PSK may be offered) is judged later, by that version's offer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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

T = TypeVar("T")


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


def decode_hello_extensions(hello: ClientHello) -> HelloExtensions:
    """Every extension we read, decoded; a repeated one is illegal_parameter (RFC 8446 4.2)."""
    by_type = index_extensions(hello.extensions)

    def get(etype: ExtensionType, decode: Callable[[bytes], T]) -> T | None:
        body = by_type.get(etype)
        return None if body is None else decode(body)

    E = ExtensionType
    return HelloExtensions(
        by_type=by_type,
        server_name=get(E.server_name, _server_name),  # RFC 6066 3
        supported_versions=get(E.supported_versions, decode_client_versions),  # 4.2.1
        supported_groups=get(E.supported_groups, decode_uint16_list),  # 4.2.7
        signature_algorithms=get(E.signature_algorithms, decode_uint16_list),  # 4.2.3
        key_share=get(E.key_share, decode_client_key_shares),  # 4.2.8
        status_request=bool(get(E.status_request, decode_status_request)),  # RFC 6066 8
        pre_shared_key=get(E.pre_shared_key, OfferedPsks.decode),  # 4.2.11
        psk_key_exchange_modes=get(E.psk_key_exchange_modes, decode_psk_modes),  # 4.2.9
        cookie=get(E.cookie, decode_cookie),  # 4.2.2
        extended_master_secret=bool(get(E.extended_master_secret, _empty)),  # RFC 7627
        renegotiation_info=get(E.renegotiation_info, _opaque8),  # RFC 5746
        ec_point_formats=get(E.ec_point_formats, _point_formats),  # RFC 8422
        early_data=bool(get(E.early_data, _flag)),  # 4.2.10
        post_handshake_auth=bool(get(E.post_handshake_auth, _flag)),  # 4.2.6
        encrypt_then_mac=bool(get(E.encrypt_then_mac, _empty)),  # RFC 7366
    )
