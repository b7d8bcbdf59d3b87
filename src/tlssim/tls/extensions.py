"""Extension bodies: encode/decode each extension we understand (RFC 8446 section 4.2).

Messages keep extensions as ``(type, raw bytes)`` pairs in wire order; unknown ones stay raw
and are ignored, as the RFC requires. The helpers here turn a raw body into values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tlssim.tls.constants import CertificateStatusType, ExtensionType
from tlssim.tls.errors import DecodeError, IllegalParameter
from tlssim.tls.wire import Reader, Writer


@dataclass(frozen=True, slots=True, init=False)
class Extension:
    type: int
    data: bytes

    def __init__(self, type: int, data: bytes) -> None:
        # through the slots' setters: a handshake makes about twenty of these, and a
        # frozen dataclass's generated __init__ (object.__setattr__) costs nearly twice as much
        _SET_TYPE(self, type)
        _SET_DATA(self, data)


_SET_TYPE = Extension.__dict__["type"].__set__
_SET_DATA = Extension.__dict__["data"].__set__


def index_extensions(extensions: tuple[Extension, ...]) -> dict[int, bytes]:
    """Map type -> body; a repeated extension type is an illegal_parameter (4.2)."""
    out: dict[int, bytes] = {}
    for ext in extensions:
        if ext.type in out:
            raise IllegalParameter(f"duplicate extension {ext.type}")
        out[ext.type] = ext.data
    return out


def parse_extensions(r: Reader) -> tuple[Extension, ...]:
    # Read in place (every hello and EncryptedExtensions holds a list of them).
    data, pos, end = r.span(2)
    exts: list[Extension] = []
    while pos < end:
        if pos + 4 > end:
            raise DecodeError("truncated structure")
        etype = (data[pos] << 8) | data[pos + 1]
        n = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4
        if n > end - pos:
            raise DecodeError("truncated structure")
        exts.append(Extension(etype, data[pos : pos + n]))
        pos += n
    return tuple(exts)


def write_extensions(w: Writer, extensions: tuple[Extension, ...]) -> None:
    parts: list[bytes] = []
    for ext in extensions:
        parts += (ext.type.to_bytes(2, "big"), len(ext.data).to_bytes(2, "big"), ext.data)
    w.vector(2, b"".join(parts))


def _decode(data: bytes) -> Reader:
    return Reader(data)


# server_name (RFC 6066 section 3)
def encode_server_name(host: str) -> bytes:
    name = host.encode("ascii")
    w = Writer()
    with w.block(2):
        w.uint8(0)  # host_name
        w.vector(2, name)
    return w.getvalue()


def decode_server_name(data: bytes) -> str | None:
    if not data:
        return None  # the server's empty acknowledgement
    n = len(data)
    list_length = (data[0] << 8) | data[1] if n >= 2 else -1
    name_length = (data[3] << 8) | data[4] if n >= 5 else -1
    if n >= 6 and data[2] == 0 and list_length == n - 2 and name_length == n - 5:
        # one host_name, well formed (what every client sends): read in place
        try:
            return data[5:].decode("ascii")
        except UnicodeDecodeError as exc:
            raise DecodeError("non-ASCII host name") from exc
    r = _decode(data)
    host: str | None = None
    with r.block(2, 1) as sub:
        while not sub.eof():
            name_type = sub.uint8()
            name = sub.vector(2, 1)
            if name_type == 0:
                if host is not None:
                    raise IllegalParameter("two host names in server_name")
                try:
                    host = name.decode("ascii")
                except UnicodeDecodeError as exc:
                    raise DecodeError("non-ASCII host name") from exc
    r.expect_end()
    return host


# supported_versions (4.2.1)
def encode_client_versions(versions: tuple[int, ...]) -> bytes:
    w = Writer()
    w.uint16_list(1, versions)
    return w.getvalue()


def decode_client_versions(data: bytes) -> tuple[int, ...]:
    n = len(data)
    if n >= 3 and n % 2 and data[0] == n - 1:  # well formed: read in place
        return struct.unpack_from(f">{n // 2}H", data, 1)
    r = _decode(data)
    versions = r.uint16_list(1, 2)
    r.expect_end()
    return versions


def encode_uint16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def decode_uint16(data: bytes) -> int:
    if len(data) == 2:
        return (data[0] << 8) | data[1]
    r = _decode(data)
    v = r.uint16()
    r.expect_end()
    return v


# supported_groups (4.2.7) and signature_algorithms (4.2.3)
def encode_uint16_list(values: tuple[int, ...]) -> bytes:
    w = Writer()
    w.uint16_list(2, values)
    return w.getvalue()


def decode_uint16_list(data: bytes) -> tuple[int, ...]:
    n = len(data)
    if n >= 4 and not n % 2 and (data[0] << 8) | data[1] == n - 2:  # well formed: in place
        return struct.unpack_from(f">{n // 2 - 1}H", data, 2)
    r = _decode(data)
    values = r.uint16_list(2, 2)
    r.expect_end()
    return values


# key_share (4.2.8)
def encode_client_key_shares(shares: tuple[tuple[int, bytes], ...]) -> bytes:
    w = Writer()
    with w.block(2):
        for group, key in shares:
            w.uint16(group)
            w.vector(2, key)
    return w.getvalue()


def decode_client_key_shares(data: bytes) -> tuple[tuple[int, bytes], ...]:
    shares = _well_formed_key_shares(data)
    if shares is None:  # the Reader finds the first fault, for its exact error
        r = _decode(data)
        shares = []
        with r.block(2) as sub:
            while not sub.eof():
                group = sub.uint16()
                shares.append((group, sub.vector(2, 1)))
        r.expect_end()
    groups = [g for g, _ in shares]
    if len(set(groups)) != len(groups):
        raise IllegalParameter("duplicate key share group")
    return tuple(shares)


def _well_formed_key_shares(data: bytes) -> list[tuple[int, bytes]] | None:
    """KeyShareEntry list read in place, or None at the first fault."""
    n = len(data)
    if n < 2 or (data[0] << 8) | data[1] != n - 2:
        return None
    shares: list[tuple[int, bytes]] = []
    pos = 2
    while pos < n:
        if pos + 4 > n:
            return None
        size = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 4 + size
        if size < 1 or end > n:
            return None
        shares.append(((data[pos] << 8) | data[pos + 1], data[pos + 4 : end]))
        pos = end
    return shares


def encode_server_key_share(group: int, key: bytes) -> bytes:
    w = Writer()
    w.uint16(group)
    w.vector(2, key)
    return w.getvalue()


def decode_server_key_share(data: bytes) -> tuple[int, bytes]:
    if len(data) > 4 and (data[2] << 8) | data[3] == len(data) - 4:  # well formed: in place
        return (data[0] << 8) | data[1], data[4:]
    r = _decode(data)
    group = r.uint16()
    key = r.vector(2, 1)
    r.expect_end()
    return group, key


# status_request (RFC 6066 section 8; RFC 8446 4.4.2.1)
def encode_status_request() -> bytes:
    """An OCSP CertificateStatusRequest with no responder ids and no extensions."""
    return bytes([CertificateStatusType.ocsp]) + b"\x00\x00\x00\x00"


def decode_status_request(data: bytes) -> bool:
    """True when the client asked for an OCSP staple."""
    r = _decode(data)
    status_type = r.uint8()
    if status_type != CertificateStatusType.ocsp:
        return False
    r.vector(2)  # responder_id_list
    r.vector(2)  # request_extensions
    r.expect_end()
    return True


def encode_certificate_status(ocsp_response: bytes) -> bytes:
    w = Writer()
    w.uint8(CertificateStatusType.ocsp)
    w.vector(3, ocsp_response)
    return w.getvalue()


def decode_certificate_status(data: bytes) -> bytes:
    r = _decode(data)
    if r.uint8() != CertificateStatusType.ocsp:
        raise IllegalParameter("unknown CertificateStatusType")
    resp = r.vector(3, 1)
    r.expect_end()
    return resp


# cookie (4.2.2)
def decode_cookie(data: bytes) -> bytes:
    r = _decode(data)
    cookie = r.vector(2, 1)
    r.expect_end()
    return cookie


def encode_cookie(cookie: bytes) -> bytes:
    w = Writer()
    w.vector(2, cookie)
    return w.getvalue()


# tlssim_replica (private use): the server's replica name, opaque<1..255>, ASCII, padded
# with NULs to REPLICA_BYTES: every replica's hello is then the same size, so byte offsets
# into a flight (the faults' tamper toxics) and message sizes do not depend on who answers.
REPLICA_BYTES = 64


def encode_replica(name: str) -> bytes:
    w = Writer()
    w.vector(1, name.encode("ascii", "replace")[:REPLICA_BYTES].ljust(REPLICA_BYTES, b"\0"))
    return w.getvalue()


def decode_replica(data: bytes) -> str:
    r = _decode(data)
    name = r.vector(1, 1)
    r.expect_end()
    return name.rstrip(b"\0").decode("ascii", "replace")


__all__ = ["Extension", "ExtensionType"]
