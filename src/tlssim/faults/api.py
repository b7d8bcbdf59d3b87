"""The Toxiproxy-compatible REST API over a `Registry`, as an aiohttp application."""

from __future__ import annotations

import json
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from tlssim.faults import openapi
from tlssim.faults.errors import FaultsError
from tlssim.faults.proxy import ProxySpec, check_proxy_name
from tlssim.faults.registry import Registry, parse_config
from tlssim.faults.toxics import ToxicSpec
from tlssim.web import BrowserGuard, HttpLimits, json_error, json_response, new_app, read_json

# The Toxiproxy release whose API this one follows; clients compare against it.
VERSION = "2.12.0"


@web.middleware
async def _faults_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FaultsError as exc:
        return json_error(exc.status, exc.message)


class Api:
    """Maps Toxiproxy's routes onto registry calls; every error is a JSON error body."""

    def __init__(
        self,
        registry: Registry,
        limits: HttpLimits | None = None,
        hosts: frozenset[str] | None = frozenset(),
    ) -> None:
        self.registry = registry
        self.limits = limits or HttpLimits()
        # Writes take JSON only: Toxiproxy's clients send it, a cross-origin form cannot.
        self.guard = BrowserGuard(names=hosts, json_writes=True).with_names("faults")

    def application(self) -> web.Application:
        app = new_app(self.limits, json_error, [_faults_errors], self.guard)
        proxy, toxic = "/proxies/{proxy}", "/proxies/{proxy}/toxics/{toxic}"
        # PATCH does what POST does, as in Toxiproxy.
        for method in ("POST", "PATCH"):
            app.router.add_route(method, proxy, self._proxy_update)
            app.router.add_route(method, toxic, self._toxic_update)
        app.router.add_get("/version", self._version, allow_head=False)
        app.router.add_get("/openapi.json", self._openapi, allow_head=False)
        app.router.add_get("/proxies", self._proxies, allow_head=False)
        app.router.add_post("/proxies", self._proxy_create)
        app.router.add_post("/reset", self._reset)
        app.router.add_post("/populate", self._populate)
        app.router.add_get(proxy, self._proxy_show, allow_head=False)
        app.router.add_delete(proxy, self._proxy_delete)
        app.router.add_get(proxy + "/toxics", self._toxic_index, allow_head=False)
        app.router.add_post(proxy + "/toxics", self._toxic_create)
        app.router.add_get(toxic, self._toxic_show, allow_head=False)
        app.router.add_delete(toxic, self._toxic_delete)
        return app

    def _proxy(self, request: web.Request) -> str:
        name = request.match_info["proxy"]
        check_proxy_name(name)
        return name

    async def _version(self, request: web.Request) -> web.Response:
        return json_response(200, {"version": VERSION})

    async def _openapi(self, request: web.Request) -> web.Response:
        return json_response(200, openapi.document(VERSION))

    async def _proxies(self, request: web.Request) -> web.Response:
        return json_response(200, {p.name: p.to_json() for p in self.registry.proxies()})

    async def _proxy_create(self, request: web.Request) -> web.Response:
        spec = ProxySpec.from_json(await read_json(request))
        _check_names([spec])
        return json_response(201, (await self.registry.create(spec)).to_json())

    async def _reset(self, request: web.Request) -> web.Response:
        await self.registry.reset()
        return web.Response(status=204)

    async def _populate(self, request: web.Request) -> web.Response:
        raw = await read_json(request)
        if isinstance(raw, dict) and isinstance(raw.get("proxies"), list):
            raw = raw["proxies"]
        specs = parse_config(json.dumps(raw))
        _check_names(specs)
        proxies = await self.registry.populate(specs)
        return json_response(201, {"proxies": [p.to_json() for p in proxies]})

    async def _proxy_show(self, request: web.Request) -> web.Response:
        return json_response(200, self.registry.get(self._proxy(request)).to_json())

    async def _proxy_update(self, request: web.Request) -> web.Response:
        name = self._proxy(request)
        proxy = await self.registry.update(name, await read_json(request))
        return json_response(200, proxy.to_json())

    async def _proxy_delete(self, request: web.Request) -> web.Response:
        await self.registry.delete(self._proxy(request))
        return web.Response(status=204)

    async def _toxic_index(self, request: web.Request) -> web.Response:
        proxy = self.registry.get(self._proxy(request))
        return json_response(200, [t.to_json() for t in proxy.toxics()])

    async def _toxic_create(self, request: web.Request) -> web.Response:
        proxy = self.registry.get(self._proxy(request))
        toxic = proxy.add_toxic(ToxicSpec.from_json(await read_json(request)))
        await proxy.settle()
        return json_response(200, toxic.to_json())

    async def _toxic_show(self, request: web.Request) -> web.Response:
        proxy = self.registry.get(self._proxy(request))
        return json_response(200, proxy.get_toxic(request.match_info["toxic"]).to_json())

    async def _toxic_update(self, request: web.Request) -> web.Response:
        proxy = self.registry.get(self._proxy(request))
        changes = await read_json(request)
        toxic = proxy.update_toxic(request.match_info["toxic"], changes)
        await proxy.settle()
        return json_response(200, toxic.to_json())

    async def _toxic_delete(self, request: web.Request) -> web.Response:
        proxy = self.registry.get(self._proxy(request))
        proxy.remove_toxic(request.match_info["toxic"])
        await proxy.settle()
        return web.Response(status=204)


def _check_names(specs: Iterable[ProxySpec]) -> None:
    for spec in specs:
        check_proxy_name(spec.name)
