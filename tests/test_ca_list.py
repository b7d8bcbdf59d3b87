"""`tlssim ca list`: every column starts at the same place on every line."""

from __future__ import annotations

from types import SimpleNamespace

from tlssim.cli.main import certificate_rows


def _certificate(serial: str, revoked: bool, reason: str, profile: str) -> SimpleNamespace:
    return SimpleNamespace(
        serial_hex=serial,
        revoked=revoked,
        reason=reason,
        profile=profile,
        not_after=1_800_000_000,
        subject=f"CN={profile}.tlssim.test",
    )


def test_columns_stay_in_line_after_a_long_revocation_reason() -> None:
    rows = certificate_rows(
        [
            _certificate("ac04fd7d152729f694caab6a8d4238d9", True, "keyCompromise", "revoked"),
            _certificate("ea36ff9dea81e2f43a268337315afee", False, "", "client-expired-long"),
            _certificate("01", True, "cessationOfOperation", "server"),
        ]
    )
    for column in ("status", "profile", "not after", "subject"):
        start = rows[0].index(column)
        for row in rows[1:]:
            assert row[start - 1] == " " and row[start] != " ", (column, rows)
    assert "revoked (cessationOfOperation) server" in rows[3]
