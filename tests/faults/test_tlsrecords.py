"""The record parser, the selector and the hello rewrites, on hand-built records."""

from __future__ import annotations

import pytest

from tlssim.faults import BadRequestError, ToxicSpec
from tlssim.faults.tlsrecords import (
    HelloRewriteError,
    Record,
    RecordParser,
    Selector,
    remove_tls13,
    replace_certificate,
    tamper_hello_field,
)
from tlssim.tls import ContentType, HandshakeType


def record(content_type: int, body: bytes) -> bytes:
    return bytes([content_type, 3, 3]) + len(body).to_bytes(2, "big") + body


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def ext(ext_type: int, data: bytes) -> bytes:
    return ext_type.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


def client_hello(versions: list[int], extra: bytes = b"") -> bytes:
    supported = bytes([2 * len(versions)]) + b"".join(v.to_bytes(2, "big") for v in versions)
    extensions = ext(0, b"\x00\x05\x00\x00\x02ab") + ext(43, supported) + ext(51, b"\x00\x00")
    body = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x20"
        + b"s" * 32
        + b"\x00\x04\x13\x01\x13\x02"
        + b"\x01\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return record(ContentType.handshake, handshake(HandshakeType.client_hello, body) + extra)


CH = client_hello([0x0304, 0x0303])
CCS = record(ContentType.change_cipher_spec, b"\x01")
APP = record(ContentType.application_data, b"\xaa" * 40)
SH = record(
    ContentType.handshake,
    handshake(HandshakeType.server_hello, b"\x03\x03" + b"r" * 32 + b"\x00\x13\x01\x00\x00\x00"),
)


def test_split_and_coalesced_records_come_out_whole() -> None:
    stream = CH + CCS + APP + APP
    for cut in (1, 3, 5, 7, 50, len(CH), len(CH) + 2, len(stream) - 1):
        parser = RecordParser()
        first, rest1 = parser.feed(stream[:cut])
        second, rest2 = parser.feed(stream[cut:])
        assert rest1 == rest2 == b""
        assert [r.raw for r in first + second] == [CH, CCS, APP, APP]
        assert parser.pending == 0
    parser = RecordParser()
    records = []
    for i in range(len(stream)):  # one byte at a time
        records += parser.feed(stream[i : i + 1])[0]
    assert b"".join(r.raw for r in records) == stream


def test_non_tls_bytes_pass_through() -> None:
    parser = RecordParser()
    records, rest = parser.feed(CCS + b"GET / HTTP/1.1\r\n")
    assert [r.raw for r in records] == [CCS]
    assert rest == b"GET / HTTP/1.1\r\n"
    assert parser.feed(APP) == ([], APP)  # stays in pass-through mode


def test_partial_record_is_flushed_at_the_end() -> None:
    parser = RecordParser()
    assert parser.feed(APP[:10]) == ([], b"")
    assert parser.flush() == APP[:10]


def test_selection_by_content_and_handshake_type() -> None:
    parser = RecordParser()
    records, _ = parser.feed(CH + SH + CCS + record(ContentType.handshake, b"\x14garbage") + APP)
    ch, sh, ccs, enc_hs, app = records
    assert ch.handshake_type == HandshakeType.client_hello
    assert sh.handshake_type == HandshakeType.server_hello
    assert enc_hs.encrypted and enc_hs.handshake_type is None  # after CCS: TLS 1.2 Finished
    assert app.encrypted
    assert Selector.parse("handshake", "").matches(enc_hs)
    assert Selector.parse("handshake", "server_hello").matches(sh)
    assert not Selector.parse("handshake", "server_hello").matches(ch)
    assert Selector.parse("", "finished").content_type == ContentType.handshake
    assert not Selector.parse("", "finished").matches(enc_hs)
    assert Selector.parse(23, "").matches(app)
    assert Selector.parse("23", "").matches(app)
    assert Selector.parse("any", "").matches(ccs)
    with pytest.raises(BadRequestError):
        Selector.parse("handshak", "")
    with pytest.raises(BadRequestError):
        Selector.parse("handshake", "client_helo")


def test_remove_tls13_fixes_every_length() -> None:
    out = remove_tls13(Record(CH, False))
    assert out.raw == client_hello([0x0303])
    only13 = client_hello([0x0304])
    stripped = remove_tls13(Record(only13, False)).raw
    assert b"\x00\x2b" not in stripped[-20:]
    assert len(stripped) == len(only13) - 7  # 4 header + 1 length + 2 version
    parsed, _ = RecordParser().feed(stripped)
    assert parsed[0].handshake_type == HandshakeType.client_hello


def test_remove_tls13_keeps_trailing_messages() -> None:
    trailer = handshake(HandshakeType.finished, b"f" * 8)
    out = remove_tls13(Record(client_hello([0x0304, 0x0303], trailer), False))
    assert out.raw.endswith(trailer)
    assert out.raw == client_hello([0x0303], trailer)


def test_tamper_hello_fields() -> None:
    sh = Record(SH, False)
    assert tamper_hello_field(sh, "cipher_suite", 0x1302, 1).raw == SH.replace(
        b"\x00\x13\x01", b"\x00\x13\x02"
    )
    assert tamper_hello_field(sh, "legacy_version", None, 1).raw[9:11] == b"\x03\x02"
    assert tamper_hello_field(sh, "random", None, 0xFF).raw[11] == ord("r") ^ 0xFF
    ch = tamper_hello_field(Record(CH, False), "cipher_suite", 0x00FF, 1).raw
    assert b"\x00\x04\x00\xff\x13\x02" in ch


def test_tls_toxic_attributes_validate() -> None:
    spec = ToxicSpec.from_json(
        {"type": "tls_drop", "attributes": {"content_type": 22, "handshake_type": "server_hello"}}
    )
    assert spec.attributes["handshake_type"] == "server_hello"
    assert spec.attributes["index"] == 0
    tamper = ToxicSpec.from_json({"type": "tls_tamper", "attributes": {"flip_byte": -3}})
    assert tamper.attributes["flip_byte"] == -3
    assert tamper.attributes["xor"] == 1
    for bad in (
        {"type": "tls_drop", "attributes": {"content_type": "nope"}},
        {"type": "tls_drop", "attributes": {"index": -1}},
        {"type": "tls_tamper", "attributes": {"field": "session_id"}},
        {"type": "tls_tamper", "attributes": {"xor": 300}},
        {"type": "tls_replay", "attributes": {"replay_handshake_type": "hello"}},
    ):
        with pytest.raises(BadRequestError):
            ToxicSpec.from_json(bad)


def certificate_message(*ders: bytes) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return handshake(HandshakeType.certificate, len(entries).to_bytes(3, "big") + entries)


def test_replace_certificate_swaps_the_chain_and_keeps_the_rest() -> None:
    hello = handshake(HandshakeType.server_hello, b"\x03\x03" + b"r" * 32 + b"\x00\x13\x01\x00")
    done = handshake(HandshakeType.server_hello_done, b"")
    flight = record(ContentType.handshake, hello + certificate_message(b"A" * 300) + done)
    swapped = replace_certificate(Record(flight, False), [b"B" * 120, b"C" * 80])
    expected = record(
        ContentType.handshake, hello + certificate_message(b"B" * 120, b"C" * 80) + done
    )
    assert swapped.raw == expected


def test_replace_certificate_needs_a_certificate_message() -> None:
    with pytest.raises(HelloRewriteError):
        replace_certificate(Record(SH, False), [b"B"])
    with pytest.raises(HelloRewriteError):
        replace_certificate(Record(APP, True), [b"B"])
