"""`tlssim serve NAME`: runs one service in this process, configured from the environment."""

from __future__ import annotations

import os

from tlssim.services.runtime import SERVICE_NAMES
from tlssim.services.runtime import run_service as _run

__all__ = ["SERVICE_NAMES", "run_service"]


def run_service(name: str) -> int:
    return _run(name, os.environ)
