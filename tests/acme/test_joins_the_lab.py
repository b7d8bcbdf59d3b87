"""An ACME order against `tlssim up` joins the lab: one trace from the order through the
validation connection to the ca's issuance, the ca's listing, and the responder."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from tests.acme.client import Client, b64, csr_for, new_key
from tests.acme.conftest import AcmeStack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def order_through_the_stack(
    acme: AcmeStack, name: str, before_validation: Callable[[], None] = lambda: None
) -> tuple[str, str]:
    """(the order's trace id, the leaf's serial; or the challenge's error type), answering
    http-01 on the stack's port; `before_validation` runs just before the challenge."""
    answers: dict[str, str] = {}

    async def respond(request: web.Request) -> web.Response:
        return web.Response(text=answers.get(request.match_info["token"], ""))

    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", respond)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", acme.http01_port).start()
    context = ssl.create_default_context(cafile=str(acme.bundle))
    base = acme.directory.removesuffix("/directory")
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            client = Client(http, base, new_key("ES256"))
            assert (await client.register()).status == 201
            reply = await client.order(("dns", name))
            trace_id = str(reply.headers["X-Tlssim-Trace-Id"])
            order: dict[str, Any] = reply.json()
            authz = (await client.post(order["authorizations"][0], None)).json()
            challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
            answers[challenge["token"]] = client.key_authorization(challenge["token"])
            before_validation()
            await client.post(challenge["url"], {})
            done = await client.wait(challenge["url"], ("valid", "invalid"))
            if done["status"] == "invalid":
                return trace_id, str(done["error"]["type"]).rsplit(":", 1)[-1]
            await client.wait(str(reply.headers["Location"]), ("ready",))
            final = await client.post(order["finalize"], {"csr": b64(csr_for([name]))})
            pem = (await client.post(final.json()["certificate"], None)).body
    finally:
        await runner.cleanup()
    leaf = x509.load_pem_x509_certificates(pem)[0]
    return trace_id, format(leaf.serial_number, "x")


def test_one_trace_from_the_order_to_the_ca(acme_stack: AcmeStack) -> None:
    name = "traced.tlssim.test"
    trace_id, serial = asyncio.run(order_through_the_stack(acme_stack, name))
    done = acme_stack.stack.tlssim("trace", trace_id, "--json")
    assert done.returncode == 0, done.stderr
    events = [(e["service"], e["name"]) for e in json.loads(done.stdout)["events"]]
    assert events.index(("acme", "order created")) < events.index(("acme", "validation connection"))
    assert ("ca", "certificate issued") in events
    assert ("acme", "certificate issued") in events
    listed = acme_stack.listed(name)
    assert serial in listed and "acme" in listed


def test_validation_crosses_the_faults_proxy(acme_stack: AcmeStack) -> None:
    stack = acme_stack.stack

    def link_down() -> None:
        assert stack.tlssim("faults", "disable", "acme_http01").returncode == 0

    try:
        _, error = asyncio.run(order_through_the_stack(acme_stack, "down.tlssim.test", link_down))
    finally:
        assert stack.tlssim("faults", "enable", "acme_http01").returncode == 0
    assert error == "connection"
    _, serial = asyncio.run(order_through_the_stack(acme_stack, "up-again.tlssim.test"))
    assert serial in acme_stack.listed("up-again.tlssim.test")
