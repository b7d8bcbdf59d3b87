"""An ECDSA scheme's name fixes the curve in TLS 1.3 (RFC 8446 4.2.3) but only the hash in
TLS 1.2, where RFC 8446 4.2.3 notes that the curve was not constrained: a P-256 key may sign
ecdsa_secp384r1_sha384 there, as Botan's server does. Our client and our server, each role:
ServerKeyExchange, the server's certificate choice, and a client's CertificateVerify."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from tlssim.tls import (
    AlertDescription,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
    events,
)
from tlssim.tls.config import ClientAuth
from tlssim.tls.signatures import key_supports

from .tlshelpers import HOST, counter_entropy, multi_selector, of_type, pki, pump

P384_SCHEME = SignatureScheme.ecdsa_secp384r1_sha384
TLS12 = (ProtocolVersion.TLSv1_2,)
TLS13 = (ProtocolVersion.TLSv1_3,)


def _pair(
    versions: tuple[ProtocolVersion, ...],
    client_schemes: tuple[SignatureScheme, ...] = (P384_SCHEME,),
    server_kw: dict[str, object] | None = None,
    client_kw: dict[str, object] | None = None,
) -> tuple[ClientConnection, ServerConnection]:
    keys = pki().keys
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(b"c"),
            versions=versions,
            signature_schemes=client_schemes,
            **(client_kw or {}),  # type: ignore[arg-type]
        )
    )
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            # like the lab's valid host: an ECDSA P-256 and an RSA certificate
            certificate_selector=multi_selector(keys["ecdsa"], keys["rsa"]),
            versions=versions,
            **(server_kw or {}),  # type: ignore[arg-type]
        )
    )
    client.start()
    return client, server


def test_the_rule_per_version() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert key_supports(key, P384_SCHEME, tls12=True)
    assert not key_supports(key, P384_SCHEME, tls12=False)
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert key_supports(p384, SignatureScheme.ecdsa_secp256r1_sha256, tls12=True)
    assert not key_supports(p384, SignatureScheme.ecdsa_secp256r1_sha256, tls12=False)


def test_tls12_p256_certificate_for_a_client_that_offers_only_the_p384_scheme() -> None:
    key = pki().keys["ecdsa"].private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    client, server = _pair(TLS12)
    cev, _ = pump(client, server)
    assert client.negotiated is not None, cev
    assert client.negotiated.signature_scheme == P384_SCHEME
    ske = next(
        e for e in of_type(cev, events.HandshakeMessageReceived) if e.name == "ServerKeyExchange"
    )
    assert ske.fields["signature_scheme"] == "ecdsa_secp384r1_sha384"


def test_tls13_still_binds_the_curve() -> None:
    client, server = _pair(TLS13)
    cev, _ = pump(client, server)
    assert client.negotiated is None
    received = of_type(cev, events.AlertReceived)
    assert received and received[-1].description == AlertDescription.handshake_failure


def test_tls12_client_certificate_verify_with_a_p256_key_and_only_the_p384_scheme_asked() -> None:
    client, server = _pair(
        TLS12,
        client_schemes=(SignatureScheme.ecdsa_secp256r1_sha256, P384_SCHEME),
        server_kw={
            "signature_schemes": (P384_SCHEME, SignatureScheme.rsa_pss_rsae_sha256),
            "client_auth": lambda _sni: ClientAuth(required=True),
        },
        client_kw={"client_certificate": pki().keys["ecdsa"]},
    )
    cev: list[events.Event] = []
    sev: list[events.Event] = []
    for _ in range(10):
        more_c, more_s = pump(client, server)
        cev += more_c
        sev += more_s
        if server.awaiting_certificate_decision:
            sev += server.accept_certificate()
            continue
        break
    more_c, more_s = pump(client, server)
    cev, sev = cev + more_c, sev + more_s
    sent = [e for e in of_type(cev, events.HandshakeMessageSent) if e.name == "CertificateVerify"]
    assert [e.fields["signature_scheme"] for e in sent] == ["ecdsa_secp384r1_sha384"]
    assert server.negotiated is not None and client.negotiated is not None, (cev[-3:], sev[-3:])
