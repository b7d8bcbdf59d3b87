"""certbot and lego, run once against the ACME service for the fault scenarios: standalone
http-01 on the port the service validates, trusting the lab's bundle."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509

CLIENTS: Final = ("certbot", "lego")
TIMEOUT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class ClientRun:
    """How the client exited, what it printed, and the serial (hex) of what it saved."""

    client: str
    returncode: int
    output: str
    serial: str = ""

    @property
    def issued(self) -> bool:
        return self.returncode == 0 and bool(self.serial)


def installed(client: str) -> bool:
    return shutil.which(client) is not None


def _command(client: str, directory: str, name: str, port: int, folder: Path) -> list[str]:
    if client == "certbot":
        return [
            "certbot",
            "certonly",
            "--standalone",
            "--http-01-port",
            str(port),
            "-d",
            name,
            "--agree-tos",
            "-m",
            "certbot@tlssim.test",
            "--server",
            directory,
            "--non-interactive",
            "--config-dir",
            str(folder / "config"),
            "--work-dir",
            str(folder / "work"),
            "--logs-dir",
            str(folder / "logs"),
        ]
    return [
        "lego",
        "--server",
        directory,
        "--email",
        "lego@tlssim.test",
        "--accept-tos",
        "--path",
        str(folder),
        "--domains",
        name,
        "--http",
        "--http.port",
        f":{port}",
        "run",
    ]


def _saved(client: str, folder: Path, name: str) -> Path:
    if client == "certbot":
        return folder / "config" / "live" / name / "cert.pem"
    return folder / "certificates" / f"{name}.crt"


async def run(client: str, directory: str, bundle_pem: str, name: str, port: int) -> ClientRun:
    """One order for `name` by certbot or lego; the run's outcome (a client that is not
    installed is a RuntimeError)."""
    if client not in CLIENTS:
        raise ValueError(f"no ACME client {client!r} ({', '.join(CLIENTS)})")
    if not installed(client):
        raise RuntimeError(f"{client} is not installed")
    with tempfile.TemporaryDirectory(prefix=f"tlssim-{client}-") as where:
        folder = Path(where)
        bundle = folder / "bundle.pem"
        bundle.write_text(bundle_pem)
        env = os.environ | {"REQUESTS_CA_BUNDLE": str(bundle), "LEGO_CA_CERTIFICATES": str(bundle)}
        process = await asyncio.create_subprocess_exec(
            *_command(client, directory, name, port, folder),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"{client} did not finish within {TIMEOUT_S:g} s") from None
        saved = _saved(client, folder, name)
        serial = ""
        if saved.exists():
            serial = format(x509.load_pem_x509_certificate(saved.read_bytes()).serial_number, "x")
        assert process.returncode is not None
        return ClientRun(client, process.returncode, output.decode(errors="replace"), serial)
