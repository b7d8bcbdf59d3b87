"""The faults REST API as an OpenAPI 3.0 document, served at GET /openapi.json.

It describes what the API accepts and answers (docs/faults.md says what it does); the
suite fuzzes the API from it (tests/integration/test_openapi_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from tlssim.faults.proxy import PROTOCOLS
from tlssim.faults.toxics import TOXIC_TYPES

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"}
_ADDRESS = {"type": "string", "description": "HOST:PORT (IPv6 hosts in brackets)"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"description": description or "OK", "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "an error: 400, 403, 404, 405, 408, 409, 413 or 415")


def _operation(
    summary: str, ok: str, answer: dict[str, Any] | None, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    responses: dict[str, Any] = {"default": _ERROR}
    responses[ok] = {"description": "done"} if answer is None else _json(answer)
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def document(version: str) -> dict[str, Any]:
    proxy_param = {"name": "proxy", "in": "path", "required": True, "schema": _NAME}
    toxic_param = {"name": "toxic", "in": "path", "required": True, "schema": {"type": "string"}}
    update_proxy = _operation("update a proxy", "200", _ref("Proxy"), _ref("ProxyUpdate"))
    update_toxic = _operation(
        "update a toxic (attributes merge)", "200", _ref("Toxic"), _ref("ToxicUpdate")
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tlssim faults API (Toxiproxy-compatible)",
            "version": version,
            "description": "Proxies on the lab's links and their toxics; docs/faults.md.",
        },
        "paths": {
            "/version": {
                "get": _operation("the Toxiproxy version followed", "200", _ref("Version"))
            },
            "/openapi.json": {"get": _operation("this document", "200", {"type": "object"})},
            "/proxies": {
                "get": _operation(
                    "every proxy by name",
                    "200",
                    {"type": "object", "additionalProperties": _ref("Proxy")},
                ),
                "post": _operation("create a proxy", "201", _ref("Proxy"), _ref("ProxyCreate")),
            },
            "/populate": {
                "post": _operation(
                    "create or replace a list of proxies",
                    "201",
                    {
                        "type": "object",
                        "required": ["proxies"],
                        "properties": {"proxies": {"type": "array", "items": _ref("Proxy")}},
                    },
                    {
                        "oneOf": [
                            {"type": "array", "items": _ref("ProxyCreate")},
                            {
                                "type": "object",
                                "required": ["proxies"],
                                "properties": {
                                    "proxies": {"type": "array", "items": _ref("ProxyCreate")}
                                },
                            },
                        ]
                    },
                ),
            },
            "/reset": {"post": _operation("enable every proxy, remove every toxic", "204", None)},
            "/proxies/{proxy}": {
                "parameters": [proxy_param],
                "get": _operation("one proxy", "200", _ref("Proxy")),
                "post": update_proxy,
                "patch": update_proxy,
                "delete": _operation("delete a proxy", "204", None),
            },
            "/proxies/{proxy}/toxics": {
                "parameters": [proxy_param],
                "get": _operation(
                    "a proxy's toxics", "200", {"type": "array", "items": _ref("Toxic")}
                ),
                "post": _operation("add a toxic", "200", _ref("Toxic"), _ref("ToxicCreate")),
            },
            "/proxies/{proxy}/toxics/{toxic}": {
                "parameters": [proxy_param, toxic_param],
                "get": _operation("one toxic", "200", _ref("Toxic")),
                "post": update_toxic,
                "patch": update_toxic,
                "delete": _operation("remove a toxic", "204", None),
            },
        },
        "components": {"schemas": _schemas()},
    }


def _schemas() -> dict[str, Any]:
    protocol = {"type": "string", "enum": list(PROTOCOLS)}
    stream = {"type": "string", "enum": ["upstream", "downstream"]}
    attributes = {"type": "object", "additionalProperties": True}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "status"],
            "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
        },
        "Version": {
            "type": "object",
            "required": ["version"],
            "properties": {"version": {"type": "string"}},
        },
        "Proxy": {
            "type": "object",
            "required": ["name", "listen", "upstream", "enabled", "protocol"],
            "properties": {
                "name": _NAME,
                "listen": _ADDRESS,
                "upstream": _ADDRESS,
                "enabled": {"type": "boolean"},
                "protocol": protocol,
                "toxics": {"type": "array", "items": _ref("Toxic")},
            },
        },
        "ProxyCreate": {
            "type": "object",
            "required": ["name", "upstream"],
            "properties": {
                "name": _NAME,
                "listen": _ADDRESS,
                "upstream": _ADDRESS,
                "enabled": {"type": "boolean"},
                "protocol": protocol,
            },
        },
        "ProxyUpdate": {
            "type": "object",
            "properties": {
                "listen": _ADDRESS,
                "upstream": _ADDRESS,
                "enabled": {"type": "boolean"},
                "protocol": protocol,
            },
        },
        "Toxic": {
            "type": "object",
            "required": ["name", "type", "stream", "toxicity", "attributes"],
            "properties": {
                "name": {"type": "string"},
                "type": {"type": "string"},
                "stream": stream,
                "toxicity": {"type": "number", "minimum": 0, "maximum": 1},
                "attributes": attributes,
            },
        },
        "ToxicCreate": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "name": {"type": "string"},
                "type": {"type": "string", "enum": sorted(TOXIC_TYPES)},
                "stream": stream,
                "toxicity": {"type": "number", "minimum": 0, "maximum": 1},
                "attributes": attributes,
            },
        },
        "ToxicUpdate": {
            "type": "object",
            "properties": {
                "stream": stream,
                "toxicity": {"type": "number", "minimum": 0, "maximum": 1},
                "attributes": attributes,
            },
        },
    }
