"""Shared gRPC plumbing: servers with the standard health service, channels, trace ids."""

from __future__ import annotations

import asyncio
import contextvars
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

TRACE_METADATA_KEY = "x-tlssim-trace-id"
trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")

# What our channels accept in answers: handshake flights and chains are small, but CRLs and
# trust bundles can grow. A server accepts far less in requests (see create_server).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
# A request larger than its service's limit is refused (RESOURCE_EXHAUSTED) before it is
# parsed. Sized to the real messages: a CSR or an OCSP request is a few KiB, a handshake
# flight tens of KiB.
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024


# W3C Trace Context (https://www.w3.org/TR/trace-context/): `traceparent` carries the same
# 32-hex-digit trace id, so a handshake's calls join traces of systems that speak it.
TRACEPARENT_KEY = "traceparent"


# A trace id: ours are 32 hex digits; a caller may name its own in x-tlssim-trace-id, up to
# 128 letters, digits or _.:- (anything else is replaced by a new id, so it never reaches a
# log line, a trace or a report).
TRACE_ID = re.compile(r"[0-9A-Za-z_.:-]{1,128}")
TRACE_ID_RULE = "32 hex digits as reports show, or up to 128 letters, digits or _.:-"


def is_trace_id(text: str) -> bool:
    return TRACE_ID.fullmatch(text) is not None


def new_trace_id() -> str:
    return uuid.uuid4().hex


def traceparent(trace_id: str) -> str:
    """A W3C traceparent for `trace_id` with a new span id (version 00, sampled)."""
    return f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


def trace_id_from(metadata: Mapping[str, Any]) -> str:
    """The caller's trace id: ours, else a valid W3C traceparent's, else a new one."""
    ours = metadata.get(TRACE_METADATA_KEY)
    if isinstance(ours, str) and is_trace_id(ours):
        return ours
    parent = metadata.get(TRACEPARENT_KEY)
    if isinstance(parent, str):
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
            try:
                int(parts[1], 16)
            except ValueError:
                pass
            else:
                return parts[1].lower()
    return new_trace_id()


def current_trace_id() -> str:
    """The trace id of the call being served (or started), creating one if there is none."""
    tid = trace_id_var.get()
    if not tid:
        tid = new_trace_id()
        trace_id_var.set(tid)
    return tid


def trace_metadata(trace_id: str | None = None) -> tuple[tuple[str, str], ...]:
    """The metadata that carries a trace id (by default the current one) to the callee, for
    calls on a channel opened with traced=False."""
    tid = trace_id or current_trace_id()
    return ((TRACE_METADATA_KEY, tid), (TRACEPARENT_KEY, traceparent(tid)))


class RequestStream:
    """The request stream of a streaming call, written from outside and taken by gRPC's own
    task: pass `messages()` as the call's request iterator, and `end()` it however the call
    ends (else that task waits for more forever, and asyncio logs it as destroyed while
    pending). A failed write ends gRPC's task quietly; read the call's status through
    `FirstStatus`. At most `window` messages wait to be sent: `put` waits beyond that."""

    _END = object()

    def __init__(self, window: int = 4) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._window = window
        self._room = asyncio.Semaphore(window)
        self._ended = False

    async def put(self, message: Any) -> None:
        if not self._ended:
            await self._room.acquire()
        if self._ended:
            raise ConnectionError("the request stream has ended")
        self._queue.put_nowait(message)

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(self._END)
            for _ in range(self._window):  # wake whoever waits for room: there is none now
                self._room.release()

    async def messages(self) -> AsyncIterator[Any]:
        while (message := await self._queue.get()) is not self._END:
            self._room.release()
            yield message


class FirstStatus:
    """The status a client call ended with, as the server sent it.

    A message written while the server is ending the call fails to go out, and gRPC's
    Python layer then overwrites the call's status with INTERNAL "Internal error from Core":
    the server's own status (UNAVAILABLE from a refusing relay, say), which had already
    arrived, is gone from the call. A done callback runs when the first status is set, so
    this keeps that one. gRPC offers a status only through a coroutine, which would run too
    late, so the callback reads it where the call holds it (tests/test_first_status.py
    notices if a gRPC release moves it); without it, `get` gives what the call says."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._kept: tuple[grpc.StatusCode, str] | None = None
        call.add_done_callback(self._keep)

    def _keep(self, _: Any) -> None:
        if self._kept is None and (status := _status_held(self._call)) is not None:
            self._kept = (_STATUS_CODES[status.code()], status.details() or "")

    @property
    def caught(self) -> bool:
        """Whether the status was kept as it arrived (False before the call ends, or if a
        gRPC release no longer holds it where this looks)."""
        return self._kept is not None

    async def get(self) -> tuple[grpc.StatusCode, str]:
        """The call's status (waiting for it to end)."""
        code, details = await self._call.code(), await self._call.details()
        return self._kept or (code, details or "")

    async def describe(self) -> str:
        code, details = await self.get()
        return f"{code.name}: {details}"


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _status_held(call: Any) -> Any:
    """The status object a finished call holds (an intercepted call's inner call's), or None."""
    task = getattr(call, "_interceptors_task", None)
    if task is not None:
        if not task.done() or task.cancelled() or task.exception() is not None:
            return None
        call = task.result()
    return getattr(getattr(call, "_cython_call", None), "_status", None)


def _with_trace(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if metadata.get(TRACE_METADATA_KEY) is None:
        metadata.add(TRACE_METADATA_KEY, current_trace_id())
    if metadata.get(TRACEPARENT_KEY) is None:
        metadata.add(TRACEPARENT_KEY, traceparent(str(metadata.get(TRACE_METADATA_KEY))))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


# grpc.aio files each interceptor under the first call kind it implements, so each kind
# needs an object of its own.
class _TraceUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_trace(details), request)


class _TraceUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_trace(details), request)


class _TraceStreamStream(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_with_trace(details), request_iterator)


# Sends the current trace id with every call made on our channels.
_TRACE_INTERCEPTORS = (_TraceUnaryUnary(), _TraceUnaryStream(), _TraceStreamStream())


@dataclass(frozen=True, slots=True)
class MalformedRequest:
    """Stands in for a request whose bytes are not the method's protobuf message."""

    reason: str


def _tolerant(method: str, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        try:
            return deserialize(raw) if deserialize else raw
        except Exception as exc:  # protobuf's DecodeError, or anything a parser raises
            return MalformedRequest(f"malformed request for {method}: {exc}")

    return parse


async def reject_malformed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Ends the call with INVALID_ARGUMENT when `request` did not parse."""
    if isinstance(request, MalformedRequest):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)


def _guarded(
    method: str, handler: grpc.RpcMethodHandler[Any, Any]
) -> grpc.RpcMethodHandler[Any, Any]:
    """The handler with a deserializer that never raises: a malformed request gets
    INVALID_ARGUMENT and one log-free line, not UNKNOWN and a traceback. Handlers that
    stream requests check each message with `reject_malformed` themselves. A response
    stream whose caller cancelled or went away ends quietly and closes the handler's
    generator at once (a watch gives back what it holds)."""
    parse = _tolerant(method, handler.request_deserializer)
    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            await reject_malformed(request, context)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, parse, serialize)
    if handler.unary_stream is not None:
        streaming: Any = handler.unary_stream

        async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            await reject_malformed(request, context)
            replies = streaming(request, context)
            try:
                async for reply in replies:
                    yield reply
            except Exception:
                if not context.cancelled() and not context.done():
                    raise
                # The caller is gone: nobody to send an error to, nothing to log.
            finally:
                await replies.aclose()  # its own finally runs now, not when collected

        return grpc.unary_stream_rpc_method_handler(unary_stream, parse, serialize)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(handler.stream_stream, parse, serialize)
    return handler


class _ServerInterceptor(grpc.aio.ServerInterceptor):
    """Puts the caller's trace id (or a new one) into trace_id_var for the handler, and
    guards every method against requests that do not parse."""

    def __init__(self) -> None:
        self._guarded: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        metadata = dict(handler_call_details.invocation_metadata or ())
        trace_id_var.set(trace_id_from(metadata))
        method = handler_call_details.method
        if (guarded := self._guarded.get(method)) is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return handler
            guarded = self._guarded[method] = _guarded(method, handler)
        return guarded


def bind_trace(context: Any) -> str:
    """Sets the trace id from a call's metadata inside a streaming handler, whose task does
    not inherit what the interceptor set."""
    tid = trace_id_from(dict(context.invocation_metadata() or ()))
    trace_id_var.set(tid)
    return tid


def create_server(max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> grpc.aio.Server:
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", max_request_bytes),
    ]
    return grpc.aio.server(interceptors=[_ServerInterceptor()], options=options)


async def start_server(
    server: grpc.aio.Server, listen: str, service_names: Iterable[str]
) -> health.aio.HealthServicer:
    """Adds the standard health service, binds `listen` and starts serving.

    Every named service (and the overall "") is marked SERVING once the port is bound.
    """
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(listen)
    except RuntimeError as exc:  # grpc's word for a failed bind
        raise OSError(f"cannot listen on {listen}: {exc}") from None
    if bound == 0:
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
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Despite its name, the least time gRPC gives one connection attempt to get the peer's
    # SETTINGS (its default 20 s). At 0.2 s a busy or just-started server failed calls with
    # "timed out before receiving SETTINGS frame"; a refused port still fails at once.
    ("grpc.min_reconnect_backoff_ms", 5000),
    # A restarted container may come back at a new address: look the name up again within a
    # second of a failed connection (gRPC's default waits 30 s between lookups).
    ("grpc.dns_min_time_between_resolutions_ms", 1000),
]
# A name with several addresses (replicas behind one DNS name) shares the calls among
# them, and a replica that goes away is skipped, instead of pinning the first address.
_ROUND_ROBIN = ("grpc.lb_policy_name", "round_robin")


def open_channel(
    address: str, *, own_connection: bool = False, traced: bool = True
) -> grpc.aio.Channel:
    """A long-lived channel; open one per peer and reuse it for every call. Calls spread
    over every address the name resolves to (round robin).

    `own_connection`: one connection of the channel's own, to the first address that
    answers, for a peer that may tell it to move on (the faults relay does, with an HTTP/2
    GOAWAY, when a link's toxics change; a round-robin channel given a GOAWAY can spin
    retrying the call on the connection it is leaving).

    `traced=False`: no interceptor adds the trace id, each call passes `trace_metadata()`.
    (An intercepted stream feeds its requests through a queue of its own, which it never
    ends when the server finishes the call first.)"""
    options: list[tuple[str, int | str]] = [*_CHANNEL_OPTIONS]
    options.append(("grpc.use_local_subchannel_pool", 1) if own_connection else _ROUND_ROBIN)
    interceptors = list(_TRACE_INTERCEPTORS) if traced else None
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)


async def is_serving(address: str, timeout: float = 1.0) -> bool:
    """True when the service at `address` answers the standard health check as SERVING."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
