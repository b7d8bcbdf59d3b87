"""The deployment's admin token, which RevokeCertificate callers must present."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Final

ADMIN_TOKEN_FILE: Final = "admin-token"
ADMIN_TOKEN_METADATA_KEY: Final = "x-tlssim-admin-token"


def load_or_create_admin_token(data_dir: Path, configured: str = "") -> str:
    """The configured token ($TLSSIM_ADMIN_TOKEN) if any, else the token saved in `data_dir`
    (created at first use, mode 0600, so the local CLI can read it)."""
    if token := configured.strip():
        return token
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
        f.flush()
        os.fsync(f.fileno())
    return token


def token_matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())
