"""A small client for the faults REST API (the same API Toxiproxy clients speak)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class FaultsApiError(RuntimeError):
    pass


class FaultsApi:
    """`acall` inside a running loop; `call` and the helpers below from synchronous code."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.base = f"http://{address}"
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
            reason = str(exc) or type(exc).__name__
            message = f"the faults API at {self.base} is not answering: {reason}"
            raise FaultsApiError(message) from None
        if response.status >= 400:
            raise FaultsApiError(f"{method} {path}: {response.status} {text.strip()}")
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
