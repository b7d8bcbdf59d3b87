"""Hybrid post-quantum key exchange against OpenSSL 3.5+ (pyOpenSSL's bundled library).

OpenSSL's ML-KEM and hybrid groups are an independent implementation of the drafts: a
handshake completes only if the shares, the ciphertexts and the shared secret's order
are byte-exact on both sides. ``Connection.get_group_name`` tells what OpenSSL agreed.
Python's ``ssl`` (the system OpenSSL 3.0) knows no ML-KEM: it must still get x25519.
"""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest
from OpenSSL import SSL
from OpenSSL._util import lib as openssl_lib

from tlssim.tls import (
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    State,
    events,
)

from .sslhelpers import drive_our_client, write_pem_dir
from .tlshelpers import HOST, counter_entropy, of_type, pki, protocol_messages, selector_for

PQ_GROUPS = [NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768, NamedGroup.MLKEM768]


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pki"))


def _context(groups: str | None) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    if groups is not None:
        # pyOpenSSL has no wrapper for the group list; SSL_CTX_set1_groups_list's alias
        assert openssl_lib.SSL_CTX_set1_curves_list(ctx._context, groups.encode()) == 1
    return ctx


def _openssl_supports(group: NamedGroup) -> bool:
    return bool(openssl_lib.SSL_CTX_set1_curves_list(_context(None)._context, group.name.encode()))


def _pump_openssl(conn: SSL.Connection, peer_bytes: bytes) -> bytes:
    """Feed OpenSSL what our side sent, step its handshake, return what it wants to send."""
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


def _our_client_against(conn: SSL.Connection, client: ClientConnection) -> list[events.Event]:
    evs = client.start()
    for _ in range(10):
        reply = _pump_openssl(conn, client.data_to_send())
        if not reply:
            break
        new = client.receive_data(reply)
        evs += new
        if any(isinstance(e, events.CertificateReceived) for e in new):
            evs += client.accept_certificate()
    _pump_openssl(conn, client.data_to_send())
    return evs


def _openssl_server(pem_dir: Path, groups: str | None) -> SSL.Connection:
    ctx = _context(groups)
    ctx.use_certificate_chain_file(str(pem_dir / "ecdsa.crt"))
    ctx.use_privatekey_file(str(pem_dir / "ecdsa.key"))
    conn = SSL.Connection(ctx, None)
    conn.set_accept_state()
    return conn


def _openssl_client(pem_dir: Path, groups: str | None) -> SSL.Connection:
    ctx = _context(groups)
    ctx.load_verify_locations(str(pem_dir / "ca.pem"))
    ctx.set_verify(SSL.VERIFY_PEER)
    conn = SSL.Connection(ctx, None)
    conn.set_tlsext_host_name(HOST.encode())
    conn.set_connect_state()
    return conn


def _our_server(**kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            **kw,  # type: ignore[arg-type]
        )
    )


def _received(evs: list[events.Event]) -> list[str]:
    return protocol_messages(evs, events.HandshakeMessageReceived)


def _complete(evs: list[events.Event]) -> events.HandshakeComplete:
    (done,) = of_type(evs, events.HandshakeComplete)
    return done


def _assert_data_flows(conn: SSL.Connection, ours: ClientConnection | ServerConnection) -> None:
    ours.send_application_data(b"hello from tlssim")
    conn.bio_write(ours.data_to_send())
    assert conn.recv(100) == b"hello from tlssim"
    conn.sendall(b"hello from OpenSSL" * 500)
    got = ours.receive_data(conn.bio_read(65536))
    assert b"".join(e.data for e in of_type(got, events.ApplicationDataReceived)) == (
        b"hello from OpenSSL" * 500
    )


def test_default_client_gets_x25519mlkem768_from_default_openssl_server(pem_dir: Path) -> None:
    conn = _openssl_server(pem_dir, None)
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy()))
    evs = _our_client_against(conn, client)
    assert client.state is State.CONNECTED
    assert _received(evs)[0] == "ServerHello"  # our hybrid share was taken: no retry
    assert conn.get_group_name() == "X25519MLKEM768"
    done = _complete(evs)
    assert done.group == NamedGroup.X25519MLKEM768 and done.key_exchange == "X25519MLKEM768"
    _assert_data_flows(conn, client)


@pytest.mark.parametrize("group", PQ_GROUPS, ids=lambda g: g.name)
def test_our_client_each_pq_group_against_openssl(pem_dir: Path, group: NamedGroup) -> None:
    if not _openssl_supports(group):
        pytest.skip(f"the bundled OpenSSL has no {group.name}")
    conn = _openssl_server(pem_dir, group.name)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            supported_groups=(group,),
            key_share_groups=(group,),
        )
    )
    evs = _our_client_against(conn, client)
    assert client.state is State.CONNECTED
    assert conn.get_group_name() == group.name
    assert _complete(evs).group == group
    _assert_data_flows(conn, client)


def test_openssl_server_retries_for_the_hybrid_our_client_listed(pem_dir: Path) -> None:
    conn = _openssl_server(pem_dir, "X25519MLKEM768")
    client = ClientConnection(
        ClientConfig(
            server_name=HOST, entropy=counter_entropy(), key_share_groups=(NamedGroup.x25519,)
        )
    )
    evs = _our_client_against(conn, client)
    assert _received(evs)[:2] == ["HelloRetryRequest", "ServerHello"]
    assert conn.get_group_name() == "X25519MLKEM768"
    assert _complete(evs).group == NamedGroup.X25519MLKEM768


def _openssl_client_against(conn: SSL.Connection, server: ServerConnection) -> list[events.Event]:
    evs: list[events.Event] = []
    reply = b""
    for _ in range(10):
        data = _pump_openssl(conn, reply)
        if not data:
            break
        evs += server.receive_data(data)
        reply = server.data_to_send()
    return evs


def test_default_openssl_client_gets_x25519mlkem768_from_our_server(pem_dir: Path) -> None:
    conn = _openssl_client(pem_dir, None)
    server = _our_server()
    evs = _openssl_client_against(conn, server)
    assert server.state is State.CONNECTED
    assert _received(evs) == ["ClientHello", "Finished"]  # OpenSSL sent the hybrid share
    assert conn.get_group_name() == "X25519MLKEM768"
    done = _complete(evs)
    assert done.group == NamedGroup.X25519MLKEM768 and done.key_exchange == "X25519MLKEM768"
    _assert_data_flows(conn, server)


@pytest.mark.parametrize("group", PQ_GROUPS, ids=lambda g: g.name)
def test_openssl_client_each_pq_group_against_our_server(pem_dir: Path, group: NamedGroup) -> None:
    if not _openssl_supports(group):
        pytest.skip(f"the bundled OpenSSL has no {group.name}")
    conn = _openssl_client(pem_dir, group.name)
    server = _our_server()
    evs = _openssl_client_against(conn, server)
    assert server.state is State.CONNECTED
    assert conn.get_group_name() == group.name
    assert _complete(evs).group == group
    _assert_data_flows(conn, server)


def test_our_server_retries_openssl_client_towards_the_hybrid(pem_dir: Path) -> None:
    # OpenSSL lists the hybrid but sends only an x25519 share: we prefer the hybrid
    conn = _openssl_client(pem_dir, "x25519:X25519MLKEM768")
    server = _our_server()
    evs = _openssl_client_against(conn, server)
    assert _received(evs)[:2] == ["ClientHello", "ClientHello"]
    assert conn.get_group_name() == "X25519MLKEM768"
    assert _complete(evs).group == NamedGroup.X25519MLKEM768


def test_system_openssl_without_mlkem_still_gets_x25519(pem_dir: Path) -> None:
    """Our default client (hybrid and x25519 shares) against Python's ssl server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(pem_dir / "ecdsa.crt", pem_dir / "ecdsa.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy()))
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None, err
    assert _received(evs)[0] == "ServerHello"  # the x25519 share beside the hybrid served
    assert _complete(evs).group == NamedGroup.x25519
