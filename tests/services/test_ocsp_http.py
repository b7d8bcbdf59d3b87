"""The OCSP HTTP front in process: RFC 6960 appendix A requests, headers, and its limits."""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.error
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from tests.pki.helpers import MovableClock, csr_der
from tests.pki.ocsp_fixtures import delegated_responder
from tlssim import rpcutil
from tlssim.client.policy import load_issuer
from tlssim.client.status import HttpIssuerFetcher
from tlssim.pki import Authority, build_ocsp_request
from tlssim.pki.authority import issuer_id
from tlssim.pki.status_table import FeedEvent, StatusTable
from tlssim.rpc.v1 import ca_pb2_grpc
from tlssim.services.ocsp import ResponderState
from tlssim.services.ocsp_http import MAX_HTTP_BODY, OcspHttpFront
from tlssim.web import HttpLimits

Body = Callable[[str, bytes, str], Awaitable[None]]


def serve_front(tmp_path: Path, body: Body) -> None:
    """Runs `body(base url, a good request's DER, the issuer's id)` against a front whose
    responder knows one issued certificate, and whose ca is not reachable."""

    async def main() -> None:
        clock = MovableClock()
        authority = Authority.open(tmp_path / "ca", clock, ocsp_url="http://127.0.0.1:1")
        try:
            setup = delegated_responder(authority)
            issued = authority.issue(csr_der()[1])
            issuer_der = setup.issuer.public_bytes(serialization.Encoding.DER)
            table = StatusTable()
            table.apply(FeedEvent(1, False, issued.serial_hex, issuer_der))
            state = ResponderState(setup.responder, table)
            state.caught_up.set()
            channel = rpcutil.open_channel("127.0.0.1:1")
            ca = ca_pb2_grpc.CertificateAuthorityStub(channel)
            limits = HttpLimits(max_body=MAX_HTTP_BODY, body_timeout_s=0.5)
            server = await OcspHttpFront(state, ca, clock, limits=limits).listen("127.0.0.1", 0)
            try:
                request = build_ocsp_request(issued.chain[0], setup.issuer)
                url = f"http://127.0.0.1:{server.port}"
                await asyncio.wait_for(body(url, request, issuer_id(setup.issuer)), 20)
            finally:
                await server.stop()
                await channel.close()
        finally:
            authority.close()

    asyncio.run(main())


def test_post_and_get_answer_with_ocsp_responses(tmp_path: Path) -> None:
    async def body(url: str, request: bytes, _: str) -> None:
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": "application/ocsp-request"}
            async with http.post(url + "/", data=request, headers=headers) as answer:
                assert answer.status == 200
                assert answer.headers["Content-Type"] == "application/ocsp-response"
                assert answer.headers["Cache-Control"] == (
                    "max-age=3600, public, no-transform, must-revalidate"
                )
                response = ocsp.load_der_ocsp_response(await answer.read())
            assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
            plain = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
            url_safe = base64.urlsafe_b64encode(request).decode()
            for encoded in (plain, url_safe):
                async with http.get(f"{url}/{encoded}") as answer:
                    got = ocsp.load_der_ocsp_response(await answer.read())
                    assert got.serial_number == response.serial_number
            async with http.get(url + "/%21%21not-base64") as answer:
                garbage = ocsp.load_der_ocsp_response(await answer.read())
                assert garbage.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
                assert "Cache-Control" not in answer.headers

    serve_front(tmp_path, body)


def test_crls_unknown_issuer_404_and_unreachable_ca_503(tmp_path: Path) -> None:
    async def body(url: str, _: bytes, issuer: str) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/crl/0000.crl") as answer:
                assert (answer.status, await answer.text()) == (404, "no such issuer\n")
            async with http.get(f"{url}/crl/{issuer}.crl") as answer:
                assert answer.status == 503
                assert (await answer.text()).startswith("ca unavailable: UNAVAILABLE")
            async with http.put(url + "/") as answer:
                assert answer.status == 405 and answer.headers["Allow"] == "GET,POST"

    serve_front(tmp_path, body)


def test_limits_too_large_and_too_slow_bodies_then_still_answering(tmp_path: Path) -> None:
    async def body(url: str, request: bytes, _: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        async with aiohttp.ClientSession() as http:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % (MAX_HTTP_BODY + 1))
            refused = await asyncio.wait_for(reader.read(), 5)  # before the body; then closed
            writer.close()
            assert refused.startswith(b"HTTP/1.0 413 ") and b"too large" in refused, refused

            reader, writer = await asyncio.open_connection(host, int(port))
            started = time.monotonic()
            writer.write(b"POST / HTTP/1.0\r\nContent-Length: 300\r\n\r\n\x30\x82")
            answer_bytes = await asyncio.wait_for(reader.read(), 5)  # until the server closes
            took = time.monotonic() - started
            writer.close()
            assert answer_bytes.startswith(b"HTTP/1.0 408 "), answer_bytes
            assert 0.4 < took < 2.0, took

            async with http.post(url, data=request) as answer:
                assert answer.status == 200
                response = ocsp.load_der_ocsp_response(await answer.read())
                assert response.certificate_status is ocsp.OCSPCertStatus.GOOD

    serve_front(tmp_path, body)


def test_issuer_certificates_for_aia_ca_issuers(tmp_path: Path) -> None:
    """/ca/<issuer id>.crt serves the issuing CA's certificate (DER, RFC 5280 4.2.2.1), which
    the client's caIssuers fetcher takes; an unknown id is a 404."""

    async def body(url: str, _: bytes, issuer: str) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/ca/{issuer}.crt") as answer:
                assert answer.status == 200
                assert answer.headers["Content-Type"] == "application/pkix-cert"
                der = await answer.read()
            async with http.get(url + "/ca/0000.crt") as answer:
                assert (answer.status, await answer.text()) == (404, "no such issuer\n")
        fetched = load_issuer(await HttpIssuerFetcher(timeout_s=5)(f"{url}/ca/{issuer}.crt"))
        assert issuer_id(fetched) == issuer
        assert fetched.public_bytes(serialization.Encoding.DER) == der
        with pytest.raises(urllib.error.HTTPError):
            await HttpIssuerFetcher(timeout_s=5)(url + "/ca/0000.crt")
        with pytest.raises(ValueError, match="not an http URL"):
            await HttpIssuerFetcher(timeout_s=5)(f"file:///ca/{issuer}.crt")

    serve_front(tmp_path, body)
