"""Every service's Prometheus endpoint and JSON logs, against a stack of this module's own
(started with TLSSIM_LOG_FORMAT=json): the handshake counters count exactly the handshakes
the test made, and every service's log line is a JSON object carrying its trace id."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.integration.conftest import TEST_SETTINGS
from tlssim.harness.localstack import METRICS_SERVICES, LocalStack, running_stack

GOOD_HANDSHAKES = 3


@pytest.fixture(scope="module")
def json_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp = tmp_path_factory.mktemp("metrics")
    with running_stack(tmp, **TEST_SETTINGS, TLSSIM_LOG_FORMAT="json") as started:
        yield started


def scrape(stack: LocalStack, service: str) -> list[Sample]:
    with urllib.request.urlopen(stack.metrics_url(service), timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_every_service_counts_what_it_did(json_stack: LocalStack) -> None:
    stack = json_stack
    before = {service: scrape(stack, service) for service in METRICS_SERVICES}
    for _ in range(GOOD_HANDSHAKES):
        done = stack.tlssim("handshake", "--server-name", "valid.tlssim.test")
        assert done.returncode == 0, done.stdout + done.stderr
    refused = stack.handshake(
        "--server-name", "revoked.tlssim.test", "--revocation", "hard", ok=False
    )
    assert refused.alert is not None
    alert = refused.alert.description
    added = stack.tlssim("faults", "add", "client_ocsp", "latency", "latency=1")
    assert added.returncode == 0, added.stderr
    try:
        after = {service: scrape(stack, service) for service in METRICS_SERVICES}
    finally:
        stack.tlssim("faults", "remove", "client_ocsp", "latency_downstream")

    def made(service: str, name: str, **labels: str) -> float:
        return total(after[service], name, **labels) - total(before[service], name, **labels)

    for observer in ("client", "server"):
        handshakes = "tlssim_handshakes_total"
        assert made(observer, handshakes, outcome="ok", alert="none") == GOOD_HANDSHAKES
        assert made(observer, handshakes, outcome="failed", alert=alert) == 1, observer
        assert made(observer, handshakes) == GOOD_HANDSHAKES + 1, observer
        timed = made(observer, "tlssim_handshake_duration_seconds_count")
        assert timed == GOOD_HANDSHAKES + 1, observer
        assert made(observer, "tlssim_handshake_duration_seconds_sum") > 0, observer
    ok = [
        s
        for s in after["client"]
        if s.name == "tlssim_handshakes_total" and s.labels["outcome"] == "ok"
    ]
    assert ok and all(s.labels["cipher_suite"] != "none" for s in ok)
    assert all(s.labels["version"] in ("TLSv1.2", "TLSv1.3") for s in ok), ok

    assert total(after["ca"], "tlssim_ca_issued_total") > 0
    # The server's staple refreshes ask for every host's status, revoked.tlssim.test's too.
    assert total(after["ocsp"], "tlssim_ocsp_answers_total", status="revoked", front="grpc") >= 1
    assert total(after["faults"], "tlssim_fault_toxics", type="latency", link="client_ocsp") == 1
    assert total(before["faults"], "tlssim_fault_toxics") == 0


def test_services_log_one_json_object_per_line(json_stack: LocalStack) -> None:
    trace = json_stack.handshake("--server-name", "valid.tlssim.test", ok=True).trace_id
    lines = json_stack.logs().splitlines()
    logged: dict[str, list[dict[str, str]]] = {}
    for service in (*METRICS_SERVICES, "console"):
        prefix = f"[{service:>6}] "
        own = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
        assert own, service
        logged[service] = [json.loads(line) for line in own]
        for entry in logged[service]:
            assert entry["service"] == service
            assert {"time", "level", "trace", "message", "logger"} <= entry.keys()
    assert any(e["trace"] == trace for e in logged["client"])
