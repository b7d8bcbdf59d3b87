"""Version negotiation (RFC 8446 4.1.3, 4.2.1): picks, the downgrade sentinel, no overlap."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.constants import DOWNGRADE_TLS12, ExtensionType
from tlssim.tls.messages import ClientHello

from .sslhelpers import drive_openssl_client, drive_our_client, write_pem_dir
from .tlshelpers import HOST, counter_entropy, make_pair, of_type, pki, pump, selector_for

TLS13 = (ProtocolVersion.TLSv1_3,)
TLS12 = (ProtocolVersion.TLSv1_2,)
BOTH = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pkiv"))


def fatal_sent(evs: list[events.Event]) -> list[object]:
    return [e.description for e in evs if isinstance(e, events.AlertSent)]


def strip_supported_versions(record: bytes) -> bytes:
    """What an active attacker does to force TLS 1.2: drop supported_versions."""
    assert record[0] == 22 and record[5] == 1
    ch = ClientHello.parse(record[9:])
    stripped = ClientHello(
        random=ch.random,
        legacy_session_id=ch.legacy_session_id,
        cipher_suites=ch.cipher_suites,
        extensions=tuple(e for e in ch.extensions if e.type != ExtensionType.supported_versions),
    ).serialize()
    return record[:3] + len(stripped).to_bytes(2, "big") + stripped


def server_hello_random(evs: list[events.Event]) -> bytes:
    sh = next(
        e for e in evs if isinstance(e, events.HandshakeMessageReceived) and e.name == "ServerHello"
    )
    return bytes.fromhex(str(sh.fields["random"]))


@pytest.mark.parametrize(
    ("client_versions", "server_versions", "expected"),
    [
        (BOTH, BOTH, ProtocolVersion.TLSv1_3),
        (BOTH, TLS12, ProtocolVersion.TLSv1_2),
        (BOTH, TLS13, ProtocolVersion.TLSv1_3),
        (TLS12, BOTH, ProtocolVersion.TLSv1_2),
        (TLS13, BOTH, ProtocolVersion.TLSv1_3),
    ],
)
def test_server_picks_the_best_common_version(
    client_versions: tuple[ProtocolVersion, ...],
    server_versions: tuple[ProtocolVersion, ...],
    expected: ProtocolVersion,
) -> None:
    client, server = make_pair(
        client_kw={"versions": client_versions}, server_kw={"versions": server_versions}
    )
    client.start()
    cev, sev = pump(client, server)
    for evs in (cev, sev):
        done = of_type(evs, events.HandshakeComplete)
        assert len(done) == 1 and done[0].version == expected


@pytest.mark.parametrize(
    ("client_versions", "server_versions"), [(TLS13, TLS12), (TLS12, TLS13)], ids=["13-12", "12-13"]
)
def test_no_common_version_is_protocol_version(
    client_versions: tuple[ProtocolVersion, ...], server_versions: tuple[ProtocolVersion, ...]
) -> None:
    client, server = make_pair(
        client_kw={"versions": client_versions}, server_kw={"versions": server_versions}
    )
    client.start()
    cev, sev = pump(client, server)
    assert fatal_sent(sev) == [AlertDescription.protocol_version]
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.protocol_version) in cev


def test_sentinel_written_only_by_a_tls13_capable_server() -> None:
    for server_versions, sentinel in ((BOTH, True), (TLS12, False)):
        client, server = make_pair(
            client_kw={"versions": TLS12}, server_kw={"versions": server_versions}
        )
        client.start()
        cev, _ = pump(client, server)
        assert (server_hello_random(cev)[24:] == DOWNGRADE_TLS12) is sentinel
        # a client that offered only TLS 1.2 does not check the sentinel
        assert of_type(cev, events.HandshakeComplete)


def test_downgrade_attack_detected_by_our_client() -> None:
    """A 1.3-capable server pushed to 1.2 (supported_versions stripped) writes DOWNGRD\\x01;
    our 1.3+1.2 client aborts with illegal_parameter before any key exchange."""
    client, server = make_pair(client_kw={"versions": BOTH})
    client.start()
    server.receive_data(strip_supported_versions(client.data_to_send()))
    cev = client.receive_data(server.data_to_send())
    assert fatal_sent(cev) == [AlertDescription.illegal_parameter]
    assert not of_type(cev, events.CertificateReceived)
    sev = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.illegal_parameter) in sev


def test_downgrade_attack_detected_by_openssl(pem_dir: Path) -> None:
    """Our sentinel is the real one: OpenSSL (1.3-capable) rejects the forced ServerHello."""
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(), certificate_selector=selector_for(pki().keys["rsa"])
        )
    )
    with pytest.raises(ssl.SSLWantReadError):
        sobj.do_handshake()
    server.receive_data(strip_supported_versions(out.read()))
    inc.write(server.data_to_send())
    with pytest.raises(ssl.SSLError, match="INAPPROPRIATE_FALLBACK"):
        sobj.do_handshake()


def test_our_client_against_openssl_limited_to_tls12(pem_dir: Path) -> None:
    """OpenSSL 3 with maximum_version=TLSv1_2 does not count itself TLS 1.3-capable, so it
    writes no sentinel (ssl_version_supported honours the maximum): the handshake succeeds."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_dir / "ecdsa.crt", pem_dir / "ecdsa.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(), versions=BOTH)
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None
    assert server_hello_random(evs)[24:] != DOWNGRADE_TLS12
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1 and done[0].version == ProtocolVersion.TLSv1_2


def test_openssl_tls13_only_client_against_tls12_server(pem_dir: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            versions=TLS12,
        )
    )
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert isinstance(err, ssl.SSLError)
    assert fatal_sent(evs) == [AlertDescription.protocol_version]


def test_openssl_client_gets_tls12_from_a_tls12_only_server(pem_dir: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            versions=TLS12,
        )
    )
    _, err = drive_openssl_client(server, sobj, inc, out)
    assert err is None and sobj.version() == "TLSv1.2"
