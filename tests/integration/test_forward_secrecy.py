"""The forward-secrecy demonstration against the stack: capture, export the host's key, decrypt.

RSA key transport opens with the server's key; ECDHE and TLS 1.3 stay shut."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tlssim.cli.errors import Exit

pytestmark = pytest.mark.integration
HOST = "rsa2048.tlssim.test"


def _capture(stack: LocalStack, folder: Path, *args: str) -> Path:
    capture = folder / f"capture{len(list(folder.iterdir()))}.json"
    done = stack.tlssim(
        "handshake",
        "--server-name",
        HOST,
        "--data",
        "secret order 42",
        "--capture",
        str(capture),
        *args,
    )
    assert done.returncode == 0, done.stderr
    return capture


def test_rsa_key_transport_opens_with_the_exported_key(stack: LocalStack, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    exported = stack.tlssim("server", "export-key", HOST, "--key-type", "rsa2048", "-o", str(key))
    assert exported.returncode == 0, exported.stderr
    assert "whoever holds it" in exported.stderr
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" in key.read_text()

    rsa = _capture(stack, tmp_path, "--tls", "1.2", "--kx", "rsa")
    opened = stack.tlssim("decrypt", str(rsa), "--key", str(key))
    assert opened.returncode == 0, opened.stderr
    assert "secret order 42" in opened.stdout

    for args in (
        ("--tls", "1.2", "--kx", "ecdhe"),
        ("--tls", "1.3", "--group", "x25519"),
        ("--tls", "1.3"),  # the default: X25519MLKEM768
        ("--tls", "1.3", "--group", "SecP256r1MLKEM768"),
    ):
        shut = stack.tlssim("decrypt", str(_capture(stack, tmp_path, *args)), "--key", str(key))
        assert shut.returncode == Exit.FAILED, shut.stdout
        assert "secret order 42" not in shut.stdout
        assert "forward secrecy" in shut.stderr.lower() and "ephemeral" in shut.stderr.lower()
        hybrid = "X25519MLKEM768" if args == ("--tls", "1.3") else None
        hybrid = args[-1] if "MLKEM" in args[-1] else hybrid
        if hybrid is not None:
            assert f"keyed by {hybrid}" in shut.stderr, shut.stderr


def test_exporting_a_key_needs_the_admin_token(stack: LocalStack, tmp_path: Path) -> None:
    env = stack.env | {"TLSSIM_ADMIN_TOKEN": "not-the-token"}
    done = stack.tlssim("server", "export-key", HOST, "-o", str(tmp_path / "k.pem"), env=env)
    assert done.returncode == Exit.REFUSED, done.stderr
    assert "admin token" in done.stderr
    unknown = stack.tlssim("server", "export-key", "www.example.com", "-o", str(tmp_path / "k"))
    assert unknown.returncode == Exit.REFUSED
    assert "no lab host" in unknown.stderr
