"""Malformed, oversized, tampered and unexpected input: always the right alert, never a raise."""

from __future__ import annotations

import random

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    ClientConnection,
    ProtocolVersion,
    ServerConnection,
    State,
    events,
)
from tlssim.tls.extensions import Extension
from tlssim.tls.messages import ClientHello

from .tlshelpers import counter_entropy, make_pair, of_type, pump


def fatal(desc: AlertDescription) -> list[events.Event]:
    return [events.AlertSent(AlertLevel.fatal, desc), events.ConnectionClosed()]


def plaintext_alert(desc: AlertDescription) -> bytes:
    return bytes([21, 3, 3, 0, 2, 2, desc])


def connected_pair() -> tuple[ClientConnection, ServerConnection]:
    client, server = make_pair()
    client.start()
    pump(client, server)
    assert client.state is State.CONNECTED and server.state is State.CONNECTED
    return client, server


def test_garbage_bytes() -> None:
    _, server = make_pair()
    assert server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == fatal(
        AlertDescription.unexpected_message
    )
    assert server.data_to_send() == plaintext_alert(AlertDescription.unexpected_message)
    assert server.state is State.CLOSED
    assert server.receive_data(b"more") == []  # closed: ignores everything after


def test_truncated_record_then_eof() -> None:
    client, server = make_pair()
    client.start()
    record = client.data_to_send()
    assert server.receive_data(record[:20]) == []  # just waits for the rest
    assert server.receive_data(b"") == fatal(AlertDescription.decode_error)


def test_truncated_handshake_body_inside_record() -> None:
    client, server = make_pair()
    client.start()
    record = bytearray(client.data_to_send())
    # shorten the ClientHello's extensions block: the inner vectors no longer add up
    body_len = int.from_bytes(record[6:9], "big")
    cut = bytes(record[5:9]) + bytes(record[9 : 9 + body_len - 10])
    cut = bytes([1]) + (len(cut) - 4).to_bytes(3, "big") + cut[4:]
    bad = bytes([22, 3, 1]) + len(cut).to_bytes(2, "big") + cut
    assert server.receive_data(bad) == fatal(AlertDescription.decode_error)


def test_oversized_plaintext_record() -> None:
    _, server = make_pair()
    header = bytes([22, 3, 3]) + (2**14 + 1).to_bytes(2, "big")
    assert server.receive_data(header) == fatal(AlertDescription.record_overflow)
    assert server.data_to_send() == plaintext_alert(AlertDescription.record_overflow)


def test_oversized_encrypted_record_after_handshake() -> None:
    client, server = connected_pair()
    header = bytes([23, 3, 3]) + (2**14 + 257).to_bytes(2, "big")
    assert client.receive_data(header + bytes(100)) == fatal(AlertDescription.record_overflow)
    # the alert is encrypted under the client's application key: the server reads it
    sev = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.record_overflow) in sev


def test_flipped_ciphertext_bit_is_bad_record_mac() -> None:
    client, server = connected_pair()
    server.send_application_data(b"hello")
    record = bytearray(server.data_to_send())
    record[10] ^= 0x01
    assert client.receive_data(bytes(record)) == fatal(AlertDescription.bad_record_mac)
    sev = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.bad_record_mac) in sev


def test_flipped_bit_in_server_flight() -> None:
    client, server = make_pair()
    client.start()
    server.receive_data(client.data_to_send())
    flight = bytearray(server.data_to_send())
    flight[-3] ^= 0x80  # inside the encrypted EE..Finished record
    evs = client.receive_data(bytes(flight))
    assert evs[-2:] == fatal(AlertDescription.bad_record_mac)


def test_unexpected_message_first() -> None:
    _, server = make_pair()
    finished = bytes([20, 0, 0, 32]) + bytes(32)
    rec = bytes([22, 3, 3, 0, len(finished)]) + finished
    assert server.receive_data(rec) == fatal(AlertDescription.unexpected_message)


def test_client_hello_sent_to_a_client() -> None:
    client, _other = make_pair()
    client.start()
    other_client, _ = make_pair()
    other_client.start()
    assert client.receive_data(other_client.data_to_send()) == fatal(
        AlertDescription.unexpected_message
    )


def test_application_data_before_keys() -> None:
    _, server = make_pair()
    assert server.receive_data(bytes([23, 3, 3, 0, 1, 0])) == fatal(
        AlertDescription.unexpected_message
    )


def test_empty_and_all_padding_records() -> None:
    _, server = make_pair()
    assert server.receive_data(bytes([22, 3, 3, 0, 0])) == fatal(
        AlertDescription.unexpected_message
    )


def test_malformed_alert() -> None:
    _, server = make_pair()
    assert server.receive_data(bytes([21, 3, 3, 0, 3, 2, 40, 0])) == fatal(
        AlertDescription.decode_error
    )


def _hello(**kw: object) -> bytes:
    ch = ClientHello(random=bytes(32), cipher_suites=(0x1301,), **kw)  # type: ignore[arg-type]
    raw = ch.serialize()
    return bytes([22, 3, 1]) + len(raw).to_bytes(2, "big") + raw


def test_client_hello_without_supported_versions_is_protocol_version() -> None:
    _, server = make_pair(server_kw={"versions": (ProtocolVersion.TLSv1_3,)})
    assert server.receive_data(_hello()) == fatal(AlertDescription.protocol_version)


def test_tls12_client_hello_with_only_tls13_suites_is_handshake_failure() -> None:
    _, server = make_pair()  # TLS 1.3 and 1.2: without supported_versions this is TLS 1.2
    evs = server.receive_data(_hello())
    assert evs[-2:] == fatal(AlertDescription.handshake_failure)


def test_tls11_client_hello_is_protocol_version() -> None:
    _, server = make_pair()
    assert server.receive_data(_hello(legacy_version=0x0302)) == fatal(
        AlertDescription.protocol_version
    )


def test_client_hello_without_key_share_is_missing_extension() -> None:
    _, server = make_pair()
    exts = (Extension(43, b"\x02\x03\x04"),)
    assert server.receive_data(_hello(extensions=exts)) == fatal(AlertDescription.missing_extension)


def test_duplicate_extension_is_illegal_parameter() -> None:
    _, server = make_pair()
    exts = (Extension(43, b"\x02\x03\x04"), Extension(43, b"\x02\x03\x04"))
    assert server.receive_data(_hello(extensions=exts)) == fatal(AlertDescription.illegal_parameter)


def test_bad_x25519_share_is_illegal_parameter() -> None:
    _, server = make_pair()
    exts = (
        Extension(43, b"\x02\x03\x04"),
        Extension(10, b"\x00\x02\x00\x1d"),
        Extension(13, b"\x00\x02\x04\x03"),
        Extension(51, b"\x00\x07\x00\x1d\x00\x03abc"),
    )
    evs = server.receive_data(_hello(extensions=exts))
    assert isinstance(evs[0], events.HandshakeMessageReceived)
    assert evs[1:] == fatal(AlertDescription.illegal_parameter)


def test_tampered_client_finished_is_decrypt_error() -> None:
    client, server = make_pair()
    client.start()
    server.receive_data(client.data_to_send())
    secrets = of_type(client.receive_data(server.data_to_send()), events.SecretDerived)
    client.accept_certificate()
    # replace the Finished: re-encrypt a wrong verify_data under the client handshake key
    client_hs = next(e.secret for e in secrets if e.label == "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
    from tlssim.tls.keyschedule import TLS13_SUITES
    from tlssim.tls.record import RecordProtection

    assert client.negotiated is not None
    prot = RecordProtection(TLS13_SUITES[client.negotiated.cipher_suite], client_hs)
    bad = prot.seal(22, bytes([20, 0, 0, 32]) + bytes(32))
    evs = server.receive_data(bad)
    assert evs == fatal(AlertDescription.decrypt_error)


def test_change_cipher_spec_ignored_once_but_not_after_handshake() -> None:
    client, _server = connected_pair()
    assert client.receive_data(bytes([20, 3, 3, 0, 1, 1])) == fatal(
        AlertDescription.unexpected_message
    )


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_flights_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        client, server = make_pair()
        client.start()
        ch = bytearray(client.data_to_send())
        sev = server.receive_data(bytes(ch))
        flight = bytearray(server.data_to_send())
        target = rng.choice(["ch", "flight"])
        if target == "ch":
            _, server2 = make_pair()
            ch[rng.randrange(len(ch))] ^= 1 << rng.randrange(8)
            sev = server2.receive_data(bytes(ch))
            assert all(isinstance(e, events.Event) for e in sev)
        else:
            flight[rng.randrange(len(flight))] ^= 1 << rng.randrange(8)
            evs = client.receive_data(bytes(flight))
            if client.awaiting_certificate_decision:
                evs += client.accept_certificate()
            assert all(isinstance(e, events.Event) for e in evs)
        assert sev is not None


def test_random_garbage_never_raises() -> None:
    rng = random.Random(7)
    for _ in range(200):
        _, server = make_pair()
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        evs = server.receive_data(data) + server.receive_data(b"")
        assert evs, "garbage then EOF always ends the connection"
        assert isinstance(evs[-1], events.ConnectionClosed)
    assert of_type([], events.Event) == []
    assert counter_entropy()(3) != counter_entropy(b"x")(3)
