"""The responder's status table and the admin token file."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tlssim.pki import Authority, CertStatus
from tlssim.pki.admin import (
    ADMIN_TOKEN_FILE,
    load_or_create_admin_token,
    token_matches,
)
from tlssim.pki.status_table import FeedEvent, StatusTable


def test_status_table_applies_feed_events_once_and_in_order(authority: Authority) -> None:
    issuer = authority.ca("intermediate").certificate
    der = issuer.public_bytes(serialization.Encoding.DER)
    table = StatusTable()
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    table.apply(FeedEvent(1, False, "0a", der))
    table.apply(FeedEvent(2, True, "0a", der, when, "keyCompromise"))
    table.apply(FeedEvent(1, False, "0a", der))  # a replay after reconnecting: ignored
    table.apply(FeedEvent(3, False, "0b", der))
    assert table.last_sequence == 3
    revoked = table.lookup(issuer, 0x0A)
    assert (revoked.status, revoked.revocation_time) == (CertStatus.REVOKED, when)
    assert table.lookup(issuer, 0x0B).status is CertStatus.GOOD
    assert table.lookup(issuer, 0x0C).status is CertStatus.UNKNOWN
    other = authority.ca("untrusted-intermediate").certificate
    assert table.lookup(other, 0x0B).status is CertStatus.UNKNOWN


def test_admin_token_is_created_once_private_and_env_wins(tmp_path: Path) -> None:
    token = load_or_create_admin_token(tmp_path)
    assert len(token) >= 32
    path = tmp_path / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_admin_token(tmp_path) == token
    assert load_or_create_admin_token(tmp_path, " from-env\n") == "from-env"
    assert token_matches(token, token)
    assert not token_matches(None, token)
    assert not token_matches(token + "x", token)
