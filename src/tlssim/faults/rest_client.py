"""A small client for the faults REST API (the same API Toxiproxy clients speak)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class FaultsApiError(RuntimeError):
    """The API refused (``status`` is its HTTP status) or did not answer (``status`` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FaultsApi:
    """`acall` inside a running loop; `call` and the helpers below from synchronous code."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        """`address` is HOST:PORT, or a URL such as http://HOST:PORT."""
        self.base = address.rstrip("/") if "://" in address else f"http://{address}"
        self.timeout = timeout

    async def acall(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        headers = {"Content-Type": "application/json"}
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=headers) as http,
                http.request(method, self.base + path, data=data) as response,
            ):
                text = (await response.read()).decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            if isinstance(exc, aiohttp.ClientConnectorError):
                reason = exc.os_error.strerror or str(exc.os_error)
            else:
                reason = str(exc) or type(exc).__name__
            message = (
                f"the faults API at {self.base} is not answering ({reason}); start the stack "
                "with `tlssim up`, or point TLSSIM_FAULTS_API at it"
            )
            raise FaultsApiError(message) from None
        if response.status >= 400:
            raise FaultsApiError(_error_message(text, response.status), response.status)
        return json.loads(text) if text.strip() else None

    def call(self, method: str, path: str, body: object = None) -> Any:
        return asyncio.run(self.acall(method, path, body))

    def proxies(self) -> dict[str, Any]:
        return dict(self.call("GET", "/proxies"))

    def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> Any:
        return self.call("POST", f"/proxies/{proxy}/toxics", toxic)

    def set_enabled(self, proxy: str, enabled: bool) -> Any:
        return self.call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def reset(self) -> None:
        self.call("POST", "/reset")


def _error_message(text: str, status: int) -> str:
    """The API's own sentence from its JSON error body, else the status."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f"faults API: {body['error']}"
    return f"faults API answered {status}: {text.strip()[:200]}"
