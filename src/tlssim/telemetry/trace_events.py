"""The TraceEvents gRPC servicer: a service's recent trace events, by trace id or as a feed."""

from __future__ import annotations

from typing import Any

import grpc

from tlssim import rpcutil
from tlssim.rpc.v1 import trace_pb2, trace_pb2_grpc
from tlssim.telemetry.traces import TraceLog


class TraceEventsServicer(trace_pb2_grpc.TraceEventsServicer):
    def __init__(self, traces: TraceLog) -> None:
        self._traces = traces

    async def FindEvents(self, request: Any, context: Any) -> Any:
        trace_id = str(request.trace_id)
        if not rpcutil.is_trace_id(trace_id):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"trace_id: {rpcutil.TRACE_ID_RULE}"
            )
        events = self._traces.of(trace_id)
        return trace_pb2.FindEventsResponse(event_json=[e.to_json() for e in events])

    async def WatchEvents(self, request: Any, context: Any) -> Any:
        async for number, event in self._traces.feed.follow(request.after_sequence):
            yield trace_pb2.WatchedEvent(sequence=number, event_json=event.to_json())


def add_to_server(traces: TraceLog, server: grpc.aio.Server) -> None:
    trace_pb2_grpc.add_TraceEventsServicer_to_server(TraceEventsServicer(traces), server)
