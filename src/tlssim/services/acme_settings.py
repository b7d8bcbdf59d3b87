"""The ACME service's settings (the TLSSIM_ACME_* rows of docs/settings.md), read once."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.acme.addresses import ACME_GRPC_PORT, ACME_PORT
from tlssim.acme.faults import Faults
from tlssim.acme.policy import AcmePolicy, IpNetwork, parse_resolve
from tlssim.acme.validation import Validator
from tlssim.services import settings as st
from tlssim.topology import endpoints as ep

MIN_LIFETIME_S: Final = 60
MAX_LIFETIME_S: Final = 90 * 24 * 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class AcmeSettings:
    listen: str
    grpc_listen: str
    ca: str
    enrollment_token_file: Path
    # The admin token that may change the faults at run time (the ca's, followed as the
    # ca follows it): configured, else the ca's admin-token file in ca_data_dir.
    admin_token: str
    ca_data_dir: Path
    policy: AcmePolicy
    validator: Validator
    faults: Faults

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AcmeSettings:
        e = st.Environment(env)
        host = e.text("TLSSIM_HOST", ep.DEFAULT_HOST)
        own = e.address("TLSSIM_ACME_ADDR", f"{host}:{ACME_PORT}")
        grpc_own = e.address("TLSSIM_ACME_GRPC_ADDR", f"{host}:{ACME_GRPC_PORT}")
        return cls(
            listen=e.listen("TLSSIM_ACME_LISTEN", own),
            grpc_listen=e.listen("TLSSIM_LISTEN", grpc_own),
            ca=st.CA_ADDR.get(env),
            enrollment_token_file=_token_file(e),
            admin_token=e.text("TLSSIM_ADMIN_TOKEN"),
            ca_data_dir=e.data_dir() / "ca",
            policy=AcmePolicy(
                zones=_zones(e.text("TLSSIM_ACME_ZONES", "tlssim.test")),
                ip_networks=_networks(e.text("TLSSIM_ACME_IP_NETWORKS", "127.0.0.0/8,::1/128")),
                lifetime=dt.timedelta(
                    seconds=e.integer(
                        "TLSSIM_ACME_LIFETIME_S", MAX_LIFETIME_S, MIN_LIFETIME_S, MAX_LIFETIME_S
                    )
                ),
                orders_per_hour=e.integer("TLSSIM_ACME_ORDERS_PER_HOUR", 300, 1, 1_000_000),
                eab_keys=_eab_keys(e.text("TLSSIM_ACME_EAB_FILE")),
            ),
            validator=Validator(
                resolve=_resolve(
                    e.text("TLSSIM_ACME_RESOLVE", "tlssim.test=127.0.0.1,*.tlssim.test=127.0.0.1")
                ),
                http01_port=e.integer("TLSSIM_ACME_HTTP_PORT", 5002, 1, 65535),
                tlsalpn01_port=e.integer("TLSSIM_ACME_TLS_ALPN_PORT", 5001, 1, 65535),
                http01_via=_via(e, "TLSSIM_ACME_HTTP_VIA"),
                tlsalpn01_via=_via(e, "TLSSIM_ACME_TLS_ALPN_VIA"),
                delay_s=_fraction_or_seconds(e, "TLSSIM_ACME_VALIDATION_DELAY_S", 3600.0),
            ),
            faults=Faults(
                nonce_reject=_fraction_or_seconds(e, "TLSSIM_ACME_NONCE_REJECT", 1.0),
                retry_after_s=e.integer("TLSSIM_ACME_RETRY_AFTER_S", 1, 0, 86400),
                validation_fail=_fraction_or_seconds(e, "TLSSIM_ACME_VALIDATION_FAIL", 1.0),
                finalize_delay_s=_fraction_or_seconds(e, "TLSSIM_ACME_FINALIZE_DELAY_S", 3600.0),
            ),
        )


def _token_file(e: st.Environment) -> Path:
    if explicit := e.text("TLSSIM_ENROLLMENT_TOKEN_FILE"):
        return Path(explicit)
    from tlssim.pki.enrollment import credential_path

    return credential_path(e.data_dir() / "ca", "acme")


def _via(e: st.Environment, name: str) -> str:
    value = e.text(name)
    if value:
        try:
            _, port = ep.split_host_port(value)
        except ValueError as exc:
            raise st.SettingsError(f"{name}: {exc}") from None
        if not 0 < port < 65536:
            raise st.SettingsError(f"{name}: port {port} is out of range")
    return value


def _zones(text: str) -> tuple[str, ...]:
    zones = tuple(z.strip().lower().strip(".") for z in text.split(",") if z.strip())
    if not zones:
        raise st.SettingsError("TLSSIM_ACME_ZONES must name at least one zone")
    return zones


def _networks(text: str) -> tuple[IpNetwork, ...]:
    if text.lower() == "none":
        return ()
    try:
        return tuple(ipaddress.ip_network(n.strip()) for n in text.split(",") if n.strip())
    except ValueError as exc:
        raise st.SettingsError(f"TLSSIM_ACME_IP_NETWORKS: {exc}") from None


def _resolve(text: str) -> tuple[tuple[str, str], ...]:
    try:
        return parse_resolve(text)
    except ValueError as exc:
        raise st.SettingsError(f"TLSSIM_ACME_RESOLVE: {exc}") from None


def _fraction_or_seconds(e: st.Environment, name: str, high: float) -> float:
    raw = e.text(name)
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= high):
        raise st.SettingsError(f"{name} must be a number from 0 to {high:g}, got {raw!r}")
    return value


def _eab_keys(path: str) -> dict[str, bytes]:
    if not path:
        return {}
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise st.SettingsError(f"TLSSIM_ACME_EAB_FILE: cannot read {path}: {exc}") from None
    keys = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise st.SettingsError("TLSSIM_ACME_EAB_FILE: each line is KID HMAC-KEY-BASE64URL")
        kid, encoded = parts
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise st.SettingsError(
                f"TLSSIM_ACME_EAB_FILE: the key of {kid} is not base64url"
            ) from None
        if len(key) < 16:
            raise st.SettingsError(f"TLSSIM_ACME_EAB_FILE: the key of {kid} is under 16 bytes")
        keys[kid] = key
    if not keys:
        raise st.SettingsError(f"TLSSIM_ACME_EAB_FILE: {path} holds no key")
    return keys
