"""Revocation travels ca -> responder -> server staple / live OCSP -> client, while running."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import LocalStack, running_stack
from tlssim.report.model import Alert, Party, Report
from tlssim.report.revocation import RevocationSource, RevocationStatus

pytestmark = pytest.mark.integration

# The server refetches staples every 5 s (TLSSIM_STAPLE_REFRESH_S); the feed adds well under 1 s.
FRESHNESS_BOUND_S = 12.0
HOST = "ecdsa-p256.tlssim.test"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of this module's own: revoking changes it for good."""
    with running_stack(tmp_path_factory.mktemp("revocation")) as started:
        yield started


def handshake(stack: LocalStack, *args: str) -> Report:
    return stack.handshake("--server-name", HOST, *args)


def test_live_ocsp_without_a_staple(own_stack: LocalStack) -> None:
    report = handshake(own_stack, "--no-staple", "--revocation", "hard")
    assert report.ok, report
    assert report.revocation.source == RevocationSource.OCSP
    assert report.revocation.status == RevocationStatus.GOOD


def test_revoking_fails_the_next_handshakes(own_stack: LocalStack) -> None:
    before = handshake(own_stack, "--revocation", "hard")
    assert before.ok and before.revocation.source == RevocationSource.STAPLE
    serial = before.chain[0].serial

    done = own_stack.tlssim("ca", "revoke", serial, "--reason", "keyCompromise")
    assert done.returncode == 0, done.stderr
    revoked_at = time.monotonic()

    live = handshake(own_stack, "--no-staple", "--revocation", "hard")
    assert live.alert == Alert(
        level="fatal", description="certificate_revoked", sent_by=Party.CLIENT
    )
    assert live.revocation.status == RevocationStatus.REVOKED

    while True:
        stapled = handshake(own_stack, "--revocation", "hard")
        if stapled.alert is not None:
            break
        assert time.monotonic() - revoked_at < FRESHNESS_BOUND_S, "staple still says good"
        time.sleep(0.5)
    assert stapled.alert.description == "certificate_revoked"
    assert stapled.revocation.source == RevocationSource.STAPLE
    assert stapled.revocation.status == RevocationStatus.REVOKED


def test_ca_list_shows_issued_and_revoked_certificates(stack: LocalStack) -> None:
    listed = stack.tlssim("ca", "list", "--host", "revoked.tlssim.test")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()[1:]
    assert rows and all("CN=revoked.tlssim.test" in row for row in rows)
    assert any("revoked (keyCompromise)" in row for row in rows)
    revoked_only = stack.tlssim("ca", "list", "--revoked").stdout.splitlines()[1:]
    assert revoked_only and all("revoked (" in row for row in revoked_only)
