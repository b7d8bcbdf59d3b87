"""``python -m tlssim.bench.acme [--runs N]``: wall time per issuance of certbot and lego
against Debian's Pebble (its test configuration) and the lab's ACME service, in one run.

Each issuance is a whole client run in a fresh directory: account registration, order,
validation (the client's own standalone responder), finalization and download. Pebble runs
with its test configuration (ports 5002 and 5001 for validation moved to free ones, as the
lab's are), `PEBBLE_VA_NOSLEEP=1` (its "testing at full speed") and no nonce rejection, with
pebble-challtestsrv as its DNS server (every name to 127.0.0.1), as its README describes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tlssim.harness.localstack import free_ports, running_stack

GOAL = 1.5


@dataclass(frozen=True)
class Target:
    name: str
    directory: str
    bundle: Path
    http01_port: int
    tlsalpn01_port: int


def _serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _https_credentials(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: Pebble's HTTPS identity."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble bench")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextlib.contextmanager
def pebble(folder: Path) -> Iterator[Target]:
    listen, management, http01, tlsalpn01, dns = free_ports(5)
    cert_file, key_file = _https_credentials(folder)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{listen}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert_file),
            "privateKey": str(key_file),
            "httpPort": http01,
            "tlsPort": tlsalpn01,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
    log = (folder / "pebble.log").open("w")
    dns_server = subprocess.Popen(
        [
            "pebble-challtestsrv",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-dns01",
            f"127.0.0.1:{dns}",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{free_ports(1)[0]}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = subprocess.Popen(
        ["pebble", "-config", str(folder / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not _serving(listen):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pebble did not start:\n" + (folder / "pebble.log").read_text())
            time.sleep(0.1)
        yield Target("pebble", f"https://127.0.0.1:{listen}/dir", cert_file, http01, tlsalpn01)
    finally:
        for process in (server, dns_server):
            process.terminate()
            process.wait()
        log.close()


@contextlib.contextmanager
def lab(folder: Path) -> Iterator[Target]:
    with running_stack(folder) as stack:
        bundle = folder / "bundle.pem"
        bundle.write_text(stack.tlssim("ca", "bundle").stdout)
        directory = f"https://{stack.env['TLSSIM_ACME_ADDR']}/directory"
        http01 = int(stack.env["TLSSIM_ACME_HTTP_PORT"])
        tlsalpn01 = int(stack.env["TLSSIM_ACME_TLS_ALPN_PORT"])
        yield Target("tlssim", directory, bundle, http01, tlsalpn01)


def _lego(target: Target, folder: Path, name: str, challenge: str) -> list[str]:
    solver = (
        ["--http", "--http.port", f"127.0.0.1:{target.http01_port}"]
        if challenge == "http-01"
        else ["--tls", "--tls.port", f"127.0.0.1:{target.tlsalpn01_port}"]
    )
    return [
        "lego", "--server", target.directory, "--email", "bench@tlssim.test", "--accept-tos",
        "--path", str(folder), "--domains", name, *solver, "run",
    ]  # fmt: skip


def _certbot(target: Target, folder: Path, name: str, challenge: str) -> list[str]:
    del challenge
    return [
        "certbot", "certonly", "--standalone", "--http-01-port", str(target.http01_port),
        "--http-01-address", "127.0.0.1", "-d", name, "--server", target.directory,
        "--non-interactive", "--agree-tos", "-m", "bench@tlssim.test",
        "--config-dir", str(folder), "--work-dir", str(folder), "--logs-dir", str(folder),
    ]  # fmt: skip


CASES = (
    ("certbot http-01", _certbot, "http-01"),
    ("lego http-01", _lego, "http-01"),
    ("lego tls-alpn-01", _lego, "tls-alpn-01"),
)


def issue_once(target: Target, case: int, run: int, folder: Path) -> float:
    label, command, challenge = CASES[case]
    work = folder / f"{target.name}-{case}-{run}"
    work.mkdir()
    name = f"bench{case}-{run}.tlssim.test"
    env = dict(
        os.environ, LEGO_CA_CERTIFICATES=str(target.bundle), REQUESTS_CA_BUNDLE=str(target.bundle)
    )
    started = time.perf_counter()
    done = subprocess.run(
        command(target, work, name, challenge), env=env, capture_output=True, text=True, timeout=120
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        log = work / "letsencrypt.log"
        text = log.read_text() if log.exists() else done.stderr
        detail = "\n".join(line for line in text.splitlines() if "detail" in line.lower())[-3000:]
        raise RuntimeError(f"{label} against {target.name} failed:\n{detail}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="issuances per client and server")
    args = parser.parse_args(argv)
    for tool in ("pebble", "pebble-challtestsrv", "certbot", "lego"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (scripts/bootstrap.sh installs it as root)")
            return 2
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tlssim-bench-acme-") as tmp:
        root = Path(tmp)
        for start in (pebble, lab):
            folder = root / start.__name__
            folder.mkdir()
            with start(folder) as target:
                for case in range(len(CASES)):
                    issue_once(target, case, 0, folder)  # warm-up, not counted
                    times[(target.name, case)] = [
                        issue_once(target, case, run, folder) for run in range(1, args.runs + 1)
                    ]
    print(f"ACME issuance wall time, median of {args.runs} (s): a whole client run each")
    print(f"  {'client':<20} {'tlssim':>8} {'Pebble':>8} {'ratio':>7}  goal")
    for case, (label, _, _) in enumerate(CASES):
        ours = statistics.median(times[("tlssim", case)])
        theirs = statistics.median(times[("pebble", case)])
        print(f"  {label:<20} {ours:>8.2f} {theirs:>8.2f} {ours / theirs:>6.2f}x  <= {GOAL}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
