"""The settings several services read: where each service is, where it binds, its state
directory, logs, metrics, the web surfaces' host names, its replica name and credentials."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from tlssim.services.settings.declaring import (
    METRICS_PORTS,
    Environment,
    Setting,
    SettingsError,
    check_address,
    metrics_variable,
    text,
)
from tlssim.topology import endpoints as ep

#: The services that read a setting every service reads (docs/settings.md's "read by").
ALL: Final = ("ca", "ocsp", "server", "client", "faults")
# The lab's services by their compose and Swarm names.
LAB_SERVICE_NAMES: Final = frozenset({"ca", "ocsp", "server", "client", "faults", "console"})
CONSOLE_PORT = 8000


def _own_address(e: Environment, service: str) -> str:
    """The address `service` is reached at, whose port it binds by default."""
    own = {
        "ca": CA_ADDR,
        "ocsp": OCSP_ADDR,
        "server": SERVER_ADDR,
        "client": CLIENT_ADDR,
        "faults": FAULTS_API,
        "console": CONSOLE_ADDR,
    }[service]
    return own.read(e, service)


def _enrollment_token_file(e: Environment, identity: str) -> Path:
    """The explicit file, else where a ca on this machine keeps `identity`'s credential."""
    if explicit := e.text("TLSSIM_ENROLLMENT_TOKEN_FILE"):
        return Path(explicit)
    # Imported here: the CLI reads these settings without loading the PKI.
    from tlssim.pki.enrollment import credential_path

    return credential_path(e.data_dir() / "ca", identity)


def _replica(e: Environment, _: str) -> str:
    return e.text("TLSSIM_REPLICA") or socket.gethostname()


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


def _address(name: str, port: int, meaning: str, services: tuple[str, ...]) -> Setting[str]:
    """A service's HOST:PORT, by default on $TLSSIM_HOST; anything else is refused."""
    return Setting(
        name=name,
        default=f"$TLSSIM_HOST:{port}",
        meaning=meaning,
        services=services,
        read=lambda e, _: e.address(name, f"{e.text('TLSSIM_HOST', ep.DEFAULT_HOST)}:{port}"),
    )


def _metrics_address(service: str, port: int) -> Setting[str]:
    return Setting(
        name=metrics_variable(service),
        default=f"$TLSSIM_HOST:{port}",
        meaning=f"where the {service} service serves Prometheus metrics (/metrics)",
        services=(service,),
        read=lambda e, _: e.metrics_address(service),
    )


HOST: Final = text("TLSSIM_HOST", ep.DEFAULT_HOST, "host of every default address below", ALL)
CA_ADDR: Final = _address(
    "TLSSIM_CA_ADDR",
    ep.CA_PORT,
    "where the ca answers gRPC",
    ("ca", "ocsp", "server", "client"),
)
OCSP_ADDR: Final = _address(
    "TLSSIM_OCSP_ADDR",
    ep.OCSP_GRPC_PORT,
    "where the responder answers gRPC",
    ("ocsp", "server", "client"),
)
OCSP_URL: Final = Setting(
    name="TLSSIM_OCSP_URL",
    default=f"http://$TLSSIM_HOST:{ep.OCSP_HTTP_PORT}",
    meaning="OCSP and CRL URL written into certificates; the responder's HTTP front",
    services=("ca", "ocsp"),
    read=lambda e, _: e.endpoints().ocsp_url,
)
SERVER_ADDR: Final = _address(
    "TLSSIM_SERVER_ADDR",
    ep.SERVER_GRPC_PORT,
    "where the TLS server answers gRPC",
    ("server", "client"),
)
SERVER_TCP_ADDR: Final = _address(
    "TLSSIM_SERVER_TCP_ADDR",
    ep.SERVER_TCP_PORT,
    "where the TLS server accepts TLS over TCP",
    ("server",),
)
CLIENT_ADDR: Final = _address(
    "TLSSIM_CLIENT_ADDR",
    ep.CLIENT_GRPC_PORT,
    "where the client service answers gRPC",
    ("client",),
)
FAULTS_API: Final = _address(
    "TLSSIM_FAULTS_API",
    ep.FAULTS_API_PORT,
    "the faults REST API, HOST:PORT (the command line also takes http://HOST:PORT)",
    ("faults",),
)
LISTEN_HOST: Final = text(
    "TLSSIM_LISTEN_HOST",
    ep.DEFAULT_HOST,
    "host a service binds when its listen address is not given",
    ALL,
)
LISTEN: Final = Setting(
    name="TLSSIM_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of the service's own address",
    meaning="where the service binds its gRPC port (the faults service: its REST API)",
    services=ALL,
    read=lambda e, service: e.listen("TLSSIM_LISTEN", _own_address(e, service)),
)
DATA_DIR: Final = Setting(
    name="TLSSIM_DATA_DIR",
    default="$XDG_STATE_HOME/tlssim (~/.local/state/tlssim)",
    meaning=(
        "state directory; the ca keeps its keys and database in its ca/ folder, the server"
        " its hosts' slow keys (RSA-4096, RSA-8192) in server-keys/"
    ),
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
    services=ALL,
    read=lambda e, service: e.metrics_listen(service),
    # Empty: nowhere, for services run in tests.
    value="",
)
LOG_FORMAT: Final = Setting(
    name="TLSSIM_LOG_FORMAT",
    default="text",
    meaning="text, or json: one JSON object per log line",
    services=ALL,
    read=_log_format,
)
LOG_LEVEL: Final = Setting(
    name="TLSSIM_LOG_LEVEL",
    default="INFO",
    meaning="log level (DEBUG, INFO, WARNING, ERROR)",
    services=ALL,
    read=_log_level,
)
REPLICA: Final = Setting(
    name="TLSSIM_REPLICA",
    default="the host name",
    meaning="this replica's name, given in every report it takes part in",
    services=("ocsp", "server", "client"),
    read=_replica,
    value="",
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
    services=ALL,
    read=_http_hosts,
    value=frozenset(),
)
CONSOLE_ADDR: Final = Setting(
    name="TLSSIM_CONSOLE_ADDR",
    default=f"$TLSSIM_HOST:{CONSOLE_PORT}",
    meaning="where the console serves its web page (the console binds it: TLSSIM_LISTEN)",
    services=("console",),
    read=lambda e, _: e.address(
        "TLSSIM_CONSOLE_ADDR", f"{e.text('TLSSIM_HOST', ep.DEFAULT_HOST)}:{CONSOLE_PORT}"
    ),
)
ADMIN_TOKEN: Final = text(
    "TLSSIM_ADMIN_TOKEN",
    "",
    "token that revocation, lab key export and ACME fault requests must present",
    ("ca", "server", "acme"),
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

#: Every HOST:PORT a service of the lab is reached at, each refused unless it is one (the
#: ACME service's: acme.acme_addresses).
ADDRESSES: Final = (
    CA_ADDR,
    OCSP_ADDR,
    SERVER_ADDR,
    SERVER_TCP_ADDR,
    CLIENT_ADDR,
    FAULTS_API,
    CONSOLE_ADDR,
    *METRICS_ADDRS,
)


def ca_folder(e: Environment, _: str) -> Path:
    """The ca's own folder in the data directory (the ca's and the server's reading)."""
    return e.data_dir() / "ca"


def console_address(env: Mapping[str, str]) -> str:
    return CONSOLE_ADDR.get(env, "console")


def faults_api_url(env: Mapping[str, str]) -> str:
    """The faults API as the command line takes it: HOST:PORT, or http://HOST:PORT."""
    raw = env.get("TLSSIM_FAULTS_API", "").strip()
    scheme, found, rest = raw.partition("://")
    if not found:
        return FAULTS_API.get(env)
    try:
        if scheme not in ("http", "https"):
            raise SettingsError(scheme)
        check_address("TLSSIM_FAULTS_API", rest.split("/")[0])
    except SettingsError:
        raise SettingsError(
            "TLSSIM_FAULTS_API: expected HOST:PORT or http://HOST:PORT with a port from 1 to "
            f"65535, got {raw!r}"
        ) from None
    return raw


def checked_endpoints(env: Mapping[str, str]) -> ep.Endpoints:
    """The services' addresses, each refused in one line that names its variable unless it
    is HOST:PORT (the faults API also as http://HOST:PORT)."""
    for setting in (CA_ADDR, OCSP_ADDR, SERVER_ADDR, SERVER_TCP_ADDR, CLIENT_ADDR):
        setting.get(env)
    faults_api_url(env)
    Environment(env).metrics_address("server")
    return ep.Endpoints.from_env(dict(env))


def log_level(env: Mapping[str, str]) -> str:
    return LOG_LEVEL.get(env)


def log_format(env: Mapping[str, str]) -> str:
    return LOG_FORMAT.get(env)
