"""The shared HTTP front module on a real server: errors in the front's own format."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tlssim.web import HttpLimits, WebServer, json_error, new_app, read_json


def test_errors_are_rendered_by_the_front_and_a_failing_handler_is_a_500() -> None:
    async def fails(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await read_json(request))

    async def main() -> None:
        app = new_app(HttpLimits(max_json_depth=2), json_error)
        app.router.add_get("/fails", fails)
        app.router.add_post("/echo", echo)
        server = WebServer(app)
        await server.start("127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession() as http:
                for method, path, body, status, error in (
                    ("GET", "/fails", None, 500, "internal error"),
                    ("GET", "/missing", None, 404, "no route for GET /missing"),
                    ("PUT", "/echo", None, 405, "method PUT not allowed for /echo"),
                    ("POST", "/echo", b"", 400, "bad request body: empty"),
                    ("POST", "/echo", b"[[[1]]]", 400, "nested deeper than 2 levels"),
                ):
                    async with http.request(method, base + path, data=body) as answer:
                        got = await answer.json()
                        assert (answer.status, got["status"]) == (status, status)
                        assert error in got["error"], got
                async with http.post(base + "/echo", data=b'{"a": [1]}') as answer:
                    assert await answer.json() == {"a": [1]}
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), 20))
