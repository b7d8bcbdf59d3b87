"""The handshake command's outputs against the real stack: the story fits COLUMNS, --json
and --mermaid are alone on standard output, --html writes a page; and the demo script."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tlssim.harness.localstack import stack_env
from tlssim.report.wirecost import handshake_cost

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def at_80_columns(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = stack.env | {"COLUMNS": "80"}
    return subprocess.run(
        [*_tlssim(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _tlssim() -> list[str]:
    import sys

    return [sys.executable, "-m", "tlssim"]


@pytest.mark.parametrize(
    "args",
    [
        ("handshake", "--server-name", "valid.tlssim.test"),
        ("handshake", "--tls", "1.2", "--kx", "rsa", "--server-name", "rsa2048.tlssim.test"),
        ("handshake", "--tls", "1.2", "--server-name", "revoked.tlssim.test"),
        ("handshake", "--resume"),
        ("handshake", "--server-name", "long-chain.tlssim.test", "--no-staple"),
        ("scenarios", "list"),
    ],
)
def test_no_line_is_wider_than_80_columns(stack: LocalStack, args: tuple[str, ...]) -> None:
    done = at_80_columns(stack, *args)
    assert done.stdout, done.stderr
    too_wide = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert too_wide == [], done.stdout


def test_the_revoked_story_never_claims_not_revoked(stack: LocalStack) -> None:
    done = at_80_columns(stack, "handshake", "--tls", "1.2", "--server-name", "revoked.tlssim.test")
    assert done.returncode == 1
    assert "not revoked" not in done.stdout
    assert "certificate_revoked" in done.stdout


def test_json_is_alone_on_standard_output(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--json")
    assert done.stdout.startswith("{"), done.stdout[:200]
    assert json.loads(done.stdout)["ok"] is True


def _record_types(stream: bytes) -> list[int]:
    """The content type of each TLS record of a byte stream."""
    types, at = [], 0
    while at + 5 <= len(stream):
        types.append(stream[at])
        at += 5 + int.from_bytes(stream[at + 3 : at + 5], "big")
    return types


def test_every_record_on_the_wire_is_counted_and_the_compatibility_records_shown(
    stack: LocalStack, tmp_path: Path
) -> None:
    """The bytes the story gives are those that travelled (as --capture saved them), and
    TLS 1.3's compatibility change_cipher_spec records are steps of their own."""
    capture = tmp_path / "capture.json"
    report = stack.handshake("--capture", str(capture), ok=True)
    saved = json.loads(capture.read_text())
    sent, received = (bytes.fromhex(saved[k]) for k in ("client_to_server", "server_to_client"))
    wire = report.wire
    assert wire is not None
    assert wire.sent_bytes == len(sent) and wire.received_bytes == len(received)
    # more than the handshake messages alone: record headers, AEAD tags, data, alerts
    assert wire.sent_bytes > handshake_cost(report.steps).sent
    assert wire.sent_records == len(_record_types(sent))
    assert wire.received_records == len(_record_types(received))
    change_cipher_spec = 20
    assert change_cipher_spec in _record_types(sent) and change_cipher_spec in _record_types(
        received
    )
    compat = [
        (s.direction, s.size)
        for s in report.steps
        if s.name == "ChangeCipherSpec" and s.fields.get("compatibility")
    ]
    assert compat == [("received", 1), ("sent", 1)]

    story = at_80_columns(stack, "handshake").stdout
    assert "server -> client  ChangeCipherSpec  1 B" in story, story
    assert "client -> server  ChangeCipherSpec  1 B" in story, story
    bytes_line = next(line for line in story.splitlines() if line.startswith("bytes: "))
    assert " records, " in bytes_line and "went on the" in story, story


def test_mermaid_and_html_outputs(stack: LocalStack, tmp_path: Path) -> None:
    page = tmp_path / "handshake.html"
    done = stack.tlssim("handshake", "--mermaid", "--html", str(page))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sequenceDiagram\n")
    assert "<svg" in page.read_text() and "ClientHello" in page.read_text()


def test_demo_script_json_is_alone_on_standard_output(tmp_path: Path) -> None:
    env = stack_env(tmp_path) | {"PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("{"), done.stdout[:300]
    assert json.loads(done.stdout)["ok"] is True
    log = tmp_path / "data" / "up.log"
    assert f"output goes to {log}" in done.stderr
    assert "tlssim is up" in log.read_text()
