"""The console's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tlssim.services.settings.declaring import from_setting, read_fields
from tlssim.services.settings.shared import (
    CA_ADDR,
    CLIENT_ADDR,
    FAULTS_API,
    HTTP_HOSTS,
    LISTEN,
    OCSP_ADDR,
    SERVER_ADDR,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings:
    """The console watches the services directly (not through the faults proxies): what
    it shows must not change with the faults it shows."""

    listen: str = from_setting(LISTEN)
    server: str = from_setting(SERVER_ADDR)
    client: str = from_setting(CLIENT_ADDR)
    ca: str = from_setting(CA_ADDR)
    faults_api: str = from_setting(FAULTS_API)
    ocsp: str = from_setting(OCSP_ADDR)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = from_setting(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConsoleSettings:
        return cls(**read_fields(cls, env, "console"))
