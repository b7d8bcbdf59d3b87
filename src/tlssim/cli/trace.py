"""`tlssim trace ID`: one handshake's events from every service, merged into one timeline.

Each service keeps its recent trace events (tlssim.telemetry.traces) and answers
TraceEvents.FindEvents; each replica of a scaled service is asked (every address its name
resolves to).
Events that drew on another trace (the server's staple came from a fetch of its own) bring
that trace's events along, marked as linked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from tlssim import rpcutil
from tlssim.cli.errors import CliError, Exit
from tlssim.report.fit import terminal_width, wrap
from tlssim.rpc.v1 import trace_pb2, trace_pb2_grpc
from tlssim.services import settings as st
from tlssim.telemetry.traces import TraceEvent
from tlssim.topology import endpoints as ep

ASK_TIMEOUT_S = 3.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Gathered:
    """The events found for a trace (and the traces it links to), and who did not answer."""

    trace_id: str
    events: tuple[TraceEvent, ...]  # in time order
    unreachable: tuple[str, ...]  # "service at HOST:PORT (why)"


def services(env: Mapping[str, str]) -> dict[str, str]:
    """The services that keep trace events, by name, at their own addresses (the ACME
    service's: its orders, validations and issuances)."""
    return {
        "client": st.CLIENT_ADDR.get(env),
        "server": st.SERVER_ADDR.get(env),
        "ocsp": st.OCSP_ADDR.get(env),
        "ca": st.CA_ADDR.get(env),
        "acme": st.acme_addresses(env)[1],
    }


async def _ask(address: str, trace_ids: Iterable[str]) -> list[TraceEvent]:
    async with rpcutil.open_channel(address) as channel:
        stub = trace_pb2_grpc.TraceEventsStub(channel)
        found: list[TraceEvent] = []
        for trace_id in trace_ids:
            reply = await stub.FindEvents(
                trace_pb2.FindEventsRequest(trace_id=trace_id), timeout=ASK_TIMEOUT_S
            )
            found.extend(TraceEvent.from_json(text) for text in reply.event_json)
        return found


async def _replicas(where: dict[str, str], resolve: ep.Resolver) -> list[tuple[str, str]]:
    """(service, address) for every replica of each service: its name may resolve to
    several (a scaled service on Swarm), and the events of a handshake live on the
    replicas that took part. A name that does not resolve is asked as it is."""
    targets: list[tuple[str, str]] = []
    for name, address in where.items():
        try:
            replicas = await resolve(address)
        except (OSError, ValueError):
            replicas = []
        targets += [(name, a) for a in replicas or [address]]
    return targets


async def _ask_all(
    targets: list[tuple[str, str]], trace_ids: list[str], unreachable: dict[str, str]
) -> list[TraceEvent]:
    asked = [(name, a) for name, a in targets if a not in unreachable]
    answers = await asyncio.gather(
        *(_ask(address, trace_ids) for _, address in asked), return_exceptions=True
    )
    events: list[TraceEvent] = []
    for (name, address), answer in zip(asked, answers, strict=True):
        if isinstance(answer, grpc.aio.AioRpcError):
            unreachable[address] = f"{name} at {address} ({answer.code().name})"
        elif isinstance(answer, BaseException):
            raise answer
        else:
            events.extend(answer)
    return events


async def gather(
    trace_id: str, where: dict[str, str], resolve: ep.Resolver = ep.replicas_of
) -> Gathered:
    """Every service's events for `trace_id` (at each of its replicas), then those of the
    traces they link to."""
    unreachable: dict[str, str] = {}
    targets = await _replicas(where, resolve)
    events = await _ask_all(targets, [trace_id], unreachable)
    linked = sorted({link for e in events for link in e.links} - {trace_id})
    if linked:
        events += await _ask_all(targets, linked, unreachable)
    unique = {(e.service, e.time, e.name, e.trace_id): e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.time, e.service))
    return Gathered(
        trace_id=trace_id, events=tuple(ordered), unreachable=tuple(unreachable.values())
    )


def _origin(gathered: Gathered) -> float:
    """Offsets count from the trace's own first event (linked ones may come before it)."""
    own = [e.time for e in gathered.events if e.trace_id == gathered.trace_id]
    return min(own or [e.time for e in gathered.events])


def _details(event: TraceEvent) -> str:
    parts = [f"{k}={_plain(v)}" for k, v in event.details.items()]
    if event.duration_ms is not None:
        parts.append(f"took {event.duration_ms:.1f} ms")
    if event.links:
        parts.append("links " + ", ".join(event.links))
    return ", ".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def render(gathered: Gathered, width: int) -> list[str]:
    """The timeline: offset, service, event and its details, each line within `width`."""
    origin = _origin(gathered)
    own = sum(1 for e in gathered.events if e.trace_id == gathered.trace_id)
    total = len(gathered.events)
    lines = wrap(
        f"trace {gathered.trace_id}: {total} events"
        + (f", {total - own} of them from linked traces" if own < total else ""),
        width,
        hanging=2,
    )
    for event in gathered.events:
        offset = f"{(event.time - origin) * 1000:+.1f} ms"
        mark = "" if event.trace_id == gathered.trace_id else " (linked)"
        head = f"{offset:>11}  {event.service:<6}  "
        body = wrap(f"{event.name}{mark}: {_details(event)}", max(width - len(head), 20))
        lines.append(head + body[0])
        lines.extend(" " * len(head) + line for line in body[1:])
    return [line if len(line) <= width else line[:width] for line in lines]


def as_json(gathered: Gathered) -> str:
    origin = _origin(gathered)
    return json.dumps(
        {
            "trace_id": gathered.trace_id,
            "events": [
                e.to_dict() | {"offset_ms": round((e.time - origin) * 1000, 3)}
                for e in gathered.events
            ],
            "unreachable": list(gathered.unreachable),
        },
        indent=2,
    )


async def run_trace(trace_id: str, json_output: bool) -> int:
    if not rpcutil.is_trace_id(trace_id):
        raise CliError(f"not a trace id: {trace_id[:80]!r} ({rpcutil.TRACE_ID_RULE})")
    where = services(os.environ)
    gathered = await gather(trace_id.lower(), where)
    # The ACME service is asked too, where it runs; a stack without it is still complete.
    gathered = dataclasses.replace(
        gathered, unreachable=tuple(u for u in gathered.unreachable if not u.startswith("acme "))
    )
    if not gathered.events:
        if gathered.unreachable:
            raise CliError(
                "cannot ask " + "; ".join(gathered.unreachable) + ": start the stack with "
                "`tlssim up`, or point TLSSIM_*_ADDR at it",
                Exit.UNAVAILABLE,
            )
        raise CliError(
            f"no service holds events of trace {trace_id}: a mistyped id, or one too old "
            "(each service keeps its recent events only)",
            Exit.REFUSED,
        )
    print(as_json(gathered) if json_output else "\n".join(render(gathered, terminal_width())))
    if gathered.unreachable:
        raise CliError(
            "incomplete: cannot ask " + "; ".join(gathered.unreachable), Exit.UNAVAILABLE
        )
    return Exit.OK
