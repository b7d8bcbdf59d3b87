"""The client's caIssuers fetcher against a real HTTP server: its size limit, and what it
makes of DER, PEM and PKCS#7 answers."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from tests.pki.helpers import MovableClock
from tlssim.client.policy import load_issuer
from tlssim.client.status import MAX_ISSUER_BYTES, HttpIssuerFetcher
from tlssim.pki import Authority

BODIES: dict[str, bytes] = {}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = BODIES.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_der_pem_and_pkcs7_answers_give_the_certificate(
    base_url: str, authority: Authority
) -> None:
    intermediate = authority.ca("intermediate").certificate
    BODIES["/der"] = intermediate.public_bytes(Encoding.DER)
    BODIES["/pem"] = intermediate.public_bytes(Encoding.PEM)
    BODIES["/p7c"] = pkcs7.serialize_certificates([intermediate], Encoding.DER)
    fetch = HttpIssuerFetcher(timeout_s=5)
    for path in ("/der", "/pem", "/p7c"):
        assert load_issuer(asyncio.run(fetch(base_url + path))) == intermediate, path


def test_an_answer_past_the_limit_is_refused(base_url: str) -> None:
    BODIES["/big"] = b"\x30" * (MAX_ISSUER_BYTES + 1)
    with pytest.raises(ValueError, match=f"larger than {MAX_ISSUER_BYTES} bytes"):
        asyncio.run(HttpIssuerFetcher(timeout_s=5)(base_url + "/big"))
    BODIES["/junk"] = b"not a certificate"
    with pytest.raises(ValueError):
        load_issuer(asyncio.run(HttpIssuerFetcher(timeout_s=5)(base_url + "/junk")))


@pytest.fixture
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    auth = Authority.open(tmp_path_factory.mktemp("ca"), MovableClock())
    yield auth
    auth.close()
