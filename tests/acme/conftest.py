"""A `tlssim up` stack with its ACME service and challenge ports on free ports."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import running_stack
from tlssim.harness.localstack import LocalStack, free_ports

# Short-lived certificates, so that renewal has something to do.
LIFETIME_S = 3600


@dataclass(frozen=True)
class AcmeStack:
    stack: LocalStack
    bundle: Path
    http01_port: int
    tlsalpn01_port: int

    @property
    def directory(self) -> str:
        return f"https://{self.stack.env['TLSSIM_ACME_ADDR']}/directory"

    def handshake(self, name: str, port: int, *extra: str) -> tuple[int, dict[str, Any]]:
        """`tlssim handshake --tcp` against 127.0.0.1:PORT with the lab's bundle."""
        done = self.stack.tlssim(
            "handshake",
            "--json",
            "--tcp",
            f"127.0.0.1:{port}",
            "--ca-file",
            str(self.bundle),
            "--server-name",
            name,
            "--no-echo",
            *extra,
        )
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout)

    def listed(self, name: str) -> str:
        return self.stack.tlssim("ca", "list", "--host", name).stdout


def needs(command: str) -> None:
    if shutil.which(command) is None:
        pytest.skip(f"{command} is not installed (scripts/bootstrap.sh installs it as root)")


@contextlib.contextmanager
def started_acme_stack(tmp: Path, **settings: str) -> Iterator[AcmeStack]:
    """`tlssim up` (its ACME service and challenge ports on free ports, as every test stack)."""
    with running_stack(tmp, **({"TLSSIM_ACME_LIFETIME_S": str(LIFETIME_S)} | settings)) as stack:
        bundle = tmp / "bundle.pem"
        bundle.write_text(stack.tlssim("ca", "bundle").stdout)
        http01 = int(stack.env["TLSSIM_ACME_HTTP_PORT"])
        tlsalpn01 = int(stack.env["TLSSIM_ACME_TLS_ALPN_PORT"])
        yield AcmeStack(stack, bundle, http01, tlsalpn01)


@pytest.fixture(scope="session")
def acme_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeStack]:
    with started_acme_stack(tmp_path_factory.mktemp("acme")) as started:
        yield started


@contextlib.contextmanager
def openssl_server(cert_file: Path, key_file: Path, chain_file: Path | None) -> Iterator[int]:
    """`openssl s_server` serving a certificate on a free loopback port."""
    (port,) = free_ports(1)
    command = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet"]
    command += ["-cert", str(cert_file), "-key", str(key_file)]
    if chain_file is not None:
        command += ["-cert_chain", str(chain_file)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "openssl s_server did not listen"
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def split_chain(pem: str, folder: Path) -> tuple[Path, Path]:
    """The leaf and the rest of a PEM chain, each in its own file."""
    marker = "-----END CERTIFICATE-----"
    parts = [p.strip() + "\n" + marker + "\n" for p in pem.split(marker) if p.strip()]
    leaf, chain = folder / "leaf.pem", folder / "chain.pem"
    leaf.write_text(parts[0])
    chain.write_text("".join(parts[1:]))
    return leaf, chain
