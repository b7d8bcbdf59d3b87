"""Every service's settings, read once from the environment into one frozen object.

Each setting is declared once, below, as a ``Setting``: its variable, how it is read (type,
checks and default), what its default looks like and what it means. The services' settings
classes take their fields from these declarations (``_field``), their ``from_env`` reads the
same declarations, and docs/settings.md is written from them
(``python -m tlssim.services.settings --markdown > docs/settings.md``; a test checks it is).
Nothing else in the services reads the environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import math
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast, overload

from tlssim.topology import endpoints as ep

T = TypeVar("T")


class Required(enum.Enum):
    REQUIRED = "required"


REQUIRED: Final = Required.REQUIRED


class SettingsError(ValueError):
    """A variable holds a value the service cannot use; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting(Generic[T]):
    """One environment variable: the one place its name, reading, default and meaning live."""

    name: str
    #: The default as docs/settings.md shows it.
    default: str
    meaning: str
    #: The services that read it (docs/settings.md's "read by").
    services: tuple[str, ...]
    #: (environment, the reading service's name) -> the value; raises SettingsError.
    read: Callable[[Environment, str], T]
    #: The settings field's default, or REQUIRED when a settings object must be given it.
    value: T | Required = REQUIRED

    def get(self, env: Mapping[str, str], service: str = "") -> T:
        return self.read(Environment(env), service)


_ALL = ("ca", "ocsp", "server", "client", "faults")
# Connections the faults service holds open at once: far above what a lab makes (a load
# run holds one per concurrent handshake), far below a process's file limit.
MAX_CONNECTIONS = 4000
MAX_CONNECTIONS_PER_PROXY = 1000
# The lab's services by their compose and Swarm names.
LAB_SERVICE_NAMES: Final = frozenset({"ca", "ocsp", "server", "client", "faults", "console"})
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


def _text(
    name: str, default: str, meaning: str, services: tuple[str, ...], *, shown: str = ""
) -> Setting[str]:
    """A string, `default` when unset or blank."""
    return Setting(
        name=name,
        default=shown or default,
        meaning=meaning,
        services=services,
        read=lambda e, _: e.text(name, default),
    )


def _seconds(name: str, default: float, meaning: str, services: tuple[str, ...]) -> Setting[float]:
    """A positive number of seconds."""
    return Setting(
        name=name,
        default=f"{default:g}",
        meaning=meaning,
        services=services,
        read=lambda e, _: e.seconds(name, default),
        value=default,
    )


def _integer(
    name: str, default: int, low: int, high: int, meaning: str, services: tuple[str, ...]
) -> Setting[int]:
    """An integer from `low` to `high`."""
    return Setting(
        name=name,
        default=str(default),
        meaning=meaning,
        services=services,
        read=lambda e, _: e.integer(name, default, low, high),
        value=default,
    )


def _switch(name: str, default: bool, meaning: str, services: tuple[str, ...]) -> Setting[bool]:
    """on or off."""
    return Setting(
        name=name,
        default="on" if default else "off",
        meaning=meaning,
        services=services,
        read=lambda e, _: e.switch(name, default),
        value=default,
    )


def _own_address(e: Environment, service: str) -> str:
    """The address `service` is reached at, whose port it binds by default."""
    if service == "console":
        return CONSOLE_ADDR.read(e, service)
    own = e.endpoints()
    return {
        "ca": own.ca,
        "ocsp": own.ocsp,
        "server": own.server,
        "client": own.client,
        "faults": own.faults_api,
    }[service]


def _enrollment_token_file(e: Environment, identity: str) -> Path:
    """The explicit file, else where a ca on this machine keeps `identity`'s credential."""
    if explicit := e.text("TLSSIM_ENROLLMENT_TOKEN_FILE"):
        return Path(explicit)
    # Imported here: the CLI reads these settings without loading the PKI.
    from tlssim.pki.enrollment import credential_path

    return credential_path(e.data_dir() / "ca", identity)


def _replica(e: Environment, _: str) -> str:
    return e.text("TLSSIM_REPLICA") or socket.gethostname()


def _ticket_key(e: Environment, _: str) -> bytes | None:
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


def _log_level(e: Environment, _: str) -> str:
    level = e.text("TLSSIM_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(
            f"TLSSIM_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}"
        )
    return level


def _log_format(e: Environment, _: str) -> str:
    value = e.text("TLSSIM_LOG_FORMAT", "text").lower()
    if value not in ("text", "json"):
        raise SettingsError(f"TLSSIM_LOG_FORMAT must be text or json, not {value!r}")
    return value


def _http_netloc(url: str) -> str:
    return url.removeprefix("http://").split("/")[0]


_DEFAULT_LISTEN_HOSTS = "127.0.0.1,::1,localhost"


def _hosts(text: str) -> frozenset[str] | None:
    if text == "*":
        return None
    return frozenset(h.strip().strip("[]") for h in text.split(",") if h.strip())


def _address(name: str, default: str, meaning: str, services: tuple[str, ...]) -> Setting[str]:
    """One of the addresses `endpoints.Endpoints` reads (its default on $TLSSIM_HOST)."""
    return Setting(
        name=name,
        default=default,
        meaning=meaning,
        services=services,
        read=lambda e, _: getattr(e.endpoints(), _ENDPOINT_FIELDS[name]),
    )


_ENDPOINT_FIELDS: Final = {
    "TLSSIM_CA_ADDR": "ca",
    "TLSSIM_OCSP_ADDR": "ocsp",
    "TLSSIM_OCSP_URL": "ocsp_url",
    "TLSSIM_SERVER_ADDR": "server",
    "TLSSIM_SERVER_TCP_ADDR": "server_tcp",
    "TLSSIM_CLIENT_ADDR": "client",
    "TLSSIM_FAULTS_API": "faults_api",
}


def _metrics_address(service: str, port: int) -> Setting[str]:
    return Setting(
        name=metrics_variable(service),
        default=f"$TLSSIM_HOST:{port}",
        meaning=f"where the {service} service serves Prometheus metrics (/metrics)",
        services=(service,),
        read=lambda e, _: e.metrics_address(service),
    )


# The settings, in the order docs/settings.md lists them.

HOST: Final = _text("TLSSIM_HOST", ep.DEFAULT_HOST, "host of every default address below", _ALL)
CA_ADDR: Final = _address(
    "TLSSIM_CA_ADDR",
    f"$TLSSIM_HOST:{ep.CA_PORT}",
    "where the ca answers gRPC",
    ("ca", "ocsp", "server", "client"),
)
OCSP_ADDR: Final = _address(
    "TLSSIM_OCSP_ADDR",
    f"$TLSSIM_HOST:{ep.OCSP_GRPC_PORT}",
    "where the responder answers gRPC",
    ("ocsp", "server", "client"),
)
OCSP_URL: Final = _address(
    "TLSSIM_OCSP_URL",
    f"http://$TLSSIM_HOST:{ep.OCSP_HTTP_PORT}",
    "OCSP and CRL URL written into certificates; the responder's HTTP front",
    ("ca", "ocsp"),
)
SERVER_ADDR: Final = _address(
    "TLSSIM_SERVER_ADDR",
    f"$TLSSIM_HOST:{ep.SERVER_GRPC_PORT}",
    "where the TLS server answers gRPC",
    ("server", "client"),
)
SERVER_TCP_ADDR: Final = _address(
    "TLSSIM_SERVER_TCP_ADDR",
    f"$TLSSIM_HOST:{ep.SERVER_TCP_PORT}",
    "where the TLS server accepts TLS over TCP",
    ("server",),
)
CLIENT_ADDR: Final = _address(
    "TLSSIM_CLIENT_ADDR",
    f"$TLSSIM_HOST:{ep.CLIENT_GRPC_PORT}",
    "where the client service answers gRPC",
    ("client",),
)
FAULTS_API: Final = _address(
    "TLSSIM_FAULTS_API",
    f"$TLSSIM_HOST:{ep.FAULTS_API_PORT}",
    "the faults REST API, HOST:PORT (the command line also takes http://HOST:PORT)",
    ("faults",),
)
LISTEN_HOST: Final = _text(
    "TLSSIM_LISTEN_HOST",
    ep.DEFAULT_HOST,
    "host a service binds when its listen address is not given",
    _ALL,
)
LISTEN: Final = Setting(
    name="TLSSIM_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of the service's own address",
    meaning="where the service binds its gRPC port (the faults service: its REST API)",
    services=_ALL,
    read=lambda e, service: e.listen("TLSSIM_LISTEN", _own_address(e, service)),
)
HTTP_LISTEN: Final = Setting(
    name="TLSSIM_HTTP_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of $TLSSIM_OCSP_URL",
    meaning="where the responder binds OCSP and CRLs over HTTP",
    services=("ocsp",),
    read=lambda e, _: e.listen("TLSSIM_HTTP_LISTEN", _http_netloc(e.endpoints().ocsp_url)),
)
TCP_LISTEN: Final = Setting(
    name="TLSSIM_TCP_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of $TLSSIM_SERVER_TCP_ADDR",
    meaning="where the TLS server binds TLS over TCP",
    services=("server",),
    read=lambda e, _: e.listen("TLSSIM_TCP_LISTEN", e.endpoints().server_tcp),
)
DATA_DIR: Final = Setting(
    name="TLSSIM_DATA_DIR",
    default="$XDG_STATE_HOME/tlssim (~/.local/state/tlssim)",
    meaning="state directory; the ca keeps its keys and database in its ca/ folder",
    services=("ca", "ocsp", "server", "client"),
    read=lambda e, _: e.data_dir(),
)
METRICS_ADDRS: Final = tuple(
    _metrics_address(service, port) for service, port in METRICS_PORTS.items()
)
METRICS_LISTEN: Final = Setting(
    name="TLSSIM_METRICS_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of the service's metrics address",
    meaning="where the service binds its Prometheus metrics endpoint",
    services=_ALL,
    read=lambda e, service: e.metrics_listen(service),
    # Empty: nowhere, for services run in tests.
    value="",
)
LOG_FORMAT: Final = Setting(
    name="TLSSIM_LOG_FORMAT",
    default="text",
    meaning="text, or json: one JSON object per log line",
    services=_ALL,
    read=_log_format,
)
LOG_LEVEL: Final = Setting(
    name="TLSSIM_LOG_LEVEL",
    default="INFO",
    meaning="log level (DEBUG, INFO, WARNING, ERROR)",
    services=_ALL,
    read=_log_level,
)
LONG_CHAIN_DEPTH: Final = _integer(
    "TLSSIM_LONG_CHAIN_DEPTH",
    3,
    1,
    8,
    "intermediates of long-chain.tlssim.test (1..8), read at the ca's first start",
    ("ca",),
)
FEED_MAX_AGE_S: Final = _seconds(
    "TLSSIM_FEED_MAX_AGE_S",
    10.0,
    "seconds without news from the ca after which the responder answers tryLater",
    ("ocsp",),
)
STAPLE_REFRESH_S: Final = _seconds(
    "TLSSIM_STAPLE_REFRESH_S",
    5.0,
    "seconds between the server's refreshes of its OCSP staples",
    ("server",),
)
EARLY_DATA_MAX: Final = _integer(
    "TLSSIM_EARLY_DATA_MAX",
    16384,
    0,
    0xFFFFFFFF,
    "bytes of 0-RTT early data the server's tickets allow (0: no 0-RTT)",
    ("server",),
)
ANTI_REPLAY: Final = _switch(
    "TLSSIM_ANTI_REPLAY",
    True,
    "on: the server accepts a ticket's 0-RTT data once; off: replays are accepted too, to "
    "show the attack ([0-RTT](early-data.md#0-rtt-and-replay))",
    ("server",),
)
TICKET_KEY_FILE: Final = Setting(
    name="TLSSIM_TICKET_KEY_FILE",
    default="(none: a random key per replica)",
    meaning="file of 64 hex digits, the TLS 1.3 ticket key; server replicas that share it "
    "resume each other's tickets",
    services=("server",),
    read=_ticket_key,
    value=None,
)
REPLICA: Final = Setting(
    name="TLSSIM_REPLICA",
    default="the host name",
    meaning="this replica's name, given in every report it takes part in",
    services=("ocsp", "server", "client"),
    read=_replica,
    value="",
)
CRL_TIMEOUT_S: Final = _seconds(
    "TLSSIM_CRL_TIMEOUT_S",
    2.0,
    "seconds the client waits for a CRL or caIssuers download",
    ("client",),
)
STATUS_CACHE_S: Final = _seconds(
    "TLSSIM_STATUS_CACHE_S",
    5.0,
    "seconds the client reuses an intermediate's good or revoked status",
    ("client",),
)
FAULTS_CONFIG: Final = Setting(
    name="TLSSIM_FAULTS_CONFIG",
    default="(none)",
    meaning="JSON file of proxies to create at start (Toxiproxy's config format)",
    services=("faults",),
    read=lambda e, _: Path(path) if (path := e.text("TLSSIM_FAULTS_CONFIG")) else None,
    value=None,
)
FAULTS_SEED: Final = Setting(
    name="TLSSIM_FAULTS_SEED",
    default="(random)",
    meaning="integer seed for every random choice of the toxics, for repeatable runs",
    services=("faults",),
    read=lambda e, _: e.optional_integer("TLSSIM_FAULTS_SEED"),
    value=None,
)
FAULTS_LISTEN_HOSTS: Final = Setting(
    name="TLSSIM_FAULTS_LISTEN_HOSTS",
    default=_DEFAULT_LISTEN_HOSTS,
    meaning="hosts the faults proxies may listen on (comma-separated; * for any)",
    services=("faults",),
    # None: any host (compose, where proxies listen on the container's network).
    read=lambda e, _: _hosts(e.text("TLSSIM_FAULTS_LISTEN_HOSTS", _DEFAULT_LISTEN_HOSTS)),
    value=_hosts(_DEFAULT_LISTEN_HOSTS),
)
FAULTS_UPSTREAM_HOSTS: Final[Setting[frozenset[str] | None]] = Setting(
    name="TLSSIM_FAULTS_UPSTREAM_HOSTS",
    default="(none: loopback and the lab's service names only)",
    meaning="hosts the faults proxies may dial besides loopback and ca, ocsp, server, "
    "client, console, faults (comma-separated; * for any)",
    services=("faults",),
    # None: any host
    read=lambda e, _: _hosts(e.text("TLSSIM_FAULTS_UPSTREAM_HOSTS").lower()),
    value=frozenset(),
)
FAULTS_MAX_CONNECTIONS: Final = _integer(
    "TLSSIM_FAULTS_MAX_CONNECTIONS",
    MAX_CONNECTIONS,
    1,
    1_000_000,
    "connections the faults proxies hold open at once, all proxies together; more are "
    "closed at once and logged",
    ("faults",),
)
FAULTS_MAX_CONNECTIONS_PER_PROXY: Final = _integer(
    "TLSSIM_FAULTS_MAX_CONNECTIONS_PER_PROXY",
    MAX_CONNECTIONS_PER_PROXY,
    1,
    1_000_000,
    "connections one faults proxy holds open at once (a gRPC relay: HTTP/2 connections); "
    "more are closed at once and logged",
    ("faults",),
)


def _http_hosts(e: Environment, _: str) -> frozenset[str] | None:
    """Host names an HTTP surface answers to besides addresses and localhost (None: any):
    the service names, the hosts of the configured addresses and TLSSIM_HTTP_HOSTS."""
    extra = e.text("TLSSIM_HTTP_HOSTS")
    if extra == "*":
        return None
    names = {n.strip().lower().strip("[]") for n in extra.split(",") if n.strip()}
    names.add(e.text("TLSSIM_HOST", ep.DEFAULT_HOST).lower())
    names.add(e.text("TLSSIM_LISTEN_HOST", ep.DEFAULT_HOST).lower())
    return frozenset(names | LAB_SERVICE_NAMES)


HTTP_HOSTS: Final[Setting[frozenset[str] | None]] = Setting(
    name="TLSSIM_HTTP_HOSTS",
    default="(none)",
    meaning="Host header names the faults API, the console and the metrics endpoints answer "
    "to besides IP addresses, localhost, the service names and the configured addresses "
    "(comma-separated; * for any) ([security](security.md))",
    services=_ALL,
    read=_http_hosts,
    value=frozenset(),
)
UP_HEALTH_FAIL_DEFAULT_S: Final = 10.0
UP_HEALTH_FAIL_S: Final = _seconds(
    "TLSSIM_UP_HEALTH_FAIL_S",
    UP_HEALTH_FAIL_DEFAULT_S,
    "seconds a service under `tlssim up` may fail its health check before it is killed and "
    "restarted",
    ("tlssim up",),
)
CONSOLE_ADDR: Final = Setting(
    name="TLSSIM_CONSOLE_ADDR",
    default=f"$TLSSIM_HOST:{CONSOLE_PORT}",
    meaning="where the console serves its web page (the console binds it: TLSSIM_LISTEN)",
    services=("console",),
    read=lambda e, _: e.text(
        "TLSSIM_CONSOLE_ADDR", f"{e.text('TLSSIM_HOST', ep.DEFAULT_HOST)}:{CONSOLE_PORT}"
    ),
)
ADMIN_TOKEN: Final = _text(
    "TLSSIM_ADMIN_TOKEN",
    "",
    "token that revocation and lab key export requests must present",
    ("ca", "server"),
    shown="the ca's admin-token file",
)
ENROLLMENT_TOKEN_FILE: Final = Setting(
    name="TLSSIM_ENROLLMENT_TOKEN_FILE",
    default="$TLSSIM_DATA_DIR/ca/enrollment/SERVICE/token",
    meaning="file holding the service's enrollment credential, presented to the ca to be "
    "issued a certificate ([security](security.md))",
    services=("ocsp", "server", "client"),
    # The service's own credential: each service enrolls under its own name.
    read=lambda e, service: _enrollment_token_file(e, service),
)

# The ACME service's own settings (docs/acme.md), read by services/acme_settings.py; it
# also reads TLSSIM_CA_ADDR, TLSSIM_LISTEN, TLSSIM_DATA_DIR, TLSSIM_ENROLLMENT_TOKEN_FILE and
# the log settings.
ACME_SETTINGS: Final = tuple(
    _text(name, "", meaning, ("acme",), shown=shown)
    for name, shown, meaning in (
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

VARIABLES: Final[tuple[Setting[Any], ...]] = (
    HOST,
    CA_ADDR,
    OCSP_ADDR,
    OCSP_URL,
    SERVER_ADDR,
    SERVER_TCP_ADDR,
    CLIENT_ADDR,
    FAULTS_API,
    LISTEN_HOST,
    LISTEN,
    HTTP_LISTEN,
    TCP_LISTEN,
    DATA_DIR,
    *METRICS_ADDRS,
    METRICS_LISTEN,
    LOG_FORMAT,
    LOG_LEVEL,
    LONG_CHAIN_DEPTH,
    FEED_MAX_AGE_S,
    STAPLE_REFRESH_S,
    EARLY_DATA_MAX,
    ANTI_REPLAY,
    TICKET_KEY_FILE,
    REPLICA,
    CRL_TIMEOUT_S,
    STATUS_CACHE_S,
    FAULTS_CONFIG,
    FAULTS_SEED,
    FAULTS_LISTEN_HOSTS,
    FAULTS_UPSTREAM_HOSTS,
    FAULTS_MAX_CONNECTIONS,
    FAULTS_MAX_CONNECTIONS_PER_PROXY,
    HTTP_HOSTS,
    UP_HEALTH_FAIL_S,
    CONSOLE_ADDR,
    ADMIN_TOKEN,
    ENROLLMENT_TOKEN_FILE,
    *ACME_SETTINGS,
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


_SETTING: Final = "setting"
_READ: Final = "read"


@overload
def _field(setting: Setting[T]) -> T: ...


@overload
def _field(setting: Setting[Any], read: Callable[[Environment, str], T]) -> T: ...


def _field(setting: Setting[Any], read: Callable[[Environment, str], Any] | None = None) -> Any:
    """A settings field filled from `setting` (read its own way by `read`, if given), with
    the setting's default when it has one."""
    metadata = {_SETTING: setting, _READ: read or setting.read}
    if setting.value is REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=setting.value, metadata=metadata)


def setting_of(settings_class: type, field_name: str) -> Setting[Any]:
    """The setting a settings class's field is read from."""
    (found,) = (f for f in dataclasses.fields(settings_class) if f.name == field_name)
    return cast(Setting[Any], found.metadata[_SETTING])


def _read_fields(settings_class: type, env: Mapping[str, str], service: str) -> dict[str, Any]:
    """Every field of `settings_class`, read from `env` as `service` reads it."""
    e = Environment(env)
    return {f.name: f.metadata[_READ](e, service) for f in dataclasses.fields(settings_class)}


def _ca_folder(e: Environment, _: str) -> Path:
    return e.data_dir() / "ca"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSettings:
    listen: str = _field(LISTEN)
    data_dir: Path = _field(DATA_DIR, _ca_folder)
    ocsp_url: str = _field(OCSP_URL)
    long_chain_depth: int = _field(LONG_CHAIN_DEPTH)
    admin_token: str = _field(ADMIN_TOKEN)
    metrics_listen: str = _field(METRICS_LISTEN)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = _field(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CaSettings:
        return cls(**_read_fields(cls, env, "ca"))


@dataclass(frozen=True, slots=True, kw_only=True)
class OcspSettings:
    listen: str = _field(LISTEN)
    http_listen: str = _field(HTTP_LISTEN)
    ca: str = _field(CA_ADDR)
    feed_max_age_s: float = _field(FEED_MAX_AGE_S)
    enrollment_token_file: Path = _field(ENROLLMENT_TOKEN_FILE)
    metrics_listen: str = _field(METRICS_LISTEN)
    replica: str = _field(REPLICA)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = _field(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OcspSettings:
        return cls(**_read_fields(cls, env, "ocsp"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    listen: str = _field(LISTEN)
    tcp_listen: str = _field(TCP_LISTEN)
    ca: str = _field(CA_ADDR)
    ocsp: str = _field(OCSP_ADDR)
    staple_refresh_s: float = _field(STAPLE_REFRESH_S)
    enrollment_token_file: Path = _field(ENROLLMENT_TOKEN_FILE)
    # The admin token that may export a lab host's key (the ca's, followed like the ca does).
    admin_token: str = _field(ADMIN_TOKEN)
    ca_data_dir: Path = _field(DATA_DIR, _ca_folder)
    # Where `tlssim interop` leaves the client fingerprints the server names stacks by.
    data_dir: Path = _field(DATA_DIR)
    metrics_listen: str = _field(METRICS_LISTEN)
    #: 0-RTT: what tickets allow (0: none), and whether a ticket's early data is taken once.
    early_data_max: int = _field(EARLY_DATA_MAX)
    anti_replay: bool = _field(ANTI_REPLAY)
    replica: str = _field(REPLICA)
    # Shared by replicas so that each resumes the others' TLS 1.3 tickets (None: random).
    ticket_key: bytes | None = _field(TICKET_KEY_FILE)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = _field(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        return cls(**_read_fields(cls, env, "server"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    listen: str = _field(LISTEN)
    server: str = _field(SERVER_ADDR)
    ca: str = _field(CA_ADDR)
    ocsp: str = _field(OCSP_ADDR)
    crl_timeout_s: float = _field(CRL_TIMEOUT_S)
    status_cache_s: float = _field(STATUS_CACHE_S)
    # The credential the client enrolls its own (clientAuth) certificate with.
    enrollment_token_file: Path = _field(ENROLLMENT_TOKEN_FILE)
    metrics_listen: str = _field(METRICS_LISTEN)
    replica: str = _field(REPLICA)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = _field(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientSettings:
        return cls(**_read_fields(cls, env, "client"))


def _reserved(e: Environment, _: str) -> tuple[str, ...]:
    """The lab's own HTTP surfaces: the faults API, the console, every metrics port."""
    return (
        e.endpoints().faults_api,
        CONSOLE_ADDR.read(e, "console"),
        *(e.metrics_address(service) for service in METRICS_PORTS),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultsSettings:
    api_listen: str = _field(LISTEN)
    config: Path | None = _field(FAULTS_CONFIG)
    seed: int | None = _field(FAULTS_SEED)
    # None: any host (compose, where proxies listen on the container's network).
    listen_hosts: frozenset[str] | None = _field(FAULTS_LISTEN_HOSTS)
    metrics_listen: str = _field(METRICS_LISTEN)
    # Hosts proxies may dial besides loopback and the lab's services (None: any).
    upstream_hosts: frozenset[str] | None = _field(FAULTS_UPSTREAM_HOSTS)
    # The lab's own HTTP surfaces (faults API, console, metrics): never an upstream.
    reserved: tuple[str, ...] = _field(FAULTS_API, _reserved)
    max_connections: int = _field(FAULTS_MAX_CONNECTIONS)
    max_connections_per_proxy: int = _field(FAULTS_MAX_CONNECTIONS_PER_PROXY)
    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = _field(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultsSettings:
        return cls(**_read_fields(cls, env, "faults"))


def console_address(env: Mapping[str, str]) -> str:
    return CONSOLE_ADDR.get(env, "console")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings:
    """The console watches the services directly (not through the faults proxies): what
    it shows must not change with the faults it shows."""

    listen: str = _field(LISTEN)
    server: str = _field(SERVER_ADDR)
    client: str = _field(CLIENT_ADDR)
    ca: str = _field(CA_ADDR)
    faults_api: str = _field(FAULTS_API)
    ocsp: str = _field(OCSP_ADDR)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = _field(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConsoleSettings:
        return cls(**_read_fields(cls, env, "console"))


#: Each service's settings class, by the name `tlssim serve` knows it by.
SETTINGS_CLASSES: Final[dict[str, type]] = {
    "ca": CaSettings,
    "ocsp": OcspSettings,
    "server": ServerSettings,
    "client": ClientSettings,
    "faults": FaultsSettings,
    "console": ConsoleSettings,
}


def log_level(env: Mapping[str, str]) -> str:
    return LOG_LEVEL.get(env)


def log_format(env: Mapping[str, str]) -> str:
    return LOG_FORMAT.get(env)


_DOC_HEAD = """\
# Settings

Every service reads its settings once, at start, from these environment variables. This
page is written from their declarations in `src/tlssim/services/settings.py`
(`python -m tlssim.services.settings --markdown > docs/settings.md`; a test checks it is).
A value a service cannot use stops it at start with one line that names the variable, and
`tlssim serve NAME` exits with status 2.

`tlssim up` sets the addresses and listen variables itself (each link through its faults
proxy, on the default ports or the ones you give); compose sets them in `compose.yaml`.
"""

_DOC_TAIL = """\
The console also reads `TLSSIM_SERVER_ADDR`, `TLSSIM_CLIENT_ADDR`, `TLSSIM_CA_ADDR`,
`TLSSIM_OCSP_ADDR`, `TLSSIM_FAULTS_API`, `TLSSIM_LISTEN`, `TLSSIM_LISTEN_HOST`,
`TLSSIM_HTTP_HOSTS` and `TLSSIM_LOG_LEVEL`.

The command line reads `TLSSIM_CLIENT_ADDR`, `TLSSIM_CA_ADDR`, `TLSSIM_FAULTS_API` and
`TLSSIM_ADMIN_TOKEN` the same way (`tlssim trace` also `TLSSIM_SERVER_ADDR` and
`TLSSIM_OCSP_ADDR`), and `SSLKEYLOGFILE` as the default of `--keylog`.

The ca, ocsp, server and client read the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (and
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) once at start: when set, they send their trace events
as OpenTelemetry spans ([metrics](metrics.md#opentelemetry)).
"""


def markdown() -> str:
    """docs/settings.md: the declarations above as a table, between a few paragraphs."""
    rows = [
        "| variable | default | meaning | read by |",
        "|---|---|---|---|",
        *(
            f"| `{v.name}` | {v.default} | {v.meaning} | {', '.join(v.services)} |"
            for v in VARIABLES
        ),
    ]
    return f"{_DOC_HEAD}\n" + "\n".join(rows) + f"\n\n{_DOC_TAIL}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tlssim.services.settings",
        description="Print the services' settings.",
    )
    parser.add_argument(
        "--markdown", action="store_true", required=True, help="as docs/settings.md"
    )
    parser.parse_args(argv)
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
