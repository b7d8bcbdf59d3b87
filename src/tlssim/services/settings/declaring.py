"""How a setting is declared and read: ``Setting`` (one environment variable), the typed
reads of ``Environment`` that fail with a sentence naming the variable, the constructors the
declarations use, and ``from_setting``, which makes a settings class's field of one."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast, overload

from tlssim.topology import endpoints as ep

T = TypeVar("T")


class Required(enum.Enum):
    REQUIRED = "required"


REQUIRED: Final = Required.REQUIRED


class SettingsError(ValueError):
    """A variable holds a value the service cannot use; the message names it."""


#: Every variable a Setting declares: the only names Environment reads.
_DECLARED: set[str] = set()


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting(Generic[T]):
    """One environment variable: the one place its name, reading, default and meaning live."""

    name: str
    #: The default as docs/settings.md shows it.
    default: str
    meaning: str
    #: The services that read it (docs/settings.md's "read by").
    services: tuple[str, ...]
    #: (environment, the reading service's name) -> the value; raises SettingsError.
    read: Callable[[Environment, str], T]
    #: The settings field's default, or REQUIRED when a settings object must be given it.
    value: T | Required = REQUIRED

    def __post_init__(self) -> None:
        _DECLARED.add(self.name)

    def get(self, env: Mapping[str, str], service: str = "") -> T:
        return self.read(Environment(env), service)


# Where each service serves Prometheus metrics (docs/metrics.md).
METRICS_PORTS: Final = {
    "ca": 9151,
    "ocsp": 9152,
    "server": ep.SERVER_METRICS_PORT,
    "client": 9154,
    "faults": 9155,
}


def metrics_variable(service: str) -> str:
    """The variable holding `service`'s metrics address, e.g. TLSSIM_CA_METRICS_ADDR."""
    return f"TLSSIM_{service.upper()}_METRICS_ADDR"


class Environment:
    """Typed reads of the documented variables, each failing with a sentence that names it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str = "") -> str:
        if name not in _DECLARED:
            raise KeyError(f"{name} is not a documented setting")
        return self._env.get(name, "").strip() or default

    def seconds(self, name: str, default: float) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise SettingsError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
        return value

    def switch(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw not in ("on", "off"):
            raise SettingsError(f"{name} must be on or off, got {raw!r}")
        return raw == "on"

    def optional_integer(self, name: str) -> int | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None

    def endpoints(self) -> ep.Endpoints:
        return ep.Endpoints.from_env(dict(self._env))

    def address(self, variable: str, default: str) -> str:
        """HOST:PORT from `variable` (`default` when unset), refused unless it is one."""
        value = self.text(variable, default)
        check_address(variable, value)
        return value

    def listen(self, variable: str, own_address: str) -> str:
        """Where a service binds: the explicit variable, else the port of its own address."""
        if explicit := self.text(variable):
            check_address(variable, explicit)
            return explicit
        host = self.text("TLSSIM_LISTEN_HOST", ep.DEFAULT_HOST)
        return f"{host}:{check_address(variable, own_address)[1]}"

    def data_dir(self) -> Path:
        return default_data_dir(self._env)

    def metrics_address(self, service: str) -> str:
        host = self.text("TLSSIM_HOST", ep.DEFAULT_HOST)
        return self.address(metrics_variable(service), f"{host}:{METRICS_PORTS[service]}")

    def metrics_listen(self, service: str) -> str:
        return self.listen("TLSSIM_METRICS_LISTEN", self.metrics_address(service))


def check_address(variable: str, address: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT, or a SettingsError that names `variable` (an environment
    variable or a command-line argument) and the form it wants: the one check of every
    address tlssim is given."""
    try:
        host, port = ep.split_host_port(address)
    except ValueError:
        host, port = "", 0
    if not host or not 0 < port < 65536:
        raise SettingsError(
            f"{variable}: expected HOST:PORT with a port from 1 to 65535, got {address!r}"
        )
    return host, port


def default_data_dir(env: Mapping[str, str]) -> Path:
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(env.get("TLSSIM_DATA_DIR") or Path(state) / "tlssim")


def text(
    name: str, default: str, meaning: str, services: tuple[str, ...], *, shown: str = ""
) -> Setting[str]:
    """A string, `default` when unset or blank."""
    return Setting(
        name=name,
        default=shown or default,
        meaning=meaning,
        services=services,
        read=lambda e, _: e.text(name, default),
    )


def seconds(name: str, default: float, meaning: str, services: tuple[str, ...]) -> Setting[float]:
    """A positive number of seconds."""
    return Setting(
        name=name,
        default=f"{default:g}",
        meaning=meaning,
        services=services,
        read=lambda e, _: e.seconds(name, default),
        value=default,
    )


def integer(
    name: str, default: int, low: int, high: int, meaning: str, services: tuple[str, ...]
) -> Setting[int]:
    """An integer from `low` to `high`."""
    return Setting(
        name=name,
        default=str(default),
        meaning=meaning,
        services=services,
        read=lambda e, _: e.integer(name, default, low, high),
        value=default,
    )


def switch(name: str, default: bool, meaning: str, services: tuple[str, ...]) -> Setting[bool]:
    """on or off."""
    return Setting(
        name=name,
        default="on" if default else "off",
        meaning=meaning,
        services=services,
        read=lambda e, _: e.switch(name, default),
        value=default,
    )


_SETTING: Final = "setting"
_READ: Final = "read"


@overload
def from_setting(setting: Setting[T]) -> T: ...


@overload
def from_setting(setting: Setting[Any], read: Callable[[Environment, str], T]) -> T: ...


def from_setting(
    setting: Setting[Any], read: Callable[[Environment, str], Any] | None = None
) -> Any:
    """A settings field filled from `setting` (read its own way by `read`, if given), with
    the setting's default when it has one."""
    metadata = {_SETTING: setting, _READ: read or setting.read}
    if setting.value is REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=setting.value, metadata=metadata)


def setting_of(settings_class: type, field_name: str) -> Setting[Any]:
    """The setting a settings class's field is read from."""
    (found,) = (f for f in dataclasses.fields(settings_class) if f.name == field_name)
    return cast(Setting[Any], found.metadata[_SETTING])


def read_fields(settings_class: type, env: Mapping[str, str], service: str) -> dict[str, Any]:
    """Every field of `settings_class`, read from `env` as `service` reads it."""
    e = Environment(env)
    return {f.name: f.metadata[_READ](e, service) for f in dataclasses.fields(settings_class)}
