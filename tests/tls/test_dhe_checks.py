"""What our client demands of a server's own DH group (Logjam, small subgroups, composite
moduli), engine to engine; the groups are the legacy hosts' (``tlssim.tls.ffdhe``). And
RFC 7919: a server holding a named group takes one the client lists."""

from __future__ import annotations

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    NamedGroup,
    ProtocolVersion,
    events,
    ffdhe,
)
from tlssim.tls.tls12 import TLS12_SUITES

from .tlshelpers import make_pair, of_type, pump

DHE = CipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
TLS12 = (ProtocolVersion.TLSv1_2,)


def _handshake(
    group: ffdhe.DhGroup, **client: object
) -> tuple[list[events.Event], list[events.Event]]:
    c, s = make_pair(
        "rsa",
        client_kw={"versions": TLS12, "cipher_suites": (DHE,), **client},
        server_kw={"versions": TLS12, "cipher_suites": (DHE,), "dh_group": group},
    )
    c.start()
    return pump(c, s)


def test_ffdhe2048_completes() -> None:
    cev, sev = _handshake(ffdhe.FFDHE2048)
    done = of_type(cev, events.HandshakeComplete)
    assert len(done) == 1 and done[0].key_exchange == "dhe2048"
    assert of_type(sev, events.HandshakeComplete)[0].key_exchange == "ffdhe2048"


@pytest.mark.parametrize(
    ("group", "alert", "reason"),
    [
        (ffdhe.LAB_480, AlertDescription.insufficient_security, "Logjam"),
        (ffdhe.OAKLEY_GROUP2, AlertDescription.insufficient_security, "Logjam"),
        (ffdhe.RFC5114_2048_224, AlertDescription.illegal_parameter, "not a safe prime"),
        (ffdhe.COMPOSITE_2048, AlertDescription.illegal_parameter, "not prime"),
    ],
    ids=["dh480", "dh1024", "small-subgroup", "composite"],
)
def test_our_client_refuses_a_weak_group(
    group: ffdhe.DhGroup, alert: AlertDescription, reason: str
) -> None:
    cev, _ = _handshake(group)
    assert of_type(cev, events.AlertSent) == [events.AlertSent(AlertLevel.fatal, alert)]
    error = of_type(cev, events.ConnectionClosed)[0].error
    assert reason in str(error)


def test_a_lowered_floor_takes_the_1024_bit_group() -> None:
    cev, _ = _handshake(ffdhe.OAKLEY_GROUP2, min_dh_bits=1024)
    assert of_type(cev, events.HandshakeComplete)[0].key_exchange == "dhe1024"


def test_a_public_value_outside_the_subgroup_is_refused() -> None:
    p = ffdhe.FFDHE2048.p
    with pytest.raises(Exception, match="prime-order subgroup"):
        ffdhe.check_server_group(p, 2, p - 1, 2048)  # order 2: the small subgroup {1, p-1}
    with pytest.raises(Exception, match="out of range"):
        ffdhe.DhShare(ffdhe.FFDHE2048, bytes(32)).exchange((1).to_bytes(256, "big"))


def test_the_groups_are_what_they_say() -> None:
    assert ffdhe.LAB_480.bits == 480 and ffdhe.is_safe_prime(ffdhe.LAB_480.p)
    assert ffdhe.OAKLEY_GROUP2.bits == 1024 and ffdhe.is_safe_prime(ffdhe.OAKLEY_GROUP2.p)
    sub = ffdhe.RFC5114_2048_224
    assert not ffdhe.is_safe_prime(sub.p)
    assert ffdhe.COMPOSITE_2048.bits == 2048 and ffdhe.COMPOSITE_2048.p % 3 == 0


def test_rfc7919_the_server_takes_a_group_the_client_lists() -> None:
    c, s = make_pair(
        "rsa",
        client_kw={
            "versions": TLS12,
            "cipher_suites": (DHE,),
            "supported_groups": (NamedGroup.x25519, NamedGroup.ffdhe3072),
        },
        server_kw={"versions": TLS12, "cipher_suites": (DHE,)},
    )
    c.start()
    cev, sev = pump(c, s)
    assert of_type(sev, events.HandshakeComplete)[0].key_exchange == "ffdhe3072"
    assert of_type(cev, events.HandshakeComplete)[0].key_exchange == "dhe3072"


def test_rfc7919_no_common_group_means_no_dhe_suite() -> None:
    c, s = make_pair(
        "rsa",
        client_kw={
            "versions": TLS12,
            "cipher_suites": (DHE, CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "supported_groups": (NamedGroup.x25519, 0x0102),  # ffdhe4096, which we lack
        },
        server_kw={"versions": TLS12, "cipher_suites": (DHE, *TLS12_SUITES)},
    )
    c.start()
    cev, _ = pump(c, s)
    done = of_type(cev, events.HandshakeComplete)[0]
    assert done.cipher_suite == CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256


def test_rfc7919_negotiation_rules() -> None:
    named = (int(NamedGroup.ffdhe2048), int(NamedGroup.ffdhe3072))
    assert ffdhe.negotiate(ffdhe.FFDHE2048, ()) is ffdhe.FFDHE2048
    assert ffdhe.negotiate(ffdhe.FFDHE2048, (int(NamedGroup.x25519),)) is ffdhe.FFDHE2048
    assert ffdhe.negotiate(ffdhe.FFDHE2048, named[::-1]) is ffdhe.FFDHE2048  # ours first
    assert ffdhe.negotiate(ffdhe.FFDHE2048, named[1:]) is ffdhe.FFDHE3072
    assert ffdhe.negotiate(ffdhe.FFDHE2048, (0x0104,)) is None
    # a legacy host's own group: the list is ignored, as servers before RFC 7919 did
    assert ffdhe.negotiate(ffdhe.LAB_480, named) is ffdhe.LAB_480
