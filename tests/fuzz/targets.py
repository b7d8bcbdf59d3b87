"""Fuzz targets: structure-aware hypothesis strategies and the property each parser keeps.

Every parser is total: bytes in, a value or the engine's alert-carrying ``TLSError`` out
(``PkiError`` for the PKI's parsers). Any other exception is a crash, and so is an
``internal_error`` alert from a connection: the core turns an unexpected exception into
one rather than letting it escape. Inputs start from valid structures (the engine's own
message types, genuine flights, real CSRs and OCSP requests) and are then edited or
mutated byte by byte, so the fuzzer reaches past the first length check.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

from tests.tls.hostile import HANDSHAKE, Server12, Server13, make_client, record
from tlssim.clock import FixedClock
from tlssim.pki.authority import Authority
from tlssim.pki.errors import PkiError
from tlssim.pki.ocsp_responder import (
    CertStatus,
    OcspReply,
    OcspResponder,
    ServedIssuer,
    StatusRecord,
)
from tlssim.tls import (
    CipherSuite,
    ClientConnection,
    ExtensionType,
    HandshakeType,
    InternalError,
    NamedGroup,
    ProtocolVersion,
    ServerConnection,
    SignatureScheme,
    TLSError,
)
from tlssim.tls import extensions as ext
from tlssim.tls.extensions import Extension
from tlssim.tls.hello_extensions import decode_hello_extensions
from tlssim.tls.keyschedule import TLS13_SUITES
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
    parse_alert,
)
from tlssim.tls.messages12 import (
    Certificate12,
    CertificateStatus,
    ClientKeyExchange,
    HelloRequest,
    ServerHelloDone,
    ServerKeyExchange,
)
from tlssim.tls.record import RecordLayer, RecordProtection, Tls12RecordProtection
from tlssim.tls.tickets import OfferedPsks, PskIdentity, decode_psk_modes, open_ticket
from tlssim.tls.tls12 import TLS12_SUITES

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


# -- targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


def _tolerating(allowed: type[Exception], run: Callable[[], object]) -> None:
    with contextlib.suppress(allowed):
        run()


def _message_target(name: str) -> Target:
    parse, bodies = MESSAGES[name]

    def check(body: bytes) -> None:
        try:
            message = parse(body)
        except TLSError:
            return
        serialize = getattr(message, "serialize", None)
        if serialize is not None and name != "ClientKeyExchange-rsa":
            again = parse(serialize()[4:])  # what we parsed, we can write and read back
            assert again == message, (message, again)

    return Target(f"message:{name}", mutated(bodies), check)


EXTENSION_DECODERS: dict[str, Callable[[bytes], object]] = {
    "server_name": ext.decode_server_name,
    "client_versions": ext.decode_client_versions,
    "uint16": ext.decode_uint16,
    "uint16_list": ext.decode_uint16_list,
    "client_key_shares": ext.decode_client_key_shares,
    "server_key_share": ext.decode_server_key_share,
    "status_request": ext.decode_status_request,
    "certificate_status": ext.decode_certificate_status,
    "cookie": ext.decode_cookie,
    "pre_shared_key": OfferedPsks.decode,
    "psk_key_exchange_modes": decode_psk_modes,
    "alert": parse_alert,
}

_all_bodies = st.one_of(*EXTENSION_BODIES.values(), st.binary(max_size=40))


def _extension_decoders(body: bytes) -> None:
    for decode in EXTENSION_DECODERS.values():
        _tolerating(TLSError, lambda decode=decode: decode(body))  # type: ignore[misc]


def _hello_extensions(exts: tuple[Extension, ...]) -> None:
    hello = ClientHello(random=bytes(32), cipher_suites=(0x1301,), extensions=exts)
    _tolerating(TLSError, lambda: decode_hello_extensions(hello))


# -- the record layer --------------------------------------------------------------------------

_RECORD_KEY = bytes(range(48))


def _protections() -> list[Any]:
    out: list[Any] = [None]
    out += [
        RecordProtection(params, _RECORD_KEY[: params.hash_length])
        for params in TLS13_SUITES.values()
    ]
    out += [
        Tls12RecordProtection(s, _RECORD_KEY[: s.key_length], _RECORD_KEY[: s.fixed_iv_length])
        for s in TLS12_SUITES.values()
    ]
    return out


@st.composite
def record_streams(draw: st.DrawFn) -> tuple[int, list[bytes]]:
    """Records (some sealed under the protection the reader will use), cut into chunks."""
    which = draw(st.integers(0, len(_protections()) - 1))
    sealer = _protections()[which]
    stream = b""
    for _ in range(draw(st.integers(1, 4))):
        ctype = draw(st.one_of(st.sampled_from([20, 21, 22, 23]), u8))
        payload = draw(
            st.one_of(st.binary(max_size=40), st.just(bytes(2**14 + draw(st.integers(0, 2)))))
        )
        if sealer is not None and draw(st.booleans()):
            stream += sealer.seal(ctype, payload)
        else:
            stream += record(ctype, payload)
    stream = draw(mutated(st.just(stream)))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return which, chunks


def _record_layer(case: tuple[int, list[bytes]]) -> None:
    which, chunks = case
    layer = RecordLayer()
    layer.read_protection = _protections()[which]
    try:
        for chunk in chunks:
            layer.feed(chunk)
            while layer.next_record() is not None:
                pass
    except TLSError:
        pass


# -- whole connections -------------------------------------------------------------------------


def _assert_no_internal_error(conn: ClientConnection | ServerConnection) -> None:
    if isinstance(conn.error, InternalError):
        raise AssertionError(f"internal_error: {conn.error}") from conn.error.__cause__


def _feed_all(conn: ClientConnection | ServerConnection, chunks: list[bytes]) -> None:
    for chunk in chunks:
        conn.receive_data(chunk)  # never raises
        if isinstance(conn, ClientConnection):
            while conn.awaiting_certificate_decision:
                conn.accept_certificate()
        if conn.closed:
            break
    _assert_no_internal_error(conn)


@functools.cache
def _genuine_client_hellos() -> tuple[bytes, ...]:
    """Our client's ClientHellos (records) for a few configurations, as starting points."""
    from tests.tls.tlshelpers import HOST, counter_entropy
    from tlssim.tls import ClientConfig

    configs: list[dict[str, Any]] = [
        {},
        {"versions": (ProtocolVersion.TLSv1_2,)},
        {"versions": (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)},
        {"key_share_groups": (NamedGroup.secp256r1,)},
    ]
    out = []
    for kw in configs:
        client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy(), **kw))
        client.start()
        out.append(client.data_to_send())
    return tuple(out)


@st.composite
def client_hello_records(draw: st.DrawFn) -> list[bytes]:
    """A genuine ClientHello with structural edits (suites, extensions), then byte edits."""
    genuine = draw(st.sampled_from(_genuine_client_hellos()))
    hello = ClientHello.parse(genuine[9:])
    exts = list(hello.extensions)
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.integers(0, 3))
        if op == 0 and exts:
            exts.pop(draw(st.integers(0, len(exts) - 1)))
        elif op == 1:
            exts.insert(draw(st.integers(0, len(exts))), draw(extension()))
        elif op == 2 and exts:
            i = draw(st.integers(0, len(exts) - 1))
            exts[i] = Extension(exts[i].type, draw(mutated(st.just(exts[i].data))))
        elif exts:
            exts.append(exts[draw(st.integers(0, len(exts) - 1))])
    suites_now = hello.cipher_suites
    if draw(st.booleans()):
        suites_now = tuple(draw(st.lists(suites, max_size=6)))
    edited = ClientHello(
        legacy_version=draw(st.one_of(st.just(hello.legacy_version), versions)),
        random=hello.random,
        legacy_session_id=hello.legacy_session_id,
        cipher_suites=suites_now,
        legacy_compression_methods=hello.legacy_compression_methods,
        extensions=tuple(exts),
    ).serialize()
    data = draw(mutated(st.just(record(HANDSHAKE, edited))))
    data += draw(
        st.one_of(st.just(b""), st.binary(max_size=20), st.just(b"\x14\x03\x03\x00\x01\x01"))
    )
    cut = draw(st.integers(0, len(data)))
    return [data[:cut], data[cut:], b""]


def _server_engine(chunks: list[bytes]) -> None:
    from tests.tls.tlshelpers import counter_entropy, multi_selector, pki
    from tlssim.tls import ServerConfig, SessionCache

    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=multi_selector(pki().keys["ecdsa"], pki().keys["rsa"]),
            session_cache=SessionCache(),
            ticket_key=bytes(32),
        )
    )
    _feed_all(server, chunks)


@functools.cache
def _flight13() -> Server13:
    return Server13()


@functools.cache
def _flight12() -> Server12:
    return Server12()


@st.composite
def server_flights13(draw: st.DrawFn) -> tuple[list[bytes], int]:
    """The genuine TLS 1.3 flight with one message edited (structurally or by bytes)."""
    messages = list(_flight13().messages)
    index = draw(st.integers(0, len(messages) - 1))
    msg = messages[index]
    replacement = draw(
        st.one_of(
            mutated(st.just(msg)),
            st.builds(
                lambda t, b: bytes([t]) + len(b).to_bytes(3, "big") + b,
                st.sampled_from(list(HandshakeType)),
                mutated(st.just(msg[4:])),
            ),
            server_hellos.map(lambda m: m.serialize())
            if index == 0
            else st.builds(
                lambda e: EncryptedExtensions(extensions=e).serialize(), extension_lists
            ),
        )
    )
    messages[index] = replacement
    return messages, draw(st.integers(0, 2))


def _client_engine13(case: tuple[list[bytes], int]) -> None:
    messages, split = case
    script = _flight13().again()
    sh, *rest = messages
    if split == 0:
        data = record(HANDSHAKE, sh) + script.seal(b"".join(rest))
    elif split == 1:
        data = record(HANDSHAKE, sh) + b"".join(script.seal(m) for m in rest)
    else:
        data = record(HANDSHAKE, sh + b"".join(rest))
    _feed_all(script.client, [data, b""])


@st.composite
def server_flights12(draw: st.DrawFn) -> list[bytes]:
    messages = list(_flight12().messages)
    index = draw(st.integers(0, len(messages) - 1))
    messages[index] = draw(mutated(st.just(messages[index])))
    data = record(HANDSHAKE, b"".join(messages))
    cut = draw(st.integers(0, len(data)))
    return [data[:cut], data[cut:], draw(st.binary(max_size=30)), b""]


def _client_engine12(chunks: list[bytes]) -> None:
    client = make_client({"versions": (ProtocolVersion.TLSv1_2,)})
    client.start()
    _feed_all(client, chunks)


# -- the PKI's parsers -------------------------------------------------------------------------

_NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@functools.cache
def _authority() -> Authority:
    directory = Path(tempfile.mkdtemp(prefix="tlssim-fuzz-ca-"))
    return Authority.open(directory / "ca", FixedClock(_NOW))


@functools.cache
def _csr_key() -> ed25519.Ed25519PrivateKey:
    """Ed25519 signs deterministically, so a failing CSR shrinks reproducibly."""
    return ed25519.Ed25519PrivateKey.generate()


_NAME_OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.COUNTRY_NAME,
    NameOID.EMAIL_ADDRESS,
    NameOID.SERIAL_NUMBER,
]
_text = st.text(st.characters(min_codepoint=1, max_codepoint=0x7FF), min_size=1, max_size=30)
_dnsish = st.one_of(
    st.from_regex(r"[a-z0-9*]{1,10}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
    _text,
    st.sampled_from(["127.0.0.1", "::1", "256.1.1.1", "", " ", "a..b", "-x.test"]),
)


@st.composite
def csrs(draw: st.DrawFn) -> tuple[bytes, str]:
    """A signed CSR with odd names and SANs, sometimes byte-mutated; and a profile name."""
    attributes = []
    for oid in draw(st.lists(st.sampled_from(_NAME_OIDS), max_size=3)):
        value = draw(_dnsish if oid == NameOID.COMMON_NAME else _text)
        try:
            attributes.append(x509.NameAttribute(oid, value))
        except ValueError:
            continue
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    sans: list[x509.GeneralName] = []
    for kind, value in draw(st.lists(st.tuples(st.integers(0, 2), _dnsish), max_size=3)):
        try:
            if kind == 0:
                sans.append(x509.DNSName(value))
            elif kind == 1:
                sans.append(x509.RFC822Name(value))
            else:
                sans.append(x509.UniformResourceIdentifier(value))
        except ValueError:
            continue
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    try:
        der = builder.sign(_csr_key(), None).public_bytes(serialization.Encoding.DER)
    except (ValueError, TypeError, UnicodeError):
        der = b"\x30\x00"
    der = draw(st.one_of(st.just(der), mutated(st.just(der))))
    profile = draw(
        st.one_of(st.sampled_from(["server", "must-staple", "ocsp-responder", "revoked"]), _text)
    )
    return der, profile


def _issue(case: tuple[bytes, str]) -> None:
    der, profile = case
    _tolerating(PkiError, lambda: _authority().issue(der, profile))


@functools.cache
def _responder() -> tuple[OcspResponder, x509.Certificate]:
    authority = _authority()
    issuer = authority.ca("intermediate")
    served = ServedIssuer.create(issuer.certificate, issuer.certificate, issuer.private_key)

    def lookup(_issuer: x509.Certificate, serial: int) -> StatusRecord:
        if serial % 2:
            return StatusRecord(CertStatus.REVOKED, _NOW, x509.ReasonFlags.key_compromise)
        return StatusRecord(CertStatus.GOOD)

    return OcspResponder([served], lookup, FixedClock(_NOW)), issuer.certificate


@st.composite
def ocsp_requests(draw: st.DrawFn) -> bytes:
    """An OCSP request by hash for our issuer or another, with a nonce, then byte edits."""
    _, issuer = _responder()
    algorithm = draw(
        st.sampled_from([hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
    )
    name_hash = draw(st.binary(min_size=algorithm.digest_size, max_size=algorithm.digest_size))
    key_hash = draw(st.binary(min_size=algorithm.digest_size, max_size=algorithm.digest_size))
    if draw(st.booleans()):
        from tlssim.pki.ocsp_responder import cert_id_hashes

        name_hash, key_hash = cert_id_hashes(issuer, algorithm)
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash, key_hash, draw(st.integers(1, 2**159)), algorithm
    )
    if draw(st.booleans()):
        builder = builder.add_extension(
            x509.OCSPNonce(draw(st.binary(min_size=1, max_size=40))), critical=False
        )
    der = builder.build().public_bytes(serialization.Encoding.DER)
    return draw(st.one_of(st.just(der), mutated(st.just(der)), st.binary(max_size=40)))


def _ocsp(request_der: bytes) -> None:
    responder, _ = _responder()
    reply = responder.respond(request_der)
    assert isinstance(reply, OcspReply) and reply.der


def _tickets(case: tuple[bytes, bytes]) -> None:
    key, ticket = case
    open_ticket(key, ticket)


# -- the list ----------------------------------------------------------------------------------

TARGETS: dict[str, Target] = {
    **{f"message:{name}": _message_target(name) for name in MESSAGES},
    "extensions:decoders": Target("extensions:decoders", mutated(_all_bodies), _extension_decoders),
    "extensions:client_hello": Target(
        "extensions:client_hello", extension_lists, _hello_extensions
    ),
    "record:layer": Target("record:layer", record_streams(), _record_layer),
    "engine:server": Target("engine:server", client_hello_records(), _server_engine),
    "engine:client13": Target("engine:client13", server_flights13(), _client_engine13),
    "engine:client12": Target("engine:client12", server_flights12(), _client_engine12),
    "tickets:open": Target(
        "tickets:open", st.tuples(st.just(bytes(32)), st.binary(max_size=80)), _tickets
    ),
    "pki:ocsp_request": Target("pki:ocsp_request", ocsp_requests(), _ocsp),
    "pki:csr": Target("pki:csr", csrs(), _issue),
}
