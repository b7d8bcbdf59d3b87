"""TLS 1.2 interop with OpenSSL 3 (Python's ``ssl`` through MemoryBIO), both directions.

OpenSSL 3.0's default security level (1 in Python's contexts, 2 on some distributions)
accepts every suite here: AES-GCM with RSA key transport (``AES128-GCM-SHA256``,
``AES256-GCM-SHA384``) has no forward secrecy but 128/256-bit strength and a 2048-bit RSA
key, which security levels 1 and 2 both allow; no ``@SECLEVEL=0`` is needed. The suites
are selected with ``set_ciphers(<OpenSSL name>)`` and ``maximum_version = TLSv1_2``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tlssim.tls import (
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.tls12 import TLS12_SUITES

from .sslhelpers import (
    bulk_and_close_with_openssl,
    drive_openssl_client,
    drive_our_client,
    write_pem_dir,
)
from .tlshelpers import HOST, counter_entropy, of_type, pki, selector_for

OPENSSL_NAMES = {
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
    CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
    CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
    CipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
}
TLS12 = (ProtocolVersion.TLSv1_2,)
BOTH = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)


def kind_for(suite: CipherSuite) -> str:
    return "ecdsa" if TLS12_SUITES[suite].authentication == "ecdsa" else "rsa"


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pki12"))


def openssl_server(pem_dir: Path, kind: str, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_dir / f"{kind}.crt", pem_dir / f"{kind}.key")
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def openssl_client(pem_dir: Path, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def received(evs: list[events.Event]) -> list[str]:
    return [e.name for e in evs if isinstance(e, events.HandshakeMessageReceived)]


@pytest.mark.parametrize("versions", [TLS12, BOTH], ids=["1.2", "1.3+1.2"])
@pytest.mark.parametrize("suite", list(OPENSSL_NAMES))
def test_our_client_against_openssl_server(
    pem_dir: Path, suite: CipherSuite, versions: tuple[ProtocolVersion, ...]
) -> None:
    ctx = openssl_server(pem_dir, kind_for(suite), OPENSSL_NAMES[suite])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=versions,
            cipher_suites=(CipherSuite.TLS_AES_128_GCM_SHA256, suite),
        )
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None
    ske = ["ServerKeyExchange"] if TLS12_SUITES[suite].key_exchange == "ecdhe" else []
    assert received(evs)[: 3 + len(ske)] == ["ServerHello", "Certificate", *ske, "ServerHelloDone"]
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1
    assert done[0].version == ProtocolVersion.TLSv1_2 and done[0].cipher_suite == suite
    assert sobj.version() == "TLSv1.2" and sobj.cipher()[0] == OPENSSL_NAMES[suite]  # type: ignore[index]
    assert client.negotiated is not None and client.negotiated.extended_master_secret

    client.send_application_data(b"hello from tlssim")
    inc.write(client.data_to_send())
    assert sobj.read(1024) == b"hello from tlssim"
    bulk_and_close_with_openssl(client, sobj, inc, out)


@pytest.mark.parametrize("suite", list(OPENSSL_NAMES))
def test_openssl_client_against_our_server(pem_dir: Path, suite: CipherSuite) -> None:
    ctx = openssl_client(pem_dir, OPENSSL_NAMES[suite])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys[kind_for(suite)]),
        )
    )
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert err is None
    assert received(evs) == ["ClientHello", "ClientKeyExchange", "ChangeCipherSpec", "Finished"]
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1 and done[0].cipher_suite == suite
    assert sobj.version() == "TLSv1.2" and sobj.cipher()[0] == OPENSSL_NAMES[suite]  # type: ignore[index]
    assert server.negotiated is not None and server.negotiated.extended_master_secret

    sobj.write(b"ping" * 5000)
    got = server.receive_data(out.read())
    data = b"".join(e.data for e in of_type(got, events.ApplicationDataReceived))
    assert data == b"ping" * 5000
    server.send_application_data(b"pong")
    inc.write(server.data_to_send())
    assert sobj.read(100) == b"pong"
