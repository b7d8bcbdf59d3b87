"""Metrics kept per process and served as Prometheus text; JSON log lines; their settings."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tlssim.rpcutil import trace_id_var
from tlssim.services import runtime
from tlssim.services import settings as st
from tlssim.telemetry import metrics

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_and_durations_become_prometheus_text() -> None:
    tally = metrics.Tally("tlssim_things", "things", ["kind"])
    durations = metrics.Durations("tlssim_wait_seconds", "waits", bounds=(0.1, 1.0))
    for kind in ("a", "b", "a"):
        tally.add(kind)
    for seconds in (0.05, 0.5, 0.5, 3.0):
        durations.observe(seconds)
    samples = _samples(metrics.Metrics([tally, durations]).exposition().decode())
    assert samples[("tlssim_things_total", (("kind", "a"),))] == 2
    assert samples[("tlssim_things_total", (("kind", "b"),))] == 1
    assert samples[("tlssim_wait_seconds_bucket", (("le", "0.1"),))] == 1
    assert samples[("tlssim_wait_seconds_bucket", (("le", "1.0"),))] == 3
    assert samples[("tlssim_wait_seconds_bucket", (("le", "+Inf"),))] == 4
    assert samples[("tlssim_wait_seconds_count", ())] == 4
    assert samples[("tlssim_wait_seconds_sum", ())] == pytest.approx(4.05)
    assert tally.total(kind="a") == 2 and tally.total() == 3


def test_a_reading_is_taken_when_scraped() -> None:
    now: dict[tuple[str, ...], float] = {("latency", "client_ocsp"): 1.0}
    gauge = metrics.Reading("tlssim_fault_toxics", "toxics", ["type", "link"], lambda: now)
    exposed = metrics.Metrics([gauge])
    key = ("tlssim_fault_toxics", (("link", "client_ocsp"), ("type", "latency")))
    assert _samples(exposed.exposition().decode())[key] == 1
    now.clear()
    assert key not in _samples(exposed.exposition().decode())


def test_two_services_in_one_process_keep_their_own_numbers() -> None:
    async def scenario() -> tuple[str, str, int]:
        first, second = metrics.Tally("tlssim_x", "x", ["n"]), metrics.Tally("tlssim_x", "x", ["n"])
        first.add("1")
        async with (
            metrics.endpoint("127.0.0.1:0", metrics.Metrics([first])) as one,
            metrics.endpoint("127.0.0.1:0", metrics.Metrics([second])) as two,
            aiohttp.ClientSession() as http,
        ):
            assert one is not None and two is not None
            texts = []
            for server in (one, two):
                async with http.get(f"http://127.0.0.1:{server.port}/metrics") as reply:
                    assert reply.status == 200
                    texts.append(await reply.text())
            async with http.get(f"http://127.0.0.1:{one.port}/other") as missing:
                status = missing.status
        return texts[0], texts[1], status

    one, two, missing = asyncio.run(scenario())
    assert _samples(one)[("tlssim_x_total", (("n", "1"),))] == 1
    assert not any(name == "tlssim_x_total" for name, _ in _samples(two))
    assert missing == 404


def test_a_taken_metrics_port_costs_the_metrics_not_the_service(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> bool:
        async with metrics.endpoint("127.0.0.1:0", metrics.Metrics()) as first:
            assert first is not None
            taken = f"127.0.0.1:{first.port}"
            async with metrics.endpoint(taken, metrics.Metrics()) as second:
                return second is None

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(scenario())
    assert "metrics not served: cannot listen on 127.0.0.1:" in caplog.text


def test_metrics_addresses_default_to_each_service_port() -> None:
    assert st.CaSettings.from_env({}).metrics_listen == "127.0.0.1:9151"
    assert st.OcspSettings.from_env({}).metrics_listen == "127.0.0.1:9152"
    assert st.ServerSettings.from_env({}).metrics_listen == "127.0.0.1:9153"
    assert st.ClientSettings.from_env({}).metrics_listen == "127.0.0.1:9154"
    assert st.FaultsSettings.from_env({}).metrics_listen == "127.0.0.1:9155"
    moved = {"TLSSIM_CA_METRICS_ADDR": "ca.example:29151", "TLSSIM_LISTEN_HOST": "0.0.0.0"}
    assert st.CaSettings.from_env(moved).metrics_listen == "0.0.0.0:29151"
    explicit = {"TLSSIM_METRICS_LISTEN": "127.0.0.2:7000"}
    assert st.ClientSettings.from_env(explicit).metrics_listen == "127.0.0.2:7000"
    with pytest.raises(st.SettingsError, match="TLSSIM_SERVER_METRICS_ADDR"):
        st.ServerSettings.from_env({"TLSSIM_SERVER_METRICS_ADDR": "nowhere"})


def test_log_format_is_text_or_json() -> None:
    assert st.log_format({}) == "text"
    assert st.log_format({"TLSSIM_LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(st.SettingsError, match="TLSSIM_LOG_FORMAT"):
        st.log_format({"TLSSIM_LOG_FORMAT": "xml"})


def test_json_log_lines_carry_the_trace_and_stay_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    try:
        runtime.configure_logging("ca", "INFO", "json")
        token = trace_id_var.set("trace-123")
        try:
            logging.getLogger("tlssim.test").info("issued %s", "x" * 5000)
        finally:
            trace_id_var.reset(token)
    finally:
        logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    (line,) = out.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["service"] == "ca" and entry["level"] == "INFO"
    assert entry["trace"] == "trace-123" and entry["logger"] == "tlssim.test"
    assert entry["message"].startswith("issued xxx")
    assert entry["message"].endswith("more characters]")
    assert len(entry["message"]) < runtime.MAX_LOG_MESSAGE + 100


def test_compose_publishes_every_metrics_port_on_loopback() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    for port in st.METRICS_PORTS.values():
        assert re.search(rf'^\s+- "127\.0\.0\.1:{port}:{port}"', compose, re.M), port
        assert f"TLSSIM_METRICS_LISTEN: 0.0.0.0:{port}" in compose, port
