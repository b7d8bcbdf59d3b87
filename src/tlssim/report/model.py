"""The handshake report (schema.json): what the client saw, step by step, as typed
values; `to_dict`/`to_json` is the one way they become JSON and `from_dict`/`from_json` the
way back (what the CLI, the scenarios and the benchmarks read)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from tlssim.pki.checks import Check
from tlssim.report.revocation import (
    CertificateRevocation,
    Revocation,
    RevocationPolicy,
    RevocationSource,
    RevocationStatus,
)
from tlssim.report.wirecost import handshake_cost

SCHEMA_VERSION: Final = 1


class Direction(enum.StrEnum):
    SENT = "sent"  # client -> server
    RECEIVED = "received"  # server -> client
    LOCAL = "local"  # in the client


class Party(enum.StrEnum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """A message or a local event of the handshake, `at_ms` after the run started."""

    name: str
    direction: Direction
    at_ms: float
    size: int
    fields: Mapping[str, Any]  # decoded message fields, JSON values


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainEntry:
    """A certificate as presented (leaf first)."""

    subject: str
    issuer: str
    serial: str  # hex
    not_before: str  # ISO 8601
    not_after: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    """The fatal alert that ended the handshake, and who sent it."""

    level: str
    description: str
    sent_by: Party


_TIMING_KEYS: Final = (
    "total_ms",
    "first_server_flight_ms",
    "handshake_ms",
    "verification_ms",
    "revocation_ms",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Timings:
    """Milliseconds since the run started (durations for verification and revocation)."""

    total_ms: float
    first_server_flight_ms: float | None = None
    handshake_ms: float | None = None
    verification_ms: float | None = None
    revocation_ms: float | None = None

    def get(self, key: str) -> float | None:
        """A timing by its report key, e.g. "handshake_ms"."""
        value = getattr(self, key) if key in _TIMING_KEYS else None
        return None if value is None else float(value)

    def items(self) -> list[tuple[str, float]]:
        """The timings that were measured, in report order."""
        return [(k, v) for k in _TIMING_KEYS if (v := getattr(self, k)) is not None]


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplicationData:
    sent: int
    echoed: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Capture:
    """Both directions' raw bytes, for offline decryption (`tlssim decrypt`), and the order
    they crossed the wire in: (sender, byte count) per chunk, "client" or "server"."""

    client_to_server: bytes
    server_to_client: bytes
    order: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Wire:
    """What went over the connection as TLS records, both ways: record headers, AEAD tags
    and padding included, and every record (handshake, change_cipher_spec, application
    data, alerts). The steps' sizes are handshake message bytes only."""

    sent_bytes: int
    received_bytes: int
    sent_records: int
    received_records: int


@dataclass(frozen=True, kw_only=True, slots=True)
class EarlyData:
    """--early-data: what the client sent in 0-RTT, and what the server did with it."""

    requested: int  # bytes asked to go in 0-RTT
    sent: int  # bytes that went in 0-RTT (0: the ticket allowed none, or too few)
    accepted: bool
    reason: str  # why not accepted ("" when accepted)
    resent: bool  # sent again as ordinary application data once connected


@dataclass(frozen=True, kw_only=True, slots=True)
class Replicas:
    """Which replicas took part: the client service's that ran the handshake, and the
    server's that answered it (None when it did not say: another TLS server, or none)."""

    client: str | None = None
    server: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FirstHandshake:
    """The full handshake of a --resume run, before the one that resumed its session."""

    ok: bool
    version: str | None
    cipher_suite: str | None
    resumed: bool
    timings: Timings
    steps: tuple[str, ...]  # step names


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    ok: bool  # handshake completed, verified, and the echo matched
    trace_id: str
    target: str  # grpc://HOST:PORT or tcp://HOST:PORT
    server_name: str | None  # the SNI sent
    version: str | None
    cipher_suite: str | None
    key_exchange: str | None
    resumed: bool
    signature_scheme: str | None
    chain: tuple[ChainEntry, ...]
    checks: tuple[Check, ...]
    revocation: Revocation
    alert: Alert | None
    application_data: ApplicationData
    warnings: tuple[str, ...]
    error: str | None  # a transport failure, not a TLS alert
    steps: tuple[Step, ...]
    timings: Timings
    keylog: tuple[str, ...] | None = None  # NSS key log lines, when asked for
    capture: Capture | None = None  # when asked for
    first_handshake: FirstHandshake | None = None  # --resume only
    early_data: EarlyData | None = None  # --early-data only
    # The echo protocol's private path: whom the server authenticated after the handshake.
    authenticated_as: str | None = None
    replicas: Replicas | None = None  # when a replica named itself
    wire: Wire | None = None  # when a connection was made
    # Every record both ways, decoded (report.records.to_dicts): what a watcher of the
    # client service gets of a capture, with no secret and no raw byte beyond the headers.
    records: tuple[dict[str, Any], ...] | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def to_json(self, indent: int | None = None) -> str:
        return to_json(self, indent)

    @staticmethod
    def from_json(text: str | bytes) -> Report:
        return from_json(text)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Report:
        return from_dict(d)

    def first_handshake_summary(self) -> FirstHandshake:
        """This report as the first handshake of a --resume run."""
        return FirstHandshake(
            ok=self.ok,
            version=self.version,
            cipher_suite=self.cipher_suite,
            resumed=self.resumed,
            timings=self.timings,
            steps=tuple(s.name for s in self.steps),
        )


def load_schema() -> dict[str, Any]:
    text = resources.files("tlssim.report").joinpath("schema.json").read_text()
    return dict(json.loads(text))


# -- to JSON ----------------------------------------------------------------------------------


def to_json(report: Report, indent: int | None = None) -> str:
    return json.dumps(to_dict(report), indent=indent)


def to_dict(report: Report) -> dict[str, Any]:
    """The report as the schema's JSON object."""
    out: dict[str, Any] = {
        "schema_version": report.schema_version,
        "ok": report.ok,
        "trace_id": report.trace_id,
        "target": report.target,
        "server_name": report.server_name,
        "version": report.version,
        "cipher_suite": report.cipher_suite,
        "key_exchange": report.key_exchange,
        "resumed": report.resumed,
        "signature_scheme": report.signature_scheme,
        "chain": [_plain(c) for c in report.chain],
        "checks": [c.as_dict() for c in report.checks],
        "revocation": _revocation(report.revocation),
        "alert": None if report.alert is None else _plain(report.alert),
        "application_data": _plain(report.application_data),
        "warnings": list(report.warnings),
        "error": report.error,
        "steps": [_plain(s) | {"fields": dict(s.fields)} for s in report.steps],
        "timings": dict(report.timings.items()),
        # derived from the steps (from_dict recomputes it): what the handshake weighed
        "cost": handshake_cost(report.steps).as_dict(),
    }
    if report.keylog is not None:
        out["keylog"] = list(report.keylog)
    if report.capture is not None:
        out["capture"] = {
            "client_to_server": report.capture.client_to_server.hex(),
            "server_to_client": report.capture.server_to_client.hex(),
        }
        if report.capture.order:
            out["capture"]["order"] = [list(chunk) for chunk in report.capture.order]
    if report.replicas is not None:
        out["replicas"] = _plain(report.replicas)
    if (first := report.first_handshake) is not None:
        out["first_handshake"] = {
            "ok": first.ok,
            "version": first.version,
            "cipher_suite": first.cipher_suite,
            "resumed": first.resumed,
            "timings": dict(first.timings.items()),
            "steps": list(first.steps),
        }
    if report.early_data is not None:
        out["early_data"] = _plain(report.early_data)
    if report.authenticated_as is not None:
        out["authenticated_as"] = report.authenticated_as
    if report.wire is not None:
        out["wire"] = _plain(report.wire)
    if report.records is not None:
        out["records"] = list(report.records)
    return out


def _plain(value: Any) -> dict[str, Any]:
    """A flat dataclass of JSON values (enums are strings) as a dict, in field order."""
    return {name: getattr(value, name) for name in value.__slots__}


def _revocation(r: Revocation) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": r.policy, "status": r.status, "source": r.source}
    if r.detail is not None:
        out["detail"] = r.detail
    if r.checked_ms is not None:
        out["checked_ms"] = r.checked_ms
    if r.location:
        out["location"] = r.location
    if r.certificates is not None:
        out["certificates"] = [_plain(c) for c in r.certificates]
    return out


# -- from JSON --------------------------------------------------------------------------------


def from_json(text: str | bytes) -> Report:
    return from_dict(json.loads(text))


# Direction(value) goes through Enum's metaclass call, about a microsecond each; a report
# has a few dozen steps and the console reads every report.
_DIRECTIONS = {d.value: d for d in Direction}


def from_dict(d: Mapping[str, Any]) -> Report:
    """A report from the schema's JSON object (raises KeyError/ValueError when it is not)."""
    alert = d["alert"]
    capture = d.get("capture")
    first = d.get("first_handshake")
    early = d.get("early_data")
    replicas = d.get("replicas")
    wire = d.get("wire")
    return Report(
        schema_version=int(d.get("schema_version", SCHEMA_VERSION)),
        ok=bool(d["ok"]),
        trace_id=d["trace_id"],
        target=d["target"],
        server_name=d["server_name"],
        version=d["version"],
        cipher_suite=d["cipher_suite"],
        key_exchange=d["key_exchange"],
        resumed=bool(d.get("resumed", False)),
        signature_scheme=d.get("signature_scheme"),
        chain=tuple(ChainEntry(**c) for c in d["chain"]),
        checks=tuple(_check(c) for c in d["checks"]),
        revocation=_revocation_from(d["revocation"]),
        alert=None
        if alert is None
        else Alert(
            level=alert["level"], description=alert["description"], sent_by=Party(alert["sent_by"])
        ),
        application_data=ApplicationData(**d.get("application_data", {"sent": 0, "echoed": 0})),
        warnings=tuple(d.get("warnings", ())),
        error=d.get("error"),
        steps=tuple(
            Step(
                name=s["name"],
                direction=_DIRECTIONS[s["direction"]],
                at_ms=s["at_ms"],
                size=s["size"],
                fields=s["fields"],
            )
            for s in d["steps"]
        ),
        timings=Timings(**d["timings"]),
        keylog=None if d.get("keylog") is None else tuple(d["keylog"]),
        capture=None
        if capture is None
        else Capture(
            client_to_server=bytes.fromhex(capture["client_to_server"]),
            server_to_client=bytes.fromhex(capture["server_to_client"]),
            order=tuple((str(who), int(n)) for who, n in capture.get("order", ())),
        ),
        first_handshake=None
        if first is None
        else FirstHandshake(
            ok=bool(first["ok"]),
            version=first["version"],
            cipher_suite=first["cipher_suite"],
            resumed=bool(first["resumed"]),
            timings=Timings(**first["timings"]),
            steps=tuple(first["steps"]),
        ),
        early_data=None if early is None else EarlyData(**early),
        authenticated_as=d.get("authenticated_as"),
        replicas=None
        if replicas is None
        else Replicas(client=replicas.get("client"), server=replicas.get("server")),
        wire=None if wire is None else Wire(**wire),
        records=None if d.get("records") is None else tuple(d["records"]),
    )


def _check(c: Mapping[str, Any]) -> Check:
    return Check(
        c["name"],
        bool(c["ok"]),
        c.get("detail", ""),
        alert=c.get("alert"),
        source=c.get("source", ""),
    )


def _revocation_from(r: Mapping[str, Any]) -> Revocation:
    certificates = r.get("certificates")
    return Revocation(
        policy=RevocationPolicy(r["policy"]),
        status=RevocationStatus(r["status"]),
        source=None if r["source"] is None else RevocationSource(r["source"]),
        detail=r.get("detail"),
        checked_ms=r.get("checked_ms"),
        certificates=None
        if certificates is None
        else tuple(
            CertificateRevocation(
                position=c["position"],
                subject=c["subject"],
                serial=c["serial"],
                status=RevocationStatus(c["status"]),
                source=None if c["source"] is None else RevocationSource(c["source"]),
                detail=c["detail"],
                location=c.get("location", ""),
            )
            for c in certificates
        ),
        location=r.get("location", ""),
    )
