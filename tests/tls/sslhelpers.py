"""Drive Python's ssl (OpenSSL) through MemoryBIO against our engine, and our engine's
server over a real socket for one connection (for the openssl command)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    ClientConnection,
    ServerConnection,
    State,
    events,
)

from .tlshelpers import pki


def write_pem_dir(d: Path) -> Path:
    p = pki()
    (d / "ca.pem").write_bytes(p.ca_pem)
    for kind in ("ecdsa", "rsa", "ed25519"):
        (d / f"{kind}.crt").write_bytes(p.leaf_pem(kind) + p.ca_pem)
        (d / f"{kind}.key").write_bytes(p.key_pem(kind))
    return d


def drive_our_client(
    client: ClientConnection, sobj: ssl.SSLObject, inc: ssl.MemoryBIO, out: ssl.MemoryBIO
) -> tuple[list[events.Event], Exception | None]:
    """Run our client against an OpenSSL server object until both are quiet."""
    evs: list[events.Event] = client.start()
    done = False
    err: Exception | None = None
    for _ in range(20):
        data = client.data_to_send()
        if data:
            inc.write(data)
        if not done and err is None:
            try:
                sobj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                err = exc
        reply = out.read()
        if reply:
            new = client.receive_data(reply)
            evs += new
            if any(isinstance(e, events.CertificateReceived) for e in new):
                evs += client.accept_certificate()
        if client.state is State.CLOSED and not reply:
            break
        if done and client.state is State.CONNECTED and not data and not reply:
            break
    return evs, err


def drive_openssl_client(
    server: ServerConnection, sobj: ssl.SSLObject, inc: ssl.MemoryBIO, out: ssl.MemoryBIO
) -> tuple[list[events.Event], Exception | None]:
    """Run an OpenSSL client object against our server until the handshake ends."""
    evs: list[events.Event] = []
    for _ in range(20):
        try:
            sobj.do_handshake()
            data = out.read()
            if data:
                evs += server.receive_data(data)
            return evs, None
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            data = out.read()
            if data:
                evs += server.receive_data(data)
            return evs, exc
        data = out.read()
        if data:
            evs += server.receive_data(data)
        reply = server.data_to_send()
        if reply:
            inc.write(reply)
    raise AssertionError("handshake did not finish")


def _serve_once(srv: ServerConnection, listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(10)
        while not srv.closed:
            data = conn.recv(65536)
            srv.receive_data(data)
            out = srv.data_to_send()
            if out:
                conn.sendall(out)
            if not data:
                break


@contextlib.contextmanager
def served_once(srv: ServerConnection) -> Iterator[tuple[str, int]]:
    """Our server `srv` on a loopback port for one connection (in a thread): yields the
    address; on leaving, waits (up to 10 s) for that connection to end."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        thread = threading.Thread(target=_serve_once, args=(srv, listener), daemon=True)
        thread.start()
        yield listener.getsockname()
        thread.join(10)


def bulk_and_close_with_openssl(
    client: ClientConnection, sobj: ssl.SSLObject, inc: ssl.MemoryBIO, out: ssl.MemoryBIO
) -> list[events.Event]:
    """After a handshake through memory BIOs: OpenSSL sends 18 kB to our client, our client
    closes, OpenSSL answers close_notify; the events of our client's last read."""
    sobj.write(b"hello from OpenSSL" * 1000)
    got = client.receive_data(out.read())
    data = b"".join(e.data for e in got if isinstance(e, events.ApplicationDataReceived))
    assert data == b"hello from OpenSSL" * 1000
    client.close()
    inc.write(client.data_to_send())
    with contextlib.suppress(ssl.SSLWantReadError):
        sobj.unwrap()
    tail = client.receive_data(out.read())
    close_notify = events.AlertReceived(AlertLevel.warning, AlertDescription.close_notify)
    assert close_notify in tail
    return tail
