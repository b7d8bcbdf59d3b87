"""Client certificates (CertificateRequest, the client's Certificate and CertificateVerify)
in TLS 1.3 and 1.2: our client against our server, and each against OpenSSL (MemoryBIO)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlssim.pki import throwaway
from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CertifiedKey,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.config import ClientAuth
from tlssim.tls.errors import PeerAlert
from tlssim.tls.signatures import PrivateKey

from .sslhelpers import drive_our_client, write_pem_dir
from .tlshelpers import HOST, counter_entropy, make_pair, of_type, pki, pump

VERSIONS = {
    "1.3": (ProtocolVersion.TLSv1_3,),
    "1.2": (ProtocolVersion.TLSv1_2,),
}
CLIENT_NAME = "client.tlssim.test"


def _client_leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, key: PrivateKey
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLIENT_NAME)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@functools.cache
def client_identities() -> tuple[bytes, dict[str, CertifiedKey]]:
    """A client CA (PEM) and client certificates from it, one per key kind."""
    ca, ca_key = throwaway.make_ca("tlssim test client CA")
    ca_der = ca.public_bytes(serialization.Encoding.DER)
    keys: dict[str, PrivateKey] = {
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(65537, 2048),
    }
    identities = {
        kind: CertifiedKey(chain=(_client_leaf(ca, ca_key, key), ca_der), private_key=key)
        for kind, key in keys.items()
    }
    return ca.public_bytes(serialization.Encoding.PEM), identities


def _pair(
    version: str, required: bool, certified: CertifiedKey | None
) -> tuple[ClientConnection, ServerConnection]:
    ask = ClientAuth(required=required, certificate_authorities=(b"\x30\x00",))
    return make_pair(
        client_kw={"versions": VERSIONS[version], "client_certificate": certified},
        server_kw={"client_auth": lambda sni: ask if sni == HOST else None},
    )


def _names(evs: list[events.Event], cls: type[events.Event]) -> list[str]:
    return [e.name for e in evs if isinstance(e, cls) and hasattr(e, "name")]


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
@pytest.mark.parametrize("version", list(VERSIONS))
def test_client_certificate_accepted_by_our_server(version: str, kind: str) -> None:
    certified = client_identities()[1][kind]
    client, server = _pair(version, True, certified)
    client.start()
    c_evs, s_evs = pump(client, server)
    assert server.awaiting_certificate_decision
    received = of_type(s_evs, events.CertificateReceived)
    assert [r.chain for r in received] == [certified.chain]
    s_evs += server.accept_certificate()
    more_c, more_s = pump(client, server)
    c_evs += more_c
    s_evs += more_s
    assert client.handshake_complete and server.handshake_complete
    assert "CertificateRequest" in _names(c_evs, events.HandshakeMessageReceived)
    sent = _names(c_evs, events.HandshakeMessageSent)
    assert sent.count("Certificate") == 1 and "CertificateVerify" in sent
    assert sent.index("CertificateVerify") < sent.index("Finished")
    got = _names(s_evs, events.HandshakeMessageReceived)
    assert "CertificateVerify" in got
    # no resumable session once a certificate was asked for
    assert not of_type(c_evs, events.SessionReceived)


@pytest.mark.parametrize(
    ("version", "alert"),
    [("1.3", AlertDescription.certificate_required), ("1.2", AlertDescription.handshake_failure)],
)
def test_required_but_none_sent(version: str, alert: AlertDescription) -> None:
    client, server = _pair(version, True, None)
    client.start()
    c_evs, s_evs = pump(client, server)
    assert events.AlertSent(AlertLevel.fatal, alert) in s_evs
    assert events.AlertReceived(AlertLevel.fatal, alert) in c_evs
    assert isinstance(client.error, PeerAlert) and client.error.alert == alert
    sent = [e for e in of_type(c_evs, events.HandshakeMessageSent) if e.name == "Certificate"]
    assert [e.fields["certificates"] for e in sent] == [0]


@pytest.mark.parametrize("version", list(VERSIONS))
def test_optional_accepts_none(version: str) -> None:
    client, server = _pair(version, False, None)
    client.start()
    _, s_evs = pump(client, server)
    assert client.handshake_complete and server.handshake_complete
    assert not of_type(s_evs, events.CertificateReceived)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_server_caller_rejects_the_chain(version: str) -> None:
    client, server = _pair(version, True, client_identities()[1]["ecdsa"])
    client.start()
    pump(client, server)
    s_evs = server.reject_certificate(AlertDescription.unknown_ca)
    assert events.AlertSent(AlertLevel.fatal, AlertDescription.unknown_ca) in s_evs
    c_evs = client.receive_data(server.data_to_send())
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.unknown_ca) in c_evs


@pytest.mark.parametrize("version", list(VERSIONS))
def test_forged_client_signature_is_decrypt_error(version: str) -> None:
    """A chain that is not the signer's: CertificateVerify fails after acceptance."""
    genuine = client_identities()[1]["ecdsa"]
    other_key = ec.generate_private_key(ec.SECP256R1())
    impostor = CertifiedKey(chain=genuine.chain, private_key=other_key)
    client, server = _pair(version, True, impostor)
    client.start()
    pump(client, server)
    s_evs = server.accept_certificate()
    assert events.AlertSent(AlertLevel.fatal, AlertDescription.decrypt_error) in s_evs
    assert not server.handshake_complete


def test_no_request_no_certificate_sent() -> None:
    client, server = make_pair(client_kw={"client_certificate": client_identities()[1]["ecdsa"]})
    client.start()
    c_evs, _ = pump(client, server)
    assert client.handshake_complete
    assert "Certificate" not in _names(c_evs, events.HandshakeMessageSent)


# -- OpenSSL ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = write_pem_dir(tmp_path_factory.mktemp("pki"))
    ca_pem, identities = client_identities()
    (d / "client-ca.pem").write_bytes(ca_pem)
    certified = identities["ecdsa"]
    leaf = x509.load_der_x509_certificate(certified.chain[0])
    (d / "client.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (d / "client.key").write_bytes(
        certified.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return d


def _tls_version(version: str) -> ssl.TLSVersion:
    return ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("version", list(VERSIONS))
def test_our_client_certificate_against_openssl_server(pem_dir: Path, version: str) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = _tls_version(version)
    ctx.load_cert_chain(pem_dir / "ecdsa.crt", pem_dir / "ecdsa.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(pem_dir / "client-ca.pem")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=VERSIONS[version],
            client_certificate=client_identities()[1]["ecdsa"],
        )
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None, err
    assert client.handshake_complete
    peer = sobj.getpeercert()
    assert peer is not None
    assert (("commonName", CLIENT_NAME),) in peer["subject"]
    assert "CertificateVerify" in _names(evs, events.HandshakeMessageSent)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_openssl_server_refuses_our_empty_certificate(pem_dir: Path, version: str) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = _tls_version(version)
    ctx.load_cert_chain(pem_dir / "ecdsa.crt", pem_dir / "ecdsa.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(pem_dir / "client-ca.pem")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(), versions=VERSIONS[version])
    )
    _, err = drive_our_client(client, sobj, inc, out)
    assert err is not None
    assert isinstance(client.error, PeerAlert)
    expected = (
        AlertDescription.certificate_required
        if version == "1.3"
        else AlertDescription.handshake_failure
    )
    assert client.error.alert == expected


def _drive_openssl_client_accepting(
    server: ServerConnection, sobj: ssl.SSLObject, inc: ssl.MemoryBIO, out: ssl.MemoryBIO
) -> list[events.Event]:
    """An OpenSSL client against our server; our server accepts the client's chain."""
    evs: list[events.Event] = []
    for _ in range(20):
        with contextlib.suppress(ssl.SSLWantReadError):
            sobj.do_handshake()
        data = out.read()
        if data:
            new = server.receive_data(data)
            evs += new
            if any(isinstance(e, events.CertificateReceived) for e in new):
                evs += server.accept_certificate()
        reply = server.data_to_send()
        if reply:
            inc.write(reply)
        if server.handshake_complete or server.closed:
            break
    return evs


@pytest.mark.parametrize("version", list(VERSIONS))
def test_openssl_client_certificate_against_our_server(pem_dir: Path, version: str) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.minimum_version = ctx.maximum_version = _tls_version(version)
    ctx.load_cert_chain(pem_dir / "client.crt", pem_dir / "client.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=lambda sni, schemes: pki().keys["ecdsa"],
            client_auth=lambda sni: ClientAuth(required=True),
        )
    )
    evs = _drive_openssl_client_accepting(server, sobj, inc, out)
    assert server.handshake_complete
    chains = [e.chain for e in of_type(evs, events.CertificateReceived)]
    assert len(chains) == 1
    assert x509.load_der_x509_certificate(chains[0][0]).subject.rfc4514_string() == (
        f"CN={CLIENT_NAME}"
    )
    assert "CertificateVerify" in _names(evs, events.HandshakeMessageReceived)


@pytest.mark.parametrize("version", list(VERSIONS))
def test_openssl_client_without_certificate_gets_alert(pem_dir: Path, version: str) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.minimum_version = ctx.maximum_version = _tls_version(version)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=lambda sni, schemes: pki().keys["ecdsa"],
            client_auth=lambda sni: ClientAuth(required=True),
        )
    )
    evs = _drive_openssl_client_accepting(server, sobj, inc, out)
    expected = (
        AlertDescription.certificate_required
        if version == "1.3"
        else AlertDescription.handshake_failure
    )
    assert events.AlertSent(AlertLevel.fatal, expected) in evs
    with pytest.raises(ssl.SSLError):
        sobj.read(10)


def test_tls12_rsa_key_transport_with_a_client_certificate() -> None:
    """CertificateVerify signs every message up to ClientKeyExchange, whatever the exchange."""
    certified = client_identities()[1]["rsa"]
    ask = ClientAuth(required=True)
    client, server = make_pair(
        kind="rsa",
        client_kw={
            "versions": VERSIONS["1.2"],
            "client_certificate": certified,
            "cipher_suites": (CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,),
        },
        server_kw={"client_auth": lambda sni: ask},
    )
    client.start()
    pump(client, server)
    server.accept_certificate()
    pump(client, server)
    assert client.handshake_complete and server.handshake_complete
    assert client.negotiated is not None and client.negotiated.key_exchange == "rsa"
