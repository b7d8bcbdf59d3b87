"""The REST API: Toxiproxy's routes, status codes and shapes, over plain HTTP and its client."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tlssim.faults import FaultsServer
from tlssim.faults.rest_client import FaultsApi
from tlssim.web import HttpLimits

from .conftest import ThreadedService
from .helpers import run

# What Toxiproxy's clients send with every write (the API takes JSON only).
JSON = {"Content-Type": "application/json"}
JSON_HEADER = "Content-Type: application/json\r\n"


def call(svc: ThreadedService, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{svc.api}{path}", data=data, method=method, headers=JSON)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def echo_through(listen: str, payload: bytes = b"hello") -> tuple[bytes, float]:
    host, _, port = listen.rpartition(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    return got, time.monotonic() - start


def test_version_and_empty_list(service: ThreadedService) -> None:
    assert call(service, "GET", "/version") == (200, {"version": "2.12.0"})
    assert call(service, "GET", "/proxies") == (200, {})


def test_proxy_lifecycle(service: ThreadedService) -> None:
    spec = {"name": "p", "listen": "127.0.0.1:0", "upstream": service.echo}
    status, proxy = call(service, "POST", "/proxies", spec)
    assert status == 201
    assert proxy["name"] == "p" and proxy["enabled"] is True and proxy["toxics"] == []
    assert not proxy["listen"].endswith(":0")
    assert echo_through(proxy["listen"])[0] == b"hello"
    assert call(service, "POST", "/proxies", spec)[0] == 409
    assert call(service, "GET", "/proxies/p") == (200, proxy)
    assert call(service, "GET", "/proxies")[1] == {"p": proxy}

    status, toxic = call(
        service,
        "POST",
        "/proxies/p/toxics",
        {"type": "latency", "attributes": {"latency": 200}},
    )
    assert status == 200
    assert toxic == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 200, "jitter": 0},
    }
    assert echo_through(proxy["listen"])[1] >= 0.19
    assert call(service, "GET", "/proxies/p/toxics") == (200, [toxic])
    status, updated = call(
        service, "POST", "/proxies/p/toxics/latency_downstream", {"attributes": {"jitter": 5}}
    )
    assert status == 200 and updated["attributes"] == {"latency": 200, "jitter": 5}
    assert call(service, "GET", "/proxies/p/toxics/latency_downstream") == (200, updated)
    assert call(service, "DELETE", "/proxies/p/toxics/latency_downstream") == (204, None)
    assert call(service, "DELETE", "/proxies/p/toxics/latency_downstream")[0] == 404

    status, disabled = call(service, "POST", "/proxies/p", {"enabled": False})
    assert status == 200 and disabled["enabled"] is False
    with pytest.raises(OSError):
        echo_through(proxy["listen"])
    call(service, "POST", "/proxies/p/toxics", {"type": "timeout", "stream": "upstream"})
    assert call(service, "POST", "/reset") == (204, None)
    status, after = call(service, "GET", "/proxies/p")
    assert after["enabled"] is True and after["toxics"] == []
    assert call(service, "DELETE", "/proxies/p") == (204, None)
    assert call(service, "GET", "/proxies/p") == (404, {"error": "proxy not found", "status": 404})


def test_populate_creates_and_replaces(service: ThreadedService) -> None:
    proxies = [
        {"name": "a", "listen": "127.0.0.1:0", "upstream": service.echo},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": service.echo, "enabled": False},
    ]
    status, body = call(service, "POST", "/populate", proxies)
    assert status == 201
    assert [p["name"] for p in body["proxies"]] == ["a", "b"]
    assert body["proxies"][1]["enabled"] is False
    status, body = call(service, "POST", "/populate", proxies[:1])
    assert status == 201 and set(call(service, "GET", "/proxies")[1]) == {"a", "b"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("POST", "/proxies", {"listen": "127.0.0.1:0", "upstream": "x:1"}, 400, "name"),
        ("POST", "/proxies", {"name": "n"}, 400, "upstream"),
        ("POST", "/proxies", {"name": "n", "upstream": "nohostport"}, 400, "HOST:PORT"),
        ("POST", "/proxies", {"name": "n", "upstream": "h:1", "enabled": "yes"}, 400, "enabled"),
        ("POST", "/proxies", [1, 2], 400, "bad request body"),
        ("POST", "/populate", {"x": 1}, 400, "list"),
        ("GET", "/proxies/nope", None, 404, "proxy not found"),
        ("GET", "/proxies/nope/toxics", None, 404, "proxy not found"),
        ("GET", "/nowhere", None, 404, "no route"),
    ],
)
def test_bad_requests(
    service: ThreadedService, method: str, path: str, body: Any, status: int, fragment: str
) -> None:
    got, payload = call(service, method, path, body)
    assert got == status and payload["status"] == status and fragment in payload["error"]


def test_bad_toxics_and_raw_garbage(service: ThreadedService) -> None:
    call(service, "POST", "/proxies", {"name": "t", "upstream": service.echo})
    cases = [
        ({"type": "nope"}, 400, "invalid toxic type"),
        ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid"),
        ({"type": "latency", "toxicity": 2}, 400, "toxicity"),
        ({"type": "latency", "attributes": {"latency": -1}}, 400, "latency"),
        ({"type": "latency", "attributes": {"latency": "slow"}}, 400, "latency"),
        ({"attributes": {}}, 400, "type"),
    ]
    for body, status, fragment in cases:
        got, payload = call(service, "POST", "/proxies/t/toxics", body)
        assert (got, payload["status"]) == (status, status), body
        assert fragment in payload["error"], payload
    call(service, "POST", "/proxies/t/toxics", {"type": "noop"})
    assert call(service, "POST", "/proxies/t/toxics", {"type": "noop"})[0] == 409

    conn = http.client.HTTPConnection(*service.api_host_port, timeout=5)
    conn.request("POST", "/proxies", body=b"{not json", headers={"Content-Length": "9"} | JSON)
    resp = conn.getresponse()
    assert resp.status == 400 and b"bad request body" in resp.read()
    conn.request("GET", "/version")  # the same connection stays usable (keep-alive)
    assert conn.getresponse().status == 200
    conn.close()


def test_garbage_on_the_api_socket_gets_400(service: ThreadedService) -> None:
    for garbage in (b"\x16\x03\x01\x00\x05hello\r\n\r\n", b"GET /version HTTP/1.1\r\nbad\r\n\r\n"):
        with socket.create_connection(service.api_host_port, timeout=5) as sock:
            sock.sendall(garbage)
            # No usable request line, so no version to answer in: HTTP/1.0 or 1.1.
            assert re.match(rb"HTTP/1\.[01] 400 ", sock.recv(4096))
    assert call(service, "GET", "/version")[0] == 200


def test_toxiproxy_python_client_works_unchanged(service: ThreadedService) -> None:
    import toxiproxy  # PyPI toxiproxy-python
    from toxiproxy.api import APIConsumer
    from toxiproxy.exceptions import NotFound, ProxyExists

    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(*service.api_host_port)
    assert APIConsumer.port == service.api_host_port[1]
    assert server.running()
    assert b"2.12.0" in server.version()
    proxy = server.create(upstream=service.echo, name="client_test", listen="127.0.0.1:0")
    assert "client_test" in server.proxies()
    with pytest.raises(ProxyExists):
        server.create(upstream=service.echo, name="client_test")

    listen = server.get_proxy("client_test").listen
    assert echo_through(listen)[0] == b"hello"
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert proxy.get_toxic("latency_downstream").attributes["latency"] == 300
    assert echo_through(listen)[1] >= 0.29
    proxy.destroy_toxic("latency_downstream")
    assert echo_through(listen)[1] < 0.25

    with proxy.down(), pytest.raises(OSError):
        echo_through(listen)
    assert echo_through(listen)[0] == b"hello"
    assert server.reset()
    server.destroy(proxy)
    assert server.get_proxy("client_test") is None
    with pytest.raises(NotFound):
        proxy.destroy()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
def test_service_runs_as_a_separate_process(tmp_path: Any) -> None:
    port, proxy_port = _free_port(), _free_port()
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [{"name": "cfg", "listen": f"127.0.0.1:{proxy_port}", "upstream": "127.0.0.1:9"}]
        )
    )
    env = {
        **os.environ,
        "TLSSIM_LISTEN": f"127.0.0.1:{port}",
        "TLSSIM_FAULTS_CONFIG": str(config),
        "TLSSIM_FAULTS_SEED": "1",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tlssim", "serve", "faults"], env=env)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/proxies", timeout=2) as r:
                    proxies = json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, "faults service exited"
                assert time.monotonic() < deadline, "faults API never answered"
                time.sleep(0.1)
        assert proxies["cfg"]["listen"] == f"127.0.0.1:{proxy_port}"
        assert proxies["cfg"]["enabled"] is True
    finally:
        proc.terminate()
        proc.wait(10)


def test_tls_toxics_through_the_rest_api_and_toxiproxy_client(service: ThreadedService) -> None:
    import toxiproxy  # PyPI toxiproxy-python

    spec = {"name": "tls", "listen": "127.0.0.1:0", "upstream": service.echo}
    assert call(service, "POST", "/proxies", spec)[0] == 201
    body = {"type": "tls_drop", "stream": "upstream", "attributes": {"content_type": 22}}
    status, created = call(service, "POST", "/proxies/tls/toxics", body)
    assert status == 200
    assert created["name"] == "tls_drop_upstream"
    assert created["attributes"] == {"content_type": 22, "handshake_type": "", "index": 0}
    bad = {"type": "tls_drop", "attributes": {"handshake_type": "no_such_message"}}
    assert call(service, "POST", "/proxies/tls/toxics", bad)[0] == 400

    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(*service.api_host_port)
    proxy = server.get_proxy("tls")
    proxy.add_toxic(
        type="tls_tamper",
        stream="downstream",
        toxicity=0.5,
        attributes={"content_type": "application_data", "flip_byte": -1, "xor": 128},
    )
    shown = proxy.get_toxic("tls_tamper_downstream")
    assert shown.attributes["xor"] == 128 and shown.toxicity == 0.5
    # non-TLS bytes pass through the TLS toxics untouched
    assert echo_through(proxy.listen)[0] == b"hello"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/proxies", {"name": "a/b", "upstream": "127.0.0.1:9"}),
        ("POST", "/proxies", {"name": "x" * 1_000_000, "upstream": "127.0.0.1:9"}),
        ("POST", "/proxies", {"name": "new\nline", "upstream": "127.0.0.1:9"}),
        ("POST", "/populate", [{"name": n, "upstream": "h:9"} for n in ("ok", "a b")]),
        ("GET", "/proxies/a%2Fb", None),
        ("GET", "/proxies/" + "y" * 200, None),
        ("POST", "/proxies/a%2Fb/toxics", {"type": "latency"}),
    ],
)
def test_bad_proxy_names_get_a_one_line_400(
    service: ThreadedService, method: str, path: str, body: Any
) -> None:
    status, payload = call(service, method, path, body)
    assert (status, payload["status"]) == (400, 400)
    assert payload["error"].startswith("proxy name must be"), payload
    assert "\n" not in payload["error"] and len(payload["error"]) < 200
    assert call(service, "GET", "/proxies") == (200, {})  # nothing was created


def test_deeply_nested_json_gets_400_not_500(service: ThreadedService) -> None:
    spec = {"name": "deep", "upstream": service.echo, "listen": "127.0.0.1:0"}
    for depth in (33, 100_000):  # past our limit; past the JSON parser's recursion limit
        raw = b"[" * depth + b"]" * depth
        status, payload = _raw_call(service, "POST", "/proxies", raw)
        assert (status, payload["status"]) == (400, 400)
        assert "nested deeper than 32 levels" in payload["error"]
    nested: Any = {"latency": 5}
    for _ in range(29):  # 32 levels with the toxic object and "attributes": accepted
        nested = {"n": nested}
    assert call(service, "POST", "/proxies", spec)[0] == 201
    toxic = {"type": "latency", "attributes": {"latency": 5, "extra": nested}}
    assert call(service, "POST", "/proxies/deep/toxics", toxic)[0] == 200


def test_oversize_body_gets_413_and_the_api_still_answers(service: ThreadedService) -> None:
    with socket.create_connection(service.api_host_port, timeout=5) as sock:
        length = 4 * 1024 * 1024 + 1
        sock.sendall(
            f"POST /proxies HTTP/1.1\r\nHost: localhost\r\n{JSON_HEADER}"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(4096):  # refused before the body: then closed
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    payload = json.loads(body)
    assert payload["status"] == 413 and "too large" in payload["error"]
    assert call(service, "GET", "/version")[0] == 200


def _raw_call(service: ThreadedService, method: str, path: str, body: bytes) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(*service.api_host_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=JSON)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_body_that_never_arrives_is_cut_off_after_the_body_timeout() -> None:
    async def body() -> None:
        limits = HttpLimits(body_timeout_s=0.5)
        async with FaultsServer("127.0.0.1:0", http_limits=limits) as faults:
            host, _, port = faults.api_address.rpartition(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            started = time.monotonic()
            writer.write(
                b"POST /proxies HTTP/1.1\r\nHost: localhost\r\n"
                + JSON_HEADER.encode()
                + b"Content-Length: 100\r\n\r\n{"
            )
            answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
            took = time.monotonic() - started
            writer.close()
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert b'"status": 408' in answer
            assert 0.4 < took < 2.0, took
            reply = await FaultsApi(faults.api_address).acall("GET", "/version")
            assert reply == {"version": "2.12.0"}

    run(body())
