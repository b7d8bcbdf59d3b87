"""A faults configuration file the API would refuse stops the service with one line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tlssim.harness.localstack import free_ports
from tlssim.services import faults
from tlssim.services.settings import FaultsSettings, SettingsError


def _settings(tmp_path: Path, upstream: str, **env: str) -> FaultsSettings:
    config = tmp_path / "faults.json"
    proxy = {"name": "x", "listen": "127.0.0.1:0", "upstream": upstream, "enabled": True}
    config.write_text(json.dumps([proxy]))
    api, metrics = free_ports(2)
    return FaultsSettings.from_env(
        {
            "TLSSIM_FAULTS_CONFIG": str(config),
            "TLSSIM_FAULTS_API": f"127.0.0.1:{api}",
            "TLSSIM_FAULTS_METRICS_ADDR": f"127.0.0.1:{metrics}",
            **env,
        }
    )


def test_a_refused_upstream_in_the_config_file_is_a_settings_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "host.docker.internal:5002")
    with pytest.raises(SettingsError, match=r"TLSSIM_FAULTS_CONFIG .*host\.docker\.internal"):
        asyncio.run(faults.serve(settings))


def test_the_upstream_hosts_setting_lets_the_config_file_through(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, "host.docker.internal:5002", TLSSIM_FAULTS_UPSTREAM_HOSTS="host.docker.internal"
    )

    async def briefly() -> None:
        task = asyncio.ensure_future(faults.serve(settings))
        await asyncio.sleep(0.5)
        assert not task.done(), task.exception()
        task.cancel()

    asyncio.run(briefly())


def test_compose_lets_the_faults_service_dial_the_acme_client_on_the_host() -> None:
    compose = (Path(__file__).resolve().parents[2] / "compose.yaml").read_text()
    assert "TLSSIM_FAULTS_UPSTREAM_HOSTS: host.docker.internal" in compose
