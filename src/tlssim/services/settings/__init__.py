"""Every service's settings, read once from the environment into one frozen object.

Each setting is declared once as a ``Setting``: its variable, how it is read (type, checks
and default), what its default looks like and what it means. ``declaring`` holds the
machinery; ``shared`` the settings several services read; ``ca``, ``ocsp``, ``server``,
``client``, ``faults``, ``console`` each one service's own declarations and its settings
class, whose fields are taken from the declarations (``from_setting``) and whose
``from_env`` reads them; ``acme`` the ACME service's declarations (read by
``services/acme_settings.py``); ``up`` what `tlssim up` reads. ``page`` writes
docs/settings.md from all of them (``python -m tlssim.services.settings --markdown >
docs/settings.md``; a test checks it is). Nothing else in the services reads the environment.

The names below are the ones the rest of tlssim uses.
"""

from __future__ import annotations

from typing import Final

from tlssim.services.settings.acme import ACME_SETTINGS, acme_addresses
from tlssim.services.settings.ca import CaSettings
from tlssim.services.settings.client import ClientSettings
from tlssim.services.settings.console import ConsoleSettings
from tlssim.services.settings.declaring import (
    METRICS_PORTS,
    REQUIRED,
    Environment,
    Setting,
    SettingsError,
    check_address,
    default_data_dir,
    metrics_variable,
    setting_of,
)
from tlssim.services.settings.faults import FaultsSettings
from tlssim.services.settings.ocsp import FEED_MAX_AGE_S, OcspSettings
from tlssim.services.settings.page import VARIABLES, markdown
from tlssim.services.settings.server import ServerSettings
from tlssim.services.settings.shared import (
    ADDRESSES,
    CA_ADDR,
    CLIENT_ADDR,
    FAULTS_API,
    METRICS_ADDRS,
    OCSP_ADDR,
    SERVER_ADDR,
    SERVER_TCP_ADDR,
    checked_endpoints,
    console_address,
    faults_api_url,
    log_format,
    log_level,
)
from tlssim.services.settings.up import UP_HEALTH_FAIL_DEFAULT_S, UP_HEALTH_FAIL_S

__all__ = [
    "ACME_SETTINGS",
    "ADDRESSES",
    "CA_ADDR",
    "CLIENT_ADDR",
    "FAULTS_API",
    "FEED_MAX_AGE_S",
    "METRICS_ADDRS",
    "METRICS_PORTS",
    "OCSP_ADDR",
    "REQUIRED",
    "SERVER_ADDR",
    "SERVER_TCP_ADDR",
    "SETTINGS_CLASSES",
    "UP_HEALTH_FAIL_DEFAULT_S",
    "UP_HEALTH_FAIL_S",
    "VARIABLES",
    "CaSettings",
    "ClientSettings",
    "ConsoleSettings",
    "Environment",
    "FaultsSettings",
    "OcspSettings",
    "ServerSettings",
    "Setting",
    "SettingsError",
    "acme_addresses",
    "check_address",
    "checked_endpoints",
    "console_address",
    "default_data_dir",
    "faults_api_url",
    "log_format",
    "log_level",
    "markdown",
    "metrics_variable",
    "setting_of",
]

#: Each service's settings class, by the name `tlssim serve` knows it by.
SETTINGS_CLASSES: Final[dict[str, type]] = {
    "ca": CaSettings,
    "ocsp": OcspSettings,
    "server": ServerSettings,
    "client": ClientSettings,
    "faults": FaultsSettings,
    "console": ConsoleSettings,
}
