"""The typed report and its JSON: one serializer, one parser, the schema's shape."""

from __future__ import annotations

import dataclasses
import json

import jsonschema

from tlssim.pki.checks import Check
from tlssim.report.model import (
    SCHEMA_VERSION,
    Alert,
    ApplicationData,
    Capture,
    ChainEntry,
    Direction,
    EarlyData,
    FirstHandshake,
    Party,
    Replicas,
    Report,
    Step,
    Timings,
    load_schema,
)
from tlssim.report.revocation import (
    NOT_DECIDED,
    CertificateRevocation,
    Revocation,
    RevocationPolicy,
    RevocationSource,
    RevocationStatus,
)

CHECKS = (
    Check("hostname", True, "valid.tlssim.test matches SAN valid.tlssim.test"),
    Check("revocation/leaf", False, "unavailable: responder down", "certificate_unknown", "ocsp"),
)


def full_report() -> Report:
    """A report with every optional part present."""
    return Report(
        ok=False,
        trace_id="0123abcd",
        target="grpc://127.0.0.1:50053",
        server_name=None,
        version="TLSv1.3",
        cipher_suite="TLS_AES_128_GCM_SHA256",
        key_exchange="x25519",
        resumed=True,
        signature_scheme="ecdsa_secp256r1_sha256",
        chain=(
            ChainEntry(
                subject="CN=valid.tlssim.test",
                issuer="CN=tlssim Intermediate CA",
                serial="1f2e",
                not_before="2026-01-01T00:00:00+00:00",
                not_after="2026-04-01T00:00:00+00:00",
            ),
        ),
        checks=CHECKS,
        revocation=Revocation(
            policy=RevocationPolicy.HARD,
            status=RevocationStatus.UNAVAILABLE,
            source=RevocationSource.OCSP,
            detail="responder unavailable",
            checked_ms=12.5,
            certificates=(
                CertificateRevocation(
                    position=0,
                    subject="CN=valid.tlssim.test",
                    serial="1f2e",
                    status=RevocationStatus.UNAVAILABLE,
                    source=RevocationSource.OCSP,
                    detail="responder unavailable",
                ),
            ),
        ),
        alert=Alert(level="fatal", description="certificate_unknown", sent_by=Party.CLIENT),
        application_data=ApplicationData(sent=4, echoed=0),
        warnings=("soft-fail: something",),
        error=None,
        steps=(
            Step(
                name="ClientHello",
                direction=Direction.SENT,
                at_ms=0.25,
                size=512,
                fields={"server_name": "valid.tlssim.test", "cipher_suites": ["TLS_AES_128"]},
            ),
            Step(
                name="ChainValidation",
                direction=Direction.LOCAL,
                at_ms=3.5,
                size=0,
                fields={"checks": [c.as_dict() for c in CHECKS]},
            ),
        ),
        timings=Timings(total_ms=20.0, handshake_ms=9.0, revocation_ms=12.5),
        keylog=("CLIENT_TRAFFIC_SECRET_0 00ff 11ee",),
        capture=Capture(client_to_server=b"\x16\x03\x01", server_to_client=b"\x16\x03\x03"),
        first_handshake=FirstHandshake(
            ok=True,
            version="TLSv1.3",
            cipher_suite="TLS_AES_128_GCM_SHA256",
            resumed=False,
            timings=Timings(total_ms=8.0, first_server_flight_ms=2.0),
            steps=("ClientHello", "ServerHello"),
        ),
        early_data=EarlyData(requested=19, sent=19, accepted=False, reason="replay", resent=True),
        authenticated_as="CN=client.tlssim.test",
    )


def test_the_json_follows_the_schema_and_says_its_version() -> None:
    document = json.loads(full_report().to_json())
    jsonschema.validate(document, load_schema())
    assert document["schema_version"] == SCHEMA_VERSION
    assert load_schema()["$id"].endswith(f"/{SCHEMA_VERSION}")
    assert document["alert"] == {
        "level": "fatal",
        "description": "certificate_unknown",
        "sent_by": "client",
    }
    assert document["revocation"]["certificates"][0]["status"] == "unavailable"
    assert document["capture"] == {"client_to_server": "160301", "server_to_client": "160303"}
    assert document["timings"] == {"total_ms": 20.0, "handshake_ms": 9.0, "revocation_ms": 12.5}
    assert document["early_data"] == {
        "requested": 19,
        "sent": 19,
        "accepted": False,
        "reason": "replay",
        "resent": True,
    }
    assert document["authenticated_as"] == "CN=client.tlssim.test"
    assert document["checks"][1] == {
        "name": "revocation/leaf",
        "ok": False,
        "detail": "unavailable: responder down",
        "source": "ocsp",
        "alert": "certificate_unknown",
    }


def test_round_trip_report_json_report_json() -> None:
    report = full_report()
    text = report.to_json(indent=2)
    again = Report.from_json(text)
    assert again == report
    assert again.to_json(indent=2) == text


def test_a_report_without_the_optional_parts() -> None:
    report = Report(
        ok=False,
        trace_id="t",
        target="tcp://127.0.0.1:1",
        server_name="valid.tlssim.test",
        version=None,
        cipher_suite=None,
        key_exchange=None,
        resumed=False,
        signature_scheme=None,
        chain=(),
        checks=(),
        revocation=NOT_DECIDED,
        alert=None,
        application_data=ApplicationData(sent=4, echoed=0),
        warnings=(),
        error="cannot connect to 127.0.0.1:1: refused",
        steps=(),
        timings=Timings(total_ms=0.0),
    )
    document = json.loads(report.to_json())
    jsonschema.validate(document, load_schema())
    assert not {
        "keylog",
        "capture",
        "first_handshake",
        "early_data",
        "authenticated_as",
    } & set(document)
    assert document["revocation"] == {"policy": "off", "status": "unknown", "source": None}
    assert Report.from_json(report.to_json()).to_json() == report.to_json()


def test_a_report_from_before_the_version_still_reads() -> None:
    document = json.loads(full_report().to_json())
    del document["schema_version"]
    assert Report.from_dict(document).schema_version == SCHEMA_VERSION


def test_the_replicas_travel_in_the_json_and_follow_the_schema() -> None:
    named = dataclasses.replace(full_report(), replicas=Replicas(client="client.2", server=None))
    document = json.loads(named.to_json())
    jsonschema.validate(document, load_schema())
    assert document["replicas"] == {"client": "client.2", "server": None}
    assert Report.from_json(named.to_json()) == named
    assert "replicas" not in json.loads(full_report().to_json())
