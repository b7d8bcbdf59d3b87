"""Where a proxy may point, and how many connections it may hold: no request makes the
faults service dial itself, reach beyond the lab, or run out of file descriptors."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from tests.faults.helpers import run, start_echo
from tlssim.faults import FaultsServer, Proxy, ProxySpec
from tlssim.faults.budget import ConnectionBudget
from tlssim.faults.proxy import MAX_TOXICS
from tlssim.faults.registry import UpstreamPolicy
from tlssim.faults.rest_client import FaultsApi, FaultsApiError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _refused(api: FaultsApi, method: str, path: str, body: Any, match: str) -> str:
    with pytest.raises(FaultsApiError, match=match or None) as refused:
        await api.acall(method, path, body)
    assert refused.value.status == 400
    return str(refused.value)


async def _connection_is_closed(port: int) -> bool:
    """Whether a connection to 127.0.0.1:PORT is refused or closed without an answer."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    try:
        writer.write(b"x\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(1), 5) == b""
    except OSError:
        return True
    finally:
        writer.close()


def test_a_proxy_whose_upstream_is_its_own_listen_address_is_refused() -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            api = FaultsApi(faults.api_address)
            port = _free_port()
            loop = {"name": "loop", "listen": f"127.0.0.1:{port}", "upstream": f"127.0.0.1:{port}"}
            message = await _refused(api, "POST", "/proxies", loop, "a loop")
            assert "listen address of proxy loop" in message
            # ... also spelled another way: localhost, or the whole loopback network.
            for host in ("localhost", "127.0.0.2", "[::1]"):
                await _refused(
                    api, "POST", "/proxies", loop | {"upstream": f"{host}:{port}"}, "a loop"
                )
            # Nothing listens there, so one connection does nothing; the API still answers.
            assert await _connection_is_closed(port)
            assert await api.acall("GET", "/proxies") == {}
            assert (await api.acall("GET", "/version"))["version"]

    run(body())


def test_two_and_three_proxy_cycles_are_refused_at_configuration() -> None:
    async def body() -> None:
        echo, upstream = await start_echo()
        async with FaultsServer("127.0.0.1:0") as faults:
            api = FaultsApi(faults.api_address)
            a, b, c = _free_port(), _free_port(), _free_port()
            await api.acall(
                "POST",
                "/proxies",
                {"name": "a", "listen": f"127.0.0.1:{a}", "upstream": f"127.0.0.1:{b}"},
            )
            # b -> a would close a -> b -> a.
            spec_b = {"name": "b", "listen": f"127.0.0.1:{b}", "upstream": f"127.0.0.1:{a}"}
            await _refused(api, "POST", "/proxies", spec_b, "a loop")
            # The same cycle through /populate, and a three-proxy cycle built by an update.
            await _refused(api, "POST", "/populate", [spec_b], "a loop")
            await api.acall(
                "POST",
                "/proxies",
                {"name": "c", "listen": f"127.0.0.1:{c}", "upstream": upstream},
            )
            await _refused(
                api, "POST", "/proxies/c", {"upstream": f"127.0.0.1:{a}"}, "listen address of"
            )
            await _refused(api, "PATCH", "/proxies/a", {"upstream": f"127.0.0.1:{c}"}, "a loop")
            # Nothing was changed by the refusals, and the one proxy through works.
            shown = await api.acall("GET", "/proxies")
            assert sorted(shown) == ["a", "c"]
            assert shown["c"]["upstream"] == upstream
            assert shown["a"]["upstream"] == f"127.0.0.1:{b}"
            assert await _connection_is_closed(a)  # a's upstream (b) does not exist
            reader, writer = await asyncio.open_connection("127.0.0.1", c)
            writer.write(b"hello")
            assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
            writer.close()
        echo.close()

    run(body())


def test_other_spellings_of_this_machine_close_no_loop_even_with_any_host_allowed() -> None:
    async def body() -> None:
        anything = UpstreamPolicy(hosts=None)
        async with FaultsServer("127.0.0.1:0", upstreams=anything) as faults:
            api = FaultsApi(faults.api_address)
            port = _free_port()
            for host in ("[::ffff:127.0.0.1]", "0.0.0.0", "[::]", "[0:0:0:0:0:0:0:1]"):
                spec = {"name": "l", "listen": f"127.0.0.1:{port}", "upstream": f"{host}:{port}"}
                await _refused(api, "POST", "/proxies", spec, "a loop")
            assert await _connection_is_closed(port)

    run(body())


def test_proxies_and_toxics_are_bounded_in_number() -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            faults.registry.max_proxies = 3
            api = FaultsApi(faults.api_address)
            for n in range(3):
                await api.acall("POST", "/proxies", {"name": f"p{n}", "upstream": "127.0.0.1:9"})
            await _refused(
                api, "POST", "/proxies", {"name": "p3", "upstream": "127.0.0.1:9"}, "at most 3"
            )
            for n in range(MAX_TOXICS):
                await api.acall("POST", "/proxies/p0/toxics", {"name": f"t{n}", "type": "noop"})
            await _refused(
                api, "POST", "/proxies/p0/toxics", {"type": "noop"}, f"at most {MAX_TOXICS}"
            )
            await api.acall("DELETE", "/proxies/p2")
            await api.acall("POST", "/proxies", {"name": "p3", "upstream": "127.0.0.1:9"})

    run(body())


def test_the_labs_own_http_surfaces_are_never_upstreams() -> None:
    async def body() -> None:
        reserved = ("127.0.0.1:39155", "127.0.0.1:38000")  # a metrics port and the console
        async with FaultsServer("127.0.0.1:0", upstreams=UpstreamPolicy(reserved=reserved)) as f:
            api = FaultsApi(f.api_address)
            for upstream in (f.api_address, "localhost:39155", "127.0.0.1:38000", "console:38000"):
                spec = {"name": "x", "upstream": upstream}
                await _refused(api, "POST", "/proxies", spec, "the lab's own endpoint")

    run(body())


@pytest.mark.parametrize(
    ("upstream", "allowed"),
    [
        ("10.1.2.3:80", False),
        ("169.254.169.254:80", False),
        ("example.com:443", False),
        ("[fe80::1]:80", False),
        ("127.0.0.1:22", True),  # another loopback port: the operator's own machine
        ("localhost:50053", True),
        ("server:50053", True),  # the lab's services by their compose names
        ("ca:50051", True),
    ],
)
def test_upstreams_are_loopback_and_the_labs_services_by_default(
    upstream: str, allowed: bool
) -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            api = FaultsApi(faults.api_address)
            spec = {"name": "p", "listen": "127.0.0.1:0", "upstream": upstream}
            if allowed:
                assert (await api.acall("POST", "/proxies", spec))["upstream"] == upstream
            else:
                await _refused(api, "POST", "/proxies", spec, "TLSSIM_FAULTS_UPSTREAM_HOSTS")
                # Nor by an update of a proxy that was allowed.
                await api.acall("POST", "/proxies", spec | {"upstream": "127.0.0.1:9"})
                await _refused(api, "POST", "/proxies/p", {"upstream": upstream}, "not allowed")

    run(body())


def test_the_operator_may_allow_more_upstream_hosts() -> None:
    async def body() -> None:
        wider = UpstreamPolicy(hosts=frozenset({"10.1.2.3"}))
        async with FaultsServer("127.0.0.1:0", upstreams=wider) as faults:
            api = FaultsApi(faults.api_address)
            created = await api.acall("POST", "/proxies", {"name": "p", "upstream": "10.1.2.3:80"})
            assert created["upstream"] == "10.1.2.3:80"
            await _refused(api, "POST", "/proxies", {"name": "q", "upstream": "10.9.9.9:80"}, "")
        async with FaultsServer("127.0.0.1:0", upstreams=UpstreamPolicy(hosts=None)) as faults:
            api = FaultsApi(faults.api_address)
            spec = {"name": "p", "upstream": "169.254.169.254:80"}
            assert (await api.acall("POST", "/proxies", spec))["name"] == "p"

    run(body())


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x", "upstream": "evil\nhost:80"},
        {"name": "x", "upstream": "127.0.0.1:80\r\n[faults] forged"},
        {"name": "x", "upstream": "\x1b[2J127.0.0.1:80"},
        {"name": "x", "upstream": "127.0.0.1\u202e:80"},
        {"name": "x", "upstream": "127.0.0.1:9", "listen": "127.0.0.1\n:0"},
        {"name": "x", "upstream": "127.0.0.1:9", "protocol": "tcp\n"},
        {"name": "x", "upstream": "a b:80"},
        {"name": "x", "upstream": "127.0.0.1/x:80"},
    ],
)
def test_control_characters_and_odd_hosts_are_refused(spec: dict[str, str]) -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            api = FaultsApi(faults.api_address)
            await _refused(api, "POST", "/proxies", spec, "")
            await api.acall("POST", "/proxies", {"name": "ok", "upstream": "127.0.0.1:9"})
            changes = {k: v for k, v in spec.items() if k != "name"}
            await _refused(api, "POST", "/proxies/ok", changes, "")
            assert (await api.acall("GET", "/proxies/ok"))["upstream"] == "127.0.0.1:9"

    run(body())


@pytest.mark.parametrize("name", ["evil\n[faults] forged", "\x1b]0;x\x07", "t" * 129])
def test_toxic_names_with_control_characters_or_too_long_are_refused(name: str) -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            api = FaultsApi(faults.api_address)
            await api.acall("POST", "/proxies", {"name": "p", "upstream": "127.0.0.1:9"})
            toxic = {"name": name, "type": "noop"}
            await _refused(api, "POST", "/proxies/p/toxics", toxic, "toxic name must be")
            assert await api.acall("GET", "/proxies/p/toxics") == []

    run(body())


def test_connections_past_the_per_proxy_cap_are_closed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        echo, upstream = await start_echo()
        budget = ConnectionBudget(max_total=100, max_per_proxy=2)
        async with FaultsServer("127.0.0.1:0", budget=budget) as faults:
            proxy = await faults.registry.create(
                ProxySpec(name="capped", listen="127.0.0.1:0", upstream=upstream)
            )
            port = int(proxy.spec.listen.rpartition(":")[2])
            held = []
            for _ in range(2):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"hi")
                assert await asyncio.wait_for(reader.readexactly(2), 5) == b"hi"
                held.append(writer)
            for _ in range(3):
                assert await _connection_is_closed(port)
            assert budget.refused == 3 and budget.refused_by[("capped",)] == 3
            assert faults.open_connections() == {("capped",): 2.0}
            for writer in held:
                writer.close()
            await _until(lambda: proxy.connections == 0 and budget.open == 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"again")
            assert await asyncio.wait_for(reader.readexactly(5), 5) == b"again"
            writer.close()
        echo.close()

    with caplog.at_level(logging.WARNING, "tlssim.faults.budget"):
        run(body())
    lines = [r.getMessage() for r in caplog.records if r.name == "tlssim.faults.budget"]
    # Rate-limited: the three refusals come within a second, so one line says so.
    assert 1 <= len(lines) <= 3, lines
    assert "proxy capped: new connection refused" in lines[0]
    assert "TLSSIM_FAULTS_MAX_CONNECTIONS_PER_PROXY" in lines[0]


def test_the_total_cap_holds_across_proxies() -> None:
    async def body() -> None:
        echo, upstream = await start_echo()
        budget = ConnectionBudget(max_total=1, max_per_proxy=10)
        async with FaultsServer("127.0.0.1:0", budget=budget) as faults:
            ports = []
            for name in ("one", "two"):
                proxy = await faults.registry.create(
                    ProxySpec(name=name, listen="127.0.0.1:0", upstream=upstream)
                )
                ports.append(int(proxy.spec.listen.rpartition(":")[2]))
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
            writer.write(b"hi")
            assert await asyncio.wait_for(reader.readexactly(2), 5) == b"hi"
            assert await _connection_is_closed(ports[1])
            writer.close()
        echo.close()

    run(body())


def test_a_loop_built_behind_the_apis_back_is_bounded_by_the_cap() -> None:
    """The last line of defence: a proxy that dials itself (as a name that later resolves
    to the faults service might) holds at most its cap, and unwinds when the client goes."""

    async def body() -> None:
        port = _free_port()
        budget = ConnectionBudget(max_total=1000, max_per_proxy=40)
        spec = ProxySpec(name="self", listen=f"127.0.0.1:{port}", upstream=f"127.0.0.1:{port}")
        proxy = Proxy(spec, budget=budget)
        await proxy.start()
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x")
            await writer.drain()
            await _until(lambda: budget.refused > 0)
            assert proxy.connections <= 40
            writer.close()
            await _until(lambda: proxy.connections == 0 and budget.open == 0)
        finally:
            await proxy.stop()

    run(body())


async def _until(condition: Any, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)
