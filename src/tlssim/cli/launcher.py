"""`tlssim up`: the whole stack as local processes, in dependency order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.pki.enrollment import IDENTITIES, credential_path
from tlssim.rpcutil import is_serving
from tlssim.services.settings import (
    ADDRESSES,
    METRICS_PORTS,
    UP_HEALTH_FAIL_DEFAULT_S,
    UP_HEALTH_FAIL_S,
    Environment,
    acme_addresses,
    console_address,
    default_data_dir,
)
from tlssim.topology import endpoints as ep
from tlssim.topology import links

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalService:
    name: str
    health_address: str
    description: str
    #: False for the faults service, whose REST API (not gRPC health) tells it is up.
    grpc_health: bool = True


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


# A child that exits is restarted after this delay, doubled at each exit in a row...
RESTART_DELAY_S = 0.5
RESTART_DELAY_MAX_S = 8.0
# ... and given up on (the rest keep running) after this many exits within the window.
GIVE_UP_EXITS = 5
GIVE_UP_WINDOW_S = 60.0
# Ctrl-C: children get SIGTERM, and SIGKILL after this long.
STOP_TIMEOUT_S = 4.0
# A running child's health is checked this often; one that fails every check for
# TLSSIM_UP_HEALTH_FAIL_S (alive but not answering: stopped, deadlocked, out of file
# descriptors) is killed, and restarted like one that died.
HEALTH_INTERVAL_S = 1.0
HEALTH_FAIL_S = UP_HEALTH_FAIL_DEFAULT_S
HEALTH_PROBE_TIMEOUT_S = 0.8
# Child output is read in chunks, never waiting for a newline; longer lines are cut here.
MAX_LOG_LINE = 2000
_READ_CHUNK = 64 * 1024


@dataclass
class Child:
    """One supervised service process."""

    service: LocalService
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    exits: list[float] = field(default_factory=list)
    restarts: int = 0
    gave_up: bool = False
    #: Set while the child is (re)starting: its health is not checked until it is up.
    starting: bool = False
    #: Why the supervisor killed it, if it did (said with the restart).
    killed_because: str = ""


class Stack:
    """Child processes, one per service, with their output prefixed by the service name.

    A child that exits is restarted with backoff and the restart is reported; one that keeps
    exiting is given up on while the others keep running.
    """

    def __init__(self, env: dict[str, str], health_fail_s: float = HEALTH_FAIL_S) -> None:
        # What every child gets; no service inherits another's credential from here.
        self.env = {k: v for k, v in env.items() if k != "TLSSIM_ENROLLMENT_TOKEN_FILE"}
        self.health_fail_s = health_fail_s
        self.children: dict[str, Child] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        #: Called after a child came back (e.g. to recreate the faults proxies).
        self.on_restart: dict[str, Callable[[], Awaitable[None]]] = {}

    async def start(self, service: LocalService, env: dict[str, str] | None = None) -> None:
        child = Child(service, self.env | (env or {}))
        self.children[service.name] = child
        await self._spawn(child)

    def process(self, name: str) -> asyncio.subprocess.Process:
        process = self.children[name].process
        assert process is not None
        return process

    async def _spawn(self, child: Child) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tlssim",
            "serve",
            child.service.name,
            env=child.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        child.process = process
        assert process.stdout is not None
        self._tasks.append(asyncio.create_task(pump_output(child.service.name, process.stdout)))

    async def wait_healthy(self, service: LocalService, deadline: float) -> None:
        process = self.process(service.name)
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{service.name} exited with status {process.returncode}")
            if await is_serving(service.health_address, timeout=0.5):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{service.name} did not become healthy on {service.health_address}")

    def supervise(self) -> None:
        """From now on, restart children that exit, and kill (to restart) children that
        fail their health check for `health_fail_s`."""
        for child in self.children.values():
            self._tasks.append(asyncio.create_task(self._watch(child)))
            self._tasks.append(asyncio.create_task(self._check_health(child)))

    async def _check_health(self, child: Child) -> None:
        failing_since: float | None = None
        while not self._stopping:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            process = child.process
            if child.starting or child.gave_up or process is None or process.returncode is not None:
                failing_since = None
                continue
            if await answers_health(child.service, HEALTH_PROBE_TIMEOUT_S):
                failing_since = None
                continue
            now = time.monotonic()
            failing_since = now if failing_since is None else failing_since
            if now - failing_since < self.health_fail_s or self._stopping:
                continue
            if process is not child.process or process.returncode is not None:
                continue
            child.killed_because = f"failed its health check for {self.health_fail_s:g} s"
            say(f"{child.service.name} {child.killed_because}; killing it to restart it")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            failing_since = None

    async def _watch(self, child: Child) -> None:
        name = child.service.name
        while not self._stopping:
            code = await self.process(name).wait()
            if self._stopping:
                return
            because, child.killed_because = child.killed_because, ""
            exited = f"{name} exited with status {code}" + (f" ({because})" if because else "")
            now = time.monotonic()
            child.exits = [t for t in child.exits if now - t < GIVE_UP_WINDOW_S] + [now]
            if len(child.exits) >= GIVE_UP_EXITS:
                child.gave_up = True
                say(
                    f"{exited}, {len(child.exits)} times within "
                    f"{GIVE_UP_WINDOW_S:.0f} s; not restarting it (the other services keep "
                    "running; Ctrl-C stops the stack)"
                )
                return
            delay = min(RESTART_DELAY_S * 2 ** (len(child.exits) - 1), RESTART_DELAY_MAX_S)
            child.starting = True
            await asyncio.sleep(delay)
            if self._stopping:
                return
            child.restarts += 1
            await self._spawn(child)
            try:
                if child.service.grpc_health:
                    await self.wait_healthy(child.service, time.monotonic() + STARTUP_TIMEOUT_S)
                if hook := self.on_restart.get(name):
                    await hook()
            except (RuntimeError, FaultsApiError) as exc:
                say(f"{name} restarted ({child.restarts}) but is not healthy: {exc}")
                continue
            finally:
                child.starting = False
            took = time.monotonic() - now
            say(f"{exited}; restarted ({child.restarts}) in {took:.1f} s")

    async def stop(self) -> None:
        """SIGTERM to every child (last started first), SIGKILL to those still running."""
        self._stopping = True
        running = [
            c.process
            for c in reversed(self.children.values())
            if c.process is not None and c.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def answers_health(service: LocalService, timeout: float) -> bool:
    """One health check: gRPC health for the gRPC services; the faults API's /version and
    the console's /healthz over HTTP."""
    if service.grpc_health:
        return await is_serving(service.health_address, timeout=timeout)
    path = "/version" if service.name == "faults" else "/healthz"
    return await _answers_http(f"http://{service.health_address}{path}", timeout)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def pump_output(name: str, stream: asyncio.StreamReader) -> None:
    """Copies a child's output to ours, each line prefixed with its name and cut at
    MAX_LOG_LINE characters; reads in chunks so that no line length can stall the child."""
    prefix = f"[{name:>6}] "
    pending = b""
    cut = 0  # bytes dropped from the line being read
    while chunk := await stream.read(_READ_CHUNK):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            _write_line(prefix, line, cut)
            cut = 0
        if len(pending) > MAX_LOG_LINE:
            cut += len(pending) - MAX_LOG_LINE
            pending = pending[:MAX_LOG_LINE]
    if pending:
        _write_line(prefix, pending, cut)


def _write_line(prefix: str, line: bytes, cut: int) -> None:
    text = line[:MAX_LOG_LINE].decode(errors="replace")
    cut += max(0, len(line) - MAX_LOG_LINE)
    tail = f" ... [{cut} more bytes]" if cut else ""
    sys.stderr.write(f"{prefix}{text}{tail}\n")
    sys.stderr.flush()


async def start_faults(stack: Stack, e: ep.Endpoints, deadline: float) -> dict[str, dict[str, str]]:
    """Starts the faults proxy with one proxy per link; returns each service's overrides.

    Each proxy gets a free port once; a restarted faults process gets the same ports back
    (its toxics are gone), so the other services' addresses stay valid.
    """
    await stack.start(LocalService("faults", e.faults_api, "", grpc_health=False))
    api = FaultsApi(e.faults_api, timeout=1.0)
    await _wait_for_api(api, stack, deadline)
    upstreams = {
        "server": e.server,
        "ocsp": e.ocsp,
        "ca": e.ca,
        "ocsp_http": e.ocsp_url.removeprefix("http://"),
        "server_tcp": e.server_tcp,
        **acme_challenge_upstreams(stack.env),
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
    again = [spec | {"listen": bound[spec["name"]]} for spec in specs]

    async def recreate_proxies() -> None:
        await _wait_for_api(api, stack, time.monotonic() + STARTUP_TIMEOUT_S)
        await api.acall("POST", "/populate", again)
        say("faults: proxies recreated on their ports (toxics from before are gone)")

    stack.on_restart["faults"] = recreate_proxies
    overrides: dict[str, dict[str, str]] = {}
    for link in links.LINKS:
        value = bound[link.name]
        if link.variable == "TLSSIM_OCSP_URL":
            value = f"http://{value}"
        overrides.setdefault(link.source, {})[link.variable] = value
    return overrides


async def _wait_for_api(api: FaultsApi, stack: Stack, deadline: float) -> None:
    while True:
        try:
            await api.acall("GET", "/version")
            return
        except FaultsApiError:
            if time.monotonic() > deadline or stack.process("faults").returncode is not None:
                raise RuntimeError(f"faults did not answer on {api.base}") from None
            await asyncio.sleep(0.1)


async def start_console(stack: Stack, address: str, deadline: float) -> None:
    """The console watches the services directly, on their own addresses (not the proxies)."""
    listen = {"TLSSIM_LISTEN": address}
    await stack.start(LocalService("console", address, "", grpc_health=False), listen)
    while not await _answers_http(f"http://{address}/healthz"):
        if time.monotonic() > deadline or stack.process("console").returncode is not None:
            raise RuntimeError(f"console did not answer on http://{address}")
        await asyncio.sleep(0.1)


async def _answers_http(url: str, timeout: float = 0.5) -> bool:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.get(url) as reply,
        ):
            return reply.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def enrollment_credential(env: dict[str, str], name: str) -> dict[str, str]:
    """The one enrollment credential service `name` may present to the ca: its own file in
    the ca's data dir, created by the ca at its first start (nothing for the ca itself).

    The file, not its content, is handed over, so that a rotated credential reaches the
    services without a restart.
    """
    if name not in IDENTITIES:
        return {}
    path = credential_path(default_data_dir(env) / "ca", name)
    if not path.is_file():
        raise RuntimeError(f"the ca made no enrollment credential for {name} at {path}")
    return {"TLSSIM_ENROLLMENT_TOKEN_FILE": str(path)}


async def _start_all(stack: Stack, e: ep.Endpoints) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    print("starting faults ...", flush=True)
    overrides = await start_faults(stack, e, deadline)
    for service in local_services(e):
        print(f"starting {service.name} ...", flush=True)
        env = own_listen(service.name, e) | overrides.get(service.name, {})
        # The ca is healthy by now: its credentials exist.
        env |= enrollment_credential(stack.env, service.name)
        await stack.start(service, env)
        await stack.wait_healthy(service, deadline)
    print("starting acme ...", flush=True)
    await start_acme(stack, deadline, overrides.get("acme", {}))
    print("starting console ...", flush=True)
    await start_console(stack, console_address(stack.env), deadline)


def acme_service(env: dict[str, str]) -> LocalService:
    """The ACME service: HTTPS for clients, gRPC for its health (docs/acme.md)."""
    https, grpc_address = acme_addresses(env)
    return LocalService("acme", grpc_address, f"ACME (RFC 8555)        https://{https}/directory")


def acme_challenge_upstreams(env: dict[str, str]) -> dict[str, str]:
    """Where the validation links lead: the challenge ports on loopback."""
    where = Environment(env)
    return {
        "acme_http01": f"127.0.0.1:{where.text('TLSSIM_ACME_HTTP_PORT', '5002')}",
        "acme_tlsalpn01": f"127.0.0.1:{where.text('TLSSIM_ACME_TLS_ALPN_PORT', '5001')}",
    }


async def start_acme(stack: Stack, deadline: float, via: dict[str, str]) -> None:
    """After the ca: it asks the ca for its own certificate and issues through it; its
    validation connections go through the faults proxies (`via`)."""
    service = acme_service(stack.env)
    env = {"TLSSIM_LISTEN": service.health_address} | via
    env |= enrollment_credential(stack.env, "acme")
    await stack.start(service, env)
    await stack.wait_healthy(service, deadline)


async def run_up(data_dir: str | None) -> int:
    env = dict(os.environ)
    if data_dir:
        env["TLSSIM_DATA_DIR"] = data_dir
    e = ep.Endpoints.from_env(env)
    try:
        health_fail_s = UP_HEALTH_FAIL_S.get(env)
        # Every address refused here, in one line naming it, rather than by a child later.
        for setting in ADDRESSES:
            setting.get(env)
        acme_addresses(env)
    except ValueError as exc:
        print(f"tlssim up failed: {exc}", file=sys.stderr)
        return 2
    stack = Stack(env, health_fail_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # Ctrl-C during start-up stops too.
        starting = asyncio.ensure_future(_start_all(stack, e))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            return 0
        starting.result()
        print("\ntlssim is up; every service answers the gRPC health check:")
        for service in local_services(e):
            print(f"  {service.name:<7} {service.description}")
        print(f"  acme    {acme_service(env).description}")
        print(f"  faults  fault proxy on every link    REST {e.faults_api} (tlssim faults list)")
        print(f"  console live web page                http://{console_address(env)}")
        where = Environment(env)
        scraped = ", ".join(f"{name} {where.metrics_address(name)}" for name in METRICS_PORTS)
        print(f"  metrics Prometheus /metrics          {scraped}")
        print("\ntry:  tlssim handshake --server-name valid.tlssim.test\nstop: Ctrl-C", flush=True)
        stack.supervise()
        await stopped
        return 0
    except RuntimeError as exc:
        print(f"tlssim up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            await stack.stop()
        print("stopped", flush=True)
