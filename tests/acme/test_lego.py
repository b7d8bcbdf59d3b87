"""lego against the lab's ACME service: http-01 and tls-alpn-01, renewal, revocation."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.acme.conftest import AcmeStack, needs, openssl_server, split_chain

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def lego(
    acme: AcmeStack, folder: Path, name: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    needs("lego")
    env = dict(os.environ, LEGO_CA_CERTIFICATES=str(acme.bundle))
    command = ["lego", "--server", acme.directory, "--email", "lego@tlssim.test"]
    command += ["--accept-tos", "--path", str(folder), "--domains", name, *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def http(acme: AcmeStack) -> tuple[str, ...]:
    return ("--http", "--http.port", f"127.0.0.1:{acme.http01_port}")


def tls(acme: AcmeStack) -> tuple[str, ...]:
    return ("--tls", "--tls.port", f"127.0.0.1:{acme.tlsalpn01_port}")


def served(
    acme: AcmeStack, folder: Path, name: str, *handshake: str
) -> tuple[int, dict[str, object]]:
    """The certificate lego saved, served by openssl s_server, checked by tlssim handshake."""
    certificates = folder / "certificates"
    leaf, chain = split_chain((certificates / f"{name}.crt").read_text(), folder)
    with openssl_server(leaf, certificates / f"{name}.key", chain) as port:
        return acme.handshake(name, port, *handshake)


def serial_of(folder: Path, name: str) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((folder / "certificates" / f"{name}.crt").read_bytes())
    return format(cert.serial_number, "x")


@pytest.mark.parametrize("challenge", ["http-01", "tls-alpn-01"])
def test_lego_obtains_renews_and_revokes(
    acme_stack: AcmeStack, tmp_path: Path, challenge: str
) -> None:
    name = f"lego-{challenge}.tlssim.test"
    solver = http(acme_stack) if challenge == "http-01" else tls(acme_stack)
    lego(acme_stack, tmp_path, name, *solver, "run")
    first = serial_of(tmp_path, name)

    code, report = served(acme_stack, tmp_path, name, "--revocation", "hard")
    assert code == 0, report
    assert report["revocation"]["status"] == "good"  # type: ignore[index]
    listed = acme_stack.listed(name)
    assert first in listed and "acme" in listed

    # The certificate lives an hour: lego renews one that has under 90 days left.
    lego(acme_stack, tmp_path, name, *solver, "renew", "--days", "90", "--no-random-sleep")
    renewed = serial_of(tmp_path, name)
    assert renewed != first
    code, report = served(acme_stack, tmp_path, name, "--revocation", "hard")
    assert code == 0, report

    lego(acme_stack, tmp_path, name, "revoke", "--keep", "--reason", "1")
    code, report = served(acme_stack, tmp_path, name, "--revocation", "hard")
    assert code == 1
    assert report["revocation"]["status"] == "revoked"  # type: ignore[index]
    assert "keyCompromise" in acme_stack.listed(name)
