"""A bounded feed: producers append without waiting, followers read from a sequence number
on and wait for more. What the services publish for watchers (e.g. the console) goes
through one, so a handshake never waits for anyone who watches it."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_SIZE = 256
#: How long a batch of a followed feed may gather: short for a person watching, long
#: enough to carry many handshakes in one message under load.
BATCH_WINDOW_S = 0.05


class Feed(Generic[T]):
    """The last `size` items, numbered from 1; older ones are dropped."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._items: deque[tuple[int, T]] = deque(maxlen=size)
        self._sequence = 0
        self._changed = asyncio.Event()

    @property
    def sequence(self) -> int:
        """The number of the last item published."""
        return self._sequence

    def publish(self, item: T) -> int:
        """Appends `item` and wakes the followers; never blocks."""
        self._sequence += 1
        self._items.append((self._sequence, item))
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()
        return self._sequence

    def since(self, after: int) -> list[tuple[int, T]]:
        # Numbers are consecutive: the items after `after` are the last (sequence - after).
        wanted = self._sequence - max(after, 0)
        if wanted <= 0:
            return []
        if wanted >= len(self._items):
            return list(self._items)
        newest = list(itertools.islice(reversed(self._items), wanted))
        newest.reverse()
        return newest

    async def wait_since(self, after: int, timeout_s: float) -> list[tuple[int, T]]:
        """Items after `after`; if there are none yet, waits up to `timeout_s` for one."""
        changed = self._changed
        if items := self.since(after):
            return items
        try:
            async with asyncio.timeout(timeout_s):
                await changed.wait()
        except TimeoutError:
            return []
        return self.since(after)

    async def follow_batches(
        self, after: int = 0, window_s: float = BATCH_WINDOW_S
    ) -> AsyncIterator[list[tuple[int, T]]]:
        """What `follow` yields, as lists: an item that comes alone goes at once, and what
        comes within `window_s` after it goes together in the next list. Under load a
        watcher then takes one message for many items instead of one for each."""
        while True:
            changed = self._changed
            if items := self.since(after):
                yield items
                after = items[-1][0]
                await asyncio.sleep(window_s)
            else:
                await changed.wait()

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, T]]:
        """Items after `after` still held, then each new one as it comes."""
        while True:
            changed = self._changed
            for number, item in self.since(after):
                yield number, item
                after = number
            await changed.wait()
