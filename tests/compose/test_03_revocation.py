"""Revocation end to end: revoke valid.tlssim.test's leaf, then restart the ca.

Spoils valid.tlssim.test for the rest of the session, so it runs last (file order).
"""

from __future__ import annotations

import time

import pytest

from tlssim.harness.localstack import handshake_report
from tlssim.report.model import Report
from tlssim.report.revocation import RevocationStatus

from .conftest import Stack

pytestmark = [pytest.mark.compose, pytest.mark.timeout(600)]

VALID = "valid.tlssim.test"
PROPAGATION_S = 30.0


def _handshake(stack: Stack) -> Report:
    return handshake_report(
        stack.host_tlssim("handshake", "--server-name", VALID, "--revocation", "hard", "--json")
    )


def _wait_revoked(stack: Stack) -> Report:
    """Status changes flow ca → ocsp → (staple) → client: allow them a moment."""
    deadline = time.monotonic() + PROPAGATION_S
    while True:
        report = _handshake(stack)
        if report.revocation.status == RevocationStatus.REVOKED or time.monotonic() > deadline:
            return report
        time.sleep(1)


def test_revoked_leaf_fails_with_certificate_revoked_and_survives_a_ca_restart(
    stack: Stack,
) -> None:
    before = _handshake(stack)
    assert before.ok is True, before.alert
    serial = before.chain[0].serial

    done = stack.host_tlssim("ca", "revoke", serial)
    assert done.returncode == 0, done.stderr

    after = _wait_revoked(stack)
    assert after.ok is False
    assert after.revocation.status == RevocationStatus.REVOKED
    assert after.alert is not None
    assert after.alert.description == "certificate_revoked"

    stack.container("ca").restart(timeout=10)
    stack.wait_healthy(("ca",))
    again = _wait_revoked(stack)
    assert again.revocation.status == RevocationStatus.REVOKED, "the ca forgot the revocation"
    assert again.alert is not None
    assert again.alert.description == "certificate_revoked"
