"""Conformance to specific RFC clauses, one test (or family) per clause."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.peers import openssl_client
from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ExtensionType,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    SessionCache,
    SignatureScheme,
    events,
)
from tlssim.tls.extensions import Extension
from tlssim.tls.keyschedule import TLS13_SUITES
from tlssim.tls.messages import ClientHello
from tlssim.tls.record import RecordProtection

from .sslhelpers import drive_our_client, served_once, write_pem_dir
from .tlshelpers import HOST, counter_entropy, make_pair, multi_selector, of_type, pki, pump

TLS12 = (ProtocolVersion.TLSv1_2,)
PKCS1_ONLY = (SignatureScheme.rsa_pkcs1_sha256,)
ECDHE_RSA = CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
RSA_KX = CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pkic"))


def fatal(desc: AlertDescription) -> events.AlertSent:
    return events.AlertSent(AlertLevel.fatal, desc)


def alerts_sent(evs: list[events.Event]) -> list[events.AlertSent]:
    return of_type(evs, events.AlertSent)


def client_hello_record(
    client_kw: Mapping[str, object] | None = None,
    *,
    drop: tuple[int, ...] = (),
    replace: dict[int, bytes] | None = None,
    add: tuple[Extension, ...] = (),
    extra_suites: tuple[int, ...] = (),
    legacy_version: int | None = None,
) -> bytes:
    """Our client's first ClientHello record, edited the way a peer might send it."""
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **(client_kw or {}))  # type: ignore[arg-type]
    )
    client.start()
    record = client.data_to_send()
    ch = ClientHello.parse(record[9:])
    exts = (
        tuple(
            Extension(e.type, (replace or {}).get(e.type, e.data))
            for e in ch.extensions
            if e.type not in drop
        )
        + add
    )
    raw = ClientHello(
        legacy_version=ch.legacy_version if legacy_version is None else legacy_version,
        random=ch.random,
        legacy_session_id=ch.legacy_session_id,
        cipher_suites=ch.cipher_suites + extra_suites,
        extensions=exts,
    ).serialize()
    return record[:3] + len(raw).to_bytes(2, "big") + raw


def server(**kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=multi_selector(pki().keys["ecdsa"], pki().keys["rsa"]),
            **kw,  # type: ignore[arg-type]
        )
    )


# -- A. RFC 5246 7.4.1.4.1 / 7.4.2: TLS 1.2 may sign with PKCS#1 v1.5 ----------------------


@pytest.mark.parametrize("suite", [ECDHE_RSA, RSA_KX], ids=["ecdhe-rsa", "rsa-kx"])
def test_tls12_client_offering_only_pkcs1_schemes_gets_an_rsa_certificate(
    suite: CipherSuite,
) -> None:
    """RFC 5246 7.4.1.4.1: the TLS 1.3 ban on PKCS#1 CertificateVerify does not apply."""
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(b"c"),
            versions=TLS12,
            cipher_suites=(suite,),
            signature_schemes=PKCS1_ONLY,
        )
    )
    srv = server()
    client.start()
    cev, sev = pump(client, srv)
    done = of_type(sev, events.HandshakeComplete)
    assert len(done) == 1 and done[0].cipher_suite == suite
    assert of_type(cev, events.HandshakeComplete) == done
    # ECDHE_RSA signs its ServerKeyExchange with rsa_pkcs1_sha256; RSA key transport signs nothing
    expected = SignatureScheme.rsa_pkcs1_sha256 if suite == ECDHE_RSA else None
    assert done[0].signature_scheme == expected


def test_our_client_offering_only_pkcs1_against_openssl(pem_dir: Path) -> None:
    """RFC 5246 7.4.1.4.1: OpenSSL signs the ServerKeyExchange with rsa_pkcs1_sha256."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_dir / "rsa.crt", pem_dir / "rsa.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=TLS12,
            cipher_suites=(ECDHE_RSA,),
            signature_schemes=PKCS1_ONLY,
        )
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None
    done = of_type(evs, events.HandshakeComplete)
    assert [d.signature_scheme for d in done] == [SignatureScheme.rsa_pkcs1_sha256]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-GCM-SHA256"])
def test_openssl_client_with_sigalgs_rsa_sha256_against_our_server(
    pem_dir: Path, cipher: str
) -> None:
    """RFC 5246 7.4.1.4.1: ``openssl s_client -sigalgs RSA+SHA256`` (PKCS#1 only) succeeds."""
    srv = server()
    with served_once(srv) as address:
        result = openssl_client(
            address,
            *("-sigalgs", "RSA+SHA256", "-cipher", cipher),
            server_name=HOST,
            ca_file=pem_dir / "ca.pem",
            verify=True,
            version="1.2",
            timeout_s=20,
        )
    assert srv.negotiated is not None, result.stdout + result.stderr
    assert srv.negotiated.cipher_suite in (ECDHE_RSA, RSA_KX)
    assert "Verify return code: 0 (ok)" in result.stdout


# -- B. RFC 6066 3: server_name with an empty list ----------------------------------------


@pytest.mark.parametrize("versions", [None, TLS12], ids=["1.3", "1.2"])
def test_empty_server_name_list_is_decode_error(
    versions: tuple[ProtocolVersion, ...] | None,
) -> None:
    """RFC 6066 3: server_name_list is <1..2^16-1>; an empty list does not decode."""
    kw = {"versions": versions} if versions else {}
    record = client_hello_record(kw, replace={ExtensionType.server_name: b"\x00\x00"})
    assert alerts_sent(server().receive_data(record)) == [fatal(AlertDescription.decode_error)]


# -- every ClientHello extension's syntax, checked in one place ----------------------------

MALFORMED = {
    "server_name empty": (ExtensionType.server_name, b""),  # RFC 6066 3
    "supported_versions odd": (ExtensionType.supported_versions, b"\x03\x03\x04"),  # 4.2.1
    "supported_groups odd": (ExtensionType.supported_groups, b"\x00\x01\x00"),  # 4.2.7
    "signature_algorithms odd": (ExtensionType.signature_algorithms, b"\x00\x03\x04\x03\x05"),
    "key_share truncated": (ExtensionType.key_share, b"\x00\x05\x00\x1d\x00\x20\x00"),  # 4.2.8
    "status_request truncated": (ExtensionType.status_request, b"\x01\x00"),  # RFC 6066 8
    "psk_key_exchange_modes empty": (ExtensionType.psk_key_exchange_modes, b"\x00"),  # 4.2.9
    "cookie empty": (ExtensionType.cookie, b"\x00\x00"),  # 4.2.2
    "extended_master_secret with a body": (ExtensionType.extended_master_secret, b"\x00"),
    "renegotiation_info truncated": (ExtensionType.renegotiation_info, b"\x02\x00"),
    "ec_point_formats empty": (ExtensionType.ec_point_formats, b"\x00"),  # RFC 8422 5.1.2
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("server_versions", [None, TLS12], ids=["1.3+1.2", "1.2"])
def test_malformed_client_hello_extension_is_decode_error(
    case: str, server_versions: tuple[ProtocolVersion, ...] | None
) -> None:
    """Whatever version the hello settles on, a malformed extension is a decode_error."""
    etype, body = MALFORMED[case]
    both = {"versions": (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)}
    record = client_hello_record(both, drop=(etype,), add=(Extension(etype, body),))
    srv = server(**({"versions": server_versions} if server_versions else {}))
    assert alerts_sent(srv.receive_data(record)) == [fatal(AlertDescription.decode_error)]


# -- C. RFC 8446 5.1 / 6: a zero-length alert record --------------------------------------


def test_zero_length_alert_record_is_unexpected_message() -> None:
    """RFC 8446 5.1, 6: an alert record holds exactly one alert; none at all is unexpected."""
    srv = server()
    srv.receive_data(client_hello_record())
    evs = srv.receive_data(bytes([21, 3, 3, 0, 0]))
    assert alerts_sent(evs) == [fatal(AlertDescription.unexpected_message)]


def test_truncated_alert_is_still_decode_error() -> None:
    evs = server().receive_data(bytes([21, 3, 3, 0, 1, 2]))
    assert alerts_sent(evs) == [fatal(AlertDescription.decode_error)]


# -- D. RFC 8446 4.4.4: Finished must be Hash.length bytes --------------------------------


def test_tls13_finished_of_another_hash_length_is_decode_error() -> None:
    """RFC 8446 4.4.4: verify_data is Hash.length long; 48 bytes under SHA-256 is malformed."""
    client, srv = make_pair()
    client.start()
    srv.receive_data(client.data_to_send())
    secrets = of_type(client.receive_data(srv.data_to_send()), events.SecretDerived)
    client.accept_certificate()
    client_hs = next(e.secret for e in secrets if e.label == "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
    assert client.negotiated is not None
    params = TLS13_SUITES[client.negotiated.cipher_suite]
    assert params.hash_length == 32
    prot = RecordProtection(params, client_hs)
    evs = srv.receive_data(prot.seal(22, bytes([20, 0, 0, 48]) + bytes(48)))
    assert alerts_sent(evs) == [fatal(AlertDescription.decode_error)]


# -- E. RFC 8446 4.1.2, D.5: legacy_version 0x0300 or below -------------------------------


@pytest.mark.parametrize("legacy_version", [0x0300, 0x0200])
def test_client_hello_legacy_version_ssl3_or_below_is_protocol_version(legacy_version: int) -> None:
    """RFC 8446 D.5: a ClientHello.legacy_version of 0x0300 or less aborts the handshake,
    even when supported_versions offers TLS 1.3."""
    record = client_hello_record(legacy_version=legacy_version)
    assert alerts_sent(server().receive_data(record)) == [fatal(AlertDescription.protocol_version)]


def test_server_hello_legacy_version_ssl3_is_protocol_version() -> None:
    """RFC 8446 D.5: the same rule holds for ServerHello.legacy_version."""
    client, srv = make_pair()
    client.start()
    srv.receive_data(client.data_to_send())
    flight = bytearray(srv.data_to_send())
    assert flight[0] == 22 and flight[5] == 2 and flight[9:11] == b"\x03\x03"
    flight[9:11] = b"\x03\x00"
    evs = client.receive_data(bytes(flight))
    assert alerts_sent(evs) == [fatal(AlertDescription.protocol_version)]


# -- F. RFC 7627 5.3: an EMS session resumed without EMS ----------------------------------


def test_resuming_an_ems_session_without_ems_is_handshake_failure() -> None:
    """RFC 7627 5.3: the original session used EMS, the new ClientHello lacks it: abort."""
    cache = SessionCache()
    client, srv = make_pair(client_kw={"versions": TLS12}, server_kw={"session_cache": cache})
    client.start()
    session = of_type(pump(client, srv)[0], events.SessionReceived)[0].session
    assert session.extended_master_secret
    record = client_hello_record(
        {"versions": TLS12, "session": session}, drop=(ExtensionType.extended_master_secret,)
    )
    evs = server(session_cache=cache).receive_data(record)
    assert alerts_sent(evs) == [fatal(AlertDescription.handshake_failure)]


# -- RFC 7507: TLS_FALLBACK_SCSV ---------------------------------------------------------

FALLBACK_SCSV = 0x5600


def test_fallback_scsv_below_our_best_version_is_inappropriate_fallback() -> None:
    """RFC 7507 3: TLS_FALLBACK_SCSV with a version below the server's highest: abort."""
    record = client_hello_record({"versions": TLS12}, extra_suites=(FALLBACK_SCSV,))
    evs = server().receive_data(record)
    assert alerts_sent(evs) == [fatal(AlertDescription.inappropriate_fallback)]


@pytest.mark.parametrize(
    ("client_versions", "server_versions"),
    [(None, None), (TLS12, TLS12)],
    ids=["1.3-client", "1.2-only-server"],
)
def test_fallback_scsv_at_our_best_version_is_accepted(
    client_versions: tuple[ProtocolVersion, ...] | None,
    server_versions: tuple[ProtocolVersion, ...] | None,
) -> None:
    kw = {"versions": client_versions} if client_versions else {}
    skw = {"versions": server_versions} if server_versions else {}
    record = client_hello_record(kw, extra_suites=(FALLBACK_SCSV,))
    evs = server(**skw).receive_data(record)
    assert not alerts_sent(evs)
    assert of_type(evs, events.HandshakeMessageSent)


# -- RFC 8446 4.2.7: supported_groups in EncryptedExtensions ------------------------------


def _encrypted_extensions(client_groups: tuple[NamedGroup, ...]) -> list[object]:
    client, srv = make_pair(
        client_kw={"supported_groups": client_groups, "key_share_groups": client_groups[:1]},
        server_kw={"supported_groups": (NamedGroup.x25519, NamedGroup.secp256r1)},
    )
    client.start()
    sent = of_type(pump(client, srv)[1], events.HandshakeMessageSent)
    ee = next(m for m in sent if m.name == "EncryptedExtensions")
    extensions = ee.fields["extensions"]
    assert isinstance(extensions, list)
    return extensions


def test_encrypted_extensions_name_our_groups_when_our_first_was_not_offered() -> None:
    """4.2.7: all the server's groups, even those the client did not offer (as OpenSSL)."""
    assert "supported_groups" in _encrypted_extensions((NamedGroup.secp256r1,))


def test_encrypted_extensions_leave_out_groups_when_our_first_was_taken() -> None:
    groups = (NamedGroup.x25519, NamedGroup.secp256r1)
    assert "supported_groups" not in _encrypted_extensions(groups)
