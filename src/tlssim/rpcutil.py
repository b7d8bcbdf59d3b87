"""Shared gRPC plumbing: servers with the standard health service, channels, trace ids."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

TRACE_METADATA_KEY = "x-tlssim-trace-id"
trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")

# Handshake messages and chains are small, but CRLs and bundles can grow.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


def new_trace_id() -> str:
    return uuid.uuid4().hex


def current_trace_id() -> str:
    """The trace id of the call being served (or started), creating one if there is none."""
    tid = trace_id_var.get()
    if not tid:
        tid = new_trace_id()
        trace_id_var.set(tid)
    return tid


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata that carries the current trace id to the next service."""
    return ((TRACE_METADATA_KEY, current_trace_id()),)


def _with_trace(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if metadata.get(TRACE_METADATA_KEY) is None:
        metadata.add(TRACE_METADATA_KEY, current_trace_id())
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _TraceClientInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Sends the current trace id with every call made on our channels."""

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_trace(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_trace(details), request)

    async def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_with_trace(details), request_iterator)


class _TraceInterceptor(grpc.aio.ServerInterceptor):
    """Puts the caller's trace id (or a new one) into trace_id_var for the handler."""

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        metadata = dict(handler_call_details.invocation_metadata or ())
        trace_id_var.set(metadata.get(TRACE_METADATA_KEY) or new_trace_id())
        return await continuation(handler_call_details)


def bind_trace(context: Any) -> str:
    """Sets the trace id from a call's metadata inside a streaming handler, whose task does
    not inherit what the interceptor set."""
    metadata = dict(context.invocation_metadata() or ())
    tid = str(metadata.get(TRACE_METADATA_KEY) or new_trace_id())
    trace_id_var.set(tid)
    return tid


def create_server() -> grpc.aio.Server:
    return grpc.aio.server(interceptors=[_TraceInterceptor()], options=_OPTIONS)


async def start_server(
    server: grpc.aio.Server, listen: str, service_names: Iterable[str]
) -> health.aio.HealthServicer:
    """Adds the standard health service, binds `listen` and starts serving.

    Every named service (and the overall "") is marked SERVING once the port is bound.
    """
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    for name in ["", *service_names]:
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


# Faults come and go all the time here: reconnect within a second or two of a link coming
# back, instead of gRPC's default backoff of up to two minutes.
_CHANNEL_OPTIONS = [
    *_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def open_channel(address: str) -> grpc.aio.Channel:
    """A long-lived channel; open one per peer and reuse it for every call."""
    return grpc.aio.insecure_channel(
        address, options=_CHANNEL_OPTIONS, interceptors=[_TraceClientInterceptor()]
    )


async def is_serving(address: str, timeout: float = 1.0) -> bool:
    """True when the service at `address` answers the standard health check as SERVING."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
