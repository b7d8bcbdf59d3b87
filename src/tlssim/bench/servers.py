"""TLS echo servers for the TCP benchmark, each run in its own process:

    python -m tlssim.bench.servers {tlssim|openssl-asyncio|openssl-threads|openssl-s_server}
        PORT PKI_DIR

``tlssim`` is our engine behind a plain asyncio TCP listener, exactly as services/server.py
serves TCP (serve_connection over a TcpTransport). The next two are Python ``ssl``
(OpenSSL) servers, and ``openssl-s_server`` is OpenSSL's own command (``-rev``: each line
comes back reversed). All serve the ECDSA P-256 certificate, send no session tickets, answer
application data and print "ready" once listening ("ready PID" when another process serves).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import time
from pathlib import Path

from tlssim.bench import certs
from tlssim.net.drive import serve_connection
from tlssim.net.transport import READ_SIZE, TcpTransport
from tlssim.tls import CertifiedKey, ServerConfig, ServerConnection, SignatureScheme

KINDS = ("tlssim", "openssl-asyncio", "openssl-threads", "openssl-s_server")
#: s_server sending one TLS 1.3 session ticket, as the server service does.
S_SERVER_ONE_TICKET = "openssl-s_server-1-ticket"


def openssl_server_context(pki: certs.BenchPKI) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert_file("ecdsa"), pki.key_file("ecdsa"))
    ctx.num_tickets = 0
    return ctx


async def serve_tlssim(port: int, pki: certs.BenchPKI) -> None:
    certified = pki.keys["ecdsa"]

    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> CertifiedKey:
        return certified

    config = ServerConfig(entropy=os.urandom, certificate_selector=select)

    async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = TcpTransport(reader, writer)
        try:
            await serve_connection(ServerConnection(config), transport)
        finally:
            await transport.close()

    server = await asyncio.start_server(on_tcp, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


async def serve_openssl_asyncio(port: int, pki: certs.BenchPKI) -> None:
    ctx = openssl_server_context(pki)

    async def on_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_tls, "127.0.0.1", port, ssl=ctx, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def serve_openssl_threads(port: int, pki: certs.BenchPKI) -> None:
    ctx = openssl_server_context(pki)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                with ctx.wrap_socket(self.request, server_side=True) as tls:
                    while data := tls.recv(READ_SIZE):
                        tls.sendall(data)
            except (ConnectionError, OSError, ssl.SSLError):
                pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024

    with Server(("127.0.0.1", port), Handler) as server:
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print("ready", flush=True)
        server.serve_forever()


def serve_s_server(port: int, pki: certs.BenchPKI, tickets: int = 0) -> None:
    """`openssl s_server` in a child process; says "ready PID" once it accepts."""
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-rev"]
    argv += ["-cert", str(pki.cert_file("ecdsa")), "-key", str(pki.key_file("ecdsa"))]
    argv += ["-num_tickets", str(tickets), "-naccept", "1000000"]
    quiet = subprocess.DEVNULL  # -quiet still reports each connection
    child = subprocess.Popen(argv, stdin=quiet, stdout=quiet, stderr=quiet)
    deadline = time.monotonic() + 10
    while child.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            print(f"ready {child.pid}", flush=True)
            break
        time.sleep(0.05)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    child.wait()


def main() -> None:
    kind, port, directory = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    pki = certs.load(directory)
    if kind == "tlssim":
        asyncio.run(serve_tlssim(port, pki))
    elif kind == "openssl-asyncio":
        asyncio.run(serve_openssl_asyncio(port, pki))
    elif kind == "openssl-threads":
        serve_openssl_threads(port, pki)
    elif kind == "openssl-s_server":
        serve_s_server(port, pki)
    elif kind == S_SERVER_ONE_TICKET:
        serve_s_server(port, pki, tickets=1)
    else:
        raise SystemExit(f"unknown server {kind!r}; one of {', '.join(KINDS)}")


if __name__ == "__main__":
    main()
