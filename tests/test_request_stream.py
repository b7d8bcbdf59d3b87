"""rpcutil.RequestStream: the requests of a streaming call, written from outside and taken
by gRPC's task, bounded, and ended whatever happens."""

from __future__ import annotations

import asyncio

import pytest

from tlssim.rpcutil import RequestStream


def test_messages_come_in_order_until_the_end() -> None:
    async def scenario() -> list[str]:
        stream = RequestStream()
        for text in ("a", "b"):
            await stream.put(text)
        stream.end()
        stream.end()  # twice is once
        return [m async for m in stream.messages()]

    assert asyncio.run(scenario()) == ["a", "b"]


def test_put_waits_once_the_window_is_full_and_fails_after_the_end() -> None:
    async def scenario() -> None:
        stream = RequestStream(window=2)
        await stream.put(1)
        await stream.put(2)
        third = asyncio.create_task(stream.put(3))
        await asyncio.sleep(0.01)
        assert not third.done()  # nobody took one yet
        taken = stream.messages()
        assert await anext(taken) == 1
        await asyncio.wait_for(third, 1)  # room for one more
        stream.end()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(stream.put(4), 1)
        assert [m async for m in taken] == [2, 3]

    asyncio.run(scenario())


def test_a_put_waiting_for_room_fails_when_the_stream_ends() -> None:
    async def scenario() -> None:
        stream = RequestStream(window=1)
        await stream.put(1)
        waiting = asyncio.create_task(stream.put(2))
        await asyncio.sleep(0.01)
        stream.end()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())
