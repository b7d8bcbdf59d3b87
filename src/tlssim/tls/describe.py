"""Decoded, JSON-serialisable ``fields`` of handshake messages for the handshake story."""

from __future__ import annotations

from tlssim.tls.constants import (
    CipherSuite,
    ExtensionType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.extensions import (
    decode_client_key_shares,
    decode_client_versions,
    decode_server_name,
    decode_uint16,
    decode_uint16_list,
)
from tlssim.tls.messages import Certificate, ClientHello, ServerHello


def _ext_names(types: list[int]) -> list[str]:
    return [name_of(ExtensionType, t) for t in types]


def client_hello_fields(ch: ClientHello, exts: dict[int, bytes]) -> dict[str, object]:
    """Best-effort: the message has already been validated by the caller."""
    fields: dict[str, object] = {
        "random": ch.random.hex(),
        "session_id": ch.legacy_session_id.hex(),
        "cipher_suites": [name_of(CipherSuite, s) for s in ch.cipher_suites],
        "extensions": _ext_names([e.type for e in ch.extensions]),
    }
    if ExtensionType.supported_versions in exts:
        versions = decode_client_versions(exts[ExtensionType.supported_versions])
        fields["supported_versions"] = [_version(v) for v in versions]
    if ExtensionType.server_name in exts:
        fields["server_name"] = decode_server_name(exts[ExtensionType.server_name])
    if ExtensionType.supported_groups in exts:
        groups = decode_uint16_list(exts[ExtensionType.supported_groups])
        fields["supported_groups"] = [name_of(NamedGroup, g) for g in groups]
    if ExtensionType.key_share in exts:
        shares = decode_client_key_shares(exts[ExtensionType.key_share])
        fields["key_share"] = [name_of(NamedGroup, g) for g, _ in shares]
        fields["key_share_sizes"] = [len(share) for _, share in shares]
    if ExtensionType.signature_algorithms in exts:
        schemes = decode_uint16_list(exts[ExtensionType.signature_algorithms])
        fields["signature_algorithms"] = [name_of(SignatureScheme, s) for s in schemes]
    fields["status_request"] = ExtensionType.status_request in exts
    return fields


def _version(v: int) -> str:
    try:
        return ProtocolVersion(v).label
    except ValueError:
        return f"0x{v:04x}"


def server_hello_fields(
    sh: ServerHello, exts: dict[int, bytes], group: int | None
) -> dict[str, object]:
    fields: dict[str, object] = {
        "random": sh.random.hex(),
        "session_id": sh.legacy_session_id_echo.hex(),
        "cipher_suite": name_of(CipherSuite, sh.cipher_suite),
        "extensions": _ext_names([e.type for e in sh.extensions]),
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
