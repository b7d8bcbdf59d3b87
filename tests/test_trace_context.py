"""Trace ids travel as our own header and as a W3C traceparent; either one is honoured."""

from __future__ import annotations

import re

from tlssim import rpcutil

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_traceparent_names_our_trace_id_with_a_fresh_span() -> None:
    first, second = rpcutil.traceparent(TRACE), rpcutil.traceparent(TRACE)
    assert re.fullmatch(rf"00-{TRACE}-[0-9a-f]{{16}}-01", first)
    assert first != second  # a new span for each call


def test_the_callers_trace_id_comes_from_either_header() -> None:
    ours = {
        rpcutil.TRACE_METADATA_KEY: "abc",
        rpcutil.TRACEPARENT_KEY: f"00-{TRACE}-00f067aa0ba902b7-01",
    }
    assert rpcutil.trace_id_from(ours) == "abc"
    w3c = {rpcutil.TRACEPARENT_KEY: f"00-{TRACE.upper()}-00f067aa0ba902b7-01"}
    assert rpcutil.trace_id_from(w3c) == TRACE
    # A caller's own id that breaks the rule (spaces, control characters, too long) is not
    # carried into logs and reports: the traceparent's, else a new one, takes its place.
    for bad in ("a b", "line\nbreak", "x" * 129, ""):
        named = {
            rpcutil.TRACE_METADATA_KEY: bad,
            rpcutil.TRACEPARENT_KEY: ours[rpcutil.TRACEPARENT_KEY],
        }
        assert rpcutil.trace_id_from(named) == TRACE
        assert re.fullmatch(
            r"[0-9a-f]{32}", rpcutil.trace_id_from({rpcutil.TRACE_METADATA_KEY: bad})
        )
    assert rpcutil.trace_id_from({rpcutil.TRACE_METADATA_KEY: "x" * 128}) == "x" * 128
    for broken in ("garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", "00-xyz-1-01"):
        fresh = rpcutil.trace_id_from({rpcutil.TRACEPARENT_KEY: broken})
        assert re.fullmatch(r"[0-9a-f]{32}", fresh) and fresh != TRACE
