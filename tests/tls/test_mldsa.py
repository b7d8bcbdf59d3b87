"""ML-DSA in TLS 1.3 CertificateVerify (draft-ietf-tls-mldsa): our engine on both sides,
and against OpenSSL 4 (pyOpenSSL's library), which signs and verifies ML-DSA on its own."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import mldsa
from OpenSSL import SSL

from tlssim.tls import (
    AlertDescription,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
    State,
    events,
)
from tlssim.tls.signatures import (
    SERVER_CONTEXT,
    SUPPORTED_SCHEMES_TLS12,
    key_supports,
    signed_content,
    verify,
)

from .tlshelpers import (
    HOST,
    counter_entropy,
    mldsa_pki,
    multi_selector,
    of_type,
    pki,
    pump,
    selector_for,
)

# FIPS 204 signature sizes
SIGNATURE_BYTES = {"mldsa44": 2420, "mldsa65": 3309}


def _pair(
    certified: CertifiedKey, **client_kw: object
) -> tuple[ClientConnection, ServerConnection]:
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **client_kw)  # type: ignore[arg-type]
    )
    server = ServerConnection(
        ServerConfig(entropy=counter_entropy(b"s"), certificate_selector=selector_for(certified))
    )
    return client, server


@pytest.mark.parametrize("kind", ["mldsa44", "mldsa65"])
def test_mldsa_certificate_verify_completes(kind: str) -> None:
    client, server = _pair(mldsa_pki().keys[kind])
    client.start()
    client_events, _ = pump(client, server)
    assert client.state is State.CONNECTED and server.state is State.CONNECTED
    (done,) = of_type(client_events, events.HandshakeComplete)
    assert done.signature_scheme == SignatureScheme[kind]
    (cv,) = [
        e
        for e in of_type(client_events, events.HandshakeMessageReceived)
        if e.name == "CertificateVerify"
    ]
    # 4-byte handshake header, 2-byte scheme, 2-byte length, then the signature
    assert cv.size == 4 + 2 + 2 + SIGNATURE_BYTES[kind]


def test_client_offers_the_mldsa_schemes_after_the_classical_ones() -> None:
    schemes = ClientConfig(server_name=HOST, entropy=counter_entropy()).signature_schemes
    mldsa = [SignatureScheme.mldsa44, SignatureScheme.mldsa65, SignatureScheme.mldsa87]
    assert [s for s in schemes if s in mldsa] == mldsa
    assert schemes.index(SignatureScheme.mldsa44) > schemes.index(
        SignatureScheme.ecdsa_secp256r1_sha256
    )


def test_host_with_both_kinds_presents_the_classical_certificate_to_a_default_client() -> None:
    ecdsa, mldsa65 = pki().keys["ecdsa"], mldsa_pki().keys["mldsa65"]
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy(b"c")))
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"), certificate_selector=multi_selector(ecdsa, mldsa65)
        )
    )
    client.start()
    client_events, _ = pump(client, server)
    (done,) = of_type(client_events, events.HandshakeComplete)
    assert done.signature_scheme == SignatureScheme.ecdsa_secp256r1_sha256


def test_mldsa_is_bound_to_its_parameter_set_and_to_tls13() -> None:
    key44 = mldsa_pki().keys["mldsa44"].private_key
    assert key_supports(key44, SignatureScheme.mldsa44)
    assert not key_supports(key44, SignatureScheme.mldsa65)
    assert not key_supports(key44, SignatureScheme.mldsa44, tls12=True)
    assert SignatureScheme.mldsa65 not in SUPPORTED_SCHEMES_TLS12


def test_signature_under_the_wrong_context_does_not_verify() -> None:
    """Pure ML-DSA with an empty context: a signature made with a context fails."""
    from tlssim.tls.errors import DecryptError

    certified = mldsa_pki().keys["mldsa65"]
    key = certified.private_key
    assert isinstance(key, mldsa.MLDSA65PrivateKey)
    content = signed_content(SERVER_CONTEXT, b"\x11" * 32)
    public = key.public_key()
    verify(public, SignatureScheme.mldsa65, key.sign(content), content)
    with pytest.raises(DecryptError):
        verify(public, SignatureScheme.mldsa65, key.sign(content, b"ctx"), content)


def test_client_without_mldsa_schemes_gets_handshake_failure() -> None:
    classical = (SignatureScheme.ecdsa_secp256r1_sha256, SignatureScheme.rsa_pss_rsae_sha256)

    def only_mldsa(sni: str | None, offered: tuple[SignatureScheme, ...]) -> CertifiedKey:
        certified = mldsa_pki().keys["mldsa65"]
        if not any(key_supports(certified.private_key, s) for s in offered):
            from tlssim.tls import HandshakeFailure

            raise HandshakeFailure("no certificate for the offered signature algorithms")
        return certified

    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), signature_schemes=classical)
    )
    server = ServerConnection(
        ServerConfig(entropy=counter_entropy(b"s"), certificate_selector=only_mldsa)
    )
    client.start()
    pump(client, server)
    assert client.state is State.CLOSED
    assert client.error is not None and client.error.alert is AlertDescription.handshake_failure


def test_tls12_never_signs_with_mldsa() -> None:
    """A TLS 1.2 server asked for its ML-DSA certificate has nothing to sign with."""
    client, server = _pair(mldsa_pki().keys["mldsa65"], versions=(ProtocolVersion.TLSv1_2,))
    client.start()
    pump(client, server)
    assert server.error is not None
    assert server.error.alert is AlertDescription.handshake_failure
    assert client.error is not None and client.error.sent_by_peer


# -- against OpenSSL 4 -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mldsa_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mldsa")
    p = mldsa_pki()
    (d / "ca.pem").write_bytes(p.ca_pem)
    for kind, certified in p.keys.items():
        leaf = x509.load_der_x509_certificate(certified.chain[0])
        ca = x509.load_der_x509_certificate(certified.chain[1])
        from tlssim.pki.keys import certificates_to_pem, private_key_to_pem

        (d / f"{kind}.crt").write_text(certificates_to_pem([leaf, ca]))
        (d / f"{kind}.key").write_bytes(private_key_to_pem(certified.private_key))
    return d


def _pump(conn: SSL.Connection, peer_bytes: bytes) -> bytes:
    if peer_bytes:
        conn.bio_write(peer_bytes)
    with contextlib.suppress(SSL.WantReadError):
        conn.do_handshake()
    out = b""
    while True:
        try:
            out += conn.bio_read(65536)
        except SSL.WantReadError:
            return out


@pytest.mark.parametrize("kind", ["mldsa44", "mldsa65"])
def test_our_client_verifies_openssl_mldsa_server(mldsa_dir: Path, kind: str) -> None:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.use_certificate_chain_file(str(mldsa_dir / f"{kind}.crt"))
    ctx.use_privatekey_file(str(mldsa_dir / f"{kind}.key"))
    conn = SSL.Connection(ctx, None)
    conn.set_accept_state()
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy()))
    evs = client.start()
    for _ in range(10):
        reply = _pump(conn, client.data_to_send())
        if not reply:
            break
        new = client.receive_data(reply)
        evs += new
        if any(isinstance(e, events.CertificateReceived) for e in new):
            evs += client.accept_certificate()
    _pump(conn, client.data_to_send())
    assert client.state is State.CONNECTED
    (done,) = of_type(evs, events.HandshakeComplete)
    assert done.signature_scheme == SignatureScheme[kind]
    assert done.group == NamedGroup.X25519MLKEM768
    assert conn.get_group_name() == "X25519MLKEM768"


@pytest.mark.parametrize("kind", ["mldsa44", "mldsa65"])
def test_openssl_client_verifies_our_mldsa_server(mldsa_dir: Path, kind: str) -> None:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.load_verify_locations(str(mldsa_dir / "ca.pem"))
    ctx.set_verify(SSL.VERIFY_PEER)
    conn = SSL.Connection(ctx, None)
    conn.set_tlsext_host_name(HOST.encode())
    conn.set_connect_state()
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"), certificate_selector=selector_for(mldsa_pki().keys[kind])
        )
    )
    evs: list[events.Event] = []
    reply = b""
    for _ in range(10):
        data = _pump(conn, reply)
        if not data:
            break
        evs += server.receive_data(data)
        reply = server.data_to_send()
    assert server.state is State.CONNECTED
    (done,) = of_type(evs, events.HandshakeComplete)
    assert done.signature_scheme == SignatureScheme[kind]
    assert conn.get_group_name() == "X25519MLKEM768"
    assert conn.get_peer_certificate() is not None
