"""The reproductions against `tlssim up`: a cross-origin text/plain POST of a toxic, and a
rebound Host name on the faults API, the console and every metrics endpoint."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.integration.conftest import LocalStack
from tlssim.faults.rest_client import FaultsApi
from tlssim.services.settings import METRICS_PORTS


def _request(
    address: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> int:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


@pytest.mark.integration
def test_a_page_of_another_origin_adds_no_toxic(stack: LocalStack) -> None:
    api = stack.env["TLSSIM_FAULTS_API"]
    toxic = json.dumps({"name": "x", "type": "latency", "attributes": {"latency": 3000}})
    headers = {"Origin": "http://attacker.example", "Content-Type": "text/plain"}
    status = _request(api, "POST", "/proxies/client_server/toxics", headers, toxic.encode())
    assert status == 403
    status = _request(
        api, "POST", "/proxies/client_server/toxics", {"Content-Type": "text/plain"}, b"{}"
    )
    assert status == 415
    assert FaultsApi(api).proxies()["client_server"]["toxics"] == []


@pytest.mark.integration
def test_a_rebound_host_name_reads_nothing(stack: LocalStack) -> None:
    rebound = {"Host": "attacker.example"}
    surfaces = [
        (stack.env["TLSSIM_FAULTS_API"], "/proxies"),
        (stack.env["TLSSIM_CONSOLE_ADDR"], "/api/state"),
        *((stack.env[f"TLSSIM_{name.upper()}_METRICS_ADDR"], "/metrics") for name in METRICS_PORTS),
    ]
    for address, path in surfaces:
        assert _request(address, "GET", path, rebound) == 403, (address, path)
        assert _request(address, "GET", path, {"Host": address}) == 200, (address, path)
