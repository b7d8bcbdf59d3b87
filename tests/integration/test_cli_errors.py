"""Every failure a user can cause: one line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tlssim.cli.errors import Exit
from tlssim.harness.localstack import free_ports

# (arguments, exit code, a phrase the one line must hold), against a running stack.
WITH_STACK = [
    (["handshake", "--keylog", "/nonexistent/dir/kl"], Exit.FILE, "No such file"),
    (["handshake", "--capture", "/nonexistent/dir/cap"], Exit.FILE, "No such file"),
    (["handshake", "--ca-file", "/nonexistent.pem"], Exit.FILE, "No such file"),
    (["handshake", "--group", "secp384r1"], Exit.USAGE, "choose from x25519"),
    (["handshake", "--group", "bogus"], Exit.USAGE, "cannot be used"),
    (
        ["handshake", "--cipher", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"],
        Exit.USAGE,
        "cannot be used",
    ),
    (
        ["handshake", "--tls", "1.2", "--cipher", "TLS_AES_128_GCM_SHA256"],
        Exit.USAGE,
        "is a TLSv1.3 suite",
    ),
    (["handshake", "--tcp", "127.0.0.1:99999"], Exit.USAGE, "out of range"),
    (["handshake", "--server-name", "x" * 300], Exit.USAGE, "at most 253"),
    (["handshake", "--clock-skew", "nan"], Exit.USAGE, "clock skew"),
    (["handshake", "--kx", "rsa", "--tls", "1.3"], Exit.USAGE, "only in TLS 1.2"),
    (["handshake", "--tls", "1.2", "--group", "X25519MLKEM768"], Exit.USAGE, "only in TLS 1.3"),
    (["handshake", "--server-name", "revoked.tlssim.test"], Exit.FAILED, ""),
    (["faults", "add", "client_server", "latency", "bogus=1"], Exit.USAGE, "latency, jitter"),
    (["faults", "add", "client_server", "nonsense"], Exit.USAGE, "unknown toxic type"),
    (["faults", "add", "no_such_link", "latency"], Exit.USAGE, "faults API:"),
    (["faults", "remove", "client_server", "no_such_toxic"], Exit.USAGE, "faults API:"),
    (["scenarios", "run"], Exit.USAGE, "--all"),
    (["scenarios", "run", "no-such-scenario"], Exit.USAGE, "unknown scenario"),
    (["handshake", "--tls", "1.4"], Exit.USAGE, "invalid choice"),
    (["ca", "revoke", "00112233", "--reason", "removeFromCRL"], Exit.USAGE, "invalid choice"),
    (["ca", "revoke", "00112233aabb"], Exit.REFUSED, "serial 00112233aabb was issued"),
    (["ca", "revoke", "zz"], Exit.USAGE, "not hexadecimal"),
]

# Everything pointed at ports where nothing listens.
WITHOUT_STACK = [
    (["handshake"], Exit.UNAVAILABLE, "not answering"),
    (["ca", "bundle"], Exit.UNAVAILABLE, "not answering"),
    (["faults", "list"], Exit.UNAVAILABLE, "not answering"),
    (["scenarios", "run", "--all"], Exit.UNAVAILABLE, "not answering"),
    (["health", "127.0.0.1:9"], Exit.UNAVAILABLE, ""),
]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tlssim", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _check(done: subprocess.CompletedProcess[str], code: int, phrase: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if phrase:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 or "usage:" in done.stderr, done.stderr
        assert phrase in done.stderr, done.stderr


@pytest.mark.integration
@pytest.mark.parametrize(("args", "code", "phrase"), WITH_STACK, ids=lambda v: str(v)[:40])
def test_with_the_stack(stack: LocalStack, args: list[str], code: int, phrase: str) -> None:
    _check(_run(args, stack.env), code, phrase)


@pytest.mark.parametrize(("args", "code", "phrase"), WITHOUT_STACK, ids=lambda v: str(v)[:40])
def test_with_the_stack_down(tmp_path: Path, args: list[str], code: int, phrase: str) -> None:
    ca, client, faults = free_ports(3)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TLSSIM_CA_ADDR": f"127.0.0.1:{ca}",
        "TLSSIM_CLIENT_ADDR": f"127.0.0.1:{client}",
        "TLSSIM_FAULTS_API": f"127.0.0.1:{faults}",
    }
    _check(_run(args, env), code, phrase)


def test_a_bug_is_one_line_unless_debug() -> None:
    from tlssim.cli.errors import run_guarded

    def broken() -> int:
        raise ZeroDivisionError("oops")

    assert run_guarded(broken, debug=False) == Exit.INTERNAL
    with pytest.raises(ZeroDivisionError):
        run_guarded(broken, debug=True)


def test_debug_before_or_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from tlssim.cli.errors import run_guarded
    from tlssim.cli.main import _parser

    parser = _parser()
    for argv in (["--debug", "handshake"], ["handshake", "--debug"], ["ca", "list", "--debug"]):
        assert parser.parse_args(argv).debug is True, argv
    assert parser.parse_args(["handshake"]).debug is False
    run_guarded(lambda: 1 // 0, debug=False)
    hint = capsys.readouterr().err
    assert "before or after the subcommand" in hint and "tlssim --debug handshake" in hint
