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
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.pki import pki_targets
from tests.fuzz.strategies import (
    EXTENSION_BODIES,
    MESSAGES,
    extension,
    extension_lists,
    mutated,
    server_hellos,
    suites,
    u8,
    versions,
)
from tests.tls.hostile import HANDSHAKE, Server12, Server13, make_client, record
from tlssim.tls import (
    ClientConnection,
    HandshakeType,
    InternalError,
    NamedGroup,
    ProtocolVersion,
    ServerConnection,
    TLSError,
)
from tlssim.tls import extensions as ext
from tlssim.tls.extensions import Extension
from tlssim.tls.hello_extensions import decode_hello_extensions
from tlssim.tls.keyschedule import TLS13_SUITES
from tlssim.tls.messages import (
    ClientHello,
    EncryptedExtensions,
    parse_alert,
)
from tlssim.tls.record import RecordLayer, RecordProtection, Tls12RecordProtection
from tlssim.tls.tickets import OfferedPsks, decode_psk_modes, open_ticket
from tlssim.tls.tls12 import TLS12_SUITES

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
    **{name: Target(name, strategy, check) for name, strategy, check in pki_targets()},
}
