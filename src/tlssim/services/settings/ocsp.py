"""The OCSP responder's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.services.settings.declaring import Setting, from_setting, read_fields, seconds
from tlssim.services.settings.shared import (
    CA_ADDR,
    ENROLLMENT_TOKEN_FILE,
    HTTP_HOSTS,
    LISTEN,
    METRICS_LISTEN,
    REPLICA,
)


def _http_netloc(url: str) -> str:
    return url.removeprefix("http://").split("/")[0]


HTTP_LISTEN: Final = Setting(
    name="TLSSIM_HTTP_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of $TLSSIM_OCSP_URL",
    meaning="where the responder binds OCSP and CRLs over HTTP",
    services=("ocsp",),
    read=lambda e, _: e.listen("TLSSIM_HTTP_LISTEN", _http_netloc(e.endpoints().ocsp_url)),
)
# The responder answers tryLater rather than a possibly stale "good" once it has heard
# nothing from the ca's status feed (no event, no heartbeat; the ca sends one every 2 s)
# for this long: the bound on how stale a "good" answer can be.
FEED_MAX_AGE_DEFAULT_S: Final = 10.0
FEED_MAX_AGE_S: Final = seconds(
    "TLSSIM_FEED_MAX_AGE_S",
    FEED_MAX_AGE_DEFAULT_S,
    "seconds without news from the ca after which the responder answers tryLater",
    ("ocsp",),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OcspSettings:
    listen: str = from_setting(LISTEN)
    http_listen: str = from_setting(HTTP_LISTEN)
    ca: str = from_setting(CA_ADDR)
    feed_max_age_s: float = from_setting(FEED_MAX_AGE_S)
    enrollment_token_file: Path = from_setting(ENROLLMENT_TOKEN_FILE)
    metrics_listen: str = from_setting(METRICS_LISTEN)
    replica: str = from_setting(REPLICA)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = from_setting(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OcspSettings:
        return cls(**read_fields(cls, env, "ocsp"))
