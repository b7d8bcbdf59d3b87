"""docs/settings.md, written from every declaration: the variables in the order the page
lists them, and `python -m tlssim.services.settings --markdown`."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

from tlssim.services.settings.acme import ACME_SETTINGS
from tlssim.services.settings.ca import LONG_CHAIN_DEPTH
from tlssim.services.settings.client import CRL_TIMEOUT_S, STATUS_CACHE_S
from tlssim.services.settings.declaring import Setting
from tlssim.services.settings.faults import (
    FAULTS_CONFIG,
    FAULTS_LISTEN_HOSTS,
    FAULTS_MAX_CONNECTIONS,
    FAULTS_MAX_CONNECTIONS_PER_PROXY,
    FAULTS_SEED,
    FAULTS_UPSTREAM_HOSTS,
)
from tlssim.services.settings.ocsp import FEED_MAX_AGE_S, HTTP_LISTEN
from tlssim.services.settings.server import (
    ANTI_REPLAY,
    EARLY_DATA_MAX,
    STAPLE_REFRESH_S,
    TCP_LISTEN,
    TICKET_KEY_FILE,
)
from tlssim.services.settings.shared import (
    ADMIN_TOKEN,
    CA_ADDR,
    CLIENT_ADDR,
    CONSOLE_ADDR,
    DATA_DIR,
    ENROLLMENT_TOKEN_FILE,
    FAULTS_API,
    HOST,
    HTTP_HOSTS,
    LISTEN,
    LISTEN_HOST,
    LOG_FORMAT,
    LOG_LEVEL,
    METRICS_ADDRS,
    METRICS_LISTEN,
    OCSP_ADDR,
    OCSP_URL,
    REPLICA,
    SERVER_ADDR,
    SERVER_TCP_ADDR,
)
from tlssim.services.settings.up import UP_HEALTH_FAIL_S

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


_DOC_HEAD = """\
# Settings

Every service reads its settings once, at start, from these environment variables. This
page is written from their declarations in `src/tlssim/services/settings/`
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
    """docs/settings.md: the declarations as a table, between a few paragraphs."""
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
