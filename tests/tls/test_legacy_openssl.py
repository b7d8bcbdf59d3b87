"""Legacy modes against OpenSSL 3 (Python's ``ssl`` through MemoryBIO), both directions.

CBC suites with HMAC, MAC-then-encrypt and RFC 7366 encrypt-then-MAC, in TLS 1.2, 1.1 and
1.0 (their MD5/SHA-1 PRF, the 1.0 implicit IV and the 1.1 explicit one). OpenSSL allows
TLS 1.0/1.1 and SHA-1 MACs only at ``@SECLEVEL=0``. A handshake completing is the
byte-exact check: each side's Finished is a PRF over every handshake byte under the master
secret, and every record after ChangeCipherSpec carries an HMAC over its sequence number,
header and content, so one byte of difference in a key, IV, MAC or padding fails it. Our
client's master secret is also compared with the one OpenSSL logs (SSLKEYLOGFILE), and its
records' sizes with what each version's IV and padding rules give.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import warnings
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
    ffdhe,
)
from tlssim.tls.tls12 import LEGACY_SUITES

from .sslhelpers import (
    bulk_and_close_with_openssl,
    drive_openssl_client,
    drive_our_client,
    write_pem_dir,
)
from .tlshelpers import HOST, counter_entropy, of_type, pki, selector_for

#: SSL_OP_NO_ENCRYPT_THEN_MAC (Python's ssl has no name for it).
OP_NO_ENCRYPT_THEN_MAC = 1 << 19

S = CipherSuite
OPENSSL_NAMES = {
    S.TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
    S.TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
    S.TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
    S.TLS_RSA_WITH_AES_256_CBC_SHA256: "AES256-SHA256",
    S.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
    S.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
    S.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
    S.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
    S.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
    S.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384: "ECDHE-RSA-AES256-SHA384",
    S.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
    S.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: "ECDHE-ECDSA-AES256-SHA384",
}
SSL_VERSIONS = {
    ProtocolVersion.TLSv1_2: ssl.TLSVersion.TLSv1_2,
    ProtocolVersion.TLSv1_1: ssl.TLSVersion.TLSv1_1,
    ProtocolVersion.TLSv1_0: ssl.TLSVersion.TLSv1,
}
LABELS = {
    ProtocolVersion.TLSv1_2: "TLSv1.2",
    ProtocolVersion.TLSv1_1: "TLSv1.1",
    ProtocolVersion.TLSv1_0: "TLSv1",
}
#: (suite, version) pairs: every CBC suite in TLS 1.2; RSA key transport and ECDHE (its
#: ServerKeyExchange signed with MD5+SHA-1 or ECDSA-SHA-1, no algorithm field) in 1.1, 1.0.
CASES = [(s, ProtocolVersion.TLSv1_2) for s in OPENSSL_NAMES] + [
    (s, v)
    for v in (ProtocolVersion.TLSv1_1, ProtocolVersion.TLSv1_0)
    for s in (
        S.TLS_RSA_WITH_AES_128_CBC_SHA,
        S.TLS_RSA_WITH_AES_256_CBC_SHA,
        S.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        S.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
    )
]
IDS = [f"{OPENSSL_NAMES[s]}-{LABELS[v]}" for s, v in CASES]


def kind_for(suite: CipherSuite) -> str:
    return "ecdsa" if LEGACY_SUITES[suite].authentication == "ecdsa" else "rsa"


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pki-legacy"))


def _pin(ctx: ssl.SSLContext, version: ProtocolVersion, cipher: str, etm: bool) -> None:
    with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1 and TLSv1_1 are deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = SSL_VERSIONS[version]
        ctx.maximum_version = SSL_VERSIONS[version]
    ctx.set_ciphers(f"{cipher}:@SECLEVEL=0")
    if not etm:
        ctx.options |= OP_NO_ENCRYPT_THEN_MAC


def openssl_server(
    pem_dir: Path, suite: CipherSuite, version: ProtocolVersion, etm: bool
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    kind = kind_for(suite)
    ctx.load_cert_chain(pem_dir / f"{kind}.crt", pem_dir / f"{kind}.key")
    _pin(ctx, version, OPENSSL_NAMES[suite], etm)
    return ctx


def openssl_client(
    pem_dir: Path, suite: CipherSuite, version: ProtocolVersion, etm: bool
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    _pin(ctx, version, OPENSSL_NAMES[suite], etm)
    return ctx


def openssl_keylog(path: Path) -> list[str]:
    """The key log lines OpenSSL wrote (its comment line left out)."""
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def received(evs: list[events.Event]) -> list[str]:
    return [e.name for e in evs if isinstance(e, events.HandshakeMessageReceived)]


def server_hello_fields(evs: list[events.Event], kind: type[events.Event]) -> dict[str, object]:
    hello = next(e for e in evs if isinstance(e, kind) and e.name == "ServerHello")  # type: ignore[attr-defined]
    return hello.fields  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("etm", [True, False], ids=["EtM", "MtE"])
@pytest.mark.parametrize(("suite", "version"), CASES, ids=IDS)
def test_our_client_against_openssl_server(
    pem_dir: Path, tmp_path: Path, suite: CipherSuite, version: ProtocolVersion, etm: bool
) -> None:
    ctx = openssl_server(pem_dir, suite, version, etm)
    ctx.keylog_filename = str(tmp_path / "keylog")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=(version,),
            cipher_suites=(suite,),
        )
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1
    assert done[0].version == version and done[0].cipher_suite == suite
    assert sobj.version() == LABELS[version]
    assert sobj.cipher()[0] == OPENSSL_NAMES[suite]  # type: ignore[index]
    fields = server_hello_fields(evs, events.HandshakeMessageReceived)
    assert fields["encrypt_then_mac"] is etm
    assert fields["selected_version"] == version.label
    # byte for byte: OpenSSL's master secret (its key log) is the one we derived
    assert openssl_keylog(tmp_path / "keylog") == [
        e.keylog_line() for e in of_type(evs, events.SecretDerived)
    ]
    # TLS 1.0 chains its IVs (no IV in the record); 1.1 and 1.2 send one per record
    client.send_application_data(b"x")
    record = client.data_to_send()
    inc.write(record)
    assert sobj.read(10) == b"x"
    block = 16
    mac = LEGACY_SUITES[suite].mac_length
    padded = (1 + mac + 1 + block - 1) // block * block if not etm else block
    explicit = 0 if version == ProtocolVersion.TLSv1_0 else block
    assert len(record) == 5 + explicit + padded + (mac if etm else 0)

    # records of every padding length, and one that spans several records
    for size in range(1, 40):
        client.send_application_data(bytes(range(size)))
        inc.write(client.data_to_send())
        assert sobj.read(1024) == bytes(range(size))
    bulk_and_close_with_openssl(client, sobj, inc, out)


@pytest.mark.parametrize("etm", [True, False], ids=["EtM", "MtE"])
@pytest.mark.parametrize(("suite", "version"), CASES, ids=IDS)
def test_openssl_client_against_our_server(
    pem_dir: Path, suite: CipherSuite, version: ProtocolVersion, etm: bool
) -> None:
    ctx = openssl_client(pem_dir, suite, version, etm)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys[kind_for(suite)]),
            versions=(version,),
            cipher_suites=(suite,),
        )
    )
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert err is None
    assert received(evs) == ["ClientHello", "ClientKeyExchange", "ChangeCipherSpec", "Finished"]
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1 and done[0].cipher_suite == suite and done[0].version == version
    assert sobj.version() == LABELS[version]
    assert sobj.cipher()[0] == OPENSSL_NAMES[suite]  # type: ignore[index]
    assert server_hello_fields(evs, events.HandshakeMessageSent)["encrypt_then_mac"] is etm

    for size in range(1, 40):
        sobj.write(bytes(range(size)))
        got = server.receive_data(out.read())
        data = b"".join(e.data for e in of_type(got, events.ApplicationDataReceived))
        assert data == bytes(range(size))
    sobj.write(b"ping" * 5000)
    got = server.receive_data(out.read())
    data = b"".join(e.data for e in of_type(got, events.ApplicationDataReceived))
    assert data == b"ping" * 5000
    server.send_application_data(b"pong" * 5000)
    inc.write(server.data_to_send())
    pong = b""
    while len(pong) < 20000:
        pong += sobj.read(20000)
    assert pong == b"pong" * 5000


# -- finite-field DHE (RFC 5246 ServerDHParams, RFC 7919 groups) ------------------------

DHE_NAMES = {
    S.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: "DHE-RSA-AES128-GCM-SHA256",
    S.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: "DHE-RSA-AES256-GCM-SHA384",
    S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA: "DHE-RSA-AES128-SHA",
    S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA: "DHE-RSA-AES256-SHA",
    S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA256: "DHE-RSA-AES128-SHA256",
    S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA256: "DHE-RSA-AES256-SHA256",
}
DH_CASES = [("ffdhe2048", ffdhe.FFDHE2048), ("modp1024", ffdhe.OAKLEY_GROUP2)]


def _der_length(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_integer(n: int) -> bytes:
    raw = n.to_bytes(n.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return b"\x02" + _der_length(len(raw)) + raw


def _dh_pem(tmp_path: Path, group: ffdhe.DhGroup) -> Path:
    """PKCS #3 DHParameter (SEQUENCE of p and g) as OpenSSL reads it."""
    body = _der_integer(group.p) + _der_integer(group.g)
    der = b"\x30" + _der_length(len(body)) + body
    b64 = base64.encodebytes(der).decode()
    path = tmp_path / f"{group.name}.pem"
    path.write_text(f"-----BEGIN DH PARAMETERS-----\n{b64}-----END DH PARAMETERS-----\n")
    return path


def _read_dh_pem(pem: bytes) -> tuple[int, int]:
    der = base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))
    values = []
    i = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    while i < len(der):
        assert der[i] == 0x02
        length, i = der[i + 1], i + 2
        if length & 0x80:
            size = length & 0x7F
            length, i = int.from_bytes(der[i : i + size], "big"), i + size
        values.append(int.from_bytes(der[i : i + length], "big"))
        i += length
    return values[0], values[1]


@pytest.mark.parametrize("group", [ffdhe.FFDHE2048, ffdhe.FFDHE3072], ids=lambda g: g.name)
def test_the_rfc7919_groups_are_openssls(group: ffdhe.DhGroup) -> None:
    done = subprocess.run(
        ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:{group.name}"],
        capture_output=True,
        check=True,
    )
    assert _read_dh_pem(done.stdout) == (group.p, group.g)
    assert ffdhe.is_safe_prime(group.p)


@pytest.mark.parametrize(("name", "group"), DH_CASES, ids=[c[0] for c in DH_CASES])
@pytest.mark.parametrize("suite", list(DHE_NAMES), ids=list(DHE_NAMES.values()))
def test_dhe_our_client_against_openssl_server(
    pem_dir: Path, tmp_path: Path, suite: CipherSuite, name: str, group: ffdhe.DhGroup
) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.keylog_filename = str(tmp_path / "keylog")
    ctx.load_cert_chain(pem_dir / "rsa.crt", pem_dir / "rsa.key")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(f"{DHE_NAMES[suite]}:@SECLEVEL=0")
    ctx.load_dh_params(str(_dh_pem(tmp_path, group)))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=(ProtocolVersion.TLSv1_2,),
            cipher_suites=(suite,),
            min_dh_bits=group.bits,
        )
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1 and done[0].cipher_suite == suite
    assert sobj.cipher()[0] == DHE_NAMES[suite]  # type: ignore[index]
    ske = next(
        e
        for e in evs
        if isinstance(e, events.HandshakeMessageReceived) and e.name == "ServerKeyExchange"
    )
    assert ske.fields["key_exchange"] == "dhe" and ske.fields["group_bits"] == group.bits
    assert openssl_keylog(tmp_path / "keylog") == [
        e.keylog_line() for e in of_type(evs, events.SecretDerived)
    ]
    client.send_application_data(b"dhe")
    inc.write(client.data_to_send())
    assert sobj.read(100) == b"dhe"


@pytest.mark.parametrize(("name", "group"), DH_CASES, ids=[c[0] for c in DH_CASES])
@pytest.mark.parametrize("suite", list(DHE_NAMES), ids=list(DHE_NAMES.values()))
def test_dhe_openssl_client_against_our_server(
    pem_dir: Path, suite: CipherSuite, name: str, group: ffdhe.DhGroup
) -> None:
    client_ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client_ctx.set_ciphers(f"{DHE_NAMES[suite]}:@SECLEVEL=0")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = client_ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys["rsa"]),
            versions=(ProtocolVersion.TLSv1_2,),
            cipher_suites=(suite,),
            dh_group=group,
        )
    )
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert err is None
    done = of_type(evs, events.HandshakeComplete)
    assert len(done) == 1 and done[0].cipher_suite == suite
    assert done[0].key_exchange == group.name
    assert sobj.cipher()[0] == DHE_NAMES[suite]  # type: ignore[index]
    sobj.write(b"dhe")
    got = server.receive_data(out.read())
    assert b"".join(e.data for e in of_type(got, events.ApplicationDataReceived)) == b"dhe"
