"""The client service's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.services.settings.declaring import from_setting, read_fields, seconds
from tlssim.services.settings.shared import (
    CA_ADDR,
    ENROLLMENT_TOKEN_FILE,
    HTTP_HOSTS,
    LISTEN,
    METRICS_LISTEN,
    OCSP_ADDR,
    REPLICA,
    SERVER_ADDR,
)

CRL_TIMEOUT_S: Final = seconds(
    "TLSSIM_CRL_TIMEOUT_S",
    2.0,
    "seconds the client waits for a CRL or caIssuers download",
    ("client",),
)
STATUS_CACHE_S: Final = seconds(
    "TLSSIM_STATUS_CACHE_S",
    5.0,
    "seconds the client reuses an intermediate's good or revoked status",
    ("client",),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    listen: str = from_setting(LISTEN)
    server: str = from_setting(SERVER_ADDR)
    ca: str = from_setting(CA_ADDR)
    ocsp: str = from_setting(OCSP_ADDR)
    crl_timeout_s: float = from_setting(CRL_TIMEOUT_S)
    status_cache_s: float = from_setting(STATUS_CACHE_S)
    # The credential the client enrolls its own (clientAuth) certificate with.
    enrollment_token_file: Path = from_setting(ENROLLMENT_TOKEN_FILE)
    metrics_listen: str = from_setting(METRICS_LISTEN)
    replica: str = from_setting(REPLICA)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = from_setting(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientSettings:
        return cls(**read_fields(cls, env, "client"))
