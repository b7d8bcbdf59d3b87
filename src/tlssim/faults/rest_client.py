"""A small client for the faults REST API (the same API Toxiproxy clients speak)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any


class FaultsApiError(RuntimeError):
    pass


class FaultsApi:
    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.base = f"http://{address}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise FaultsApiError(f"{method} {path}: {exc.code} {detail}") from None
        except OSError as exc:
            raise FaultsApiError(f"the faults API at {self.base} is not answering: {exc}") from None
        return json.loads(text) if text.strip() else None

    async def acall(self, method: str, path: str, body: object = None) -> Any:
        return await asyncio.to_thread(self.call, method, path, body)

    def proxies(self) -> dict[str, Any]:
        return dict(self.call("GET", "/proxies"))

    def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> Any:
        return self.call("POST", f"/proxies/{proxy}/toxics", toxic)

    def set_enabled(self, proxy: str, enabled: bool) -> Any:
        return self.call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def reset(self) -> None:
        self.call("POST", "/reset")
