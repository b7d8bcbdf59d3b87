"""Every service's settings, read once from the environment into one frozen object.

``VARIABLES`` is the whole list of environment variables the services read; docs/settings.md
shows it as a table, and a test holds the two together. Nothing else in the services reads
the environment.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim import endpoints as ep


class SettingsError(ValueError):
    """A variable holds a value the service cannot use; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Variable:
    name: str
    default: str
    meaning: str
    services: tuple[str, ...]


_ALL = ("ca", "ocsp", "server", "client", "faults")
CONSOLE_PORT = 8000
# Where each service serves Prometheus metrics (docs/metrics.md).
METRICS_PORTS: Final = {
    "ca": 9151,
    "ocsp": 9152,
    "server": ep.SERVER_METRICS_PORT,
    "client": 9154,
    "faults": 9155,
}


def metrics_variable(service: str) -> str:
    """The variable holding `service`'s metrics address, e.g. TLSSIM_CA_METRICS_ADDR."""
    return f"TLSSIM_{service.upper()}_METRICS_ADDR"


# The ACME service's own settings (docs/acme.md); it also reads TLSSIM_CA_ADDR, TLSSIM_LISTEN,
# TLSSIM_DATA_DIR, TLSSIM_ENROLLMENT_TOKEN_FILE and the log settings.
ACME_VARIABLES: Final[tuple[Variable, ...]] = tuple(
    Variable(name=name, default=default, meaning=meaning, services=("acme",))
    for name, default, meaning in (
        (
            "TLSSIM_ACME_ADDR",
            "$TLSSIM_HOST:14000",
            "where the ACME server answers HTTPS (its directory: https://ADDR/directory)",
        ),
        (
            "TLSSIM_ACME_GRPC_ADDR",
            "$TLSSIM_HOST:50055",
            "where the ACME service answers gRPC (health, trace events)",
        ),
        (
            "TLSSIM_ACME_LISTEN",
            "$TLSSIM_LISTEN_HOST and the port of $TLSSIM_ACME_ADDR",
            "where the ACME service binds HTTPS",
        ),
        ("TLSSIM_ACME_HTTP_PORT", "5002", "port the validator connects to for http-01"),
        ("TLSSIM_ACME_TLS_ALPN_PORT", "5001", "port the validator connects to for tls-alpn-01"),
        (
            "TLSSIM_ACME_HTTP_VIA",
            "(none)",
            "HOST:PORT dialled for http-01 instead (a faults proxy)",
        ),
        (
            "TLSSIM_ACME_TLS_ALPN_VIA",
            "(none)",
            "HOST:PORT dialled for tls-alpn-01 instead (a faults proxy)",
        ),
        (
            "TLSSIM_ACME_RESOLVE",
            "tlssim.test=127.0.0.1,*.tlssim.test=127.0.0.1",
            "how the validator finds lab names: PATTERN=ADDRESS, comma-separated, first match wins",
        ),
        (
            "TLSSIM_ACME_ZONES",
            "tlssim.test",
            "DNS zones whose names ACME issues (comma-separated; within the ca's acme policy)",
        ),
        (
            "TLSSIM_ACME_IP_NETWORKS",
            "127.0.0.0/8,::1/128",
            "networks whose addresses ACME issues as ip identifiers (none: empty)",
        ),
        (
            "TLSSIM_ACME_LIFETIME_S",
            "7776000",
            "lifetime of ACME certificates in seconds (90 days; at least 60)",
        ),
        (
            "TLSSIM_ACME_ORDERS_PER_HOUR",
            "300",
            "new orders one account may place in an hour (more: rateLimited)",
        ),
        (
            "TLSSIM_ACME_EAB_FILE",
            "(none)",
            "external account keys, KID HMAC-KEY-BASE64URL a line; when set, accounts need one",
        ),
        (
            "TLSSIM_ACME_NONCE_REJECT",
            "0",
            "share of good nonces refused as badNonce (0 to 1, a fault)",
        ),
        (
            "TLSSIM_ACME_VALIDATION_DELAY_S",
            "0",
            "seconds each validation waits before it connects (a fault)",
        ),
        (
            "TLSSIM_ACME_RETRY_AFTER_S",
            "1",
            "Retry-After seconds on pending and processing orders, authorizations, challenges",
        ),
    )
)

VARIABLES: Final[tuple[Variable, ...]] = (
    Variable(
        name="TLSSIM_HOST",
        default=ep.DEFAULT_HOST,
        meaning="host of every default address below",
        services=_ALL,
    ),
    Variable(
        name="TLSSIM_CA_ADDR",
        default=f"$TLSSIM_HOST:{ep.CA_PORT}",
        meaning="where the ca answers gRPC",
        services=("ca", "ocsp", "server", "client"),
    ),
    Variable(
        name="TLSSIM_OCSP_ADDR",
        default=f"$TLSSIM_HOST:{ep.OCSP_GRPC_PORT}",
        meaning="where the responder answers gRPC",
        services=("ocsp", "server", "client"),
    ),
    Variable(
        name="TLSSIM_OCSP_URL",
        default=f"http://$TLSSIM_HOST:{ep.OCSP_HTTP_PORT}",
        meaning="OCSP and CRL URL written into certificates; the responder's HTTP front",
        services=("ca", "ocsp"),
    ),
    Variable(
        name="TLSSIM_SERVER_ADDR",
        default=f"$TLSSIM_HOST:{ep.SERVER_GRPC_PORT}",
        meaning="where the TLS server answers gRPC",
        services=("server", "client"),
    ),
    Variable(
        name="TLSSIM_SERVER_TCP_ADDR",
        default=f"$TLSSIM_HOST:{ep.SERVER_TCP_PORT}",
        meaning="where the TLS server accepts TLS over TCP",
        services=("server",),
    ),
    Variable(
        name="TLSSIM_CLIENT_ADDR",
        default=f"$TLSSIM_HOST:{ep.CLIENT_GRPC_PORT}",
        meaning="where the client service answers gRPC",
        services=("client",),
    ),
    Variable(
        name="TLSSIM_FAULTS_API",
        default=f"$TLSSIM_HOST:{ep.FAULTS_API_PORT}",
        meaning="the faults REST API",
        services=("faults",),
    ),
    Variable(
        name="TLSSIM_LISTEN_HOST",
        default=ep.DEFAULT_HOST,
        meaning="host a service binds when its listen address is not given",
        services=_ALL,
    ),
    Variable(
        name="TLSSIM_LISTEN",
        default="$TLSSIM_LISTEN_HOST and the port of the service's own address",
        meaning="where the service binds its gRPC port (the faults service: its REST API)",
        services=_ALL,
    ),
    Variable(
        name="TLSSIM_HTTP_LISTEN",
        default="$TLSSIM_LISTEN_HOST and the port of $TLSSIM_OCSP_URL",
        meaning="where the responder binds OCSP and CRLs over HTTP",
        services=("ocsp",),
    ),
    Variable(
        name="TLSSIM_TCP_LISTEN",
        default="$TLSSIM_LISTEN_HOST and the port of $TLSSIM_SERVER_TCP_ADDR",
        meaning="where the TLS server binds TLS over TCP",
        services=("server",),
    ),
    Variable(
        name="TLSSIM_DATA_DIR",
        default="$XDG_STATE_HOME/tlssim (~/.local/state/tlssim)",
        meaning="state directory; the ca keeps its keys and database in its ca/ folder",
        services=("ca", "ocsp", "server", "client"),
    ),
    *(
        Variable(
            name=metrics_variable(service),
            default=f"$TLSSIM_HOST:{port}",
            meaning=f"where the {service} service serves Prometheus metrics (/metrics)",
            services=(service,),
        )
        for service, port in METRICS_PORTS.items()
    ),
    Variable(
        name="TLSSIM_METRICS_LISTEN",
        default="$TLSSIM_LISTEN_HOST and the port of the service's metrics address",
        meaning="where the service binds its Prometheus metrics endpoint",
        services=_ALL,
    ),
    Variable(
        name="TLSSIM_LOG_FORMAT",
        default="text",
        meaning="text, or json: one JSON object per log line",
        services=_ALL,
    ),
    Variable(
        name="TLSSIM_LOG_LEVEL",
        default="INFO",
        meaning="log level (DEBUG, INFO, WARNING, ERROR)",
        services=_ALL,
    ),
    Variable(
        name="TLSSIM_LONG_CHAIN_DEPTH",
        default="3",
        meaning="intermediates of long-chain.tlssim.test (1..8), read at the ca's first start",
        services=("ca",),
    ),
    Variable(
        name="TLSSIM_FEED_MAX_AGE_S",
        default="10",
        meaning="seconds without news from the ca after which the responder answers tryLater",
        services=("ocsp",),
    ),
    Variable(
        name="TLSSIM_STAPLE_REFRESH_S",
        default="5",
        meaning="seconds between the server's refreshes of its OCSP staples",
        services=("server",),
    ),
    Variable(
        name="TLSSIM_EARLY_DATA_MAX",
        default="16384",
        meaning="bytes of 0-RTT early data the server's tickets allow (0: no 0-RTT)",
        services=("server",),
    ),
    Variable(
        name="TLSSIM_ANTI_REPLAY",
        default="on",
        meaning="on: the server accepts a ticket's 0-RTT data once; off: replays are "
        "accepted too, to show the attack ([0-RTT](early-data.md#0-rtt-and-replay))",
        services=("server",),
    ),
    Variable(
        name="TLSSIM_TICKET_KEY_FILE",
        default="(none: a random key per replica)",
        meaning="file of 64 hex digits, the TLS 1.3 ticket key; server replicas that share it "
        "resume each other's tickets",
        services=("server",),
    ),
    Variable(
        name="TLSSIM_REPLICA",
        default="the host name",
        meaning="this replica's name, given in every report it takes part in",
        services=("ocsp", "server", "client"),
    ),
    Variable(
        name="TLSSIM_CRL_TIMEOUT_S",
        default="2",
        meaning="seconds the client waits for a CRL download",
        services=("client",),
    ),
    Variable(
        name="TLSSIM_STATUS_CACHE_S",
        default="5",
        meaning="seconds the client reuses an intermediate's good or revoked status",
        services=("client",),
    ),
    Variable(
        name="TLSSIM_FAULTS_CONFIG",
        default="(none)",
        meaning="JSON file of proxies to create at start (Toxiproxy's config format)",
        services=("faults",),
    ),
    Variable(
        name="TLSSIM_FAULTS_SEED",
        default="(random)",
        meaning="integer seed for every random choice of the toxics, for repeatable runs",
        services=("faults",),
    ),
    Variable(
        name="TLSSIM_FAULTS_LISTEN_HOSTS",
        default="127.0.0.1,::1,localhost",
        meaning="hosts the faults proxies may listen on (comma-separated; * for any)",
        services=("faults",),
    ),
    Variable(
        name="TLSSIM_CONSOLE_ADDR",
        default=f"$TLSSIM_HOST:{CONSOLE_PORT}",
        meaning="where the console serves its web page (the console binds it: TLSSIM_LISTEN)",
        services=("console",),
    ),
    Variable(
        name="TLSSIM_ADMIN_TOKEN",
        default="the ca's admin-token file",
        meaning="token that revocation and lab key export requests must present",
        services=("ca", "server"),
    ),
    Variable(
        name="TLSSIM_ENROLLMENT_TOKEN_FILE",
        default="$TLSSIM_DATA_DIR/ca/enrollment/SERVICE/token",
        meaning="file holding the service's enrollment credential, presented to the ca to be "
        "issued a certificate (docs/security.md)",
        services=("ocsp", "server", "client"),
    ),
    *ACME_VARIABLES,
)

_KNOWN: Final = frozenset(v.name for v in VARIABLES)


class Environment:
    """Typed reads of the documented variables, each failing with a sentence that names it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str = "") -> str:
        if name not in _KNOWN:
            raise KeyError(f"{name} is not a documented setting")
        return self._env.get(name, "").strip() or default

    def seconds(self, name: str, default: float) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise SettingsError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
        return value

    def switch(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw not in ("on", "off"):
            raise SettingsError(f"{name} must be on or off, got {raw!r}")
        return raw == "on"

    def optional_integer(self, name: str) -> int | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None

    def endpoints(self) -> ep.Endpoints:
        return ep.Endpoints.from_env(dict(self._env))

    def listen(self, variable: str, own_address: str) -> str:
        """Where a service binds: the explicit variable, else the port of its own address."""
        if explicit := self.text(variable):
            _check_address(variable, explicit)
            return explicit
        host = self.text("TLSSIM_LISTEN_HOST", ep.DEFAULT_HOST)
        return f"{host}:{_check_address(variable, own_address)[1]}"

    def data_dir(self) -> Path:
        return default_data_dir(self._env)

    def metrics_address(self, service: str) -> str:
        host = self.text("TLSSIM_HOST", ep.DEFAULT_HOST)
        return self.text(metrics_variable(service), f"{host}:{METRICS_PORTS[service]}")

    def metrics_listen(self, service: str) -> str:
        own = self.metrics_address(service)
        _check_address(metrics_variable(service), own)
        return self.listen("TLSSIM_METRICS_LISTEN", own)


def _check_address(variable: str, address: str) -> tuple[str, int]:
    try:
        host, port = ep.split_host_port(address)
    except ValueError as exc:
        raise SettingsError(f"{variable}: {exc}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{variable}: port {port} is out of range")
    return host, port


def default_data_dir(env: Mapping[str, str]) -> Path:
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(env.get("TLSSIM_DATA_DIR") or Path(state) / "tlssim")


def _enrollment_token_file(e: Environment, identity: str) -> Path:
    """The explicit file, else where a ca on this machine keeps `identity`'s credential."""
    if explicit := e.text("TLSSIM_ENROLLMENT_TOKEN_FILE"):
        return Path(explicit)
    # Imported here: the CLI reads these settings without loading the PKI.
    from tlssim.pki.enrollment import credential_path

    return credential_path(e.data_dir() / "ca", identity)


def _replica(e: Environment) -> str:
    return e.text("TLSSIM_REPLICA") or socket.gethostname()


def _ticket_key(e: Environment) -> bytes | None:
    """The shared ticket key from its file (64 hex digits), or None for a random one."""
    path = e.text("TLSSIM_TICKET_KEY_FILE")
    if not path:
        return None
    try:
        key = bytes.fromhex(Path(path).read_text().strip())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"TLSSIM_TICKET_KEY_FILE: cannot read a hex key: {exc}") from None
    if len(key) != 32:
        raise SettingsError(f"TLSSIM_TICKET_KEY_FILE must hold 64 hex digits, not {len(key) * 2}")
    return key


def _http_netloc(url: str) -> str:
    return url.removeprefix("http://").split("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSettings:
    listen: str
    data_dir: Path
    ocsp_url: str
    long_chain_depth: int = 3
    admin_token: str = ""
    # Where /metrics is served (empty: nowhere, for services run in tests).
    metrics_listen: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CaSettings:
        e = Environment(env)
        own = e.endpoints()
        return cls(
            metrics_listen=e.metrics_listen("ca"),
            listen=e.listen("TLSSIM_LISTEN", own.ca),
            data_dir=e.data_dir() / "ca",
            ocsp_url=own.ocsp_url,
            long_chain_depth=e.integer("TLSSIM_LONG_CHAIN_DEPTH", 3, 1, 8),
            admin_token=e.text("TLSSIM_ADMIN_TOKEN"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OcspSettings:
    listen: str
    http_listen: str
    ca: str
    feed_max_age_s: float = 10.0
    enrollment_token_file: Path
    metrics_listen: str = ""
    replica: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OcspSettings:
        e = Environment(env)
        own = e.endpoints()
        return cls(
            metrics_listen=e.metrics_listen("ocsp"),
            listen=e.listen("TLSSIM_LISTEN", own.ocsp),
            http_listen=e.listen("TLSSIM_HTTP_LISTEN", _http_netloc(own.ocsp_url)),
            ca=own.ca,
            feed_max_age_s=e.seconds("TLSSIM_FEED_MAX_AGE_S", 10.0),
            enrollment_token_file=_enrollment_token_file(e, "ocsp"),
            replica=_replica(e),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    listen: str
    tcp_listen: str
    ca: str
    ocsp: str
    staple_refresh_s: float = 5.0
    enrollment_token_file: Path
    # The admin token that may export a lab host's key (the ca's, followed like the ca does).
    admin_token: str = ""
    ca_data_dir: Path
    metrics_listen: str = ""
    #: 0-RTT: what tickets allow (0: none), and whether a ticket's early data is taken once.
    early_data_max: int = 16384
    anti_replay: bool = True
    replica: str = ""
    # Shared by replicas so that each resumes the others' TLS 1.3 tickets (None: random).
    ticket_key: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        e = Environment(env)
        own = e.endpoints()
        return cls(
            metrics_listen=e.metrics_listen("server"),
            listen=e.listen("TLSSIM_LISTEN", own.server),
            tcp_listen=e.listen("TLSSIM_TCP_LISTEN", own.server_tcp),
            ca=own.ca,
            ocsp=own.ocsp,
            staple_refresh_s=e.seconds("TLSSIM_STAPLE_REFRESH_S", 5.0),
            enrollment_token_file=_enrollment_token_file(e, "server"),
            admin_token=e.text("TLSSIM_ADMIN_TOKEN"),
            ca_data_dir=e.data_dir() / "ca",
            early_data_max=e.integer("TLSSIM_EARLY_DATA_MAX", 16384, 0, 0xFFFFFFFF),
            anti_replay=e.switch("TLSSIM_ANTI_REPLAY", True),
            replica=_replica(e),
            ticket_key=_ticket_key(e),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    listen: str
    server: str
    ca: str
    ocsp: str
    crl_timeout_s: float = 2.0
    status_cache_s: float = 5.0
    # The credential the client enrolls its own (clientAuth) certificate with.
    enrollment_token_file: Path
    metrics_listen: str = ""
    replica: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientSettings:
        e = Environment(env)
        own = e.endpoints()
        return cls(
            metrics_listen=e.metrics_listen("client"),
            listen=e.listen("TLSSIM_LISTEN", own.client),
            server=own.server,
            ca=own.ca,
            ocsp=own.ocsp,
            crl_timeout_s=e.seconds("TLSSIM_CRL_TIMEOUT_S", 2.0),
            status_cache_s=e.seconds("TLSSIM_STATUS_CACHE_S", 5.0),
            enrollment_token_file=_enrollment_token_file(e, "client"),
            replica=_replica(e),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultsSettings:
    api_listen: str
    config: Path | None = None
    seed: int | None = None
    # None: any host (compose, where proxies listen on the container's network).
    listen_hosts: frozenset[str] | None = frozenset({"127.0.0.1", "::1", "localhost"})
    metrics_listen: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultsSettings:
        e = Environment(env)
        config = e.text("TLSSIM_FAULTS_CONFIG")
        hosts = e.text("TLSSIM_FAULTS_LISTEN_HOSTS", "127.0.0.1,::1,localhost")
        return cls(
            metrics_listen=e.metrics_listen("faults"),
            api_listen=e.listen("TLSSIM_LISTEN", e.endpoints().faults_api),
            config=Path(config) if config else None,
            seed=e.optional_integer("TLSSIM_FAULTS_SEED"),
            listen_hosts=None
            if hosts == "*"
            else frozenset(h.strip().strip("[]") for h in hosts.split(",") if h.strip()),
        )


def console_address(env: Mapping[str, str]) -> str:
    e = Environment(env)
    return e.text("TLSSIM_CONSOLE_ADDR", f"{e.text('TLSSIM_HOST', ep.DEFAULT_HOST)}:{CONSOLE_PORT}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings:
    """The console watches the services directly (not through the faults proxies): what
    it shows must not change with the faults it shows."""

    listen: str
    server: str
    client: str
    ca: str
    faults_api: str
    ocsp: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConsoleSettings:
        e = Environment(env)
        own = e.endpoints()
        return cls(
            listen=e.listen("TLSSIM_LISTEN", console_address(env)),
            server=own.server,
            client=own.client,
            ca=own.ca,
            faults_api=own.faults_api,
            ocsp=own.ocsp,
        )


def log_level(env: Mapping[str, str]) -> str:
    level = Environment(env).text("TLSSIM_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(
            f"TLSSIM_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}"
        )
    return level


def log_format(env: Mapping[str, str]) -> str:
    value = Environment(env).text("TLSSIM_LOG_FORMAT", "text").lower()
    if value not in ("text", "json"):
        raise SettingsError(f"TLSSIM_LOG_FORMAT must be text or json, not {value!r}")
    return value
