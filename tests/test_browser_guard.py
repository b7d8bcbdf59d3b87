"""The browser guard of the lab's web surfaces (tlssim.web.BrowserGuard): a page on another
origin cannot write to the faults API, and a rebound name cannot read the faults API, the
console or the metrics."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from tlssim.console.app import console_app
from tlssim.console.state import LabState
from tlssim.faults import FaultsServer, ProxySpec
from tlssim.telemetry import metrics
from tlssim.web import BrowserGuard, WebServer

TOXIC = {"name": "x", "type": "latency", "attributes": {"latency": 3000}}


def _request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


async def _call(
    port: int, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, str]:
    raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return await asyncio.to_thread(_request, port, method, path, headers, raw)


def _with_faults(body: Callable[[FaultsServer, int], Awaitable[None]]) -> None:
    async def main() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            await faults.registry.create(
                ProxySpec(name="client_server", listen="127.0.0.1:0", upstream="127.0.0.1:9")
            )
            await body(faults, int(faults.api_address.rpartition(":")[2]))

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_cross_origin_text_plain_post_creates_no_toxic() -> None:
    """The reproduction: what a page on http://attacker.example can send without asking."""

    async def body(faults: FaultsServer, port: int) -> None:
        path = "/proxies/client_server/toxics"
        host = {"Host": f"127.0.0.1:{port}"}
        attempts = [
            ({"Origin": "http://attacker.example", "Content-Type": "text/plain"}, 403),
            ({"Origin": "null", "Content-Type": "application/json"}, 403),
            ({"Content-Type": "text/plain"}, 415),
            ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
            ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
            ({}, 415),  # a body with no Content-Type at all
        ]
        for headers, status in attempts:
            got, text = await _call(port, "POST", path, host | headers, TOXIC)
            assert got == status, (headers, got, text)
            assert json.loads(text)["status"] == status
        assert faults.registry.get("client_server").toxics() == []
        # Cross-origin disabling, deleting and resetting are refused the same way.
        for method, target in (("POST", "/proxies/client_server"), ("DELETE", path + "/x")):
            got, _ = await _call(port, method, target, host | {"Origin": "http://attacker.example"})
            assert got == 403
        got, _ = await _call(port, "POST", "/reset", host | {"Origin": "http://evil.test"})
        assert got == 403
        # What Toxiproxy's clients send is accepted: JSON, and bodiless deletes and resets.
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        got, _ = await _call(port, "POST", path, host | json_type, TOXIC)
        assert got == 200
        same_origin = {"Origin": f"http://127.0.0.1:{port}"}
        got, _ = await _call(port, "DELETE", path + "/x", host | same_origin)
        assert got == 204
        assert (await _call(port, "POST", "/reset", host))[0] == 204

    _with_faults(body)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("attacker.example", 403),
        ("attacker.example:{port}", 403),
        ("127.0.0.1.nip.io:{port}", 403),
        ("localhost.attacker.example", 403),
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST.:{port}", 200),
        ("[::1]:{port}", 200),
        ("faults:8474", 200),  # the compose service name
        ("10.0.0.7:{port}", 200),  # an address is never a rebound name
    ],
)
def test_the_faults_api_answers_only_names_it_listens_as(host: str, status: int) -> None:
    async def body(faults: FaultsServer, port: int) -> None:
        got, text = await _call(port, "GET", "/proxies", {"Host": host.format(port=port)})
        assert got == status, text
        if status == 403:
            assert "not a name this service answers to" in json.loads(text)["error"]

    _with_faults(body)


def _serve(app: web.Application, check: Callable[[int], Awaitable[None]]) -> None:
    async def main() -> None:
        server = WebServer(app)
        await server.start("127.0.0.1", 0)
        try:
            await check(server.port)
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_the_console_state_is_not_readable_through_a_rebound_name() -> None:
    async def check(port: int) -> None:
        for path in ("/api/state", "/", "/events?after=999999999"):
            got, _ = await _call(port, "GET", path, {"Host": f"attacker.example:{port}"})
            assert got == 403, path
        got, text = await _call(port, "GET", "/api/state", {"Host": f"127.0.0.1:{port}"})
        assert got == 200 and "handshakes" in json.loads(text)
        got, _ = await _call(port, "GET", "/healthz", {"Host": f"console:{port}"})
        assert got == 200

    _serve(console_app(LabState()), check)


def test_metrics_are_not_readable_through_a_rebound_name() -> None:
    async def check(port: int) -> None:
        got, _ = await _call(port, "GET", "/metrics", {"Host": f"attacker.example:{port}"})
        assert got == 403
        got, _ = await _call(port, "GET", "/metrics", {"Host": f"prometheus.lab:{port}"})
        assert got == 200  # a name the operator added

    _serve(metrics.application(metrics.Metrics(), frozenset({"prometheus.lab"})), check)


def test_the_operator_may_answer_any_name() -> None:
    assert BrowserGuard(names=None).allows_host("anything.example:80")
    assert not BrowserGuard().allows_host("anything.example:80")
    assert BrowserGuard().with_names("lab.internal").allows_host("LAB.internal:8000")
