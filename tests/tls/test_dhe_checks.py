"""What our client demands of a server's own DH group (Logjam, small subgroups, composite
moduli), engine to engine; the groups are the legacy hosts' (``tlssim.tls.ffdhe``)."""

from __future__ import annotations

import pytest

from tlssim.tls import AlertDescription, AlertLevel, CipherSuite, ProtocolVersion, events, ffdhe

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
