"""Every documented failure of every command: one line on stderr that names what it is about,
the exit code the README's table gives it, no traceback.

One table: the arguments, the environment added, the exit code, a phrase the one line must
hold, and whether the row needs the running stack. In arguments and environment, {tmp} is a
directory holding not-pem.txt (a file that is neither PEM nor JSON), {free} a loopback port
where nothing listens, {faults} the stack's faults API and {server_tcp} its TLS server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.integration.conftest import LocalStack
from tlssim.cli.errors import Exit
from tlssim.harness.localstack import free_ports


class Row(NamedTuple):
    argv: list[str]
    env: dict[str, str]
    code: Exit
    phrase: str
    stack: bool = True


NO_ENV: dict[str, str] = {}
DOWN = False  # the row runs with every service pointed at ports where nothing listens
WANT = "expected HOST:PORT with a port from 1 to 65535"  # what a bad address is told

TABLE = [
    # handshake
    Row(["handshake", "--keylog", "/nonexistent/dir/kl"], NO_ENV, Exit.FILE, "No such file"),
    Row(["handshake", "--capture", "/nonexistent/dir/cap"], NO_ENV, Exit.FILE, "No such file"),
    Row(
        ["handshake", "--tcp", "127.0.0.1:{free}", "--ca-file", "/nonexistent.pem"],
        NO_ENV,
        Exit.FILE,
        "/nonexistent.pem: No such file",
    ),
    Row(
        ["handshake", "--tcp", "127.0.0.1:{free}", "--ca-file", "{tmp}/not-pem.txt"],
        NO_ENV,
        Exit.FILE,
        "not-pem.txt: no PEM certificate in it",
        DOWN,
    ),
    Row(
        ["handshake", "--ca-file", "{tmp}/not-pem.txt"],
        NO_ENV,
        Exit.FILE,
        "not-pem.txt: no PEM certificate in it",
        DOWN,
    ),
    Row(["handshake", "--mermaid", "--json"], NO_ENV, Exit.USAGE, "choose one", DOWN),
    Row(
        ["handshake", "--client-key", "{tmp}/not-pem.txt"],
        NO_ENV,
        Exit.USAGE,
        "--client-key FILE goes with --client-cert FILE",
        DOWN,
    ),
    Row(["handshake", "--group", "secp384r1"], NO_ENV, Exit.USAGE, "choose from x25519"),
    Row(["handshake", "--group", "bogus"], NO_ENV, Exit.USAGE, "cannot be used"),
    Row(
        ["handshake", "--cipher", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"],
        NO_ENV,
        Exit.USAGE,
        "cannot be used",
    ),
    Row(
        ["handshake", "--tls", "1.2", "--cipher", "TLS_AES_128_GCM_SHA256"],
        NO_ENV,
        Exit.USAGE,
        "is a TLSv1.3 suite",
    ),
    Row(
        ["handshake", "--tcp", "127.0.0.1:99999"],
        NO_ENV,
        Exit.USAGE,
        f"--tcp: {WANT}, got '127.0.0.1:99999'",
        DOWN,
    ),
    Row(["handshake", "--tcp", "tls.example"], NO_ENV, Exit.USAGE, f"--tcp: {WANT}", DOWN),
    Row(
        ["handshake", "--tcp", "127.0.0.1:{free}", "--no-echo"],
        NO_ENV,
        Exit.UNAVAILABLE,
        "cannot connect to 127.0.0.1:",
    ),
    Row(
        ["handshake", "--server-name", "x" * 300],
        NO_ENV,
        Exit.USAGE,
        "server name is 300 characters long; at most 253",
    ),
    Row(
        ["handshake", "--server-name", "bad host!"],
        NO_ENV,
        Exit.USAGE,
        "server name 'bad host!' holds a space",
    ),
    Row(["handshake", "--clock-skew", "nan"], NO_ENV, Exit.USAGE, "clock skew"),
    Row(
        ["handshake", "--clock-skew", "abc"],
        NO_ENV,
        Exit.USAGE,
        "tlssim handshake: error: --clock-skew: invalid float value: 'abc'",
        DOWN,
    ),
    Row(
        ["handshake", "--tls", "1.4"],
        NO_ENV,
        Exit.USAGE,
        "tlssim handshake: error: --tls: invalid choice: '1.4'",
        DOWN,
    ),
    Row(["handshake", "--kx", "rsa", "--tls", "1.3"], NO_ENV, Exit.USAGE, "only in TLS 1.2"),
    Row(
        ["handshake", "--tls", "1.2", "--group", "X25519MLKEM768"],
        NO_ENV,
        Exit.USAGE,
        "only in TLS 1.3",
    ),
    Row(["handshake", "--server-name", "revoked.tlssim.test"], NO_ENV, Exit.FAILED, ""),
    Row(["handshake"], NO_ENV, Exit.UNAVAILABLE, "not answering", DOWN),
    # faults
    Row(
        ["faults", "add", "client_server", "latency", "bogus=1"],
        NO_ENV,
        Exit.USAGE,
        "latency, jitter",
    ),
    Row(["faults", "add", "client_server", "nonsense"], NO_ENV, Exit.USAGE, "unknown toxic type"),
    Row(
        ["faults", "add", "nosuchlink", "latency", "latency=100"],
        NO_ENV,
        Exit.REFUSED,
        "no link named 'nosuchlink'",
    ),
    Row(
        ["faults", "remove", "client_server", "no_such_toxic"],
        NO_ENV,
        Exit.REFUSED,
        "link 'client_server' has no toxic 'no_such_toxic'",
    ),
    Row(["faults", "list"], NO_ENV, Exit.UNAVAILABLE, "not answering", DOWN),
    Row(
        ["faults", "list"],
        {"TLSSIM_FAULTS_API": "http://127.0.0.1:{free}"},
        Exit.UNAVAILABLE,
        "the faults API at http://127.0.0.1:",
        DOWN,
    ),
    Row(["faults", "list"], {"TLSSIM_FAULTS_API": "http://{faults}/"}, Exit.OK, ""),
    # scenarios
    Row(["scenarios", "run"], NO_ENV, Exit.USAGE, "--all"),
    Row(["scenarios", "run", "no-such-scenario"], NO_ENV, Exit.USAGE, "unknown scenario"),
    Row(["scenarios", "run", "--all"], NO_ENV, Exit.UNAVAILABLE, "not answering", DOWN),
    # ca
    Row(
        ["ca", "revoke", "00112233", "--reason", "removeFromCRL"],
        NO_ENV,
        Exit.USAGE,
        "tlssim ca revoke: error: --reason: invalid choice",
        DOWN,
    ),
    Row(["ca", "revoke", "00112233aabb"], NO_ENV, Exit.REFUSED, "serial 00112233aabb was issued"),
    Row(
        ["ca", "revoke", "00112233aabb"],
        {"TLSSIM_ADMIN_TOKEN": "not-the-token"},
        Exit.REFUSED,
        "set TLSSIM_ADMIN_TOKEN",
    ),
    Row(["ca", "revoke", "zz"], NO_ENV, Exit.USAGE, "not hexadecimal"),
    Row(["ca", "bundle"], NO_ENV, Exit.UNAVAILABLE, "not answering", DOWN),
    # health
    Row(
        ["health", "127.0.0.1:{free}"],
        NO_ENV,
        Exit.UNAVAILABLE,
        "127.0.0.1:",
        DOWN,
    ),
    Row(
        ["health", "localhost"],
        NO_ENV,
        Exit.USAGE,
        "health ADDRESS: expected HOST:PORT with a port from 1 to 65535, got 'localhost'",
        DOWN,
    ),
    # decrypt
    Row(
        ["decrypt", "{tmp}/not-pem.txt", "--key", "{tmp}/not-pem.txt"],
        NO_ENV,
        Exit.FILE,
        "not-pem.txt: not a capture (expected the JSON",
        DOWN,
    ),
    # propagation revokes: it says which host and waits for --yes or --host
    Row(
        ["propagation"],
        NO_ENV,
        Exit.USAGE,
        "revokes every certificate of valid.tlssim.test",
        DOWN,
    ),
    # an address that is not HOST:PORT, wherever it is read: named, with the form it wants
    *(
        Row(
            ["trace", "0123456789abcdef"],
            {variable: "noport"},
            Exit.USAGE,
            f"{variable}: {WANT}",
            DOWN,
        )
        for variable in (
            "TLSSIM_CLIENT_ADDR",
            "TLSSIM_SERVER_ADDR",
            "TLSSIM_OCSP_ADDR",
            "TLSSIM_CA_ADDR",
            "TLSSIM_ACME_GRPC_ADDR",
        )
    ),
    Row(
        ["handshake"],
        {"TLSSIM_CLIENT_ADDR": "127.0.0.1:99999"},
        Exit.USAGE,
        f"TLSSIM_CLIENT_ADDR: {WANT}, got '127.0.0.1:99999'",
        DOWN,
    ),
    Row(["ca", "bundle"], {"TLSSIM_CA_ADDR": "ca"}, Exit.USAGE, f"TLSSIM_CA_ADDR: {WANT}", DOWN),
    Row(
        ["scenarios", "run", "--all"],
        {"TLSSIM_SERVER_TCP_ADDR": "server"},
        Exit.USAGE,
        f"TLSSIM_SERVER_TCP_ADDR: {WANT}",
        DOWN,
    ),
    Row(
        ["interop", "--peers", "openssl"],
        {"TLSSIM_OCSP_ADDR": "ocsp:0"},
        Exit.USAGE,
        f"TLSSIM_OCSP_ADDR: {WANT}",
        DOWN,
    ),
    Row(
        ["faults", "list"],
        {"TLSSIM_FAULTS_API": "http://faults/"},
        Exit.USAGE,
        "TLSSIM_FAULTS_API: expected HOST:PORT or http://HOST:PORT",
        DOWN,
    ),
    Row(
        ["load", "--count", "1"],
        {"TLSSIM_CLIENT_ADDR": "client:"},
        Exit.USAGE,
        f"TLSSIM_CLIENT_ADDR: {WANT}",
        DOWN,
    ),
    Row(["load", "--tcp", "localhost", "--insecure"], NO_ENV, Exit.USAGE, f"--tcp: {WANT}", DOWN),
    Row(
        ["server", "export-key", "valid.tlssim.test", "-o", "{tmp}/key.pem"],
        {"TLSSIM_SERVER_ADDR": "server:0"},
        Exit.USAGE,
        f"TLSSIM_SERVER_ADDR: {WANT}",
        DOWN,
    ),
    Row(
        ["propagation", "--host", "valid.tlssim.test", "--responder", "ocsp"],
        NO_ENV,
        Exit.USAGE,
        f"--responder: {WANT}",
        DOWN,
    ),
    Row(
        ["propagation", "--host", "valid.tlssim.test", "--server", "127.0.0.1:1,server"],
        NO_ENV,
        Exit.USAGE,
        f"--server: {WANT}",
        DOWN,
    ),
    Row(
        ["propagation", "--host", "valid.tlssim.test"],
        {"TLSSIM_SERVER_TCP_ADDR": "localhost"},
        Exit.USAGE,
        f"TLSSIM_SERVER_TCP_ADDR: {WANT}",
        DOWN,
    ),
    Row(
        ["serve", "console"],
        {"TLSSIM_CONSOLE_ADDR": "localhost:http"},
        Exit.USAGE,
        f"tlssim serve console: TLSSIM_CONSOLE_ADDR: {WANT}",
        DOWN,
    ),
    Row(
        ["serve", "faults"],
        {"TLSSIM_SERVER_METRICS_ADDR": "metrics"},
        Exit.USAGE,
        f"tlssim serve faults: TLSSIM_SERVER_METRICS_ADDR: {WANT}",
        DOWN,
    ),
    # usage anywhere
    Row(["nosuchcommand"], NO_ENV, Exit.USAGE, "tlssim: error: command: invalid choice", DOWN),
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
    if code != Exit.OK and code != Exit.FAILED:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert phrase in lines[0], done.stderr


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "not-pem.txt").write_text("a host name, not a certificate\n")
    yield tmp_path


def _down_env(home: Path) -> dict[str, str]:
    """Every service moved to a port where nothing listens."""
    ca, client, faults, server, ocsp = free_ports(5)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TLSSIM_DATA_DIR": str(home / "data"),
        "TLSSIM_ADMIN_TOKEN": "x",
        "TLSSIM_CA_ADDR": f"127.0.0.1:{ca}",
        "TLSSIM_CLIENT_ADDR": f"127.0.0.1:{client}",
        "TLSSIM_FAULTS_API": f"127.0.0.1:{faults}",
        "TLSSIM_SERVER_ADDR": f"127.0.0.1:{server}",
        "TLSSIM_OCSP_ADDR": f"127.0.0.1:{ocsp}",
    }


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _case(row: Row, base: dict[str, str], tmp: Path) -> tuple[list[str], dict[str, str]]:
    (free,) = free_ports(1)
    values = {
        "tmp": str(tmp),
        "free": str(free),
        "faults": base.get("TLSSIM_FAULTS_API", ""),
        "server_tcp": base.get("TLSSIM_SERVER_TCP_ADDR", ""),
    }
    argv = [_fill(a, values) for a in row.argv]
    env = base | {k: _fill(v, values) for k, v in row.env.items()}
    return argv, env


def _rows(stack: bool) -> list[Row]:
    return [row for row in TABLE if row.stack is stack]


def _id(row: Row) -> str:
    return " ".join(row.argv)[:50] + (f" {','.join(row.env)}" if row.env else "")


@pytest.mark.integration
@pytest.mark.parametrize("row", _rows(True), ids=_id)
def test_with_the_stack(stack: LocalStack, files: Path, row: Row) -> None:
    argv, env = _case(row, stack.env, files)
    _check(_run(argv, env), row.code, row.phrase)


@pytest.mark.parametrize("row", _rows(DOWN), ids=_id)
def test_with_the_stack_down(files: Path, row: Row) -> None:
    argv, env = _case(row, _down_env(files), files)
    _check(_run(argv, env), row.code, row.phrase)


def test_the_table_has_every_documented_exit_code() -> None:
    documented = {Exit.OK, Exit.FAILED, Exit.USAGE, Exit.UNAVAILABLE, Exit.FILE, Exit.REFUSED}
    assert documented <= {row.code for row in TABLE}


@pytest.mark.parametrize("argv", [["scenarios", "list"], ["faults", "types"]])
def test_a_reader_that_stops_reading_ends_the_command_quietly(files: Path, argv: list[str]) -> None:
    """`tlssim ... | head -1`: the reader is gone, the command stops without a word."""
    read, write = os.pipe()
    os.close(read)  # the reader went away before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tlssim", *argv],
            env=_down_env(files),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == Exit.BROKEN_PIPE, done.stderr
    assert done.stderr == ""


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
