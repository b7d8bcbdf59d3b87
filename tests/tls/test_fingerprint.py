"""The ClientHello fingerprint: the stable parts of a client's offer, without GREASE, the
random or key shares; order kept. Taken of real ClientHellos (OpenSSL's, through Python's
ssl, and our engine's) and of one with GREASE put in every list."""

from __future__ import annotations

import contextlib
import os
import ssl
from dataclasses import replace

from tlssim.tls.constants import ExtensionType
from tlssim.tls.extensions import Extension
from tlssim.tls.fingerprint import client_hello_in, fingerprint, is_grease
from tlssim.tls.messages import ClientHello
from tlssim.tls.wire import Reader, Writer

from .tlshelpers import make_pair

GREASE = (0x0A0A, 0x3A3A, 0xFAFA)


def openssl_first_flight(alpn: tuple[str, ...] = (), **options: object) -> bytes:
    """The records Python's ssl (OpenSSL) sends first, through memory BIOs."""
    ctx = ssl.create_default_context()
    for name, value in options.items():
        setattr(ctx, name, value)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="valid.tlssim.test")
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the ServerHello
        conn.do_handshake()
    return outgoing.read()


def openssl_hello(alpn: tuple[str, ...] = (), **options: object) -> ClientHello:
    hello = client_hello_in(openssl_first_flight(alpn, **options))
    assert hello is not None
    return hello


def _list(values: tuple[int, ...], length_size: int) -> bytes:
    w = Writer()
    w.uint16_list(length_size, values)
    return w.getvalue()


def greased(hello: ClientHello) -> ClientHello:
    """`hello` as Chrome would send it: GREASE in the suites, the extensions, the groups,
    the signature algorithms and the versions (RFC 8701)."""
    lists: dict[int, int] = {
        ExtensionType.supported_groups: 2,
        ExtensionType.signature_algorithms: 2,
        ExtensionType.supported_versions: 1,
    }
    extensions = [Extension(GREASE[0], b"")]
    for ext in hello.extensions:
        if ext.type in lists:
            size = lists[ext.type]
            values = client_values(ext.data, size)
            extensions.append(Extension(ext.type, _list((GREASE[1], *values), size)))
        else:
            extensions.append(ext)
    extensions.append(Extension(GREASE[2], b"\x00"))
    return replace(
        hello,
        cipher_suites=(GREASE[2], *hello.cipher_suites),
        extensions=tuple(extensions),
    )


def client_values(data: bytes, length_size: int) -> tuple[int, ...]:
    return Reader(data).uint16_list(length_size)


def test_grease_values_are_recognised() -> None:
    assert all(is_grease(v) for v in (0x0A0A, 0x1A1A, 0xAAAA, 0xFAFA))
    assert not any(is_grease(v) for v in (0x0A1A, 0x1301, 0x001D, 0x0B0B, 0xABAB))


def test_grease_is_ignored_everywhere() -> None:
    hello = openssl_hello()
    with_grease = greased(hello)
    assert with_grease.cipher_suites != hello.cipher_suites
    assert fingerprint(with_grease) == fingerprint(hello)
    assert fingerprint(with_grease).digest == fingerprint(hello).digest


def test_random_session_id_and_key_shares_change_nothing() -> None:
    first, second = openssl_hello(), openssl_hello()
    assert first.random != second.random  # two connections, two randoms and key shares
    shares = {e.type: e.data for e in first.extensions}[ExtensionType.key_share]
    assert shares != {e.type: e.data for e in second.extensions}[ExtensionType.key_share]
    assert fingerprint(first) == fingerprint(second)


def test_order_is_kept() -> None:
    hello = openssl_hello()
    found = fingerprint(hello)
    assert found.extensions == tuple(e.type for e in hello.extensions)
    assert found.cipher_suites == hello.cipher_suites
    swapped = replace(hello, cipher_suites=(hello.cipher_suites[1], hello.cipher_suites[0]))
    assert fingerprint(swapped).digest != found.digest
    turned = replace(hello, extensions=tuple(reversed(hello.extensions)))
    assert fingerprint(turned).digest != found.digest


def test_the_offer_shows_in_each_field() -> None:
    found = fingerprint(openssl_hello())
    assert found.legacy_version == 0x0303
    assert 0x0304 in found.versions and 0x001D in found.groups  # TLS 1.3, x25519
    assert 0x0403 in found.signature_algorithms  # ecdsa_secp256r1_sha256
    assert found.alpn == ()
    only12 = fingerprint(openssl_hello(maximum_version=ssl.TLSVersion.TLSv1_2))
    assert 0x0304 not in only12.versions and only12.digest != found.digest
    assert found.text.split(",")[0] == "771"


def test_alpn_names_are_part_of_it() -> None:
    found = fingerprint(openssl_hello(("h2", "http/1.1")))
    assert found.alpn == ("h2", "http/1.1")
    assert found.digest != fingerprint(openssl_hello()).digest


def test_a_hello_split_across_records_is_put_back_together() -> None:
    flight = openssl_first_flight()
    body = flight[5:]
    split = b"".join(
        bytes([22, 3, 1]) + len(part).to_bytes(2, "big") + part
        for part in (body[:40], body[40:90], body[90:])
    )
    assert client_hello_in(split) == client_hello_in(flight)
    assert client_hello_in(split[:-1]) is None  # not all there yet
    assert client_hello_in(bytes([23, 3, 3, 0, 1, 0])) is None  # not a handshake record
    assert client_hello_in(os.urandom(3)) is None


def test_our_own_client_says_it_is_ours() -> None:
    for ask in (True, False):
        client, _ = make_pair(client_kw={"ask_replica": ask})
        client.start()
        hello = client_hello_in(client.data_to_send())
        assert hello is not None
        assert fingerprint(hello).from_tlssim is ask
    assert not fingerprint(openssl_hello()).from_tlssim


def test_an_extension_body_that_does_not_parse_counts_as_empty() -> None:
    hello = openssl_hello()
    broken = replace(
        hello,
        extensions=tuple(
            Extension(e.type, b"\x00\x05\x00") if e.type == ExtensionType.supported_groups else e
            for e in hello.extensions
        ),
    )
    assert fingerprint(broken).groups == ()
    assert fingerprint(broken).extensions == fingerprint(hello).extensions
