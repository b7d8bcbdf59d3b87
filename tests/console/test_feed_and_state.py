"""The bounded feed the services publish to, and how the console merges what it hears."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.diagrams.reports import load
from tlssim.console import sources
from tlssim.console.sources import OcspAnswers, _fault_changes, _link_state
from tlssim.console.state import LabState
from tlssim.telemetry.feed import Feed
from tlssim.telemetry.traces import TraceEvent


def test_publishing_never_waits_and_keeps_only_the_last_items() -> None:
    async def scenario() -> None:
        feed: Feed[int] = Feed(size=3)
        for n in range(10):
            feed.publish(n)  # nobody follows: still returns at once
        assert [item for _, item in feed.since(0)] == [7, 8, 9]
        assert feed.sequence == 10

    asyncio.run(scenario())


def test_since_gives_exactly_the_items_after_a_number() -> None:
    async def scenario() -> None:
        feed: Feed[str] = Feed(size=4)
        assert feed.since(0) == []
        for text in "abcdef":
            feed.publish(text)  # numbered 1..6; 3..6 held
        assert feed.since(4) == [(5, "e"), (6, "f")]
        assert feed.since(5) == [(6, "f")]
        assert feed.since(6) == [] and feed.since(99) == []
        held = [(3, "c"), (4, "d"), (5, "e"), (6, "f")]
        assert feed.since(0) == feed.since(1) == feed.since(-1) == held

    asyncio.run(scenario())


def test_a_follower_gets_the_held_items_then_the_new_ones() -> None:
    async def scenario() -> list[int]:
        feed: Feed[int] = Feed()
        feed.publish(1)
        got: list[int] = []

        async def follow() -> None:
            async for _, item in feed.follow(0):
                got.append(item)
                if len(got) == 3:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0)
        feed.publish(2)
        feed.publish(3)
        await asyncio.wait_for(task, 2)
        assert await feed.wait_since(3, timeout_s=0.01) == []
        return got

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_batches_send_a_lone_item_at_once_and_gather_what_follows_it() -> None:
    async def scenario() -> list[list[int]]:
        feed: Feed[int] = Feed()
        batches: list[list[int]] = []
        first = asyncio.Event()

        async def follow() -> None:
            async for batch in feed.follow_batches(0, window_s=0.2):
                batches.append([item for _, item in batch])
                first.set()
                if sum(map(len, batches)) == 4:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0)
        feed.publish(1)
        # The lone item is not held back for the window (the wait is far shorter).
        await asyncio.wait_for(first.wait(), 0.1)
        for n in (2, 3, 4):  # within the window after it: one batch
            feed.publish(n)
        await asyncio.wait_for(task, 2)
        return batches

    assert asyncio.run(scenario()) == [[1], [2, 3, 4]]


def test_the_client_report_and_the_server_view_make_one_row() -> None:
    async def scenario() -> None:
        state = LabState()
        report = load("tls13")
        server = dataclasses.replace(report, chain=(), checks=())
        state.server_view(
            {"transport": "gRPC", "peer": "ipv4:127.0.0.1:1", "report": server.to_dict()}
        )
        state.client_report(report)
        (row,) = state.snapshot()["handshakes"]
        assert row["seen_by"] == ["client", "server"]
        assert row["source"] == "client service (gRPC)"
        assert row["ok"] is True and row["version"] == "TLSv1.3"
        untraced = dataclasses.replace(report, trace_id="")
        state.server_view({"transport": "TCP", "peer": "127.0.0.1:2", "report": untraced.to_dict()})
        assert len(state.snapshot()["handshakes"]) == 2
        assert state.changes.sequence == 3

    asyncio.run(scenario())


def test_a_row_names_the_client_stack() -> None:
    report = load("tls13")
    server = dataclasses.replace(report, chain=(), checks=(), trace_id="")
    state = LabState()
    state.server_view(
        {
            "transport": "TCP",
            "peer": "127.0.0.1:2",
            "client": "GnuTLS 3.7.9",
            "fingerprint": "2c2d61140cfff5b0",
            "report": server.to_dict(),
        }
    )
    state.server_view({"transport": "TCP", "peer": "127.0.0.1:3", "report": server.to_dict()})
    state.client_report(dataclasses.replace(report, trace_id="ours"))
    ours, unnamed, gnutls = state.snapshot()["handshakes"]
    assert (gnutls["client"], gnutls["fingerprint"]) == ("GnuTLS 3.7.9", "2c2d61140cfff5b0")
    assert unnamed["client"] == "-"  # a server that did not say
    assert ours["client"] == "tlssim"


def test_fault_changes_are_told_as_events() -> None:
    before = {"client_ocsp": _link_state({"enabled": True, "toxics": []})}
    latency = {"name": "latency_downstream", "type": "latency", "attributes": {"latency": 100}}
    now = {"client_ocsp": _link_state({"enabled": False, "toxics": [latency]})}
    changes = _fault_changes(before, now)
    assert "link client_ocsp disabled (down)" in changes
    assert any("toxic latency_downstream added (latency" in c for c in changes)
    assert _fault_changes(now, before)[-1] == "link client_ocsp: toxic latency_downstream removed"


def _answer(serial: str, status: str, source: str) -> TraceEvent:
    details = {"status": status, "source": source, "serial": serial, "front": "grpc"}
    return TraceEvent(trace_id="t", time=0.0, service="ocsp", name="OCSP answer", details=details)


def test_ocsp_answers_become_events_but_a_repeated_staple_refresh_does_not() -> None:
    answers = OcspAnswers()
    assert (
        answers.describe(_answer("1a", "good", "staple"))
        == "OCSP good for serial 1a (staple, grpc)"
    )
    assert answers.describe(_answer("1a", "good", "staple")) is None  # nothing new
    assert answers.describe(_answer("1a", "revoked", "staple")) == (
        "OCSP revoked for serial 1a (staple, grpc)"
    )
    live = answers.describe(_answer("1a", "revoked", "live"))
    assert live == "OCSP revoked for serial 1a (live, grpc)"
    assert answers.describe(_answer("1a", "revoked", "live")) == live  # every live check
    crl = TraceEvent(
        trace_id="t",
        time=0.0,
        service="ocsp",
        name="CRL served",
        details={"issuer": "ab12", "status": 200, "source": "CRL"},
    )
    assert answers.describe(crl) == "CRL of ab12 served over HTTP (status 200)"
    other = TraceEvent(trace_id="t", time=0.0, service="ocsp", name="something else")
    assert answers.describe(other) is None


def test_a_source_that_fails_oddly_is_followed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report that does not parse (ValueError, KeyError) must not stop the console from
    following its source: it is logged and the source is followed again."""
    monkeypatch.setattr(sources, "RETRY_S", 0.01)
    calls: list[int] = []

    async def follow() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("steps")
        await asyncio.sleep(3600)

    async def scenario() -> None:
        task = asyncio.create_task(sources._forever("client", follow))
        for _ in range(100):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(scenario())
    assert len(calls) == 2
