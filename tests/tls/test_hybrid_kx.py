"""ML-KEM and hybrid key shares: byte layout, length checks, group choice and retries."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    NamedGroup,
    ProtocolVersion,
    State,
    events,
)
from tlssim.tls.constants import ExtensionType
from tlssim.tls.errors import IllegalParameter
from tlssim.tls.extensions import (
    Extension,
    decode_server_key_share,
    encode_client_key_shares,
    encode_server_key_share,
    encode_uint16_list,
)
from tlssim.tls.keyexchange import KeyShare, answer_share, select_group
from tlssim.tls.messages import ClientHello, ServerHello

from .tlshelpers import counter_entropy, make_pair, of_type, pump, queue_entropy

X25519_SEED = bytes(range(32))
MLKEM_SEED = bytes(range(100, 164))
P256_SCALAR = 0x1234


def _fatal(desc: AlertDescription) -> list[events.Event]:
    return [events.AlertSent(AlertLevel.fatal, desc), events.ConnectionClosed()]


def test_x25519mlkem768_puts_mlkem_first_in_share_and_secret() -> None:
    share = KeyShare(NamedGroup.X25519MLKEM768, queue_entropy(X25519_SEED, MLKEM_SEED))
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(MLKEM_SEED)
    ours = x25519.X25519PrivateKey.from_private_bytes(X25519_SEED)
    assert len(share.public) == 1184 + 32
    assert share.public[:1184] == kem.public_key().public_bytes_raw()
    assert share.public[1184:] == ours.public_key().public_bytes_raw()

    answer, server_secret = answer_share(
        NamedGroup.X25519MLKEM768, share.public, counter_entropy(b"s")
    )
    assert len(answer) == 1088 + 32
    ciphertext, server_x25519 = answer[:1088], answer[1088:]
    assert server_secret == share.exchange(answer)
    assert server_secret[:32] == kem.decapsulate(ciphertext)
    assert server_secret[32:] == ours.exchange(
        x25519.X25519PublicKey.from_public_bytes(server_x25519)
    )


def test_secp256r1mlkem768_puts_ecdh_first_in_share_and_secret() -> None:
    seed = P256_SCALAR.to_bytes(32, "big")  # below the order: the scalar is seed + 1
    share = KeyShare(NamedGroup.SecP256r1MLKEM768, queue_entropy(seed, MLKEM_SEED))
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(MLKEM_SEED)
    ours = ec.derive_private_key(P256_SCALAR + 1, ec.SECP256R1())
    assert len(share.public) == 65 + 1184
    assert share.public[0] == 4 and share.public[65:] == kem.public_key().public_bytes_raw()

    answer, server_secret = answer_share(
        NamedGroup.SecP256r1MLKEM768, share.public, counter_entropy(b"s")
    )
    assert len(answer) == 65 + 1088
    server_point, ciphertext = answer[:65], answer[65:]
    assert server_secret == share.exchange(answer)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_point)
    assert server_secret[:32] == ours.exchange(ec.ECDH(), peer)
    assert server_secret[32:] == kem.decapsulate(ciphertext)


def test_mlkem768_alone() -> None:
    share = KeyShare(NamedGroup.MLKEM768, queue_entropy(MLKEM_SEED))
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(MLKEM_SEED)
    assert share.public == kem.public_key().public_bytes_raw()
    answer, secret = answer_share(NamedGroup.MLKEM768, share.public, counter_entropy())
    assert len(answer) == 1088 and len(secret) == 32
    assert secret == share.exchange(answer) == kem.decapsulate(answer)


@pytest.mark.parametrize("group", [NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768])
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_length_encapsulation_key_or_ciphertext_is_illegal(
    group: NamedGroup, delta: int
) -> None:
    share = KeyShare(group, counter_entropy())
    wrong = share.public[:-1] if delta < 0 else share.public + b"\x00"
    with pytest.raises(IllegalParameter):
        answer_share(group, wrong, counter_entropy())
    answer, _ = answer_share(group, share.public, counter_entropy())
    with pytest.raises(IllegalParameter):
        share.exchange(answer[:-1] if delta < 0 else answer + b"\x00")


def _client_hello_record(group: NamedGroup, key_exchange: bytes) -> bytes:
    exts = (
        Extension(ExtensionType.supported_versions, b"\x02\x03\x04"),
        Extension(ExtensionType.supported_groups, encode_uint16_list((group,))),
        Extension(ExtensionType.signature_algorithms, b"\x00\x02\x04\x03"),
        Extension(ExtensionType.key_share, encode_client_key_shares(((group, key_exchange),))),
    )
    raw = ClientHello(random=bytes(32), cipher_suites=(0x1301,), extensions=exts).serialize()
    return bytes([22, 3, 1]) + len(raw).to_bytes(2, "big") + raw


def test_server_alerts_on_a_short_hybrid_share() -> None:
    _, server = make_pair()
    good = KeyShare(NamedGroup.X25519MLKEM768, counter_entropy()).public
    evs = server.receive_data(_client_hello_record(NamedGroup.X25519MLKEM768, good[:-1]))
    assert isinstance(evs[0], events.HandshakeMessageReceived)
    assert evs[1:] == _fatal(AlertDescription.illegal_parameter)
    assert server.state is State.CLOSED


def _with_server_share(record: bytes, edit: bytes) -> bytes:
    """The ServerHello record with ``edit`` appended to the server's key_exchange."""
    sh = ServerHello.parse(record[5 + 4 : 5 + int.from_bytes(record[3:5], "big")])
    exts = []
    for ext in sh.extensions:
        if ext.type == ExtensionType.key_share:
            group, key = decode_server_key_share(ext.data)
            ext = Extension(ExtensionType.key_share, encode_server_key_share(group, key + edit))
        exts.append(ext)
    raw = ServerHello(
        random=sh.random,
        legacy_session_id_echo=sh.legacy_session_id_echo,
        cipher_suite=sh.cipher_suite,
        extensions=tuple(exts),
    ).serialize()
    return bytes([22, 3, 3]) + len(raw).to_bytes(2, "big") + raw


def test_client_alerts_on_a_long_ciphertext() -> None:
    client, server = make_pair()
    client.start()
    server.receive_data(client.data_to_send())
    flight = server.data_to_send()
    evs = client.receive_data(_with_server_share(flight, b"\x00"))
    assert evs[-2:] == _fatal(AlertDescription.illegal_parameter)
    assert client.state is State.CLOSED


def test_default_client_and_server_agree_on_the_hybrid_without_retry() -> None:
    client, server = make_pair()
    sent = client.start()
    hello = next(e for e in sent if isinstance(e, events.HandshakeMessageSent))
    assert hello.fields["supported_groups"][0] == "X25519MLKEM768"  # type: ignore[index]
    assert hello.fields["key_share"] == ["X25519MLKEM768", "x25519"]
    cev, _ = pump(client, server)
    received = [e.name for e in cev if isinstance(e, events.HandshakeMessageReceived)]
    assert received[0] == "ServerHello"
    (done,) = of_type(cev, events.HandshakeComplete)
    assert done.group == NamedGroup.X25519MLKEM768 and done.key_exchange == "X25519MLKEM768"


def test_server_retries_for_the_hybrid_a_client_lists_without_a_share() -> None:
    client, server = make_pair(client_kw={"key_share_groups": (NamedGroup.x25519,)})
    client.start()
    _, sev = pump(client, server)
    hrr = next(e for e in sev if isinstance(e, events.HandshakeMessageSent))
    assert hrr.name == "HelloRetryRequest" and hrr.fields["selected_group"] == "X25519MLKEM768"
    assert client.negotiated is not None
    assert client.negotiated.group == NamedGroup.X25519MLKEM768
    assert server.negotiated == client.negotiated


def test_classical_server_takes_the_x25519_share_beside_the_hybrid() -> None:
    classical = (NamedGroup.x25519, NamedGroup.secp256r1)
    client, server = make_pair(server_kw={"supported_groups": classical})
    client.start()
    cev, _ = pump(client, server)
    received = [e.name for e in cev if isinstance(e, events.HandshakeMessageReceived)]
    assert received[0] == "ServerHello"
    assert client.negotiated is not None and client.negotiated.group == NamedGroup.x25519


def test_tls12_never_uses_a_kem_group() -> None:
    tls12 = (ProtocolVersion.TLSv1_2,)
    client, server = make_pair(client_kw={"versions": tls12}, server_kw={"versions": tls12})
    client.start()
    pump(client, server)
    assert client.negotiated is not None and client.negotiated.group == NamedGroup.x25519


def test_select_group_tiers() -> None:
    server = (NamedGroup.X25519MLKEM768, NamedGroup.x25519, NamedGroup.secp256r1)
    x_share = ((NamedGroup.x25519, b"x"),)
    p_share = ((NamedGroup.secp256r1, b"p"),)
    # a listed hybrid without its share: retry for it
    assert select_group(server, (NamedGroup.X25519MLKEM768, NamedGroup.x25519), x_share) == (
        NamedGroup.X25519MLKEM768,
        None,
    )
    # classical only: any share the server supports, no retry to trade one for another
    assert select_group(server, (NamedGroup.x25519, NamedGroup.secp256r1), p_share) == (
        NamedGroup.secp256r1,
        b"p",
    )
    assert select_group(server, (NamedGroup.x448,), ()) is None


def test_no_common_group_is_handshake_failure_after_the_hello_is_reported() -> None:
    client, server = make_pair(
        client_kw={"supported_groups": (NamedGroup.MLKEM768,), "key_share_groups": ()},
        server_kw={"supported_groups": (NamedGroup.x25519,)},
    )
    client.start()
    evs = server.receive_data(client.data_to_send())
    assert isinstance(evs[0], events.HandshakeMessageReceived) and evs[0].name == "ClientHello"
    assert evs[-2:] == _fatal(AlertDescription.handshake_failure)
