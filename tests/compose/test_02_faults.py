"""Failure behaviour of the stack: the revocation responder goes away.

Runs after test_01 (file order) and before revocation, which spoils valid.tlssim.test.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tlssim.harness.localstack import handshake_report
from tlssim.report.model import Report
from tlssim.report.revocation import RevocationStatus

from .conftest import Stack

pytestmark = [pytest.mark.compose, pytest.mark.timeout(600)]

VALID = "valid.tlssim.test"


def _set_proxy(name: str, enabled: bool) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:8474/proxies/{name}",
        data=json.dumps({"enabled": enabled}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


@pytest.fixture
def responder_stopped(stack: Stack) -> Iterator[None]:
    """The ocsp container is stopped; started again (and healthy) afterwards."""
    stack.container("ocsp").stop(timeout=5)
    try:
        yield
    finally:
        stack.container("ocsp").start()
        stack.wait_healthy(("ocsp",))


def _handshake(stack: Stack, policy: str) -> Report:
    return handshake_report(
        stack.exec_tlssim(
            "client",
            "handshake",
            "--server-name",
            VALID,
            "--revocation",
            policy,
            "--no-staple",
            "--json",
        )
    )


def test_soft_fail_passes_with_a_warning_when_the_responder_is_down(
    stack: Stack, responder_stopped: None
) -> None:
    report = _handshake(stack, "soft")
    assert report.ok is True, report.alert
    assert report.revocation.status == RevocationStatus.UNAVAILABLE
    assert any("soft-fail" in w for w in report.warnings), report.warnings


def test_hard_fail_fails_when_the_responder_is_down(stack: Stack, responder_stopped: None) -> None:
    report = _handshake(stack, "hard")
    assert report.ok is False
    assert report.revocation.status == RevocationStatus.UNAVAILABLE
    assert report.alert is not None
    assert report.alert.description == "certificate_unknown"


def test_a_disabled_link_fails_the_handshake_and_comes_back(stack: Stack) -> None:
    _set_proxy("client_server", enabled=False)
    try:
        done = stack.exec_tlssim("client", "handshake", "--server-name", VALID, "--json")
        assert done.returncode != 0
    finally:
        _set_proxy("client_server", enabled=True)
    report = handshake_report(
        stack.exec_tlssim("client", "handshake", "--server-name", VALID, "--json")
    )
    assert report.ok is True
