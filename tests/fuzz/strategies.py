"""Structure-aware hypothesis strategies for TLS messages, extensions and bytes.

Values are built from the engine's own message types and encoders, then ``mutated``
edits a few bytes (flips, truncation, insertion), so inputs get past the first length
check and still reach the edges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from tlssim.tls import (
    CipherSuite,
    ExtensionType,
    NamedGroup,
    SignatureScheme,
)
from tlssim.tls import extensions as ext
from tlssim.tls.extensions import Extension
from tlssim.tls.messages import (
    Certificate,
    CertificateEntry,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    KeyUpdate,
    NewSessionTicket,
    ServerHello,
)
from tlssim.tls.messages12 import (
    Certificate12,
    CertificateStatus,
    ClientKeyExchange,
    HelloRequest,
    ServerHelloDone,
    ServerKeyExchange,
)
from tlssim.tls.tickets import OfferedPsks, PskIdentity

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def _known(enum: Any) -> st.SearchStrategy[int]:
    """Mostly code points we know, sometimes any value."""
    return st.one_of(st.sampled_from([int(v) for v in enum]), u16)


suites = _known(CipherSuite)
groups = _known(NamedGroup)
schemes = _known(SignatureScheme)
versions = st.one_of(st.sampled_from([0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7F1C]), u16)


# -- byte-level mutation -----------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base``, unchanged or with a few edits: flips, truncation, insertion, length tweaks."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.integers(0, 4))
        if op == 0 and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif op == 2:
            del data[draw(st.integers(0, len(data))) :]
        elif op == 3:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=8))
        else:
            data += draw(st.binary(max_size=8))
    return bytes(data)


def vector(length_size: int, body: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return body.map(lambda b: len(b).to_bytes(length_size, "big") + b)


def uint16_list(values: st.SearchStrategy[int], length_size: int = 2) -> st.SearchStrategy[bytes]:
    return st.lists(values, max_size=6).map(
        lambda vs: (
            (2 * len(vs)).to_bytes(length_size, "big") + b"".join(v.to_bytes(2, "big") for v in vs)
        )
    )


# -- extension bodies --------------------------------------------------------------------------

_host = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20)
_share = st.tuples(groups, st.binary(min_size=1, max_size=70))
_psks = st.builds(
    OfferedPsks,
    identities=st.lists(
        st.builds(
            PskIdentity, identity=st.binary(min_size=1, max_size=40), obfuscated_ticket_age=u32
        ),
        max_size=3,
    ).map(tuple),
    binders=st.lists(st.binary(min_size=32, max_size=48), max_size=3).map(tuple),
)

EXTENSION_BODIES: dict[int, st.SearchStrategy[bytes]] = {
    ExtensionType.server_name: st.one_of(
        _host.map(lambda h: ext.encode_server_name(h) if h.isascii() else h.encode()),
        st.just(b""),
    ),
    ExtensionType.supported_versions: st.one_of(
        uint16_list(versions, 1), st.builds(lambda v: v.to_bytes(2, "big"), versions)
    ),
    ExtensionType.supported_groups: uint16_list(groups),
    ExtensionType.signature_algorithms: uint16_list(schemes),
    ExtensionType.key_share: st.one_of(
        st.lists(_share, max_size=3).map(lambda s: ext.encode_client_key_shares(tuple(s))),
        _share.map(lambda s: ext.encode_server_key_share(*s)),
        groups.map(ext.encode_uint16),
    ),
    ExtensionType.status_request: st.one_of(
        st.just(ext.encode_status_request()),
        st.binary(max_size=40).map(ext.encode_certificate_status),
    ),
    ExtensionType.pre_shared_key: st.one_of(
        _psks.map(OfferedPsks.encode), u16.map(ext.encode_uint16)
    ),
    ExtensionType.psk_key_exchange_modes: vector(1, st.binary(max_size=3)),
    ExtensionType.cookie: vector(2, st.binary(max_size=40)),
    ExtensionType.extended_master_secret: st.binary(max_size=1),
    ExtensionType.renegotiation_info: vector(1, st.binary(max_size=3)),
    ExtensionType.ec_point_formats: vector(1, st.binary(max_size=3)),
}


@st.composite
def extension(draw: st.DrawFn) -> Extension:
    etype = draw(st.one_of(st.sampled_from(list(EXTENSION_BODIES)), u16))
    body = EXTENSION_BODIES.get(etype, st.binary(max_size=20))
    return Extension(etype, draw(mutated(body)))


extension_lists = st.lists(extension(), max_size=6).map(tuple)


# -- handshake messages ------------------------------------------------------------------------

client_hellos = st.builds(
    ClientHello,
    legacy_version=versions,
    random=st.binary(min_size=32, max_size=32),
    legacy_session_id=st.binary(max_size=33),
    cipher_suites=st.lists(suites, max_size=8).map(tuple),
    legacy_compression_methods=st.binary(min_size=0, max_size=3),
    extensions=extension_lists,
)
server_hellos = st.builds(
    ServerHello,
    legacy_version=versions,
    random=st.one_of(
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=24, max_size=24).map(lambda r: r + b"DOWNGRD\x01"),
    ),
    legacy_session_id_echo=st.binary(max_size=32),
    cipher_suite=suites,
    legacy_compression_method=u8,
    extensions=extension_lists,
)
certificates = st.builds(
    Certificate,
    request_context=st.binary(max_size=2),
    entries=st.lists(
        st.builds(
            CertificateEntry,
            cert_data=st.binary(min_size=1, max_size=60),
            extensions=extension_lists,
        ),
        max_size=3,
    ).map(tuple),
)

MESSAGES: dict[str, tuple[Callable[[bytes], object], st.SearchStrategy[bytes]]] = {
    "ClientHello": (ClientHello.parse, client_hellos.map(lambda m: m.serialize()[4:])),
    "ServerHello": (ServerHello.parse, server_hellos.map(lambda m: m.serialize()[4:])),
    "EncryptedExtensions": (
        EncryptedExtensions.parse,
        st.builds(EncryptedExtensions, extensions=extension_lists).map(lambda m: m.serialize()[4:]),
    ),
    "Certificate": (Certificate.parse, certificates.map(lambda m: m.serialize()[4:])),
    "CertificateVerify": (
        CertificateVerify.parse,
        st.builds(CertificateVerify, algorithm=schemes, signature=st.binary(max_size=80)).map(
            lambda m: m.serialize()[4:]
        ),
    ),
    "Finished": (Finished.parse, st.binary(max_size=64)),
    "NewSessionTicket": (
        NewSessionTicket.parse,
        st.builds(
            NewSessionTicket,
            ticket_lifetime=u32,
            ticket_age_add=u32,
            ticket_nonce=st.binary(max_size=8),
            ticket=st.binary(max_size=40),
            extensions=extension_lists,
        ).map(lambda m: m.serialize()[4:]),
    ),
    "KeyUpdate": (KeyUpdate.parse, st.binary(max_size=3)),
    "Certificate12": (
        Certificate12.parse,
        st.lists(st.binary(min_size=1, max_size=60), max_size=3).map(
            lambda c: Certificate12(chain=tuple(c)).serialize()[4:]
        ),
    ),
    "CertificateStatus": (
        CertificateStatus.parse,
        st.binary(max_size=40).map(lambda r: CertificateStatus(ocsp_response=r).serialize()[4:]),
    ),
    "ServerKeyExchange": (
        ServerKeyExchange.parse,
        st.builds(
            ServerKeyExchange,
            group=groups,
            public=st.binary(min_size=1, max_size=70),
            algorithm=schemes,
            signature=st.binary(min_size=1, max_size=80),
        ).map(lambda m: m.serialize()[4:]),
    ),
    "ServerHelloDone": (ServerHelloDone.parse, st.binary(max_size=2)),
    "HelloRequest": (HelloRequest.parse, st.binary(max_size=2)),
    "ClientKeyExchange-ecdhe": (
        lambda b: ClientKeyExchange.parse(b, "ecdhe"),
        vector(1, st.binary(max_size=70)),
    ),
    "ClientKeyExchange-rsa": (
        lambda b: ClientKeyExchange.parse(b, "rsa"),
        vector(2, st.binary(max_size=260)),
    ),
}
