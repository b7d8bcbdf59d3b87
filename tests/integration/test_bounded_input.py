"""Every gRPC method of every service refuses bad bytes and oversized requests cleanly."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.conftest import LocalStack
from tlssim.rpc.v1 import ca_pb2, client_pb2, ocsp_pb2, server_pb2

# Not a protobuf message: a field tag whose varint never ends.
GARBAGE = b"\xff\xff\xff"
OVERSIZED = b"\x0a" + b"\xff" * 5 + b"x" * (2 * 1024 * 1024)
SERVICE_OF = {
    "CertificateAuthority": "ca",
    "OcspResponder": "ocsp",
    "TlsServer": "server",
    "ServerWatch": "server",
    "LabKeys": "server",
    "TlsClient": "client",
}


def _methods(stack: LocalStack) -> Iterator[tuple[str, str, bool, bool]]:
    """(address, /package.Service/Method, client streams, server streams) of every method."""
    addresses = {
        "CertificateAuthority": stack.env["TLSSIM_CA_ADDR"],
        "OcspResponder": stack.env["TLSSIM_OCSP_ADDR"],
        "TlsServer": stack.env["TLSSIM_SERVER_ADDR"],
        "ServerWatch": stack.env["TLSSIM_SERVER_ADDR"],
        "LabKeys": stack.env["TLSSIM_SERVER_ADDR"],
        "TlsClient": stack.env["TLSSIM_CLIENT_ADDR"],
    }
    for module in (ca_pb2, ocsp_pb2, server_pb2, client_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield (
                    addresses[service.name],
                    f"/{service.full_name}/{method.name}",
                    method.client_streaming,
                    method.server_streaming,
                )


def _call(address: str, method: str, streams: tuple[bool, bool], payload: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        return _call_on(channel, method, streams, payload)


def _call_on(
    channel: grpc.Channel, method: str, streams: tuple[bool, bool], payload: bytes
) -> grpc.StatusCode:
    raw: Any = channel  # raw bytes, no (de)serializers: the typed signatures do not apply
    client_streams, server_streams = streams
    try:
        if client_streams:
            list(raw.stream_stream(method)(iter([payload]), timeout=5))
        elif server_streams:
            next(iter(raw.unary_stream(method)(payload, timeout=5)))
        else:
            raw.unary_unary(method)(payload, timeout=5)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


@pytest.mark.integration
def test_malformed_and_oversized_requests_get_clear_codes(stack: LocalStack) -> None:
    before = stack.logs().count("Traceback")
    for address, method, *streams in _methods(stack):
        flags = (streams[0], streams[1])
        assert _call(address, method, flags, GARBAGE) == grpc.StatusCode.INVALID_ARGUMENT, method
        assert _call(address, method, flags, OVERSIZED) == grpc.StatusCode.RESOURCE_EXHAUSTED, (
            method
        )
    assert stack.logs().count("Traceback") == before
    stack.handshake(ok=True)


@pytest.mark.integration
def test_a_sequence_beyond_sqlite_integers_is_invalid(stack: LocalStack) -> None:
    request = ca_pb2.WatchStatusRequest(after_sequence=2**64 - 1).SerializeToString()
    method = "/tlssim.rpc.v1.CertificateAuthority/WatchStatus"
    code = _call(stack.env["TLSSIM_CA_ADDR"], method, (False, True), request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.integration
def test_the_ca_keeps_its_keys_to_itself(stack: LocalStack) -> None:
    ca_dir = stack.data_dir / "ca"
    assert ca_dir.stat().st_mode & 0o777 == 0o700
    for path in ca_dir.iterdir():
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.integration
def test_oversized_requests_do_not_grow_memory(stack: LocalStack) -> None:
    """200 requests of 2 MiB to each service leave its memory within 50 MB of the start."""
    growth = {}
    first_method: dict[str, tuple[str, str, tuple[bool, bool]]] = {}
    for address, method, client_streams, server_streams in _methods(stack):
        name = method.split("/")[1].rsplit(".", 1)[1]
        first_method.setdefault(name, (address, method, (client_streams, server_streams)))
    for name, (address, method, streams) in first_method.items():
        pid = stack.service_pid(SERVICE_OF[name])
        before = _rss_mb(pid)
        # Ten in flight at once on one channel: one by one, each would wait out HTTP/2
        # flow control.
        with grpc.insecure_channel(address) as channel, ThreadPoolExecutor(10) as pool:
            send = functools.partial(_call_on, channel, method, streams)
            codes = set(pool.map(send, [OVERSIZED] * 200))
        assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        growth[name] = _rss_mb(pid) - before
    assert set(growth) == set(SERVICE_OF)
    assert max(growth.values()) < 50, growth
