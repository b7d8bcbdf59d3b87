"""A name sent to a service's API cannot forge a line of `tlssim up`'s log."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration


def test_an_upstream_with_a_newline_forges_no_log_line(stack: LocalStack) -> None:
    api = f"http://{stack.env['TLSSIM_FAULTS_API']}"
    body = {"name": "forger", "listen": "127.0.0.1:0", "upstream": "evil\n[faults] host:80"}
    request = urllib.request.Request(
        f"{api}/proxies",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError:
        pass  # refusing the name is as good
    try:
        time.sleep(0.5)  # the launcher copies the line into the log
        lines = stack.logs().splitlines()
        assert not any(line.startswith("[faults] host:80") for line in lines)
        assert not any("[faults] [faults]" in line for line in lines)
    finally:
        delete = urllib.request.Request(f"{api}/proxies/forger", method="DELETE")
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(delete, timeout=10).close()
