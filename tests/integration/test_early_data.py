"""0-RTT against the running stack: our client and OpenSSL's, each way, and the anti-replay
switch (a stack of its own with TLSSIM_ANTI_REPLAY=off)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack, running_stack
from tests.integration.test_client_auth import (
    ca,
    handshake,
    needs_openssl,
    server_certificate_files,
    steps,
)
from tests.peers import ServerPeer, openssl_client
from tlssim.report.model import Direction, EarlyData
from tlssim.rpc.v1 import ca_pb2_grpc

pytestmark = pytest.mark.integration

__all__ = ["ca"]  # a fixture shared with the mutual TLS tests

EARLY = "GET /early HTTP/1.1"


def test_our_client_sends_early_data_and_the_server_takes_it(
    stack: LocalStack, tmp_path: Path
) -> None:
    keylog = tmp_path / "keys.log"
    report = handshake(stack, "--resume", "--early-data", EARLY, "--keylog", str(keylog))
    assert report.ok, report
    assert report.early_data == EarlyData(
        requested=len(EARLY), sent=len(EARLY), accepted=True, reason="", resent=False
    )
    sent = steps(report, Direction.SENT)
    assert sent.index("EarlyData") < sent.index("EndOfEarlyData") < sent.index("Finished")
    # the echo is the early data, then the application data
    assert report.application_data.echoed == report.application_data.sent
    labels = [line.split()[0] for line in keylog.read_text().splitlines()]
    assert labels.count("CLIENT_EARLY_TRAFFIC_SECRET") == 1
    story = stack.tlssim("handshake", "--resume", "--early-data", EARLY).stdout
    assert "0-RTT: 19 bytes went with the ClientHello and were accepted" in story, story


def test_early_data_needs_resume(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--early-data", EARLY)
    assert done.returncode != 0
    assert "resume" in done.stderr


def s_client(port: int, *extra: str, data: str = "") -> str:
    done = openssl_client(
        ("127.0.0.1", port), *extra, server_name="valid.tlssim.test", version="1.3", stdin=data
    )
    return done.stdout + done.stderr


def openssl_early_data_twice(stack: LocalStack, where: Path) -> list[str]:
    """A session from one s_client, then two resumptions of it sending early data."""
    _, port = stack.server_tcp
    session, early = where / "session.pem", where / "early.txt"
    early.write_text(EARLY + "\r\n\r\n")
    # stdin stays open a moment: s_client reads the ticket before it quits
    with subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "valid.tlssim.test",
            "-tls1_3",
            "-sess_out",
            str(session),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as first:
        assert first.stdin is not None
        first.stdin.write(b"ping\n")
        first.stdin.flush()
        time.sleep(1)
        first.stdin.close()
        first.wait(timeout=30)
    assert session.exists()
    return [s_client(port, "-sess_in", str(session), "-early_data", str(early)) for _ in range(2)]


@needs_openssl
def test_openssl_early_data_is_accepted_once(stack: LocalStack, tmp_path: Path) -> None:
    first, second = openssl_early_data_twice(stack, tmp_path)
    assert "Reused, TLSv1.3" in first and "Early data was accepted" in first, first
    assert "TCP handshake for valid.tlssim.test: TLSv1.3" in stack.logs()
    assert "Reused, TLSv1.3" in second and "Early data was rejected" in second, second
    # The server logs a connection once it has closed it, which can be just after s_client
    # exits: give the line a few seconds to arrive.
    replay = "0-RTT rejected (replay: this ticket's early data was accepted before)"
    deadline = time.monotonic() + 5
    while replay not in (logs := stack.logs()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert replay in logs


@needs_openssl
def test_our_client_early_data_against_openssl_s_server(
    stack: LocalStack,
    ca: ca_pb2_grpc.CertificateAuthorityStub,
    bundle: Path,
    tmp_path: Path,
) -> None:
    cert, key = server_certificate_files(stack, ca, tmp_path)
    output = tmp_path / "s_server.out"
    # s_server reads its stdin: a pipe kept open keeps it serving (it prints what it gets)
    command = ["openssl", "s_server", "-accept", "127.0.0.1:{port}", "-cert", str(cert)]
    command += ["-key", str(key), "-cert_chain", str(cert.with_suffix(".chain"))]
    with ServerPeer("openssl", [*command, "-tls1_3", "-early_data"], output) as server:
        report = handshake(
            stack,
            *("--tcp", server.address, "--no-echo", "--resume"),
            *("--early-data", "hello from 0-RTT", "--ca-file", str(bundle)),
        )
        assert report.ok, report
        assert report.early_data is not None and report.early_data.accepted, report.early_data
    printed = output.read_text()
    # s_server prints the early data itself (unbuffered) and its own lines (buffered)
    assert "Early data received:" in printed and "hello from 0-RTT" in printed, printed


# -- anti-replay off ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("replayable"), TLSSIM_ANTI_REPLAY="off") as s:
        yield s


def test_without_anti_replay_the_replay_scenario_shows_early_data_taken_twice(
    replayable: LocalStack,
) -> None:
    done = replayable.tlssim("scenarios", "run", "replayed-0rtt", "--json", timeout=120)
    (result,) = json.loads(done.stdout)
    assert not result["passed"]
    assert "0-RTT accepted 2x, refused as a replay 0x" in result["actual"], result
    assert "0-RTT anti-replay is OFF" in replayable.logs()


@needs_openssl
def test_without_anti_replay_openssl_early_data_is_accepted_twice(
    replayable: LocalStack, tmp_path: Path
) -> None:
    for out in openssl_early_data_twice(replayable, tmp_path):
        assert "Early data was accepted" in out, out
