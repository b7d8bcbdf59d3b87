"""RFC 5246 7.4.7.1: a bad RSA-encrypted premaster never gets an alert of its own.

Whatever is wrong with the EncryptedPreMasterSecret (garbage, wrong client_version, wrong
length), the server carries on with a random premaster, accepts ChangeCipherSpec, and the
failure only shows when the client's Finished record cannot be authenticated under keys
the client does not have: bad_record_mac, the same alert as for any tampered record.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tlssim.tls import AlertDescription, AlertLevel, CipherSuite, ProtocolVersion, events

from .tlshelpers import make_pair, of_type, pki


def _replace_cke(flight: bytes, encrypted: bytes) -> bytes:
    """Rebuild the first (plaintext handshake) record with a new ClientKeyExchange body."""
    assert flight[0] == 22 and flight[5] == 16
    length = int.from_bytes(flight[3:5], "big")
    cke_body = len(encrypted).to_bytes(2, "big") + encrypted
    cke = bytes([16]) + len(cke_body).to_bytes(3, "big") + cke_body
    return bytes([22, 3, 3]) + len(cke).to_bytes(2, "big") + cke + flight[5 + length :]


def _encrypt(premaster: bytes) -> bytes:
    key = pki().keys["rsa"].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key().encrypt(premaster, padding.PKCS1v15())


@pytest.mark.parametrize(
    "case", ["flipped_bit", "wrong_version", "short_premaster", "not_pkcs1", "too_short"]
)
def test_bad_premaster_surfaces_only_at_finished(case: str) -> None:
    client, server = make_pair(
        "rsa",
        client_kw={
            "versions": (ProtocolVersion.TLSv1_2,),
            "cipher_suites": (CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,),
        },
    )
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    cev = client.accept_certificate()
    flight = client.data_to_send()
    length = int.from_bytes(flight[3:5], "big")
    original = flight[5 + 4 + 2 : 5 + length]
    encrypted = {
        "flipped_bit": original[:100] + bytes([original[100] ^ 1]) + original[101:],
        "wrong_version": _encrypt(b"\x03\x01" + bytes(46)),
        "short_premaster": _encrypt(b"\x03\x03" + bytes(45)),
        "not_pkcs1": bytes(len(original)),
        "too_short": original[:64],
    }[case]
    sev = server.receive_data(_replace_cke(flight, encrypted))
    got = [e.name for e in sev if isinstance(e, events.HandshakeMessageReceived)]
    assert got == ["ClientKeyExchange", "ChangeCipherSpec"]  # accepted, no early alert
    assert [e for e in sev if isinstance(e, events.AlertSent)] == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.bad_record_mac)
    ]
    # the server derived a master secret, just not the client's
    client_master = of_type(cev, events.SecretDerived)[0].secret
    server_master = of_type(sev, events.SecretDerived)[0].secret
    assert server_master != client_master


def test_valid_premaster_still_works_with_the_same_server_code() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={
            "versions": (ProtocolVersion.TLSv1_2,),
            "cipher_suites": (CipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,),
        },
    )
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.accept_certificate()
    sev = server.receive_data(client.data_to_send())
    assert of_type(sev, events.HandshakeComplete)
