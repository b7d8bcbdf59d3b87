"""`tlssim handshake --tcp` against `openssl s_server` with a certificate from outside the lab
(a throwaway CA whose leaf names no OCSP responder and no CRL): the story says what it could
and could not learn, and why a run failed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.conftest import LocalStack
from tests.peers import ServerPeer
from tlssim.pki.throwaway import make_ca, make_leaf
from tlssim.report.revocation import RevocationStatus

pytestmark = pytest.mark.integration

NAME = "foreign.example.test"
NO_LOCATION = "the certificate names no OCSP responder or CRL"


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("foreign")
    ca, ca_key = make_ca("Foreign Test Root")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_leaf(ca, ca_key, NAME, key)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


def _s_server(folder: Path, name: str, *flags: str) -> Iterator[int]:
    """`openssl s_server` on a free loopback port, its standard input held open and silent;
    its output in `folder`/`name`.log."""
    command = ["openssl", "s_server", "-quiet", *flags, "-accept", "127.0.0.1:{port}"]
    command += ["-cert", str(folder / "leaf.pem"), "-key", str(folder / "key.pem")]
    with ServerPeer("openssl", command, folder / f"{name}.log") as server:
        yield server.port


@pytest.fixture(scope="module")
def web_server(foreign_pki: Path) -> Iterator[int]:
    """`s_server -www`: answers any request with an HTTP status page."""
    yield from _s_server(foreign_pki, "web", "-www")


@pytest.fixture(scope="module")
def plain_server(foreign_pki: Path) -> Iterator[int]:
    """`s_server`: prints what it gets, answers nothing."""
    yield from _s_server(foreign_pki, "plain")


def _args(port: int, folder: Path, *args: str) -> tuple[str, ...]:
    """Our client against the foreign server on `port`, trusting its CA."""
    return (
        "--tcp",
        f"127.0.0.1:{port}",
        "--ca-file",
        str(folder / "ca.pem"),
        "--server-name",
        NAME,
        *args,
    )


def _handshake(
    stack: LocalStack, port: int, folder: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The story, 200 columns wide."""
    return stack.tlssim(
        "handshake", *_args(port, folder, *args), env=stack.env | {"COLUMNS": "200"}
    )


def test_no_ocsp_responder_or_crl_is_said_and_the_lab_responder_not_asked(
    stack: LocalStack, foreign_pki: Path, plain_server: int
) -> None:
    report = stack.handshake(*_args(plain_server, foreign_pki, "--no-echo"), ok=True)
    # The lab's responder knows nothing of this certificate: it is not asked.
    assert not [c for c in report.checks if c.name.startswith("ocsp/")], report.checks
    assert report.revocation.status == RevocationStatus.UNAVAILABLE
    assert report.revocation.detail == NO_LOCATION
    assert any(NO_LOCATION in w and w.startswith("soft-fail") for w in report.warnings)

    hard = _handshake(stack, plain_server, foreign_pki, "--no-echo", "--revocation", "hard")
    assert hard.returncode == 1, hard.stdout + hard.stderr
    assert "alert certificate_unknown sent by the client" in hard.stdout, hard.stdout
    assert f"because: revocation/leaf: unavailable: {NO_LOCATION}" in hard.stdout, hard.stdout
    assert "UNAUTHORIZED" not in hard.stdout


def test_no_echo_says_no_echo_was_awaited(
    stack: LocalStack, foreign_pki: Path, plain_server: int
) -> None:
    done = _handshake(stack, plain_server, foreign_pki, "--no-echo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the echo matches" not in done.stdout, done.stdout
    assert "echo check" not in done.stdout, done.stdout
    assert "data: 32 bytes sent, no echo awaited" in done.stdout, done.stdout


def test_an_http_answer_instead_of_an_echo_is_named_with_the_way_out(
    stack: LocalStack, foreign_pki: Path, web_server: int
) -> None:
    done = _handshake(stack, web_server, foreign_pki)
    assert done.returncode == 1, done.stdout + done.stderr
    result = next(line for line in done.stdout.splitlines() if line.startswith("result:"))
    assert "answered 'HTTP/1.0 200 ok' (HTTP), not an echo" in result, done.stdout
    assert "--no-echo" in result, done.stdout
    assert "because:" not in done.stdout  # no check is the reason: the soft-fail one is not

    # With --no-echo the README's example succeeds.
    assert _handshake(stack, web_server, foreign_pki, "--no-echo").returncode == 0


def test_a_missing_echo_is_named_with_the_way_out(
    stack: LocalStack, foreign_pki: Path, plain_server: int
) -> None:
    done = _handshake(stack, plain_server, foreign_pki, "--revocation", "off")
    assert done.returncode == 1, done.stdout + done.stderr
    result = next(line for line in done.stdout.splitlines() if line.startswith("result:"))
    assert "no echo of the application data" in result, done.stdout
    assert "--no-echo" in result, done.stdout
