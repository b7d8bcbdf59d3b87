"""certbot against the lab's ACME service: standalone http-01, renewal, revocation."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.acme.conftest import AcmeStack, needs, openssl_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def certbot(acme: AcmeStack, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    needs("certbot")
    env = dict(os.environ, REQUESTS_CA_BUNDLE=str(acme.bundle))
    command = ["certbot", *args, "--server", acme.directory, "--non-interactive"]
    command += ["--config-dir", str(folder / "config"), "--work-dir", str(folder / "work")]
    command += ["--logs-dir", str(folder / "logs")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def live(folder: Path, name: str) -> Path:
    return folder / "config" / "live" / name


def served(acme: AcmeStack, folder: Path, name: str) -> tuple[int, dict[str, object]]:
    where = live(folder, name)
    with openssl_server(where / "cert.pem", where / "privkey.pem", where / "chain.pem") as port:
        return acme.handshake(name, port, "--revocation", "hard")


def serial_of(folder: Path, name: str) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((live(folder, name) / "cert.pem").read_bytes())
    return format(cert.serial_number, "x")


def test_certbot_obtains_renews_and_revokes(acme_stack: AcmeStack, tmp_path: Path) -> None:
    name = "certbot.tlssim.test"
    certbot(
        acme_stack,
        tmp_path,
        "certonly",
        "--standalone",
        "--http-01-port",
        str(acme_stack.http01_port),
        "--http-01-address",
        "127.0.0.1",
        "-d",
        name,
        "--agree-tos",
        "-m",
        "certbot@tlssim.test",
    )
    first = serial_of(tmp_path, name)
    code, report = served(acme_stack, tmp_path, name)
    assert code == 0, report["checks"][0]  # type: ignore[index]
    assert report["revocation"]["status"] == "good"  # type: ignore[index]
    assert first in acme_stack.listed(name)

    certbot(
        acme_stack,
        tmp_path,
        "renew",
        "--force-renewal",
        "--no-random-sleep-on-renew",
        "--cert-name",
        name,
    )
    assert serial_of(tmp_path, name) != first
    code, report = served(acme_stack, tmp_path, name)
    assert code == 0, report

    certbot(
        acme_stack,
        tmp_path,
        "revoke",
        "--cert-name",
        name,
        "--reason",
        "keycompromise",
        "--no-delete-after-revoke",
    )
    code, report = served(acme_stack, tmp_path, name)
    assert code == 1
    assert report["revocation"]["status"] == "revoked"  # type: ignore[index]
