"""OpenTelemetry export: with OTEL_EXPORTER_OTLP_ENDPOINT set, every service sends its trace
events as spans over OTLP/HTTP, under the handshake's own trace id. The receiver here is a
real HTTP server decoding the OTLP protobuf the services send."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import TEST_SETTINGS
from tlssim.harness.localstack import free_ports, running_stack

pytestmark = pytest.mark.integration
trace_service_pb2: Any = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2"
)


class Receiver(http.server.ThreadingHTTPServer):
    """Collects the spans POSTed to /v1/traces: (service.name, trace id hex, span name, ...)."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.paths: set[str] = set()
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            self.server.paths.add(self.path)
            for resource in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.server.spans.append(
                            {
                                "service": attrs.get("service.name", ""),
                                "trace_id": span.trace_id.hex(),
                                "name": span.name,
                                "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
                                "links": [link.trace_id.hex() for link in span.links],
                            }
                        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_ports(1)[0])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_spans_of_one_handshake_reach_an_otlp_receiver_under_its_trace_id(
    receiver: Receiver, tmp_path: Path
) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    settings = TEST_SETTINGS | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    with running_stack(tmp_path, **settings) as stack:
        trace_id = stack.handshake("--server-name", "valid.tlssim.test", ok=True).trace_id
        wanted = {
            ("tlssim-client", "handshake done"),
            ("tlssim-server", "handshake served"),
            ("tlssim-server", "certificate chosen"),
        }
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with receiver.lock:
                got = {
                    (s["service"], s["name"]) for s in receiver.spans if s["trace_id"] == trace_id
                }
            if wanted <= got:
                break
            time.sleep(0.2)
        assert wanted <= got, got
        with receiver.lock:
            spans = list(receiver.spans)
    assert receiver.paths == {"/v1/traces"}
    served = next(s for s in spans if s["trace_id"] == trace_id and s["name"] == "handshake served")
    assert served["duration_ns"] > 0
    chosen = next(
        s for s in spans if s["trace_id"] == trace_id and s["name"] == "certificate chosen"
    )
    (staple_trace,) = chosen["links"]  # linked to the fetch of the staple it sent
    assert any(
        s["service"] == "tlssim-ocsp"
        and s["trace_id"] == staple_trace
        and s["name"] == "OCSP answer"
        for s in spans
    )
