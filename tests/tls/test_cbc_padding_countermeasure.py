"""Lucky Thirteen and POODLE: a CBC record's padding never gets an answer of its own.

MAC-then-encrypt puts the padding outside the MAC, so a receiver must decrypt and look at
the padding before it can check the MAC. If a bad padding were answered differently (its
own alert, as SSL 3.0 and early TLS did: POODLE, Vaudenay's padding oracle) or took less
work (Lucky Thirteen: a shorter MAC computation when the padding is bad or long), an
attacker who tampers with records learns plaintext byte by byte. So, as for the RSA
premaster (test_tls12_rsa_countermeasure.py): the same handler runs for a good and a bad
padding, the alert is bad_record_mac either way with the same message, and the MAC
computation takes the same number of bytes whatever the padding says.
"""

from __future__ import annotations

import hmac

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConnection,
    ProtocolVersion,
    ServerConnection,
    events,
)
from tlssim.tls.errors import BadRecordMac
from tlssim.tls.record import Tls12CbcProtection
from tlssim.tls.tls12 import LEGACY_SUITES, KeyBlock, key_block

from .tlshelpers import make_pair, of_type, pump

SUITE = LEGACY_SUITES[CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA]
SEQ = 1  # the client's Finished took sequence number 0
CONTENT = b"GET / HTTP/1.1\r\n" * 3  # 48 bytes: with a 20-byte MAC, 68; padding 12 bytes


def _connected(version: ProtocolVersion) -> tuple[ClientConnection, ServerConnection, KeyBlock]:
    """A MAC-then-encrypt connection and its key block, recomputed from the key log."""
    client, server = make_pair(
        "rsa",
        client_kw={
            "versions": (version,),
            "cipher_suites": (SUITE.suite,),
            "encrypt_then_mac": False,
        },
        server_kw={"versions": (version,), "cipher_suites": (SUITE.suite,)},
    )
    client.start()
    cev, _ = pump(client, server)
    assert of_type(cev, events.HandshakeComplete)
    secret = of_type(cev, events.SecretDerived)[0]
    hello = next(
        e for e in cev if isinstance(e, events.HandshakeMessageReceived) and e.name == "ServerHello"
    )
    assert hello.fields["encrypt_then_mac"] is False
    server_random = bytes.fromhex(str(hello.fields["random"]))
    kb = key_block(SUITE, secret.secret, secret.client_random, server_random, version)
    return client, server, kb


def _record(kb: KeyBlock, plain: bytes, mac_ok: bool, padding: bytes) -> bytes:
    """An application_data record of ``plain`` + MAC + ``padding`` (explicit IV, TLS 1.2)."""
    header = SEQ.to_bytes(8, "big") + bytes([23, 3, 3]) + len(plain).to_bytes(2, "big")
    mac = hmac.digest(kb.client_write_mac_key, header + plain, "sha1")
    if not mac_ok:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    iv = bytes(range(16))
    data = plain + mac + padding
    assert len(data) % 16 == 0
    enc = Cipher(algorithms.AES(kb.client_write_key), modes.CBC(iv)).encryptor()
    body = iv + enc.update(data) + enc.finalize()
    return bytes([23, 3, 3]) + len(body).to_bytes(2, "big") + body


GOOD_PADDING = bytes([11]) * 12
#: Each case: (MAC right, padding). Every bad one must look like every other.
CASES = {
    "good": (True, GOOD_PADDING),
    "bad_mac": (False, GOOD_PADDING),
    "bad_padding_byte": (True, bytes([11]) * 5 + b"\x00" + bytes([11]) * 6),
    "padding_length_too_long": (True, bytes([200]) * 12),
    # POODLE: the last byte says "no padding", the rest is garbage SSL 3.0 never checked
    "poodle_garbage_padding": (True, b"\xaa" * 11 + b"\x00"),
    "padding_into_the_mac": (True, bytes([31]) * 12),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tampered_padding_and_mac_get_the_same_alert(case: str) -> None:
    _, server, kb = _connected(ProtocolVersion.TLSv1_2)
    mac_ok, padding = CASES[case]
    sev = server.receive_data(_record(kb, CONTENT, mac_ok, padding))
    if case == "good":
        assert of_type(sev, events.ApplicationDataReceived) == [
            events.ApplicationDataReceived(CONTENT)
        ]
        return
    assert of_type(sev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.bad_record_mac)
    ]
    closed = of_type(sev, events.ConnectionClosed)
    assert len(closed) == 1 and closed[0].error is not None
    assert str(closed[0].error) == "record failed authentication"


def _work(kb: KeyBlock, mac_ok: bool, padding: bytes) -> tuple[str, int]:
    """What a fresh reader of the client's records says, and the bytes its MAC hashed."""
    reader = Tls12CbcProtection(
        SUITE, kb.client_write_key, kb.client_write_iv, kb.client_write_mac_key, 0x0303, False
    )
    reader.seq = SEQ
    record = _record(kb, CONTENT, mac_ok, padding)
    try:
        reader.open(record[:5], record[5:])
        outcome = "ok"
    except BadRecordMac as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    return outcome, reader.mac_bytes


def test_the_mac_hashes_as_many_bytes_whatever_the_padding() -> None:
    """Lucky Thirteen: a good padding of 12 bytes, a bad one read as 0, one of 31 or of
    200 would make the MAC run over 48, 59, 29 or no bytes; it runs over the same count."""
    _, _, kb = _connected(ProtocolVersion.TLSv1_2)
    results = {case: _work(kb, *CASES[case]) for case in CASES}
    assert results["good"][0] == "ok"
    failures = {outcome for case, (outcome, _) in results.items() if case != "good"}
    assert failures == {"BadRecordMac: record failed authentication"}
    assert len({work for _, work in results.values()}) == 1


def test_every_padding_length_takes_the_same_work() -> None:
    """Valid paddings of every length the record allows: same bytes hashed for each."""
    _, _, kb = _connected(ProtocolVersion.TLSv1_2)
    work = set()
    for extra_blocks in range(4):
        pad = 11 + 16 * extra_blocks
        outcome, hashed = _work(kb, True, bytes([pad]) * (pad + 1))
        assert outcome == "ok"
        work.add((extra_blocks, hashed))
    # the record grows with its padding: each length hashes what its record could hold
    sizes = {extra: hashed - 16 * extra for extra, hashed in work}
    assert len(set(sizes.values())) == 1


@pytest.mark.parametrize("version", [ProtocolVersion.TLSv1_1, ProtocolVersion.TLSv1_0])
def test_older_versions_answer_tampering_with_bad_record_mac(version: ProtocolVersion) -> None:
    """TLS 1.0 and 1.1 (decryption_failed is not sent, RFC 4346 6.2.3.2): one flipped bit
    in the last ciphertext block's predecessor changes the padding byte."""
    client, server, _ = _connected(version)
    client.send_application_data(CONTENT)
    record = bytearray(client.data_to_send())
    record[-17] ^= 0x01
    sev = server.receive_data(bytes(record))
    assert of_type(sev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.bad_record_mac)
    ]
