"""Where the ACME service answers, as its clients (the scenarios, the command line) find it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from tlssim.pki.admin import ADMIN_TOKEN_FILE
from tlssim.topology import endpoints as ep

ACME_PORT: Final = 14000
ACME_GRPC_PORT: Final = 50055
HTTP01_PORT: Final = 5002


def client_view(env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """What an ACME client of the lab needs: the directory URL and the http-01 port (by
    default from this process's environment; TLSSIM_ACME_ADDR, TLSSIM_ACME_HTTP_PORT)."""
    e = os.environ if env is None else env
    host = e.get("TLSSIM_HOST", "").strip() or ep.DEFAULT_HOST
    address = e.get("TLSSIM_ACME_ADDR", "").strip() or f"{host}:{ACME_PORT}"
    port = e.get("TLSSIM_ACME_HTTP_PORT", "").strip()
    return f"https://{address}/directory", int(port) if port.isdigit() else HTTP01_PORT


def admin_token(env: Mapping[str, str] | None = None) -> str:
    """The deployment's admin token, as the command line finds it: TLSSIM_ADMIN_TOKEN, else
    the local ca's admin-token file (empty when neither)."""
    e = os.environ if env is None else env
    if token := e.get("TLSSIM_ADMIN_TOKEN", "").strip():
        return token
    state = e.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    path = Path(e.get("TLSSIM_DATA_DIR") or Path(state) / "tlssim") / "ca" / ADMIN_TOKEN_FILE
    return path.read_text(encoding="ascii").strip() if path.exists() else ""
