"""`tlssim propagation` under `tlssim up`: a revocation reaches the responder and the staple,
the partition tail is bounded by the settings, and the host is served valid afterwards; the
reports name the replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tlssim.report.revocation import RevocationStatus

from .conftest import LocalStack, running_stack

FEED_MAX_AGE_S = 4.0  # TEST_SETTINGS in conftest.py


def propagation(stack: LocalStack, *args: str) -> dict[str, Any]:
    done = stack.tlssim("propagation", "--yes", "--json", *args, timeout=180)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def test_a_revocation_reaches_every_responder_and_staple(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        quick = propagation(stack, "--load", "2")
        assert quick["complete"]
        # Clients kept handshaking meanwhile: each either passed or met the revocation.
        assert quick["load"]["completed"] > 0
        for error in quick["load"]["errors"]:
            assert (error["kind"], error["description"]) == ("alert", "certificate_revoked")
        assert quick["ocsp"]["observers"] >= 1 and quick["staple"]["observers"] >= 1
        for kind in ("ocsp", "staple", "all"):
            spread = quick[kind]
            assert spread["revoked"] == spread["observers"]
            assert 0 <= spread["p50_s"] <= spread["p99_s"] <= spread["max_s"]
        # Pushed by the feed, no polling anywhere: well under the refresh interval.
        assert quick["all"]["max_s"] < quick["bounds"]["staple_refresh_s"]
        assert quick["bounds"]["feed_max_age_s"] == FEED_MAX_AGE_S

        cut = propagation(stack, "--partition", "3")
        assert cut["complete"] and cut["partition_s"] == 3
        # Cut off, the responder hears nothing until the link heals...
        assert cut["ocsp"]["p50_s"] >= 3
        # ...and says good meanwhile only while its feed is younger than the bound.
        assert cut["ocsp"]["stale_good_answers"] > 0
        assert cut["ocsp"]["last_stale_good_s"] <= FEED_MAX_AGE_S + 0.5
        # The server heard of it on its own feed: no staple said good past that moment.
        assert cut["staple"]["last_stale_good_s"] is None or cut["staple"]["last_stale_good_s"] < 1

        # The host is served valid again afterwards, with new certificates.
        report = stack.handshake("--revocation", "hard", ok=True)
        assert report.revocation.status == RevocationStatus.GOOD


def test_reports_name_the_client_and_server_replicas(stack: LocalStack) -> None:
    env = {**stack.env}
    replicas = stack.handshake(env=env, ok=True).replicas
    assert replicas is not None and replicas.client and replicas.server
    assert stack.handshake("--resume", env=env).replicas == replicas
    story = stack.tlssim("handshake", env=env)
    assert f"server replica {replicas.server}" in story.stdout, story.stdout
    # A handshake that fails on the certificate still says which replica served it.
    refused = stack.handshake("--server-name", "revoked.tlssim.test", env=env, ok=False)
    assert refused.replicas == replicas


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--partition", "-1"), "--partition must be 0..600"),
        (("--load", "-3"), "--load must be 0..512"),
        (("--interval", "0"), "--interval must be above 0"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_revoked(
    args: tuple[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tlssim", "propagation", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), "TLSSIM_ADMIN_TOKEN": "x"},
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
