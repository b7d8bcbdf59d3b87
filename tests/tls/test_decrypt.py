"""Offline decryption of recorded connections: RSA key transport falls to the server's key,
(EC)DHE and TLS 1.3 do not (forward secrecy), and a wrong key says so."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ForwardSecrecyError,
    NamedGroup,
    OfflineDecryptionError,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    WrongKeyError,
    decrypt_session,
    events,
)

from .sslhelpers import write_pem_dir
from .tlshelpers import HOST, counter_entropy, make_pair, pki, selector_for

TLS12 = (ProtocolVersion.TLSv1_2,)
RSA_SUITES = (
    CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,
)
CLIENT_SAYS = [b"GET / HTTP/1.1\r\nHost: valid.tlssim.test\r\n\r\n", b"x" * 20000, b"bye"]
SERVER_SAYS = [b"HTTP/1.1 200 OK\r\n\r\nhello", b"second answer"]


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pkidec"))


def record(client: ClientConnection, server: ServerConnection) -> tuple[bytes, bytes]:
    """Handshake, the conversation, close_notify both ways; every byte each side sent."""
    c2s, s2c = bytearray(), bytearray()

    def shuttle() -> None:
        for _ in range(20):
            data = client.data_to_send()
            c2s.extend(data)
            if data:
                server.receive_data(data)
            reply = server.data_to_send()
            s2c.extend(reply)
            if reply:
                got = client.receive_data(reply)
                if any(isinstance(e, events.CertificateReceived) for e in got):
                    client.accept_certificate()
            if not data and not reply:
                return

    client.start()
    shuttle()
    assert client.handshake_complete and server.handshake_complete
    for c_msg, s_msg in zip(CLIENT_SAYS, [*SERVER_SAYS, None], strict=True):
        client.send_application_data(c_msg)
        if s_msg is not None:
            server.send_application_data(s_msg)
        shuttle()
    client.close()
    shuttle()
    return bytes(c2s), bytes(s2c)


def rsa_key() -> rsa.RSAPrivateKey:
    key = pki().keys["rsa"].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def pair12(suite: CipherSuite, kind: str = "rsa") -> tuple[ClientConnection, ServerConnection]:
    return make_pair(kind, client_kw={"versions": TLS12, "cipher_suites": (suite,)})


def joined(chunks: tuple[bytes, ...]) -> bytes:
    return b"".join(chunks)


@pytest.mark.parametrize("suite", RSA_SUITES)
def test_rsa_key_transport_decrypts_with_the_server_key(suite: CipherSuite) -> None:
    c2s, s2c = record(*pair12(suite))
    session = decrypt_session(c2s, s2c, rsa_key())
    assert session.version == ProtocolVersion.TLSv1_2 and session.cipher_suite == suite
    assert session.extended_master_secret  # our client always offers it
    # records are at most 2^14 bytes: the 20000-byte message comes back in two pieces
    assert joined(session.client_application_data) == b"".join(CLIENT_SAYS)
    assert list(session.server_application_data) == SERVER_SAYS
    assert [(m.sender, m.name, m.encrypted) for m in session.handshake] == [
        ("client", "ClientHello", False),
        ("server", "ServerHello", False),
        ("server", "Certificate", False),
        ("server", "ServerHelloDone", False),
        ("client", "ClientKeyExchange", False),
        ("client", "Finished", True),
        ("server", "Finished", True),
    ]
    assert session.client_alerts == ((AlertLevel.warning, AlertDescription.close_notify),)
    assert session.keylog_line().startswith(f"CLIENT_RANDOM {session.client_random.hex()} ")
    assert session.master_secret.hex() not in repr(session)


def test_ecdhe_is_forward_secret() -> None:
    c2s, s2c = record(*pair12(CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
    with pytest.raises(ForwardSecrecyError, match="ephemeral"):
        decrypt_session(c2s, s2c, rsa_key())


@pytest.mark.parametrize("hrr", [False, True], ids=["1-rtt", "hello-retry"])
def test_tls13_is_forward_secret(hrr: bool) -> None:
    server_kw: dict[str, object] = {"supported_groups": (NamedGroup.secp256r1,)} if hrr else {}
    c2s, s2c = record(*make_pair("rsa", server_kw=server_kw))
    with pytest.raises(ForwardSecrecyError, match=r"TLS 1\.3"):
        decrypt_session(c2s, s2c, rsa_key())


@pytest.mark.parametrize(
    "group", [NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768, NamedGroup.MLKEM768]
)
@pytest.mark.parametrize("hrr", [False, True], ids=["1-rtt", "hello-retry"])
def test_a_hybrid_session_is_refused_like_ecdhe_naming_its_group(
    group: NamedGroup, hrr: bool
) -> None:
    """The exported RSA key opens no post-quantum session either: the refusal says why."""
    shares = (NamedGroup.x25519,) if hrr else (group,)
    c2s, s2c = record(
        *make_pair(
            "rsa",
            client_kw={"supported_groups": (group, NamedGroup.x25519), "key_share_groups": shares},
            server_kw={"supported_groups": (group,)},
        )
    )
    with pytest.raises(ForwardSecrecyError, match="forward secrecy") as refused:
        decrypt_session(c2s, s2c, rsa_key())
    assert f"keyed by {group.name}" in str(refused.value)
    assert "ML-KEM-768 encapsulation" in str(refused.value)


@pytest.mark.parametrize("other", ["fresh-rsa", "ecdsa"])
def test_wrong_key_is_a_clear_error(other: str) -> None:
    c2s, s2c = record(*pair12(CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256))
    key = (
        rsa.generate_private_key(65537, 2048)
        if other == "fresh-rsa"
        else pki().keys["ecdsa"].private_key
    )
    with pytest.raises(WrongKeyError):
        decrypt_session(c2s, s2c, key)


def test_truncated_recording_is_a_clear_error() -> None:
    c2s, _ = record(*pair12(CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256))
    with pytest.raises(OfflineDecryptionError, match="ServerHello"):
        decrypt_session(c2s, b"", rsa_key())


def openssl_client_session(pem_dir: Path, no_ems: bool) -> tuple[bytes, bytes]:
    """An OpenSSL client talking to our server over MemoryBIO, both directions recorded."""
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-GCM-SHA256")
    if no_ems:
        ctx.options |= 0x1  # SSL_OP_NO_EXTENDED_MASTER_SECRET (OpenSSL 3)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"srv"), certificate_selector=selector_for(pki().keys["rsa"])
        )
    )
    c2s, s2c = bytearray(), bytearray()

    def shuttle() -> None:
        for _ in range(10):
            data = out.read()
            c2s.extend(data)
            if data:
                server.receive_data(data)
            reply = server.data_to_send()
            s2c.extend(reply)
            if reply:
                inc.write(reply)
            if not data and not reply:
                return

    for _ in range(10):
        try:
            sobj.do_handshake()
            break
        except ssl.SSLWantReadError:
            shuttle()
    shuttle()
    assert server.negotiated is not None
    assert server.negotiated.extended_master_secret is not no_ems
    sobj.write(CLIENT_SAYS[0])
    server.send_application_data(SERVER_SAYS[0])
    shuttle()
    assert sobj.read(1000) == SERVER_SAYS[0]
    sobj.write(CLIENT_SAYS[2])
    shuttle()
    return bytes(c2s), bytes(s2c)


@pytest.mark.parametrize("no_ems", [False, True], ids=["ems", "no-ems"])
def test_openssl_client_session_decrypts(pem_dir: Path, no_ems: bool) -> None:
    c2s, s2c = openssl_client_session(pem_dir, no_ems)
    session = decrypt_session(c2s, s2c, rsa_key())
    assert session.extended_master_secret is not no_ems
    assert session.cipher_suite == CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256
    assert list(session.client_application_data) == [CLIENT_SAYS[0], CLIENT_SAYS[2]]
    assert list(session.server_application_data) == [SERVER_SAYS[0]]


def test_our_client_with_openssl_server_decrypts(pem_dir: Path) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES256-GCM-SHA384")
    ctx.load_cert_chain(pem_dir / "rsa.crt", pem_dir / "rsa.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=TLS12,
            cipher_suites=(CipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,),
        )
    )
    c2s, s2c = bytearray(), bytearray()

    def shuttle() -> None:
        for _ in range(10):
            data = client.data_to_send()
            c2s.extend(data)
            if data:
                inc.write(data)
            with contextlib.suppress(ssl.SSLWantReadError):
                sobj.do_handshake()
            reply = out.read()
            s2c.extend(reply)
            if reply:
                got = client.receive_data(reply)
                if any(isinstance(e, events.CertificateReceived) for e in got):
                    client.accept_certificate()
            if not data and not reply:
                return

    client.start()
    shuttle()
    assert client.handshake_complete
    client.send_application_data(CLIENT_SAYS[0])
    shuttle()
    assert sobj.read(1000) == CLIENT_SAYS[0]
    sobj.write(SERVER_SAYS[1])
    shuttle()
    session = decrypt_session(bytes(c2s), bytes(s2c), rsa_key())
    assert session.extended_master_secret
    assert list(session.client_application_data) == [CLIENT_SAYS[0]]
    assert list(session.server_application_data) == [SERVER_SAYS[1]]


def test_corrupted_record_after_the_handshake_is_not_blamed_on_the_key() -> None:
    c2s, s2c = record(*pair12(CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256))
    corrupted = bytearray(s2c)
    corrupted[-30] ^= 0x01  # inside the server's last application data record
    with pytest.raises(OfflineDecryptionError, match="corrupted") as info:
        decrypt_session(c2s, bytes(corrupted), rsa_key())
    assert not isinstance(info.value, WrongKeyError)


LEGACY = [
    (CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA, ProtocolVersion.TLSv1_0, False),
    (CipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA, ProtocolVersion.TLSv1_1, True),
    (CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA256, ProtocolVersion.TLSv1_2, False),
    (CipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA256, ProtocolVersion.TLSv1_2, True),
    (CipherSuite.TLS_RSA_WITH_3DES_EDE_CBC_SHA, ProtocolVersion.TLSv1_2, True),
    (CipherSuite.TLS_RSA_WITH_RC4_128_SHA, ProtocolVersion.TLSv1_0, False),
]


@pytest.mark.parametrize(
    ("suite", "version", "etm"), LEGACY, ids=[f"{s.name}-{v.label}-{e}" for s, v, e in LEGACY]
)
def test_legacy_rsa_key_transport_decrypts_with_the_server_key(
    suite: CipherSuite, version: ProtocolVersion, etm: bool
) -> None:
    """The static-rsa lesson: CBC or RC4, TLS 1.0 to 1.2, MAC-then-encrypt or not, the
    server's key opens every recorded record."""
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(b"c"),
            versions=(version,),
            cipher_suites=(suite,),
            encrypt_then_mac=etm,
        )
    )
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(pki().keys["rsa"]),
            versions=(version,),
            cipher_suites=(suite,),
        )
    )
    c2s, s2c = record(client, server)
    session = decrypt_session(c2s, s2c, rsa_key())
    assert session.version == version and session.cipher_suite == suite
    assert joined(session.client_application_data) == b"".join(CLIENT_SAYS)
    assert list(session.server_application_data) == SERVER_SAYS


def test_dhe_is_forward_secret() -> None:
    suite = CipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    pair = make_pair(
        "rsa",
        client_kw={"versions": TLS12, "cipher_suites": (suite,)},
        server_kw={"cipher_suites": (suite,)},
    )
    c2s, s2c = record(*pair)
    with pytest.raises(ForwardSecrecyError, match="ephemeral"):
        decrypt_session(c2s, s2c, rsa_key())
