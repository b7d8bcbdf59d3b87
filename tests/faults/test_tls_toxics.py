"""The tls_* toxics on a TCP proxy between an OpenSSL client and an OpenSSL server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tlssim.faults import FaultsServer, Proxy, ProxySpec

from .helpers import run, toxic
from .tlsfixtures import Outcome, openssl_client, start_tls_echo

DEADLINE = 5.0


async def with_tls_proxy(body: Callable[[Proxy], Awaitable[None]]) -> None:
    server, upstream = await start_tls_echo()
    faults = FaultsServer("127.0.0.1:0", seed=11)
    await faults.start()
    proxy = await faults.registry.create(
        ProxySpec(name="tls", listen="127.0.0.1:0", upstream=upstream)
    )
    try:
        await body(proxy)
    finally:
        await faults.close()
        server.close()


async def handshake(proxy: Proxy, timeout: float = 2.0) -> Outcome:
    host, _, port = proxy.spec.listen.rpartition(":")
    return await asyncio.wait_for(
        asyncio.to_thread(openssl_client, (host, int(port)), timeout), DEADLINE
    )


def check(*toxics: dict[str, Any], expect_error: tuple[str, ...] = ()) -> Outcome:
    """Handshake with no toxic (succeeds), then with `toxics` (fails as expected)."""
    result: list[Outcome] = []

    async def body(proxy: Proxy) -> None:
        clean = await handshake(proxy)
        assert clean.ok, clean.error
        for spec in toxics:
            proxy.add_toxic(toxic(**spec))
        result.append(await handshake(proxy))

    run(with_tls_proxy(body))
    outcome = result[0]
    assert not outcome.ok, "the handshake should have failed"
    assert outcome.seconds < DEADLINE
    if expect_error:
        assert any(e in outcome.error.lower() for e in expect_error), outcome.error
    return outcome


def test_tamper_first_encrypted_server_record_gives_bad_record_mac() -> None:
    check(
        {"type_": "tls_tamper", "content_type": "application_data"},
        expect_error=("bad_record_mac", "decryption_failed_or_bad_record_mac"),
    )


def test_drop_server_hello_fails_within_deadline() -> None:
    check(
        {"type_": "tls_drop", "handshake_type": "server_hello"},
        expect_error=("unexpected", "timeout"),
    )


def test_drop_client_hello_makes_the_client_time_out() -> None:
    outcome = check(
        {"type_": "tls_drop", "stream": "upstream", "handshake_type": "client_hello"},
        expect_error=("timeout", "timed out"),
    )
    assert 1.9 <= outcome.seconds < 3.5


def test_downgrade_is_detected_by_a_tls13_client() -> None:
    async def body(proxy: Proxy) -> None:
        clean = await handshake(proxy)
        assert clean.ok and clean.version == "TLSv1.3", clean
        proxy.add_toxic(toxic("tls_downgrade", "upstream"))
        downgraded = await handshake(proxy)
        assert not downgraded.ok
        assert "inappropriate_fallback" in downgraded.error.lower(), downgraded.error
        proxy.remove_toxic("tls_downgrade_upstream")
        again = await handshake(proxy)
        assert again.ok and again.version == "TLSv1.3", again

    run(with_tls_proxy(body))


def test_duplicate_server_hello_is_an_unexpected_message() -> None:
    check(
        {"type_": "tls_duplicate", "handshake_type": "server_hello"},
        expect_error=("unexpected", "bad_record_type"),
    )


def test_reorder_server_hello_and_ccs_is_an_unexpected_message() -> None:
    check(
        {"type_": "tls_reorder", "handshake_type": "server_hello"},
        expect_error=("unexpected", "bad_record_type"),
    )


def test_replay_client_hello_after_the_client_finished() -> None:
    # The server sees a plaintext ClientHello after its keys changed.
    outcome = check(
        {
            "type_": "tls_replay",
            "stream": "upstream",
            "content_type": "application_data",
            "replay_content_type": "handshake",
            "replay_handshake_type": "client_hello",
        },
    )
    assert outcome.error


def test_delay_client_hello_slows_the_handshake() -> None:
    async def body(proxy: Proxy) -> None:
        proxy.add_toxic(toxic("tls_delay", "upstream", handshake_type="client_hello", delay=300))
        slow = await handshake(proxy)
        assert slow.ok, slow.error
        assert slow.seconds >= 0.29

    run(with_tls_proxy(body))


def test_toxicity_zero_leaves_the_handshake_alone() -> None:
    async def body(proxy: Proxy) -> None:
        proxy.add_toxic(toxic("tls_tamper", "downstream", toxicity=0.0, content_type=23))
        outcome = await handshake(proxy)
        assert outcome.ok, outcome.error

    run(with_tls_proxy(body))


def test_replay_on_a_new_connection_sends_the_copied_flight_as_a_new_client() -> None:
    """A first flight (ClientHello, change_cipher_spec, an encrypted record) goes through
    once on its own connection and once more on a connection of the toxic's own."""
    hello = bytes([22, 3, 1, 0, 8, 1, 0, 0, 4]) + b"ch!!"
    ccs = bytes([20, 3, 3, 0, 1, 1])
    early = bytes([23, 3, 3, 0, 5]) + b"early"
    flight = hello + ccs + early
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        while len(data) < len(flight) and (chunk := await reader.read(65536)):
            data += chunk
        received.append(data)
        writer.close()

    async def body() -> None:
        upstream = await asyncio.start_server(record, "127.0.0.1", 0)
        faults = FaultsServer("127.0.0.1:0", seed=11)
        await faults.start()
        port = upstream.sockets[0].getsockname()[1]
        proxy = await faults.registry.create(
            ProxySpec(name="tls", listen="127.0.0.1:0", upstream=f"127.0.0.1:{port}")
        )
        proxy.add_toxic(
            toxic(
                "tls_replay",
                "upstream",
                content_type="application_data",
                replay_content_type="handshake",
                replay_handshake_type="client_hello",
                replay_count=3,
                replay_on="new_connection",
            )
        )
        try:
            host, _, listen_port = proxy.spec.listen.rpartition(":")
            _, writer = await asyncio.open_connection(host, int(listen_port))
            writer.write(flight)
            await writer.drain()
            for _ in range(50):
                if len(received) == 2:
                    break
                await asyncio.sleep(0.1)
            writer.close()
        finally:
            await faults.close()
            upstream.close()

    run(body())
    assert received == [flight, flight]
