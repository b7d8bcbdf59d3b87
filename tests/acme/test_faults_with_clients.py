"""The ACME faults with real clients, each with its expected outcome (docs/acme.md,
"Faults on purpose"): refused nonces, slow validation and Retry-After are weathered;
a validation link that is down fails the order and issues nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acme.conftest import AcmeStack, started_acme_stack
from tests.acme.test_certbot import certbot
from tests.acme.test_lego import http, lego, serial_of, tls

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeStack]:
    with started_acme_stack(
        tmp_path_factory.mktemp("acme-faults"),
        TLSSIM_ACME_NONCE_REJECT="0.3",
        TLSSIM_ACME_VALIDATION_DELAY_S="1",
        TLSSIM_ACME_RETRY_AFTER_S="2",
    ) as started:
        yield started


def test_lego_weathers_refused_nonces_and_slow_validation(
    faulty: AcmeStack, tmp_path: Path
) -> None:
    name = "nonces.tlssim.test"
    lego(faulty, tmp_path, name, *tls(faulty), "run")
    assert serial_of(tmp_path, name) in faulty.listed(name)
    assert "badNonce" in faulty.stack.logs()


def test_certbot_weathers_refused_nonces_and_slow_validation(
    faulty: AcmeStack, tmp_path: Path
) -> None:
    name = "certbot-nonces.tlssim.test"
    certbot(
        faulty,
        tmp_path,
        "certonly",
        "--standalone",
        "--http-01-port",
        str(faulty.http01_port),
        "--http-01-address",
        "127.0.0.1",
        "-d",
        name,
        "--agree-tos",
        "-m",
        "certbot@tlssim.test",
    )
    assert name in faulty.listed(name)


def test_latency_on_the_validation_link_is_weathered(faulty: AcmeStack, tmp_path: Path) -> None:
    stack = faulty.stack
    added = stack.tlssim("faults", "add", "acme_http01", "latency", "latency=500")
    assert added.returncode == 0, added.stderr
    try:
        lego(faulty, tmp_path, "slow-link.tlssim.test", *http(faulty), "run")
    finally:
        stack.tlssim("faults", "reset")


def test_a_validation_link_that_is_down_fails_the_order(faulty: AcmeStack, tmp_path: Path) -> None:
    stack = faulty.stack
    assert stack.tlssim("faults", "disable", "acme_tlsalpn01").returncode == 0
    try:
        done = lego(faulty, tmp_path, "cut-off.tlssim.test", *tls(faulty), "run", check=False)
    finally:
        stack.tlssim("faults", "reset")
    assert done.returncode != 0
    assert "urn:ietf:params:acme:error:connection" in done.stderr
    assert "cut-off.tlssim.test" not in faulty.listed("cut-off.tlssim.test")
