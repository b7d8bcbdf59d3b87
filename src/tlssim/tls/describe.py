"""Decoded, JSON-serialisable ``fields`` of handshake messages for the handshake story."""

from __future__ import annotations

from enum import IntEnum

from tlssim.tls.constants import (
    CipherSuite,
    ExtensionType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.extensions import (
    Extension,
    decode_client_key_shares,
    decode_client_versions,
    decode_server_name,
    decode_uint16,
    decode_uint16_list,
)
from tlssim.tls.hello_extensions import HelloExtensions
from tlssim.tls.messages import Certificate, ClientHello, ServerHello

#: Name lists by (enum, code points): a client sends the same lists in every hello. Bounded
#: in entries and in the length of a list kept (a peer's hello chooses them).
_NAME_LISTS: dict[tuple[type[IntEnum], tuple[int, ...]], tuple[str, ...]] = {}
_NAME_LISTS_MAX = 256
_NAME_LIST_LONGEST = 128


def names_of(enum_type: type[IntEnum], values: tuple[int, ...]) -> list[str]:
    """``[name_of(enum_type, v) for v in values]``, each distinct list named once."""
    if type(values) is not tuple:  # a caller's list: a key must be hashable
        values = tuple(values)
    key = (enum_type, values)
    names = _NAME_LISTS.get(key)
    if names is None:
        names = tuple(name_of(enum_type, v) for v in values)
        if len(values) > _NAME_LIST_LONGEST:
            return list(names)
        if len(_NAME_LISTS) >= _NAME_LISTS_MAX:
            _NAME_LISTS.clear()
        _NAME_LISTS[key] = names
    return list(names)


def _ext_names(extensions: tuple[Extension, ...]) -> list[str]:
    return names_of(ExtensionType, tuple([e.type for e in extensions]))


def client_hello_fields(
    ch: ClientHello,
    exts: dict[int, bytes],
    *,
    versions: tuple[int, ...] | None = None,
    server_name: str | None = None,
    groups: tuple[int, ...] | None = None,
    shares: tuple[tuple[int, bytes], ...] | None = None,
    schemes: tuple[int, ...] | None = None,
) -> dict[str, object]:
    """Best-effort: the message has already been validated by the caller. A caller that
    holds an extension's decoded value passes it (it is what the body says), else the body
    is decoded here."""
    fields: dict[str, object] = {
        "random": ch.random.hex(),
        "session_id": ch.legacy_session_id.hex(),
        "cipher_suites": names_of(CipherSuite, ch.cipher_suites),
        "extensions": _ext_names(ch.extensions),
    }
    if ExtensionType.supported_versions in exts:
        if versions is None:
            versions = decode_client_versions(exts[ExtensionType.supported_versions])
        fields["supported_versions"] = [_version(v) for v in versions]
    if ExtensionType.server_name in exts:
        if server_name is None:
            server_name = decode_server_name(exts[ExtensionType.server_name])
        fields["server_name"] = server_name
    if ExtensionType.supported_groups in exts:
        if groups is None:
            groups = decode_uint16_list(exts[ExtensionType.supported_groups])
        fields["supported_groups"] = names_of(NamedGroup, groups)
    if ExtensionType.key_share in exts:
        if shares is None:
            shares = decode_client_key_shares(exts[ExtensionType.key_share])
        fields["key_share"] = names_of(NamedGroup, tuple([g for g, _ in shares]))
        fields["key_share_sizes"] = [len(share) for _, share in shares]
    if ExtensionType.signature_algorithms in exts:
        if schemes is None:
            schemes = decode_uint16_list(exts[ExtensionType.signature_algorithms])
        fields["signature_algorithms"] = names_of(SignatureScheme, schemes)
    fields["status_request"] = ExtensionType.status_request in exts
    return fields


def offered_hello_fields(ch: ClientHello, decoded: HelloExtensions) -> dict[str, object]:
    """``client_hello_fields`` of a ClientHello whose extensions a server decoded."""
    return client_hello_fields(
        ch,
        decoded.by_type,
        versions=decoded.supported_versions,
        server_name=decoded.server_name,
        groups=decoded.supported_groups,
        shares=decoded.key_share,
        schemes=decoded.signature_algorithms,
    )


_VERSION_LABELS = {int(v): v.label for v in ProtocolVersion}


def _version(v: int) -> str:
    label = _VERSION_LABELS.get(v)
    return label if label is not None else f"0x{v:04x}"


def server_hello_fields(
    sh: ServerHello, exts: dict[int, bytes], group: int | None
) -> dict[str, object]:
    fields: dict[str, object] = {
        "random": sh.random.hex(),
        "session_id": sh.legacy_session_id_echo.hex(),
        "cipher_suite": name_of(CipherSuite, sh.cipher_suite),
        "extensions": _ext_names(sh.extensions),
    }
    if ExtensionType.supported_versions in exts:
        fields["selected_version"] = _version(decode_uint16(exts[ExtensionType.supported_versions]))
    if group is not None:
        key = "selected_group" if sh.is_hello_retry_request else "key_share"
        fields[key] = name_of(NamedGroup, group)
    if group is not None and not sh.is_hello_retry_request and ExtensionType.key_share in exts:
        fields["key_share_size"] = len(exts[ExtensionType.key_share]) - 4  # group, length
    return fields


def certificate_fields(cert: Certificate, ocsp_response: bytes | None) -> dict[str, object]:
    return {
        "certificates": len(cert.entries),
        "sizes": [len(e.cert_data) for e in cert.entries],
        "ocsp_staple": ocsp_response is not None,
        "ocsp_staple_size": len(ocsp_response) if ocsp_response is not None else 0,
    }
