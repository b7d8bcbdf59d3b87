"""The services' settings: one documented table, read once, bad values refused by name."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tlssim.services import settings as st
from tlssim.services.settings import server as server_settings

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "tlssim"


def _documented() -> dict[str, str]:
    """variable -> default, from the table in docs/settings.md."""
    rows = re.findall(
        r"^\| `(TLSSIM_[A-Z_]+)` \| ([^|]*) \|", (ROOT / "docs/settings.md").read_text(), re.M
    )
    return {name: default.strip() for name, default in rows}


def test_the_docs_table_is_the_code_list() -> None:
    assert _documented() == {v.name: v.default for v in st.VARIABLES}


def test_the_settings_page_is_what_the_declarations_write() -> None:
    written = subprocess.run(
        [sys.executable, "-m", "tlssim.services.settings", "--markdown"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert written == st.markdown()
    assert (ROOT / "docs/settings.md").read_text() == written, (
        "docs/settings.md is out of date: "
        "python -m tlssim.services.settings --markdown > docs/settings.md"
    )


def test_each_variable_is_declared_once() -> None:
    names = [v.name for v in st.VARIABLES]
    assert len(names) == len(set(names))


def test_every_declared_setting_is_listed() -> None:
    declared = [*st.METRICS_ADDRS, *st.ACME_SETTINGS]
    for module in pkgutil.iter_modules(st.__path__, f"{st.__name__}."):
        found = vars(importlib.import_module(module.name)).values()
        declared += [v for v in found if isinstance(v, st.Setting)]
    assert {id(v) for v in declared} == {id(v) for v in st.VARIABLES}


def test_every_field_comes_from_a_setting_its_service_is_documented_to_read() -> None:
    page = (ROOT / "docs/settings.md").read_text()
    for service, settings_class in st.SETTINGS_CLASSES.items():
        for field in dataclasses.fields(settings_class):
            setting = st.setting_of(settings_class, field.name)
            if service == "console":  # listed in a sentence below the table
                assert f"`{setting.name}`" in page.split("The console also reads")[1]
            else:
                assert service in setting.services, (service, field.name, setting.name)


def test_a_field_default_is_its_setting_default() -> None:
    server = st.ServerSettings.from_env({})
    assert server.early_data_max == server_settings.EARLY_DATA_MAX.value == 16384
    assert server_settings.EARLY_DATA_MAX.default == "16384"
    assert (server.staple_refresh_s, server_settings.STAPLE_REFRESH_S.default) == (5.0, "5")
    assert server.anti_replay is True and server_settings.ANTI_REPLAY.default == "on"
    fields = {f.name: f for f in dataclasses.fields(st.ServerSettings)}
    assert fields["early_data_max"].default == 16384
    assert fields["staple_refresh_s"].default == 5.0
    assert fields["listen"].default is dataclasses.MISSING


@pytest.mark.parametrize(
    "setting",
    [v for v in st.VARIABLES if v.value is not st.REQUIRED and v.default[:1].isdigit()],
    ids=lambda v: v.name,
)
def test_a_documented_default_reads_as_the_default(setting: st.Setting[object]) -> None:
    """Setting a variable to the default the table shows changes nothing."""
    service = setting.services[0]
    assert setting.get({setting.name: setting.default}, service) == setting.get({}, service)
    assert setting.get({}, service) == setting.value


def test_services_read_the_environment_only_through_settings() -> None:
    allowed = set((SRC / "services" / "settings").glob("*.py"))
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("services", "pki", "tls", "faults", "net", "scenarios")
        for path in (SRC / folder).rglob("*.py")
        if path not in allowed
        and re.search(r"os\.environ|os\.getenv", path.read_text())
        and path.name != "restart.py"  # starts a ca process with the caller's environment
        and path.name != "containers.py"  # the CLI's Docker faults: compose's project name
    ]
    assert offenders == []


def test_every_variable_the_code_names_is_documented() -> None:
    named = set()
    for path in SRC.rglob("*.py"):
        named |= set(re.findall(r'"(TLSSIM_[A-Z_]+)"', path.read_text()))
    # Set for the compose demo and the test harness, or a constant named like a variable.
    not_settings = {"TLSSIM_REQUIRE_DOCKER", "TLSSIM_DEMO_HOSTS", "TLSSIM_GRPC"}
    assert named - not_settings <= {v.name for v in st.VARIABLES}


def test_defaults_match_the_table() -> None:
    ca = st.CaSettings.from_env({})
    assert (ca.listen, ca.long_chain_depth) == ("127.0.0.1:50051", 3)
    ocsp = st.OcspSettings.from_env({})
    assert (ocsp.listen, ocsp.http_listen, ocsp.feed_max_age_s) == (
        "127.0.0.1:50052",
        "127.0.0.1:8080",
        10.0,
    )
    server = st.ServerSettings.from_env({"TLSSIM_LISTEN_HOST": "0.0.0.0"})
    assert (server.listen, server.tcp_listen, server.staple_refresh_s) == (
        "0.0.0.0:50053",
        "0.0.0.0:8443",
        5.0,
    )
    client = st.ClientSettings.from_env({"TLSSIM_HOST": "ca.example"})
    assert (client.ca, client.crl_timeout_s, client.status_cache_s) == (
        "ca.example:50051",
        2.0,
        5.0,
    )
    faults = st.FaultsSettings.from_env({"TLSSIM_FAULTS_SEED": "7"})
    assert (faults.api_listen, faults.seed, faults.config) == ("127.0.0.1:8474", 7, None)


@pytest.mark.parametrize(
    ("load", "env"),
    [
        (st.OcspSettings.from_env, {"TLSSIM_FEED_MAX_AGE_S": "soon"}),
        (st.OcspSettings.from_env, {"TLSSIM_FEED_MAX_AGE_S": "nan"}),
        (st.ServerSettings.from_env, {"TLSSIM_STAPLE_REFRESH_S": "-1"}),
        (st.CaSettings.from_env, {"TLSSIM_LONG_CHAIN_DEPTH": "9"}),
        (st.FaultsSettings.from_env, {"TLSSIM_FAULTS_SEED": "x"}),
        (st.ClientSettings.from_env, {"TLSSIM_LISTEN": "nowhere"}),
        (st.ServerSettings.from_env, {"TLSSIM_TCP_LISTEN": "127.0.0.1:99999"}),
        (st.ServerSettings.from_env, {"TLSSIM_EARLY_DATA_MAX": "-1"}),
        (st.ServerSettings.from_env, {"TLSSIM_ANTI_REPLAY": "sometimes"}),
        (st.ServerSettings.from_env, {"TLSSIM_SERVER_METRICS_ADDR": "nowhere"}),
        (st.OcspSettings.from_env, {"TLSSIM_HTTP_LISTEN": "127.0.0.1:0"}),
        (st.ConsoleSettings.from_env, {"TLSSIM_LISTEN": "nowhere"}),
    ],
)
def test_a_bad_value_is_refused_by_name(load: object, env: dict[str, str]) -> None:
    (name,) = env
    with pytest.raises(st.SettingsError, match=name):
        load(env)  # type: ignore[operator]


def test_serve_with_a_bad_setting_says_so_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tlssim", "serve", "ocsp"],
        env={"TLSSIM_FEED_MAX_AGE_S": "soon", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tlssim serve ocsp: TLSSIM_FEED_MAX_AGE_S must be a positive number of seconds, got 'soon'"
    ]


def test_a_long_log_message_is_cut(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from tlssim.services import runtime

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        runtime.configure_logging("ca", "INFO")
        logging.getLogger("tlssim.test").info("subject %s", "x" * 100_000)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    line = capsys.readouterr().err.strip()
    assert len(line) < runtime.MAX_LOG_MESSAGE + 200
    assert line.endswith("more characters]")


def test_the_faults_limits_and_the_web_host_names_are_read_and_checked() -> None:
    faults = st.FaultsSettings.from_env({})
    assert faults.upstream_hosts == frozenset()
    assert (faults.max_connections, faults.max_connections_per_proxy) == (4000, 1000)
    assert "127.0.0.1:8474" in faults.reserved and "127.0.0.1:8000" in faults.reserved
    assert {"faults", "console", "127.0.0.1"} <= (faults.http_hosts or set())
    wider = st.FaultsSettings.from_env(
        {
            "TLSSIM_FAULTS_UPSTREAM_HOSTS": "10.1.2.3, Lab.Internal",
            "TLSSIM_FAULTS_MAX_CONNECTIONS": "10",
            "TLSSIM_FAULTS_MAX_CONNECTIONS_PER_PROXY": "5",
            "TLSSIM_HTTP_HOSTS": "lab.internal",
            "TLSSIM_CONSOLE_ADDR": "127.0.0.1:18000",
        }
    )
    assert wider.upstream_hosts == frozenset({"10.1.2.3", "lab.internal"})
    assert (wider.max_connections, wider.max_connections_per_proxy) == (10, 5)
    assert "127.0.0.1:18000" in wider.reserved
    assert "lab.internal" in (wider.http_hosts or set())
    assert st.FaultsSettings.from_env({"TLSSIM_FAULTS_UPSTREAM_HOSTS": "*"}).upstream_hosts is None
    assert st.ConsoleSettings.from_env({"TLSSIM_HTTP_HOSTS": "*"}).http_hosts is None
    with pytest.raises(st.SettingsError, match="TLSSIM_FAULTS_MAX_CONNECTIONS"):
        st.FaultsSettings.from_env({"TLSSIM_FAULTS_MAX_CONNECTIONS": "0"})


#: Addresses with no port, a port that is not one, or one out of range.
NOT_HOST_PORT = ["noport", "host:", ":8080", "host:0", "host:65536", "host:http", "[::1]"]


@pytest.mark.parametrize("bad", NOT_HOST_PORT)
@pytest.mark.parametrize("setting", st.ADDRESSES, ids=lambda s: s.name)
def test_an_address_that_is_not_host_port_is_refused_in_one_line_by_name(
    setting: st.Setting[str], bad: str
) -> None:
    with pytest.raises(st.SettingsError) as refused:
        setting.get({setting.name: bad}, setting.services[0])
    assert str(refused.value) == (
        f"{setting.name}: expected HOST:PORT with a port from 1 to 65535, got {bad!r}"
    )


@pytest.mark.parametrize("setting", st.ADDRESSES, ids=lambda s: s.name)
def test_a_host_port_address_is_taken_as_given(setting: st.Setting[str]) -> None:
    for good in ("ca:1", "10.0.0.7:65535", "[::1]:50051"):
        assert setting.get({setting.name: good}, setting.services[0]) == good


def test_every_address_variable_is_checked() -> None:
    """Every documented HOST:PORT variable is one of the checked addresses (the ACME
    service's two are read by acme_addresses, and by the ACME service's own settings)."""
    named = {v.name for v in st.VARIABLES if v.name.endswith(("_ADDR", "_API"))}
    acme = {"TLSSIM_ACME_ADDR", "TLSSIM_ACME_GRPC_ADDR"}
    assert named == {s.name for s in st.ADDRESSES} | acme
    for variable in sorted(acme):
        with pytest.raises(st.SettingsError, match=f"^{variable}: expected HOST:PORT"):
            st.acme_addresses({variable: "noport"})
    assert st.acme_addresses({"TLSSIM_HOST": "lab"}) == ("lab:14000", "lab:50055")


@pytest.mark.parametrize("service", sorted(st.SETTINGS_CLASSES))
def test_a_service_refuses_a_bad_address_it_reads_by_its_name(service: str) -> None:
    """Also the service's own address, whose port it binds (once reported as TLSSIM_LISTEN)."""
    settings_class = st.SETTINGS_CLASSES[service]
    read = {st.setting_of(settings_class, f.name) for f in dataclasses.fields(settings_class)}
    own = {"faults": "TLSSIM_FAULTS_API", "console": "TLSSIM_CONSOLE_ADDR"}
    names = {s.name for s in read if s in st.ADDRESSES} | {
        own.get(service, f"TLSSIM_{service.upper()}_ADDR")
    }
    for name in sorted(names):
        with pytest.raises(st.SettingsError, match=f"^{name}: expected HOST:PORT"):
            settings_class.from_env({name: "noport"})  # type: ignore[attr-defined]


def test_the_command_line_takes_the_faults_api_as_a_url_too() -> None:
    assert st.faults_api_url({}) == "127.0.0.1:8474"
    assert st.faults_api_url({"TLSSIM_FAULTS_API": "http://[::1]:8474/"}) == "http://[::1]:8474/"
    for bad in ("http://faults/", "ftp://faults:21", "faults"):
        with pytest.raises(st.SettingsError, match=r"^TLSSIM_FAULTS_API: expected HOST:PORT"):
            st.faults_api_url({"TLSSIM_FAULTS_API": bad})
