"""What a scenario is made of: faults on links, handshake options, an expected outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Fault:
    """A toxic on a link's proxy (Toxiproxy JSON), or the link taken down."""

    link: str
    toxic: dict[str, Any] | None = None
    down: bool = False

    def describe(self) -> str:
        if self.down:
            return f"{self.link} down"
        assert self.toxic is not None
        attrs = ",".join(f"{k}={v}" for k, v in self.toxic.get("attributes", {}).items())
        return (
            f"{self.link}: {self.toxic['type']}({attrs}) {self.toxic.get('stream', 'downstream')}"
        )


@dataclass(frozen=True, slots=True)
class Expect:
    """The outcome: success or an exact alert, optionally a timing window and a warning."""

    ok: bool
    alert: str | None = None
    sent_by: str | None = None
    # (report timing key, round trips): the time the faults added to that timing, compared
    # with the same handshake without them (the fastest of three each way), is this many
    # injected latencies (±40%).
    round_trips: tuple[str, int] | None = None
    revocation: str | None = None
    revocation_source: str | None = None
    warning: bool = False
    # For failures without an alert (reset, timeout): the report must carry an error.
    error: bool = False
    # Words that a failed check's detail must contain, e.g. the OCSP status "tryLater".
    failed_check: str | None = None

    def describe(self) -> str:
        parts = ["success" if self.ok else "failure"]
        if self.alert:
            parts.append(f"alert {self.alert}" + (f" from {self.sent_by}" if self.sent_by else ""))
        if self.error:
            parts.append("a transport error, no alert")
        if self.revocation:
            parts.append(f"revocation {self.revocation} ({self.revocation_source or 'any'})")
        if self.warning:
            parts.append("with a warning")
        if self.failed_check:
            parts.append(f"a failed check says {self.failed_check!r}")
        if self.round_trips:
            key, count = self.round_trips
            parts.append(f"{key} {count} injected round trip{'s' if count != 1 else ''} longer")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    expect: Expect
    faults: tuple[Fault, ...] = ()
    # HandshakeRequest fields (see protos/tlssim/rpc/v1/client.proto).
    request: dict[str, Any] = field(default_factory=dict)
    # Hold the faults this long before the handshake (partitions longer than a bound)...
    hold_s: float = 0.0
    # ... plus the responder's feed bound (TLSSIM_FEED_MAX_AGE_S), which the runner is given.
    hold_past_feed_bound: bool = False
    # The latency injected per round trip, for Expect.round_trips.
    rtt_ms: float = 0.0
    # A scenario that is a procedure rather than one handshake (see scenarios/restart.py).
    procedure: str = ""
    # Its outcome is a measurement worth reading even when it passes (printed always).
    measures: bool = False
