"""The Toxiproxy-compatible REST API over a `Registry`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from tlssim.faults.errors import BadRequestError, FaultsError
from tlssim.faults.httpserver import Request, Response
from tlssim.faults.proxy import ProxySpec
from tlssim.faults.registry import Registry, parse_config
from tlssim.faults.toxics import ToxicSpec

# The Toxiproxy release whose API this one follows; clients compare against it.
VERSION = "2.12.0"

Route = Callable[[Request, list[str]], Awaitable[Response]]


def _json_body(request: Request) -> object:
    if not request.body.strip():
        raise BadRequestError("bad request body: empty")
    try:
        return json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"bad request body: {exc}") from None


class Api:
    """Maps Toxiproxy's routes onto registry calls; every error becomes a JSON error body."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def __call__(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        method = "POST" if request.method == "PATCH" else request.method
        route = self._route(method, parts)
        if route is None:
            return Response.error(404, f"no route for {request.method} {request.path}")
        try:
            return await route(request, parts)
        except FaultsError as exc:
            return Response.error(exc.status, exc.message)

    def _route(self, method: str, parts: list[str]) -> Route | None:
        table: dict[tuple[str, int], Route] = {
            ("GET", 1): self._version if parts[:1] == ["version"] else self._proxies,
            ("POST", 1): self._post_top,
            ("GET", 2): self._proxy_show,
            ("POST", 2): self._proxy_update,
            ("DELETE", 2): self._proxy_delete,
            ("GET", 3): self._toxic_index,
            ("POST", 3): self._toxic_create,
            ("GET", 4): self._toxic_show,
            ("POST", 4): self._toxic_update,
            ("DELETE", 4): self._toxic_delete,
        }
        if not parts:
            return None
        if len(parts) == 1 and parts[0] not in ("version", "proxies", "reset", "populate"):
            return None
        if len(parts) > 1 and parts[0] != "proxies":
            return None
        if len(parts) >= 3 and parts[2] != "toxics":
            return None
        return table.get((method, len(parts)))

    async def _version(self, request: Request, parts: list[str]) -> Response:
        return Response.json(200, {"version": VERSION})

    async def _proxies(self, request: Request, parts: list[str]) -> Response:
        if parts[0] != "proxies":
            return Response.error(405, "method not allowed")
        return Response.json(200, {p.name: p.to_json() for p in self.registry.proxies()})

    async def _post_top(self, request: Request, parts: list[str]) -> Response:
        if parts[0] == "proxies":
            proxy = await self.registry.create(ProxySpec.from_json(_json_body(request)))
            return Response.json(201, proxy.to_json())
        if parts[0] == "reset":
            await self.registry.reset()
            return Response(204)
        if parts[0] == "populate":
            raw = _json_body(request)
            if isinstance(raw, dict) and isinstance(raw.get("proxies"), list):
                raw = raw["proxies"]
            specs = parse_config(json.dumps(raw))
            proxies = await self.registry.populate(specs)
            return Response.json(201, {"proxies": [p.to_json() for p in proxies]})
        return Response.error(405, "method not allowed")

    async def _proxy_show(self, request: Request, parts: list[str]) -> Response:
        return Response.json(200, self.registry.get(parts[1]).to_json())

    async def _proxy_update(self, request: Request, parts: list[str]) -> Response:
        proxy = await self.registry.update(parts[1], _json_body(request))
        return Response.json(200, proxy.to_json())

    async def _proxy_delete(self, request: Request, parts: list[str]) -> Response:
        await self.registry.delete(parts[1])
        return Response(204)

    async def _toxic_index(self, request: Request, parts: list[str]) -> Response:
        proxy = self.registry.get(parts[1])
        return Response.json(200, [t.to_json() for t in proxy.toxics()])

    async def _toxic_create(self, request: Request, parts: list[str]) -> Response:
        proxy = self.registry.get(parts[1])
        toxic = proxy.add_toxic(ToxicSpec.from_json(_json_body(request)))
        return Response.json(200, toxic.to_json())

    async def _toxic_show(self, request: Request, parts: list[str]) -> Response:
        return Response.json(200, self.registry.get(parts[1]).get_toxic(parts[3]).to_json())

    async def _toxic_update(self, request: Request, parts: list[str]) -> Response:
        proxy = self.registry.get(parts[1])
        return Response.json(200, proxy.update_toxic(parts[3], _json_body(request)).to_json())

    async def _toxic_delete(self, request: Request, parts: list[str]) -> Response:
        self.registry.get(parts[1]).remove_toxic(parts[3])
        return Response(204)
