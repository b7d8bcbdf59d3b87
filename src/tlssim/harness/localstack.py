"""A whole local stack (`tlssim up`) in a subprocess on free ports, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tlssim.report.model import Report

STARTUP_TIMEOUT_S = 90
# The services that serve Prometheus metrics, each on its own port.
METRICS_SERVICES = ("ca", "ocsp", "server", "client", "faults")


# Below Linux's ephemeral range (32768-60999): ports chosen here for the services are never
# handed out meanwhile as the source or listening port of an unrelated socket, such as the
# faults proxies that `tlssim up` binds to port 0 before the services start.
_PORTS = range(20000, 32768)


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports that were free a moment ago (held together while chosen)."""
    held: list[socket.socket] = []
    try:
        for port in random.sample(_PORTS, len(_PORTS)):
            if len(held) == n:
                break
            candidate = socket.socket()
            try:
                candidate.bind(("127.0.0.1", port))
            except OSError:
                candidate.close()
                continue
            held.append(candidate)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def stack_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """This process's environment with every service moved to a free port."""
    ports = free_ports(17)
    ca, ocsp, http, server, tcp, client, faults, console, *metrics = ports[:13]
    acme, acme_grpc, http01, tlsalpn01 = ports[13:]
    return (
        dict(os.environ)
        | {
            f"TLSSIM_{name.upper()}_METRICS_ADDR": f"127.0.0.1:{port}"
            for name, port in zip(METRICS_SERVICES, metrics, strict=True)
        }
        | {
            "TLSSIM_CA_ADDR": f"127.0.0.1:{ca}",
            "TLSSIM_OCSP_ADDR": f"127.0.0.1:{ocsp}",
            "TLSSIM_OCSP_URL": f"http://127.0.0.1:{http}",
            "TLSSIM_SERVER_ADDR": f"127.0.0.1:{server}",
            "TLSSIM_SERVER_TCP_ADDR": f"127.0.0.1:{tcp}",
            "TLSSIM_CLIENT_ADDR": f"127.0.0.1:{client}",
            "TLSSIM_FAULTS_API": f"127.0.0.1:{faults}",
            "TLSSIM_CONSOLE_ADDR": f"127.0.0.1:{console}",
            "TLSSIM_ACME_ADDR": f"127.0.0.1:{acme}",
            "TLSSIM_ACME_GRPC_ADDR": f"127.0.0.1:{acme_grpc}",
            "TLSSIM_ACME_HTTP_PORT": str(http01),
            "TLSSIM_ACME_TLS_ALPN_PORT": str(tlsalpn01),
            "TLSSIM_DATA_DIR": str(tmp / "data"),
        }
        | overrides
    )


@dataclass(frozen=True)
class LocalStack:
    env: dict[str, str]
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def console_url(self) -> str:
        return f"http://{self.env['TLSSIM_CONSOLE_ADDR']}"

    def metrics_url(self, service: str) -> str:
        return f"http://{self.env[f'TLSSIM_{service.upper()}_METRICS_ADDR']}/metrics"

    @property
    def server_tcp(self) -> tuple[str, int]:
        host, port = self.env["TLSSIM_SERVER_TCP_ADDR"].rsplit(":", 1)
        return host, int(port)

    def tlssim(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Runs the tlssim command against this stack (with `env` in place of its own)."""
        return subprocess.run(
            [sys.executable, "-m", "tlssim", *args],
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def handshake(
        self,
        *args: str,
        ok: bool | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> Report:
        """Runs `tlssim handshake --json ARGS` against this stack and returns its report
        (`handshake_report`: the exit code and `ok` checked)."""
        done = self.tlssim("handshake", "--json", *args, timeout=timeout, env=env)
        return handshake_report(done, ok=ok)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def service_pid(self, name: str) -> int:
        """The pid of `tlssim serve NAME` under this stack's `tlssim up`."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and argv[-3:-1] == [b"serve", name.encode()]:
                return int(proc.name)
        raise LookupError(f"no running {name} service under pid {self.process.pid}")


def handshake_report(done: subprocess.CompletedProcess[str], ok: bool | None = None) -> Report:
    """The report `tlssim handshake --json` printed, once its exit code is seen to say what
    the report says (0: ok, 1: not) and, when `ok` is given, the handshake to have succeeded
    (True) or failed (False); AssertionError otherwise."""
    if not done.stdout.lstrip().startswith("{"):
        raise AssertionError(f"no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    report = Report.from_json(done.stdout)
    if done.returncode != (0 if report.ok else 1):
        raise AssertionError(f"exit {done.returncode} for ok={report.ok}:\n{done.stderr}")
    if ok is not None and report.ok is not ok:
        raise AssertionError(
            f"expected ok={ok}, got alert {report.alert} error {report.error}\n{done.stdout}"
        )
    return report


@contextlib.contextmanager
def stopped_with_sigint(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_stack(tmp: Path, **overrides: str) -> Iterator[LocalStack]:
    """`tlssim up` in a subprocess, on free ports, stopped with Ctrl-C (SIGINT) afterwards."""
    env = stack_env(tmp, **overrides)
    log = tmp / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tlssim", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    started = LocalStack(env, tmp / "data", log, process)
    with stopped_with_sigint(process):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while "tlssim is up" not in started.logs():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tlssim up did not come up:\n" + started.logs())
            time.sleep(0.2)
        yield started
