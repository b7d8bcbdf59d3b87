"""`python -m tlssim.health [--restart-after SECONDS] HOST:PORT | http://HOST:PORT/PATH`:
exit 0 when the gRPC service at HOST:PORT answers the standard health check as SERVING (or
the URL answers 200), 1 otherwise. Small on purpose: container health checks run it every
few seconds, so it loads gRPC and nothing else.

With `--restart-after SECONDS`, a check that has failed for that long, counted from the
first failure after a success (kept in a small file in the temporary directory: a service
still starting is never counted), also kills the process listening on the checked port: a
service that is alive but no longer answers then exits, and the container's restart policy
starts it again (Docker restarts containers that exit, not those that are merely unhealthy).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

USAGE = "usage: python -m tlssim.health [--restart-after SECONDS] HOST:PORT|http://HOST:PORT/PATH"


def serving(address: str, timeout: float = 2.0) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (OSError, ValueError):
        return False


def healthy(target: str) -> bool:
    return answers(target) if target.startswith("http://") else serving(target)


def target_port(target: str) -> int:
    netloc = target.removeprefix("http://").split("/")[0]
    return int(netloc.rpartition(":")[2])


def listeners(port: int) -> list[int]:
    """Pids of the processes holding a listening TCP socket on `port` (those we may see)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rpartition(":")[2], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
    return pids


def _state_file(target: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9]+", "_", target)
    return Path(tempfile.gettempdir()) / f"tlssim-health-{safe}"


def check(target: str, restart_after: float | None) -> int:
    state = _state_file(target)
    if healthy(target):
        with contextlib.suppress(OSError):
            state.write_text("ok")
        return 0
    try:
        seen = state.read_text()
    except OSError:
        return 1  # never healthy yet: starting, not stuck
    if restart_after is None:
        return 1
    now = time.time()
    try:
        since = float(seen)
    except ValueError:
        state.write_text(repr(now))
        since = now
    if now - since >= restart_after:
        pids = listeners(target_port(target))
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        print(
            f"unhealthy for {now - since:.0f} s: killed {pids or 'nothing'} to restart it",
            file=sys.stderr,
        )
        state.unlink(missing_ok=True)
    return 1


def main(argv: list[str]) -> int:
    restart_after = None
    if len(argv) == 3 and argv[0] == "--restart-after":
        try:
            restart_after = float(argv[1])
        except ValueError:
            print(USAGE, file=sys.stderr)
            return 2
        argv = argv[2:]
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    return check(argv[0], restart_after)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
