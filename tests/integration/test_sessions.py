"""Resumption, key logging and capture through the client service."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.integration.conftest import LocalStack
from tlssim.report.model import Report, load_schema

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_resumed_report_follows_the_schema(stack: LocalStack, version: str) -> None:
    done = stack.tlssim("handshake", "--json", "--tls", version, "--resume")
    assert done.stdout, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(document, load_schema())
    assert Report.from_json(done.stdout).to_json(indent=2) == done.stdout.rstrip("\n")


def test_tls12_session_id_resumption_shows_the_shorter_flight(stack: LocalStack) -> None:
    report = stack.handshake(
        "--server-name", "rsa2048.tlssim.test", "--tls", "1.2", "--resume", ok=True
    )
    assert report.resumed is True
    first = report.first_handshake
    assert first is not None and first.resumed is False
    assert "Certificate" in first.steps
    names = [s.name for s in report.steps]
    assert "Certificate" not in names and "ClientKeyExchange" not in names
    assert names[:2] == ["ClientHello", "ServerHello"]


def test_keylog_file_in_nss_format(stack: LocalStack, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"
    report = stack.handshake("--tls", "1.2", "--keylog", str(keylog), ok=True)
    hello = next(s for s in report.steps if s.name == "ClientHello")
    lines = keylog.read_text().splitlines()
    assert len(lines) == 1
    label, client_random, secret = lines[0].split()
    assert label == "CLIENT_RANDOM"
    assert client_random == hello.fields["random"]
    assert re.fullmatch("[0-9a-f]{96}", secret)

    stack.handshake("--tls", "1.3", "--keylog", str(keylog))
    labels = [line.split()[0] for line in keylog.read_text().splitlines()[1:]]
    assert set(labels) >= {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    }


def test_capture_holds_both_directions(stack: LocalStack, tmp_path: Path) -> None:
    capture = tmp_path / "capture.json"
    report = stack.handshake("--tls", "1.2", "--capture", str(capture), ok=True)
    recorded = json.loads(capture.read_text())
    sent, received = (bytes.fromhex(recorded[k]) for k in ("client_to_server", "server_to_client"))
    assert sent[:1] == b"\x16" and received[:1] == b"\x16"  # both start with a handshake record
    hello = next(s for s in report.steps if s.name == "ClientHello")
    assert len(sent) > hello.size


def test_tls13_ticket_resumption_skips_the_certificate(stack: LocalStack) -> None:
    report = stack.handshake("--tls", "1.3", "--resume", ok=True)
    assert report.resumed is True and report.version == "TLSv1.3"
    assert report.first_handshake is not None
    assert "NewSessionTicket" in report.first_handshake.steps
    names = [s.name for s in report.steps]
    assert "Certificate" not in names and "CertificateVerify" not in names
    assert report.key_exchange == "X25519MLKEM768"  # psk_dhe_ke: the default hybrid again
