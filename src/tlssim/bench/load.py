"""Handshake load from OpenSSL clients (Python ``ssl``), in its own process:

    python -m tlssim.bench.load PORT SECONDS THREADS [SERVER_NAME]

Each thread loops: connect, full TLS 1.3 handshake (no certificate check, no session
resumption), send a line, read it back (echoed or reversed), close. Prints one JSON line: the
handshakes completed in the measured window (after a short warm-up), failures, and latencies.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time

from tlssim.bench.certs import HOST

WARMUP_S = 0.5
# One line: `openssl s_server -rev` answers a line at a time (reversed), the others echo.
PING = b"ping\n"


def client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def one_handshake(ctx: ssl.SSLContext, port: int, server_name: str = HOST) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
            tls.sendall(PING)
            got = b""
            while len(got) < len(PING):
                chunk = tls.recv(64)
                if not chunk:
                    raise ConnectionError("closed before the echo")
                got += chunk


def main() -> None:
    port, seconds, threads = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    server_name = sys.argv[4] if len(sys.argv) > 4 else HOST
    ctx = client_context()
    start = time.monotonic() + WARMUP_S
    stop = start + seconds
    counts = [0] * threads
    failures = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def worker(i: int) -> None:
        while (now := time.monotonic()) < stop:
            try:
                one_handshake(ctx, port, server_name)
            except (OSError, ssl.SSLError):
                failures[i] += 1
                continue
            if now >= start:
                counts[i] += 1
                latencies[i].append((time.monotonic() - now) * 1000)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    flat = sorted(x for lat in latencies for x in lat)
    p50 = flat[len(flat) // 2] if flat else 0.0
    print(json.dumps({"handshakes": sum(counts), "failures": sum(failures), "p50_ms": p50}))


if __name__ == "__main__":
    main()
