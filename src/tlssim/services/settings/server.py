"""The TLS server's settings: its staples, 0-RTT and ticket key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.services.settings.declaring import (
    Environment,
    Setting,
    SettingsError,
    from_setting,
    integer,
    read_fields,
    seconds,
    switch,
)
from tlssim.services.settings.shared import (
    ADMIN_TOKEN,
    CA_ADDR,
    DATA_DIR,
    ENROLLMENT_TOKEN_FILE,
    HTTP_HOSTS,
    LISTEN,
    METRICS_LISTEN,
    OCSP_ADDR,
    REPLICA,
    SERVER_TCP_ADDR,
    ca_folder,
)


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


TCP_LISTEN: Final = Setting(
    name="TLSSIM_TCP_LISTEN",
    default="$TLSSIM_LISTEN_HOST and the port of $TLSSIM_SERVER_TCP_ADDR",
    meaning="where the TLS server binds TLS over TCP",
    services=("server",),
    read=lambda e, service: e.listen("TLSSIM_TCP_LISTEN", SERVER_TCP_ADDR.read(e, service)),
)
STAPLE_REFRESH_S: Final = seconds(
    "TLSSIM_STAPLE_REFRESH_S",
    5.0,
    "seconds between the server's refreshes of its OCSP staples",
    ("server",),
)
EARLY_DATA_MAX: Final = integer(
    "TLSSIM_EARLY_DATA_MAX",
    16384,
    0,
    0xFFFFFFFF,
    "bytes of 0-RTT early data the server's tickets allow (0: no 0-RTT)",
    ("server",),
)
ANTI_REPLAY: Final = switch(
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    listen: str = from_setting(LISTEN)
    tcp_listen: str = from_setting(TCP_LISTEN)
    ca: str = from_setting(CA_ADDR)
    ocsp: str = from_setting(OCSP_ADDR)
    staple_refresh_s: float = from_setting(STAPLE_REFRESH_S)
    enrollment_token_file: Path = from_setting(ENROLLMENT_TOKEN_FILE)
    # The admin token that may export a lab host's key (the ca's, followed like the ca does).
    admin_token: str = from_setting(ADMIN_TOKEN)
    ca_data_dir: Path = from_setting(DATA_DIR, ca_folder)
    # Where `tlssim interop` leaves the client fingerprints the server names stacks by.
    data_dir: Path = from_setting(DATA_DIR)
    metrics_listen: str = from_setting(METRICS_LISTEN)
    #: 0-RTT: what tickets allow (0: none), and whether a ticket's early data is taken once.
    early_data_max: int = from_setting(EARLY_DATA_MAX)
    anti_replay: bool = from_setting(ANTI_REPLAY)
    replica: str = from_setting(REPLICA)
    # Shared by replicas so that each resumes the others' TLS 1.3 tickets (None: random).
    ticket_key: bytes | None = from_setting(TICKET_KEY_FILE)

    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = from_setting(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        return cls(**read_fields(cls, env, "server"))
