"""`tlssim serve NAME`: the table of services, and running one in this process, configured
from the environment. The table is here, above the services, so that `services/runtime.py`
(which every service imports) knows none of them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from tlssim.services import settings as st
from tlssim.services.runtime import ServiceEntry
from tlssim.services.runtime import run_service as _run

# Each entry imports its service only when called: `tlssim serve ca` loads the ca's code and
# nobody else's.


def _ca() -> ServiceEntry:
    from tlssim.services import ca

    return ServiceEntry(st.CaSettings.from_env, ca.serve)


def _ocsp() -> ServiceEntry:
    from tlssim.services import ocsp

    return ServiceEntry(st.OcspSettings.from_env, ocsp.serve)


def _server() -> ServiceEntry:
    from tlssim.services import server

    return ServiceEntry(st.ServerSettings.from_env, server.serve)


def _client() -> ServiceEntry:
    from tlssim.services import client

    return ServiceEntry(st.ClientSettings.from_env, client.serve)


def _faults() -> ServiceEntry:
    from tlssim.services import faults

    return ServiceEntry(st.FaultsSettings.from_env, faults.serve)


def _console() -> ServiceEntry:
    from tlssim.services import console

    return ServiceEntry(st.ConsoleSettings.from_env, console.serve)


def _acme() -> ServiceEntry:  # the ACME service (docs/acme.md)
    from tlssim.services import acme
    from tlssim.services.acme_settings import AcmeSettings

    return ServiceEntry(AcmeSettings.from_env, acme.serve)


SERVICES: dict[str, Callable[[], ServiceEntry]] = {
    "ca": _ca,
    "ocsp": _ocsp,
    "server": _server,
    "client": _client,
    "faults": _faults,
    "console": _console,
    "acme": _acme,
}

SERVICE_NAMES = tuple(SERVICES)


def run_service(name: str) -> int:
    if name not in SERVICES:
        known = ", ".join(SERVICE_NAMES)
        print(f"tlssim: unknown service {name!r}; choose {known}", file=sys.stderr)
        return 2
    return _run(name, SERVICES[name](), os.environ)
