"""The console's web front (aiohttp, through tlssim.web): the page, its static files, the
state as JSON, one handshake's diagram, and server-sent events for live updates."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from aiohttp import web

from tlssim import web as tweb
from tlssim.console.state import LabState
from tlssim.diagrams.page import diagram_fragment, script_json
from tlssim.report.story import render

STATE = web.AppKey("state", LabState)
KEEPALIVE_S = 15.0
# Static files: the console's own and the diagram's (shared with `tlssim handshake --html`).
_STATIC = {
    "console.js": ("tlssim.console", "application/javascript"),
    "console.css": ("tlssim.console", "text/css"),
    "diagram.js": ("tlssim.diagrams", "application/javascript"),
    "diagram.css": ("tlssim.diagrams", "text/css"),
}


def _static(package: str, name: str) -> str:
    return resources.files(package).joinpath("static", name).read_text()


def console_app(state: LabState, hosts: frozenset[str] | None = frozenset()) -> web.Application:
    """The console's routes; requests must name it by an address, localhost or one of
    `hosts` (tlssim.web.BrowserGuard: a rebound name cannot read the lab's state)."""
    guard = tweb.BrowserGuard(names=hosts).with_names("console")
    app = tweb.new_app(tweb.HttpLimits(max_body=64 * 1024), tweb.text_error, guard=guard)
    app[STATE] = state
    app.router.add_get("/", _page)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/static/{name}", _static_file)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/api/handshakes/{id}", _handshake)
    app.router.add_get("/events", _events)
    app.router.add_get("/openapi.json", _openapi)
    return app


def _text(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


_ERROR = _text("text/plain", "an error, in one line of text")


def openapi_document() -> dict[str, Any]:
    """The console's HTTP API as an OpenAPI 3.0 document (served at /openapi.json)."""
    obj = {"type": "object"}
    handshake = {
        "type": "object",
        "required": ["summary", "html", "story", "server_view"],
        "properties": {
            "summary": obj,
            "html": {"type": "string"},
            "story": {"type": "string"},
            "server_view": {"type": "boolean"},
        },
    }

    def get(summary: str, ok: dict[str, Any], *params: dict[str, Any]) -> dict[str, Any]:
        operation = {"summary": summary, "responses": {"200": ok, "default": _ERROR}}
        return {"get": operation | ({"parameters": list(params)} if params else {})}

    def json_body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": "OK", "content": {"application/json": {"schema": schema}}}

    def path_param(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    state = {
        "type": "object",
        "required": ["handshakes", "events"],
        "properties": {"handshakes": {"type": "array"}, "events": {"type": "array"}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "tlssim console", "version": "1"},
        "paths": {
            "/": get("the page", _text("text/html", "the console page")),
            "/healthz": get("liveness", _text("text/plain", "ok")),
            "/static/{name}": get(
                "the page's scripts and styles",
                {"description": "the file", "content": {"*/*": {"schema": {"type": "string"}}}},
                path_param("name"),
            ),
            "/api/state": get("recent handshakes and events", json_body(state)),
            "/api/handshakes/{id}": get(
                "one handshake: summary, diagram, story", json_body(handshake), path_param("id")
            ),
            "/events": get(
                "server-sent events: every change after Last-Event-ID or ?after=",
                _text("text/event-stream", "a stream that does not end"),
                {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
            ),
            "/openapi.json": get("this document", json_body(obj)),
        },
    }


async def _openapi(request: web.Request) -> web.Response:
    return tweb.json_response(200, openapi_document())


_INITIAL = '<script type="application/json" id="initial-state">{}</script>'


async def _page(request: web.Request) -> web.Response:
    """The page with the lab's state inside it, so that it draws at once, not after a
    request or the stream."""
    snapshot = script_json(request.app[STATE].snapshot())
    page = _static("tlssim.console", "console.html").replace(
        _INITIAL, _INITIAL.replace("{}", snapshot)
    )
    return web.Response(text=page, content_type="text/html")


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise web.HTTPNotFound(text=f"no static file {name}")
    package, content_type = _STATIC[name]
    return web.Response(text=_static(package, name), content_type=content_type)


async def _state(request: web.Request) -> web.Response:
    return tweb.json_response(200, request.app[STATE].snapshot())


async def _handshake(request: web.Request) -> web.Response:
    row = request.app[STATE].handshakes.get(request.match_info["id"])
    if row is None:
        raise web.HTTPNotFound(text="no such handshake (the console keeps the recent ones)")
    report = row.report
    body = {
        "summary": row.summary(),
        "html": diagram_fragment(report),
        "story": render(report, width=100),
        "server_view": row.server is not None and row.client is not None,
    }
    return tweb.json_response(200, body)


async def _events(request: web.Request) -> web.StreamResponse:
    """Every change after the one the page last saw (Last-Event-ID or ?after=)."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after", "0")
    after = int(raw) if raw.isdigit() else 0
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    changes = request.app[STATE].changes
    try:
        while True:
            items = await changes.wait_since(after, KEEPALIVE_S)
            if not items:
                await response.write(b": keepalive\n\n")
            for number, message in items:
                data = json.dumps(message)
                await response.write(
                    f"id: {number}\nevent: {message['type']}\ndata: {data}\n\n".encode()
                )
                after = number
    except ConnectionError:  # the page went away
        return response
