"""The data plane: bytes through a proxy in front of an echo server, with and without toxics."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket

import pytest

from tlssim.faults import ConflictError, ProxySpec

from .helpers import Bench, round_trip, run, toxic, with_bench

PAYLOAD = os.urandom(200_000)


def test_bytes_pass_unchanged_and_half_close_propagates() -> None:
    async def body(bench: Bench) -> None:
        reader, writer = await bench.connect()
        data, _ = await round_trip(reader, writer, PAYLOAD)
        assert data == PAYLOAD
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # echo's FIN came back
        writer.close()

    run(with_bench(body))


def test_latency_delays_only_its_stream() -> None:
    async def body(bench: Bench) -> None:
        reader, writer = await bench.connect()
        _, base = await round_trip(reader, writer, b"ping")
        bench.proxy.add_toxic(toxic("latency", "downstream", latency=300))
        _, slow = await round_trip(reader, writer, b"ping")  # existing connection: applies now
        assert slow >= 0.29 and slow < base + 2.0
        # the toxic sits on downstream only: upstream bytes reach the server undelayed
        listener_got = asyncio.get_running_loop().create_future()

        async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            listener_got.set_result(asyncio.get_running_loop().time())
            await r.read(4)
            w.close()

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        other = await bench.faults.registry.create(
            ProxySpec(name="sink", listen="127.0.0.1:0", upstream=f"127.0.0.1:{port}")
        )
        other.add_toxic(toxic("latency", "downstream", latency=1000))
        host, _, p = other.spec.listen.rpartition(":")
        start = asyncio.get_running_loop().time()
        _, w2 = await asyncio.open_connection(host, int(p))
        w2.write(b"abcd")
        arrived = await asyncio.wait_for(listener_got, 5)
        assert arrived - start < 0.5
        w2.close()
        server.close()
        writer.close()

    run(with_bench(body))


def test_upstream_latency_and_removal() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("latency", "upstream", latency=250))
        reader, writer = await bench.connect()
        _, slow = await round_trip(reader, writer, b"x" * 10)
        assert slow >= 0.24
        bench.proxy.remove_toxic("latency_upstream")
        _, fast = await round_trip(reader, writer, b"y" * 10)
        assert fast < 0.2
        writer.close()

    run(with_bench(body))


def test_bandwidth_limits_throughput() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("bandwidth", "downstream", rate=100))  # 100 KB/s
        reader, writer = await bench.connect()
        data, took = await round_trip(reader, writer, PAYLOAD[:50_000])
        assert data == PAYLOAD[:50_000]
        assert took >= 0.4  # 50 KB at 100 KB/s is 0.5 s
        writer.close()

    run(with_bench(body))


def test_timeout_holds_data_until_removed() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("timeout", "upstream", timeout=0))
        reader, writer = await bench.connect()
        writer.write(b"held")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readexactly(4), 0.4)
        bench.proxy.remove_toxic("timeout_upstream")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"held"
        writer.close()

    run(with_bench(body))


def test_timeout_closes_after_its_delay() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("timeout", "downstream", timeout=200))
        reader, writer = await bench.connect()
        writer.write(b"lost")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()

    run(with_bench(body))


def test_reset_peer_resets() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("reset_peer", "upstream", timeout=100))
        reader, writer = await bench.connect()
        with pytest.raises(ConnectionResetError):
            for _ in range(50):
                writer.write(b"data")
                await writer.drain()
                await asyncio.wait_for(reader.read(100), 5)
                await asyncio.sleep(0.05)
        writer.close()

    run(with_bench(body))


def test_limit_data_closes_after_n_bytes() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("limit_data", "downstream", bytes=1000))
        reader, writer = await bench.connect()
        writer.write(PAYLOAD[:5000])
        got = await asyncio.wait_for(reader.read(), 5)
        assert got == PAYLOAD[:1000]
        writer.close()

    run(with_bench(body))


def test_slicer_delivers_everything_in_order() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(
            toxic("slicer", "downstream", average_size=100, size_variation=50, delay=10)
        )
        bench.proxy.add_toxic(toxic("slicer", "upstream", average_size=7, size_variation=6))
        reader, writer = await bench.connect()
        data, _ = await round_trip(reader, writer, PAYLOAD[:20_000])
        assert data == PAYLOAD[:20_000]
        writer.close()

    run(with_bench(body))


def test_slow_close_delays_fin() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("slow_close", "downstream", delay=300))
        reader, writer = await bench.connect()
        loop = asyncio.get_running_loop()
        writer.write_eof()
        start = loop.time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert loop.time() - start >= 0.29
        writer.close()

    run(with_bench(body))


def test_disabled_proxy_refuses_and_drops() -> None:
    async def body(bench: Bench) -> None:
        reader, writer = await bench.connect()
        await round_trip(reader, writer, b"hi")
        address = bench.address
        await bench.faults.registry.update("echo", {"enabled": False})
        assert await asyncio.wait_for(reader.read(), 5) == b""  # existing one dropped
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*address)
        await bench.faults.registry.update("echo", {"enabled": True})
        assert bench.address == address  # re-enabled on the same port
        r2, w2 = await bench.connect()
        assert (await round_trip(r2, w2, b"back"))[0] == b"back"
        w2.close()
        writer.close()

    run(with_bench(body))


def test_toxicity_zero_never_applies() -> None:
    async def body(bench: Bench) -> None:
        bench.proxy.add_toxic(toxic("latency", "downstream", toxicity=0.0, latency=2000))
        for _ in range(10):
            reader, writer = await bench.connect()
            _, took = await round_trip(reader, writer, b"quick")
            assert took < 1.0
            writer.close()

    run(with_bench(body))


def test_seeded_jitter_is_repeatable() -> None:
    async def sample(seed: int) -> list[float]:
        async def body(bench: Bench) -> list[float]:
            # Wide jitter and a wide tolerance: a busy machine delays a round trip by tens
            # of milliseconds, the seeded draws differ by up to 300.
            bench.proxy.add_toxic(toxic("latency", "downstream", latency=200, jitter=150))
            reader, writer = await bench.connect()
            out = []
            for _ in range(5):
                _, took = await round_trip(reader, writer, b"j")
                out.append(took)
            writer.close()
            return out

        return await with_bench(body, seed=seed)

    first = run(sample(42))
    second = run(sample(42))
    assert all(abs(a - b) < 0.06 for a, b in zip(first, second, strict=True)), (first, second)
    assert max(first) - min(first) > 0.06  # jitter really varies the delay


def test_moving_a_proxy_onto_a_taken_address_is_refused_and_it_stays_where_it_was() -> None:
    async def body(bench: Bench) -> None:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            before = bench.proxy.spec
            moved = dataclasses.replace(before, listen=f"127.0.0.1:{taken.getsockname()[1]}")
            with pytest.raises(ConflictError):
                await bench.proxy.update(moved)
        assert bench.proxy.spec == before
        reader, writer = await bench.connect()
        data, _ = await round_trip(reader, writer, b"still here")
        assert data == b"still here"
        writer.close()

    run(with_bench(body))
