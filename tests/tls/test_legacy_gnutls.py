"""3DES and RC4 against GnuTLS, both roles: the system's OpenSSL 3 (and OpenSSL 4) have
no 3DES or RC4 suite left, GnuTLS 3.7 still runs them when its priority string names them.

Our engine runs over a TCP socket on 127.0.0.1; ``gnutls-cli`` (our server) sends a line
and prints the echo, ``gnutls-serv --echo`` (our client) echoes what we send. As with
OpenSSL, a completed handshake and an echoed record are the byte-exact check (Finished
and every record MAC cover every byte).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tlssim.tls import (
    CipherSuite,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)

from .sslhelpers import write_pem_dir
from .tlshelpers import HOST, counter_entropy, of_type, pki, selector_for

GNUTLS_CLI = shutil.which("gnutls-cli")
GNUTLS_SERV = shutil.which("gnutls-serv")
pytestmark = pytest.mark.skipif(
    GNUTLS_CLI is None or GNUTLS_SERV is None, reason="GnuTLS tools not installed"
)

S = CipherSuite
#: Each suite with the GnuTLS priority string that selects exactly it.
CASES = {
    S.TLS_RSA_WITH_3DES_EDE_CBC_SHA: "+RSA:+3DES-CBC",
    S.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: "+ECDHE-RSA:+3DES-CBC",
    S.TLS_RSA_WITH_RC4_128_SHA: "+RSA:+ARCFOUR-128",
    S.TLS_ECDHE_RSA_WITH_RC4_128_SHA: "+ECDHE-RSA:+ARCFOUR-128",
}
VERSIONS = {ProtocolVersion.TLSv1_2: "+VERS-TLS1.2", ProtocolVersion.TLSv1_0: "+VERS-TLS1.0"}
GNUTLS_NAMES = {"3DES": "3DES-CBC", "RC4": "ARCFOUR-128"}


def priority(suite: CipherSuite, version: ProtocolVersion) -> str:
    return (
        f"NONE:{VERSIONS[version]}:{CASES[suite]}:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL"
        ":%VERIFY_ALLOW_BROKEN"
    )


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pki-gnutls"))


def _pump(conn: ClientConnection | ServerConnection, sock: socket.socket) -> list[events.Event]:
    out = conn.data_to_send()
    if out:
        sock.sendall(out)
    data = sock.recv(65536)
    evs = conn.receive_data(data)
    if any(isinstance(e, events.CertificateReceived) for e in evs):
        assert isinstance(conn, ClientConnection)
        evs += conn.accept_certificate()
    out = conn.data_to_send()
    if out:
        sock.sendall(out)
    return evs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gnutls_server(pem_dir: Path, prio: str) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            GNUTLS_SERV or "gnutls-serv",
            "--echo",
            "-p",
            str(port),
            "--x509certfile",
            str(pem_dir / "rsa.crt"),
            "--x509keyfile",
            str(pem_dir / "rsa.key"),
            "--priority",
            prio,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("version", list(VERSIONS), ids=["TLSv1.2", "TLSv1.0"])
@pytest.mark.parametrize("suite", list(CASES), ids=[s.name for s in CASES])
def test_our_client_against_gnutls_server(
    pem_dir: Path, suite: CipherSuite, version: ProtocolVersion
) -> None:
    client = ClientConnection(
        ClientConfig(
            server_name=HOST, entropy=counter_entropy(), versions=(version,), cipher_suites=(suite,)
        )
    )
    with (
        gnutls_server(pem_dir, priority(suite, version)) as port,
        socket.create_connection(("127.0.0.1", port), 10) as sock,
    ):
        sock.settimeout(10)
        evs = client.start()
        while not of_type(evs, events.HandshakeComplete):
            new = _pump(client, sock)
            assert not of_type(new, events.ConnectionClosed), new
            evs += new
        done = of_type(evs, events.HandshakeComplete)[0]
        assert done.cipher_suite == suite and done.version == version
        payload = b"legacy record " * 100 + b"\n"
        client.send_application_data(payload)
        sock.sendall(client.data_to_send())
        echoed = b""
        while len(echoed) < len(payload):
            got = client.receive_data(sock.recv(65536))
            echoed += b"".join(e.data for e in of_type(got, events.ApplicationDataReceived))
        assert echoed == payload


@pytest.mark.parametrize("version", list(VERSIONS), ids=["TLSv1.2", "TLSv1.0"])
@pytest.mark.parametrize("suite", list(CASES), ids=[s.name for s in CASES])
def test_gnutls_client_against_our_server(
    pem_dir: Path, suite: CipherSuite, version: ProtocolVersion
) -> None:
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys["rsa"]),
            versions=(version,),
            cipher_suites=(suite,),
        )
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[events.Event] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            while True:
                data = conn.recv(65536)
                evs = server.receive_data(data)
                seen.extend(evs)
                for e in of_type(evs, events.ApplicationDataReceived):
                    server.send_application_data(e.data)
                out = server.data_to_send()
                if out:
                    conn.sendall(out)
                if not data or of_type(evs, events.ConnectionClosed):
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proc = subprocess.Popen(
        [
            GNUTLS_CLI or "gnutls-cli",
            "127.0.0.1",
            "-p",
            str(port),
            "--sni-hostname",
            HOST,
            "--verify-hostname",
            HOST,
            "--x509cafile",
            str(pem_dir / "ca.pem"),
            "--priority",
            priority(suite, version),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    # stdin stays open until the echo is back: gnutls-cli closes on EOF
    proc.stdin.write("hello over a legacy suite\n")
    proc.stdin.flush()
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "hello over a legacy suite" in line:
            break
    proc.stdin.close()
    proc.wait(20)
    assert proc.stderr is not None
    rest, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    thread.join(10)
    listener.close()
    out = "".join(lines) + rest + err
    assert any("hello over a legacy suite" in line for line in lines), out
    complete = of_type(seen, events.HandshakeComplete)
    assert len(complete) == 1 and complete[0].cipher_suite == suite, out
    assert complete[0].version == version
    cipher = "3DES-CBC" if "3DES" in suite.name else "ARCFOUR-128"
    assert f"({cipher})" in out, out


# -- RFC 7919: the group named in supported_groups --------------------------------------

DHE = S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA
DHE_PRIORITY = "NONE:+VERS-TLS1.2:+DHE-RSA:+AES-128-CBC:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-FFDHE3072"


def test_rfc7919_our_client_gets_the_group_it_lists_from_gnutls(pem_dir: Path) -> None:
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            versions=(ProtocolVersion.TLSv1_2,),
            cipher_suites=(DHE,),
            supported_groups=(NamedGroup.ffdhe3072,),
        )
    )
    with (
        gnutls_server(pem_dir, DHE_PRIORITY) as port,
        socket.create_connection(("127.0.0.1", port), 10) as sock,
    ):
        sock.settimeout(10)
        evs = client.start()
        while not of_type(evs, events.HandshakeComplete):
            new = _pump(client, sock)
            assert not of_type(new, events.ConnectionClosed), new
            evs += new
    ske = next(
        e
        for e in evs
        if isinstance(e, events.HandshakeMessageReceived) and e.name == "ServerKeyExchange"
    )
    assert ske.fields["group_bits"] == 3072
    assert of_type(evs, events.HandshakeComplete)[0].key_exchange == "dhe3072"


def test_rfc7919_our_server_takes_the_group_gnutls_lists(pem_dir: Path) -> None:
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys["rsa"]),
            versions=(ProtocolVersion.TLSv1_2,),
            cipher_suites=(DHE,),
        )
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[events.Event] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            while not of_type(seen, events.ConnectionClosed):
                data = conn.recv(65536)
                seen.extend(server.receive_data(data))
                out = server.data_to_send()
                if out:
                    conn.sendall(out)
                if not data:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    done = subprocess.run(
        [
            GNUTLS_CLI or "gnutls-cli",
            "127.0.0.1",
            "-p",
            str(port),
            "--insecure",
            "--priority",
            DHE_PRIORITY,
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    thread.join(10)
    listener.close()
    out = done.stdout + done.stderr
    complete = of_type(seen, events.HandshakeComplete)
    assert len(complete) == 1 and complete[0].key_exchange == "ffdhe3072", out
