"""How a service waits for another: one backoff (doubling waits up to a limit), and one loop
that retries a call to another service until it is done.

Channels reconnect by themselves (the channel options in `rpcutil`, a 2 s reconnect backoff); what
is retried here is a call that failed: an enrollment the ca has not answered or refused
yet, a status feed that was lost, a staple the responder does not say revoked yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from tlssim.pki.enrollment import CredentialMissing

T = TypeVar("T")

START_S = 0.2
LIMIT_S = 5.0


class Backoff:
    """Waits of `start` seconds, doubled after each one up to `limit`; `reset` after a
    success starts again from `start`."""

    def __init__(self, start: float = START_S, limit: float = LIMIT_S) -> None:
        self.start = start
        self.limit = limit
        self.delay = start

    @property
    def backing_off(self) -> bool:
        """Whether a wait came since the last success (the next one is longer than `start`)."""
        return self.delay > self.start

    def reset(self) -> None:
        self.delay = self.start

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.limit)


def why_not_done(exc: grpc.aio.AioRpcError | CredentialMissing) -> tuple[int, str]:
    """(log level, reason): a refusal or a missing credential needs an operator's eye; a
    service that is not there yet does not."""
    if isinstance(exc, CredentialMissing):
        return logging.WARNING, str(exc)
    if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return logging.WARNING, f"refused, {exc.code().name}: {exc.details()}"
    return logging.INFO, exc.code().name


async def until_done(
    action: Callable[[], Awaitable[T]],
    what: str,
    log: logging.Logger,
    backoff: Backoff | None = None,
) -> T:
    """`action()`'s result, calling it again after each gRPC error or missing enrollment
    credential (each logged, with `what` was being waited for) with `backoff` between."""
    backoff = backoff or Backoff()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await action()
        except (grpc.aio.AioRpcError, CredentialMissing) as exc:
            level, why = why_not_done(exc)
            log.log(
                level,
                "waiting to %s (attempt %d): %s; again in %.1fs",
                what,
                attempt,
                why,
                backoff.delay,
            )
        await backoff.wait()
