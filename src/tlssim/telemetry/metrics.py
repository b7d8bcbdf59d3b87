"""Prometheus metrics of one service process, served at http://LISTEN/metrics.

Counts are plain numbers kept on the service's event loop (an increment on the handshake
path, no lock) and turned into Prometheus text only when scraped. Each process has its own
`CollectorRegistry`, not prometheus_client's global one, so several services can run in one
process (tests) without mixing their numbers. docs/metrics.md lists the names.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from tlssim.topology.endpoints import split_host_port
from tlssim.web import BrowserGuard, HttpLimits, WebServer, new_app, text_error

log = logging.getLogger(__name__)

# Handshake durations, in seconds: a local handshake takes milliseconds, a faulted one seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A scrape sends no body.
_LIMITS = HttpLimits(max_body=1024, max_headers=50)


class Source(Protocol):
    def family(self) -> Metric: ...


class Tally:
    """A counter by label values (exposed as NAME_total)."""

    def __init__(self, name: str, documentation: str, labels: Iterable[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.counts: collections.Counter[tuple[str, ...]] = collections.Counter()

    def add(self, *values: str) -> None:
        self.counts[values] += 1

    def total(self, **match: str) -> int:
        """The sum over the label values that have `match`'s values."""
        where = [(self.labels.index(k), v) for k, v in match.items()]
        return sum(n for key, n in self.counts.items() if all(key[i] == v for i, v in where))

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, count in sorted(self.counts.items()):
            family.add_metric(list(values), count)
        return family


class Durations:
    """A histogram of durations in seconds."""

    def __init__(
        self, name: str, documentation: str, bounds: tuple[float, ...] = DURATION_BUCKETS
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def family(self) -> Metric:
        cumulative, rows = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.buckets, strict=True):
            cumulative += count
            rows.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return HistogramMetricFamily(
            self.name, self.documentation, buckets=rows, sum_value=self.sum
        )


class Reading:
    """A gauge computed when scraped, from `read()`: label values -> value."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Iterable[str],
        read: Callable[[], Mapping[tuple[str, ...], float]],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.read = read

    def family(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in sorted(self.read().items()):
            family.add_metric(list(values), value)
        return family


class Metrics:
    """One process's metrics: the sources it shows, in its own registry."""

    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self.sources: list[Source] = list(sources)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def add(self, *sources: Source) -> None:
        self.sources.extend(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield source.family()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def application(metrics: Metrics, hosts: frozenset[str] | None = frozenset()) -> web.Application:
    async def scrape(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = new_app(_LIMITS, text_error, guard=BrowserGuard(names=hosts))
    app.router.add_get("/metrics", scrape)
    return app


@contextlib.asynccontextmanager
async def endpoint(
    listen: str, metrics: Metrics, hosts: frozenset[str] | None = frozenset()
) -> AsyncIterator[WebServer | None]:
    """`metrics` served at http://LISTEN/metrics while the block runs (nowhere if LISTEN
    is empty), to requests that name it by an address, localhost or one of `hosts`
    (tlssim.web.BrowserGuard). A port already taken costs the metrics, not the service: it
    logs an error and serves on without them."""
    if not listen:
        yield None
        return
    host, port = split_host_port(listen)
    server = WebServer(application(metrics, hosts))
    try:
        await server.start(host, port)
    except OSError as exc:
        log.error("metrics not served: cannot listen on %s: %s", listen, exc)
        yield None
        return
    log.info("metrics on http://%s:%d/metrics", host, server.port)
    try:
        yield server
    finally:
        await server.stop()
