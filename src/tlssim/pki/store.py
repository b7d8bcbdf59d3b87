"""Durable SQLite store: CA keys, issued certificates, revocations and the status feed."""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DATABASE_FILE: Final = "pki.sqlite3"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS cas (
    id TEXT PRIMARY KEY,
    parent_id TEXT,
    trusted INTEGER NOT NULL,
    key_pem BLOB NOT NULL,
    cert_der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    serial_hex TEXT PRIMARY KEY,
    issuer_id TEXT NOT NULL REFERENCES cas(id),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    cert_der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    serial_hex TEXT PRIMARY KEY REFERENCES certificates(serial_hex),
    revoked_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    sequence INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    serial_hex TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    revocation_time INTEGER,
    reason TEXT NOT NULL DEFAULT ''
);
"""


class EventKind(enum.Enum):
    ISSUED = "ISSUED"
    REVOKED = "REVOKED"


@dataclass(frozen=True, slots=True)
class StoredCa:
    id: str
    parent_id: str | None
    trusted: bool
    key_pem: bytes
    cert_der: bytes


@dataclass(frozen=True, slots=True)
class Issuance:
    """A certificate to record as issued."""

    serial_hex: str
    issuer_id: str
    profile: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    cert_der: bytes


@dataclass(frozen=True, slots=True)
class IssuedRecord:
    serial_hex: str
    issuer_id: str
    profile: str
    subject: str
    cert_der: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedCertificate:
    serial_hex: str
    subject: str
    issuer_id: str
    profile: str
    not_before: dt.datetime
    not_after: dt.datetime
    revocation_reason: str | None  # None: not revoked


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    serial_hex: str
    revoked_at: dt.datetime
    reason: str
    sequence: int


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One entry of the append-only status feed."""

    sequence: int
    kind: EventKind
    serial_hex: str
    issuer_id: str
    revocation_time: dt.datetime | None = None
    reason: str = ""


def _to_epoch(t: dt.datetime) -> int:
    return int(t.timestamp())


def _from_epoch(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class CertificateStore:
    """All PKI state in one SQLite file; every write is durable once the call returns."""

    def __init__(self, data_dir: Path) -> None:
        # The database holds the CAs' private keys: only the service's user may read it.
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        self.path = data_dir / DATABASE_FILE
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.chmod(0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- CAs ---------------------------------------------------------------------------

    def load_cas(self) -> dict[str, StoredCa]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, parent_id, trusted, key_pem, cert_der FROM cas"
            ).fetchall()
        return {r[0]: StoredCa(r[0], r[1], bool(r[2]), bytes(r[3]), bytes(r[4])) for r in rows}

    def save_ca(self, ca: StoredCa, issued: Issuance | None = None) -> StatusEvent | None:
        """Stores a CA and, for one with a parent, its certificate as issued by that parent
        (so that it can be revoked, and shows in the feed and the parent's CRL), in one
        transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO cas (id, parent_id, trusted, key_pem, cert_der)"
                    " VALUES (?,?,?,?,?)",
                    (ca.id, ca.parent_id, int(ca.trusted), ca.key_pem, ca.cert_der),
                )
                event = None if issued is None else self._insert_issued(issued)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return event

    # -- certificates and revocations -------------------------------------------------

    def record_issued(
        self,
        *,
        serial_hex: str,
        issuer_id: str,
        profile: str,
        subject: str,
        not_before: dt.datetime,
        not_after: dt.datetime,
        cert_der: bytes,
    ) -> StatusEvent:
        """Stores the certificate and appends its ISSUED event, in one transaction."""
        issued = Issuance(serial_hex, issuer_id, profile, subject, not_before, not_after, cert_der)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                event = self._insert_issued(issued)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return event

    def _insert_issued(self, issued: Issuance) -> StatusEvent:
        self._db.execute(
            "INSERT INTO certificates VALUES (?,?,?,?,?,?,?)",
            (
                issued.serial_hex,
                issued.issuer_id,
                issued.profile,
                issued.subject,
                _to_epoch(issued.not_before),
                _to_epoch(issued.not_after),
                issued.cert_der,
            ),
        )
        cursor = self._db.execute(
            "INSERT INTO events (kind, serial_hex, issuer_id) VALUES (?,?,?)",
            (EventKind.ISSUED.value, issued.serial_hex, issued.issuer_id),
        )
        assert cursor.lastrowid is not None
        return StatusEvent(cursor.lastrowid, EventKind.ISSUED, issued.serial_hex, issued.issuer_id)

    def record_revocation(
        self, serial_hex: str, issuer_id: str, revoked_at: dt.datetime, reason: str
    ) -> StatusEvent:
        """Stores a revocation and appends its REVOKED event; a second revoke is a no-op
        that returns the first one's event."""
        epoch = _to_epoch(revoked_at)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                existing = self._db.execute(
                    "SELECT revoked_at, reason, sequence FROM revocations WHERE serial_hex=?",
                    (serial_hex,),
                ).fetchone()
                if existing is not None:
                    self._db.execute("COMMIT")
                    return StatusEvent(
                        existing[2],
                        EventKind.REVOKED,
                        serial_hex,
                        issuer_id,
                        _from_epoch(existing[0]),
                        existing[1],
                    )
                cursor = self._db.execute(
                    "INSERT INTO events (kind, serial_hex, issuer_id, revocation_time, reason)"
                    " VALUES (?,?,?,?,?)",
                    (EventKind.REVOKED.value, serial_hex, issuer_id, epoch, reason),
                )
                self._db.execute(
                    "INSERT INTO revocations VALUES (?,?,?,?)",
                    (serial_hex, epoch, reason, cursor.lastrowid),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        assert cursor.lastrowid is not None
        return StatusEvent(
            cursor.lastrowid,
            EventKind.REVOKED,
            serial_hex,
            issuer_id,
            _from_epoch(epoch),
            reason,
        )

    def certificate(self, serial_hex: str) -> IssuedRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT serial_hex, issuer_id, profile, subject, cert_der"
                " FROM certificates WHERE serial_hex=?",
                (serial_hex,),
            ).fetchone()
        return None if row is None else IssuedRecord(row[0], row[1], row[2], row[3], bytes(row[4]))

    def listing(self, host: str, revoked_only: bool, limit: int) -> list[ListedCertificate]:
        """Issued certificates, newest first; `host` matches the subject's CN."""
        query = (
            "SELECT c.serial_hex, c.subject, c.issuer_id, c.profile, c.not_before, c.not_after,"
            " r.reason FROM certificates c LEFT JOIN revocations r USING (serial_hex)"
            " WHERE (? = '' OR c.subject = ? OR c.subject LIKE ?)"
            + (" AND r.serial_hex IS NOT NULL" if revoked_only else "")
            + " ORDER BY c.rowid DESC LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(query, (host, f"CN={host}", f"CN={host},%", limit)).fetchall()
        return [
            ListedCertificate(
                serial_hex=row[0],
                subject=row[1],
                issuer_id=row[2],
                profile=row[3],
                not_before=_from_epoch(row[4]),
                not_after=_from_epoch(row[5]),
                revocation_reason=row[6],
            )
            for row in rows
        ]

    def revocation(self, serial_hex: str) -> RevocationRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT serial_hex, revoked_at, reason, sequence FROM revocations"
                " WHERE serial_hex=?",
                (serial_hex,),
            ).fetchone()
        if row is None:
            return None
        return RevocationRecord(row[0], _from_epoch(row[1]), row[2], row[3])

    def revocations_by_issuer(self, issuer_id: str) -> list[RevocationRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT r.serial_hex, r.revoked_at, r.reason, r.sequence FROM revocations r"
                " JOIN certificates c ON c.serial_hex = r.serial_hex"
                " WHERE c.issuer_id=? ORDER BY r.sequence",
                (issuer_id,),
            ).fetchall()
        return [RevocationRecord(r[0], _from_epoch(r[1]), r[2], r[3]) for r in rows]

    # -- the status feed ----------------------------------------------------------------

    def events_after(self, sequence: int, limit: int = 500) -> list[StatusEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, kind, serial_hex, issuer_id, revocation_time, reason"
                " FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
                (sequence, limit),
            ).fetchall()
        return [
            StatusEvent(
                r[0],
                EventKind(r[1]),
                r[2],
                r[3],
                None if r[4] is None else _from_epoch(r[4]),
                r[5],
            )
            for r in rows
        ]

    def latest_sequence(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(sequence), 0) FROM events").fetchone()
        return int(row[0])
