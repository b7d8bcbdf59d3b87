"""The loop that took the faults process to its file limit, tried against `tlssim up`: a
proxy whose upstream is its own listen address, and two proxies pointing at each other.
Both are refused when configured; connecting where they would have listened does nothing;
the faults process keeps its file descriptors and memory, and a handshake succeeds."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack, running_stack
from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.harness.localstack import free_ports


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError("no VmRSS")


def _poke(port: int) -> None:
    """What `echo x > /dev/tcp/127.0.0.1/PORT` does: connect, write, close."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"x\n")
            sock.settimeout(2)
            with contextlib.suppress(TimeoutError, OSError):
                sock.recv(1)
    except OSError:
        pass  # refused: nothing listens there


def _refused(api: FaultsApi, method: str, path: str, body: object) -> str:
    with pytest.raises(FaultsApiError) as refused:
        api.call(method, path, body)
    assert refused.value.status == 400, refused.value
    return str(refused.value)


def _handshake_ok(stack: LocalStack) -> bool:
    try:
        return stack.handshake(timeout=30).ok
    except AssertionError:  # no report, or an exit code that does not match it
        return False


@pytest.mark.integration
def test_loops_are_refused_and_the_faults_process_stays_small(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        api = FaultsApi(stack.env["TLSSIM_FAULTS_API"])
        pid = stack.service_pid("faults")
        assert _handshake_ok(stack)
        before = (_fds(pid), _rss_mb(pid))
        one, two, three = free_ports(3)

        # The reproduction: a proxy whose upstream is its own listen address.
        loop = {"name": "loop", "listen": f"127.0.0.1:{one}", "upstream": f"127.0.0.1:{one}"}
        assert "a loop" in _refused(api, "POST", "/proxies", loop)
        # Two proxies pointing at each other, whichever way it is tried.
        api.call("POST", "/proxies", {**loop, "upstream": f"127.0.0.1:{two}"})
        back = {"name": "back", "listen": f"127.0.0.1:{two}", "upstream": f"127.0.0.1:{one}"}
        _refused(api, "POST", "/proxies", back)
        _refused(api, "POST", "/populate", [back])
        api.call(
            "POST", "/proxies", {**back, "listen": f"127.0.0.1:{three}", "upstream": "[::1]:9"}
        )
        _refused(api, "POST", "/proxies/back", {"listen": f"127.0.0.1:{two}"})
        _refused(api, "POST", "/proxies/back", {"upstream": f"localhost:{one}"})
        # The lab's own API, console and metrics ports, and the lab's links' proxies.
        links = api.proxies()
        for upstream in (
            stack.env["TLSSIM_FAULTS_API"],
            stack.env["TLSSIM_CONSOLE_ADDR"],
            stack.env["TLSSIM_FAULTS_METRICS_ADDR"],
            stack.env["TLSSIM_CA_METRICS_ADDR"],
            links["client_server"]["listen"],
            links["server_ca"]["listen"],
        ):
            _refused(api, "POST", "/proxies", {"name": "own", "upstream": upstream})
        for port in (one, two, three):
            for _ in range(20):
                _poke(port)
        time.sleep(1)  # what the loop needed to reach 20,000 descriptors was 6 s

        after = (_fds(pid), _rss_mb(pid))
        print(f"faults fds {before[0]} -> {after[0]}, RSS {before[1]:.1f} -> {after[1]:.1f} MB")
        assert after[0] <= before[0] + 10
        assert after[1] <= before[1] + 20
        assert (api.call("GET", "/version"))["version"]
        api.call("DELETE", "/proxies/loop")
        api.call("DELETE", "/proxies/back")
        assert _handshake_ok(stack)
        assert stack.service_pid("faults") == pid  # never restarted: never stuck
