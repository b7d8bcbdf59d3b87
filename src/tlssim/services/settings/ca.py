"""The ca's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.services.settings.declaring import from_setting, integer, read_fields
from tlssim.services.settings.shared import (
    ADMIN_TOKEN,
    DATA_DIR,
    HTTP_HOSTS,
    LISTEN,
    METRICS_LISTEN,
    OCSP_URL,
    ca_folder,
)

LONG_CHAIN_DEPTH: Final = integer(
    "TLSSIM_LONG_CHAIN_DEPTH",
    3,
    1,
    8,
    "intermediates of long-chain.tlssim.test (1..8), read at the ca's first start",
    ("ca",),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSettings:
    listen: str = from_setting(LISTEN)
    data_dir: Path = from_setting(DATA_DIR, ca_folder)
    ocsp_url: str = from_setting(OCSP_URL)
    long_chain_depth: int = from_setting(LONG_CHAIN_DEPTH)
    admin_token: str = from_setting(ADMIN_TOKEN)
    metrics_listen: str = from_setting(METRICS_LISTEN)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = from_setting(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CaSettings:
        return cls(**read_fields(cls, env, "ca"))
