"""`tlssim load` end to end: through the client service of a running stack, straight at the
stack's TCP port, and at an OpenSSL (Python ssl) server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import LocalStack, running_stack
from tlssim.bench import certs
from tlssim.harness.localstack import free_ports

pytestmark = pytest.mark.integration

#: Process start, the reachability probe and the in-flight handshakes finishing.
MARGIN_S = 6.0


@pytest.fixture(scope="module")
def load_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of this module's own: it puts faults on links."""
    with running_stack(tmp_path_factory.mktemp("load")) as started:
        yield started


def load(stack: LocalStack, *args: str, code: int = 0) -> dict[str, Any]:
    done = stack.tlssim("load", "--json", *args, timeout=90)
    assert done.returncode == code, done.stderr
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def assert_consistent(figures: dict[str, Any]) -> None:
    assert figures["completed"] == figures["succeeded"] + figures["failed"]
    assert figures["completed"] == figures["issued"]  # the run drained
    assert figures["failed"] == sum(e["count"] for e in figures["errors"])
    lat = figures["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    assert figures["achieved_rate"] == pytest.approx(
        figures["completed"] / figures["duration_s"], rel=0.01
    )


def test_concurrency_mode_through_the_client_service(load_stack: LocalStack) -> None:
    began = time.monotonic()
    figures = load(load_stack, "--concurrency", "4", "--duration", "3")
    assert time.monotonic() - began < 3 + MARGIN_S
    assert figures["mode"] == "concurrency" and figures["offered_rate"] is None
    assert figures["target"].startswith("grpc://")
    assert figures["succeeded"] >= 10 and figures["errors"] == []
    assert 3.0 <= figures["duration_s"] < 3 + MARGIN_S
    assert figures["latency_ms"]["measured_from"] == "actual start"
    assert_consistent(figures)
    # One replica of each here: every handshake was served by it, and the figures say so.
    for role in ("client", "server"):
        (count,) = figures["replicas"][role].values()
        assert count == figures["succeeded"]


def test_rate_mode_through_the_client_service(load_stack: LocalStack) -> None:
    began = time.monotonic()
    figures = load(load_stack, "--rate", "20", "--duration", "2", "--tls", "1.2")
    assert time.monotonic() - began < 2 + MARGIN_S
    assert figures["offered_rate"] == 20.0 and figures["issued"] == 40
    assert 10 <= figures["achieved_rate"] <= 20.0 * 1.01
    assert figures["latency_ms"]["measured_from"] == "intended send time"
    assert_consistent(figures)


def test_errors_are_counted_by_alert_and_sender_under_a_fault(load_stack: LocalStack) -> None:
    added = load_stack.tlssim(
        "faults", "add", "client_server", "tls_tamper", "content_type=application_data"
    )
    assert added.returncode == 0, added.stderr
    try:
        figures = load(load_stack, "--concurrency", "2", "--count", "8", code=1)
    finally:
        assert load_stack.tlssim("faults", "reset").returncode == 0
    assert figures["errors"] == [
        {"kind": "alert", "description": "bad_record_mac", "sent_by": "client", "count": 8}
    ]
    assert_consistent(figures)


def test_a_name_the_server_does_not_serve_is_counted_as_its_alert(load_stack: LocalStack) -> None:
    figures = load(load_stack, "--count", "3", "--server-name", "nosuch.tlssim.test", code=1)
    assert figures["errors"] == [
        {"kind": "alert", "description": "unrecognized_name", "sent_by": "server", "count": 3}
    ]


def test_direct_tcp_at_the_stack_server(load_stack: LocalStack, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(load_stack.tlssim("ca", "bundle").stdout)
    host, port = load_stack.server_tcp
    target = ("--tcp", f"{host}:{port}", "--ca-file", str(ca))
    figures = load(load_stack, *target, "--server-name", "valid.tlssim.test", "--duration", "2")
    assert figures["target"] == f"tcp://{host}:{port}"
    assert figures["succeeded"] >= 10 and figures["errors"] == []
    assert_consistent(figures)
    # The stack's ca does not vouch for an unknown name: the server refuses it by alert.
    wrong = load(load_stack, *target, "--server-name", "nosuch.example", "--count", "2", code=1)
    assert wrong["errors"][0] | {"count": 0} == {
        "kind": "alert",
        "description": "unrecognized_name",
        "sent_by": "server",
        "count": 0,
    }


@pytest.fixture(scope="module")
def openssl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A Python ssl (OpenSSL) echo server on a free port, with a CA of its own."""
    pki = certs.create(tmp_path_factory.mktemp("pki"))
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlssim.bench.servers",
            "openssl-asyncio",
            str(port),
            str(pki.directory),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield port, pki.ca_file
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_direct_tcp_at_an_openssl_server(
    load_stack: LocalStack, openssl_server: tuple[int, Path]
) -> None:
    port, ca_file = openssl_server
    target = ("--tcp", f"127.0.0.1:{port}", "--server-name", certs.HOST)
    figures = load(load_stack, *target, "--ca-file", str(ca_file), "--rate", "50", "--count", "50")
    assert figures["succeeded"] == 50 and figures["achieved_rate"] <= 50.0 * 1.01
    assert_consistent(figures)
    # Trusting another CA: the client refuses the chain and says so by alert.
    other_ca = load_stack.tlssim("ca", "bundle").stdout
    other = ca_file.with_name("other-ca.pem")
    other.write_text(other_ca)
    refused = load(load_stack, *target, "--ca-file", str(other), "--count", "3", code=1)
    assert refused["errors"] == [
        {"kind": "alert", "description": "unknown_ca", "sent_by": "client", "count": 3}
    ]
    insecure = load(load_stack, *target, "--insecure", "--count", "3")
    assert insecure["succeeded"] == 3


def test_an_unreachable_target_exits_3(load_stack: LocalStack) -> None:
    (port,) = free_ports(1)
    done = load_stack.tlssim("load", "--tcp", f"127.0.0.1:{port}", "--insecure", "--count", "1")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.startswith("tlssim: nothing accepts connections")
    gone = subprocess.run(
        [sys.executable, "-m", "tlssim", "load", "--count", "1"],
        env=load_stack.env | {"TLSSIM_CLIENT_ADDR": f"127.0.0.1:{port}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert gone.returncode == 3, gone.stderr
    assert "client service" in gone.stderr and len(gone.stderr.splitlines()) == 1


def test_ctrl_c_prints_the_figures_so_far(load_stack: LocalStack) -> None:
    running = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlssim",
            "load",
            "--json",
            "--concurrency",
            "2",
            "--duration",
            "60",
        ],
        env=load_stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=20)
    assert running.returncode == 130, err
    figures = json.loads(out)
    assert figures["interrupted"] and figures["succeeded"] > 0
    assert figures["duration_s"] < 30
