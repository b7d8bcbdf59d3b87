"""`tlssim up`: the whole stack as local processes, in dependency order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass

from tlssim import endpoints as ep
from tlssim import links
from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.rpcutil import is_serving

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalService:
    name: str
    health_address: str
    description: str


def local_services(e: ep.Endpoints) -> tuple[LocalService, ...]:
    """Started in this order: each one needs the ones before it."""
    return (
        LocalService("ca", e.ca, f"certificate authority  gRPC {e.ca}"),
        LocalService("ocsp", e.ocsp, f"revocation responder   gRPC {e.ocsp}, HTTP {e.ocsp_url}"),
        LocalService(
            "server", e.server, f"TLS server             gRPC {e.server}, TCP {e.server_tcp}"
        ),
        LocalService("client", e.client, f"TLS client             gRPC {e.client}"),
    )


def own_listen(name: str, e: ep.Endpoints) -> dict[str, str]:
    """Binds each service where the endpoints say, since its peers reach it through proxies."""
    own = {"ca": e.ca, "ocsp": e.ocsp, "server": e.server, "client": e.client}
    listen = {"TLSSIM_LISTEN": own[name]}
    if name == "server":
        listen["TLSSIM_TCP_LISTEN"] = e.server_tcp
    if name == "ocsp":
        listen["TLSSIM_HTTP_LISTEN"] = e.ocsp_url.removeprefix("http://").split("/")[0]
    return listen


class Stack:
    """Child processes, one per service, with their output prefixed by the service name."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task[None]] = []

    async def start(self, service: LocalService, env: dict[str, str] | None = None) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tlssim",
            "serve",
            service.name,
            env=self._env | (env or {}),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.processes[service.name] = process
        assert process.stdout is not None
        self._pumps.append(asyncio.create_task(_prefix_lines(service.name, process.stdout)))

    async def wait_healthy(self, service: LocalService, deadline: float) -> None:
        process = self.processes[service.name]
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{service.name} exited with status {process.returncode}")
            if await is_serving(service.health_address, timeout=0.5):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{service.name} did not become healthy on {service.health_address}")

    async def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.returncode is None:
                process.terminate()
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        for pump in self._pumps:
            pump.cancel()

    async def first_exit(self) -> tuple[str, int]:
        waits = {asyncio.ensure_future(p.wait()): n for n, p in self.processes.items()}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        task = done.pop()
        return waits[task], task.result()


async def _prefix_lines(name: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stderr.write(f"[{name:>6}] {line.decode(errors='replace')}")
        sys.stderr.flush()


async def start_faults(stack: Stack, e: ep.Endpoints, deadline: float) -> dict[str, dict[str, str]]:
    """Starts the faults proxy with one proxy per link; returns each service's overrides."""
    await stack.start(LocalService("faults", e.faults_api, ""))
    api = FaultsApi(e.faults_api, timeout=1.0)
    while True:
        try:
            await api.acall("GET", "/version")
            break
        except FaultsApiError:
            if time.monotonic() > deadline or stack.processes["faults"].returncode is not None:
                raise RuntimeError(f"faults did not answer on {e.faults_api}") from None
            await asyncio.sleep(0.1)
    upstreams = {
        "server": e.server,
        "ocsp": e.ocsp,
        "ca": e.ca,
        "ocsp_http": e.ocsp_url.removeprefix("http://"),
        "server_tcp": e.server_tcp,
    }
    specs = [
        {
            "name": link.name,
            "listen": "127.0.0.1:0",
            "upstream": upstreams[link.target],
            "enabled": True,
            "protocol": link.protocol,
        }
        for link in links.LINKS
    ]
    created = await api.acall("POST", "/populate", specs)
    bound = {p["name"]: p["listen"] for p in created["proxies"]}
    overrides: dict[str, dict[str, str]] = {}
    for link in links.LINKS:
        value = bound[link.name]
        if link.variable == "TLSSIM_OCSP_URL":
            value = f"http://{value}"
        overrides.setdefault(link.source, {})[link.variable] = value
    return overrides


async def run_up(data_dir: str | None) -> int:
    env = dict(os.environ)
    if data_dir:
        env["TLSSIM_DATA_DIR"] = data_dir
    e = ep.Endpoints.from_env(env)
    stack = Stack(env)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        print("starting faults ...", flush=True)
        overrides = await start_faults(stack, e, deadline)
        for service in local_services(e):
            print(f"starting {service.name} ...", flush=True)
            await stack.start(
                service, own_listen(service.name, e) | overrides.get(service.name, {})
            )
            await stack.wait_healthy(service, deadline)
        print("\ntlssim is up; every service answers the gRPC health check:")
        for service in local_services(e):
            print(f"  {service.name:<7} {service.description}")
        print(f"  faults  fault proxy on every link    REST {e.faults_api} (tlssim faults list)")
        print("\ntry:  tlssim handshake --server-name valid.tlssim.test\nstop: Ctrl-C", flush=True)
        exited = asyncio.ensure_future(stack.first_exit())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            name, code = exited.result()
            print(f"{name} exited with status {code}; stopping the stack", file=sys.stderr)
            return 1
        exited.cancel()
        return 0
    except RuntimeError as exc:
        print(f"tlssim up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            await stack.stop()
        print("stopped", flush=True)
