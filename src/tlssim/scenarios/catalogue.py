"""The scenario catalogue. Timing scenarios inject a large latency (100 ms) so that round
trips show plainly: TLS 1.3 takes one, TLS 1.2 two, a live OCSP query one more."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import serialization

from tlssim.pki import throwaway
from tlssim.scenarios import acme
from tlssim.scenarios.model import Expect, Fault, Scenario
from tlssim.topology import vhosts

RTT_MS = 100


def toxic(kind: str, stream: str = "downstream", **attributes: Any) -> dict[str, Any]:
    """A toxic as the faults API takes it."""
    return {"type": kind, "stream": stream, "attributes": attributes}


def latency(ms: int) -> dict[str, Any]:
    return toxic("latency", latency=ms, jitter=0)


def drop(**attributes: Any) -> dict[str, Any]:
    return toxic("tls_drop", **attributes)


@functools.cache
def impostor_pem(name: str = "valid.tlssim.test") -> str:
    """A self-signed certificate for `name` that no trust store knows: a man in the middle's."""
    cert, _ = throwaway.self_signed(name)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def tamper(**attributes: Any) -> dict[str, Any]:
    return toxic("tls_tamper", **attributes)


def _host_scenarios() -> tuple[Scenario, ...]:
    return tuple(
        Scenario(
            name=f"host-{host.name.removesuffix('.tlssim.test')}",
            description=f"a handshake with {host.name}",
            request={"server_name": host.name, "revocation": "hard"},
            expect=(
                Expect(ok=True)
                if host.expected == "success"
                else Expect(ok=False, alert=host.expected, sent_by=host.alert_from)
            ),
        )
        for host in vhosts.VIRTUAL_HOSTS
    )


def _latency_scenarios() -> tuple[Scenario, ...]:
    live = {"no_status_request": True, "revocation": "hard"}
    return tuple(
        Scenario(
            name=f"latency-{link}",
            description=f"50 ms latency on {link}: slower, still correct",
            faults=(Fault(link, latency(50)),),
            request=live if link == "client_ocsp" else {},
            expect=Expect(ok=True),
        )
        for link in ("client_server", "client_ocsp", "client_ca", "server_ocsp", "ocsp_ca")
    )


ROUND_TRIPS: tuple[Scenario, ...] = (
    Scenario(
        name="tls13-one-round-trip",
        description=f"{RTT_MS} ms on every server flight: TLS 1.3 completes after one",
        faults=(Fault("client_server", latency(RTT_MS)),),
        request={"tls_version": "1.3"},
        rtt_ms=RTT_MS,
        expect=Expect(ok=True, round_trips=("handshake_ms", 1)),
    ),
    Scenario(
        name="tls12-two-round-trips",
        description=f"{RTT_MS} ms on every server flight: TLS 1.2 needs two",
        faults=(Fault("client_server", latency(RTT_MS)),),
        request={"tls_version": "1.2"},
        rtt_ms=RTT_MS,
        expect=Expect(ok=True, round_trips=("handshake_ms", 2)),
    ),
    Scenario(
        name="stapled-ocsp-no-extra-round-trip",
        description=f"{RTT_MS} ms to the responder does not matter with a staple",
        faults=(Fault("client_ocsp", latency(RTT_MS)),),
        request={"revocation": "hard"},
        rtt_ms=RTT_MS,
        expect=Expect(ok=True, revocation="good", round_trips=("revocation_ms", 0)),
    ),
    Scenario(
        name="live-ocsp-one-extra-round-trip",
        description="without a staple the client asks the responder: one more round trip",
        faults=(Fault("client_ocsp", latency(RTT_MS)),),
        request={"revocation": "hard", "no_status_request": True},
        rtt_ms=RTT_MS,
        expect=Expect(ok=True, revocation="good", round_trips=("revocation_ms", 1)),
    ),
)

STAPLE_FAULTS: tuple[Scenario, ...] = (
    Scenario(
        name="stale-staple",
        description="the staple's nextUpdate has passed (the client's clock runs 2 h ahead)",
        request={"revocation": "soft", "clock_skew_seconds": 7200},
        expect=Expect(ok=False, alert="bad_certificate_status_response", sent_by="client"),
    ),
    Scenario(
        name="wrongly-signed-staple",
        description="the stapled response's responder certificate is damaged in flight "
        "(TLS 1.2 staples in the clear): its signature no longer verifies",
        # In the server's first flight the staple ends just before ServerKeyExchange (about
        # 120 bytes with ServerHelloDone): 140 bytes from the end is in the signature of the
        # responder certificate that closes the OCSP response.
        faults=(Fault("client_server", tamper(handshake_type="server_hello", flip_byte=-140)),),
        request={"tls_version": "1.2", "revocation": "soft"},
        expect=Expect(ok=False, alert="bad_certificate_status_response", sent_by="client"),
    ),
)

RESPONDER_DOWN = (Fault("client_ocsp", down=True), Fault("ocsp_http", down=True))

REVOCATION_PATH: tuple[Scenario, ...] = (
    Scenario(
        name="responder-ocsp-down-crl-fallback",
        description="OCSP is unreachable: the client falls back to the CRL",
        faults=(Fault("client_ocsp", down=True),),
        request={"revocation": "hard", "no_status_request": True},
        expect=Expect(ok=True, revocation="good", revocation_source="crl"),
    ),
    Scenario(
        name="responder-down-hard-fail",
        description="the responder (OCSP and CRLs) is unreachable and the policy is hard-fail",
        faults=RESPONDER_DOWN,
        request={"revocation": "hard", "no_status_request": True},
        expect=Expect(ok=False, alert="certificate_unknown", sent_by="client"),
    ),
    Scenario(
        name="responder-down-soft-fail",
        description="the responder (OCSP and CRLs) is unreachable and the policy is soft-fail",
        faults=RESPONDER_DOWN,
        request={"revocation": "soft", "no_status_request": True},
        expect=Expect(ok=True, revocation="unavailable", warning=True),
    ),
    Scenario(
        name="responder-down-must-staple",
        description="the responder (OCSP and CRLs) is unreachable; the must-staple host "
        "staples its leaf's answer, but a staple covers the leaf only: the intermediate's "
        "status needs the responder, and hard-fail refuses",
        faults=RESPONDER_DOWN,
        request={"server_name": "must-staple.tlssim.test", "revocation": "hard"},
        # past the client's cache of the intermediate's status (TLSSIM_STATUS_CACHE_S, 5 s)
        hold_s=6,
        expect=Expect(
            ok=False,
            alert="certificate_unknown",
            sent_by="client",
            failed_check="responder unavailable",
        ),
    ),
    Scenario(
        name="responder-slow-hard-fail",
        description="the responder answers after the client's 2 s timeouts",
        faults=(Fault("client_ocsp", latency(3000)), Fault("ocsp_http", latency(3000))),
        request={"revocation": "hard", "no_status_request": True},
        expect=Expect(ok=False, alert="certificate_unknown", sent_by="client"),
    ),
    Scenario(
        name="ocsp-ca-partition-past-freshness-bound",
        description="the responder loses the ca for longer than its freshness bound: it "
        "answers tryLater rather than a stale good (CRLs cut off, to see OCSP alone)",
        faults=(Fault("ocsp_ca", down=True), Fault("ocsp_http", down=True)),
        request={"revocation": "hard", "no_status_request": True},
        hold_s=2,
        hold_past_feed_bound=True,
        expect=Expect(
            ok=False, alert="certificate_unknown", sent_by="client", failed_check="TRY_LATER"
        ),
    ),
)


HANDSHAKE_FAULTS: tuple[Scenario, ...] = (
    Scenario(
        name="tamper-server-hello",
        description="the ServerHello random is changed in flight: the transcripts differ",
        faults=(Fault("client_server", tamper(handshake_type="server_hello", field="random")),),
        request={"tls_version": "1.3"},
        expect=Expect(ok=False, alert="bad_record_mac", sent_by="client"),
    ),
    Scenario(
        name="tamper-certificate",
        description="the leaf certificate is damaged in flight (TLS 1.2 sends it in the clear)",
        # The server's first flight is one record: ServerHello (164 bytes with its header,
        # 69 of them the tlssim_replica answer, padded to one size whoever answers), then the
        # Certificate; body byte 178 is the leaf's first (SEQUENCE tag) byte.
        faults=(Fault("client_server", tamper(handshake_type="server_hello", flip_byte=178)),),
        request={"tls_version": "1.2"},
        expect=Expect(ok=False, alert="bad_certificate", sent_by="client"),
    ),
    Scenario(
        name="swap-certificate",
        description="a man in the middle presents its own certificate for the name (TLS 1.2)",
        faults=(
            Fault(
                "client_server",
                toxic("tls_swap_certificate", certificate_pem=impostor_pem()),
            ),
        ),
        request={"tls_version": "1.2"},
        expect=Expect(ok=False, alert="unknown_ca", sent_by="client"),
    ),
    Scenario(
        name="tamper-finished",
        description="the server's encrypted flight ending in Finished is altered (TLS 1.3)",
        faults=(Fault("client_server", tamper(content_type="application_data")),),
        request={"tls_version": "1.3"},
        expect=Expect(ok=False, alert="bad_record_mac", sent_by="client"),
    ),
    Scenario(
        name="flip-ciphertext-bit",
        description="one bit of the server's first application data record is flipped",
        faults=(Fault("client_server", tamper(content_type="application_data", xor=1)),),
        request={"tls_version": "1.2"},
        expect=Expect(ok=False, alert="bad_record_mac", sent_by="client"),
    ),
    Scenario(
        name="downgrade-attempt",
        description="TLS 1.3 is stripped from the ClientHello: the client sees the sentinel",
        faults=(Fault("client_server", toxic("tls_downgrade", "upstream")),),
        expect=Expect(ok=False, alert="illegal_parameter", sent_by="client"),
    ),
    Scenario(
        name="downgrade-to-tls10",
        description="a client allowing legacy offers TLS 1.3 down to 1.0; a man in the middle "
        "leaves only TLS 1.0: the server (Mozilla's old profile) ends its random with "
        "DOWNGRD\\x00 and the client aborts",
        faults=(Fault("client_server", toxic("tls_downgrade", "upstream", to="1.0")),),
        request={"server_name": "mozilla-old.tlssim.test", "allow_legacy": True},
        expect=Expect(ok=False, alert="illegal_parameter", sent_by="client"),
    ),
    Scenario(
        name="cbc-padding-tamper",
        description="POODLE-style: one bit flipped in the server's CBC record changes its "
        "padding length byte (MAC-then-encrypt): bad_record_mac, as for any other tampering",
        faults=(Fault("client_server", tamper(content_type="application_data", flip_byte=-17)),),
        request={"server_name": "cbc.tlssim.test", "allow_legacy": True},
        expect=Expect(ok=False, alert="bad_record_mac", sent_by="client"),
    ),
    Scenario(
        name="cbc-mac-tamper",
        description="one bit flipped in the MAC of the server's CBC record: bad_record_mac, "
        "the same alert as a bad padding (no padding oracle)",
        faults=(Fault("client_server", tamper(content_type="application_data", flip_byte=-40)),),
        request={"server_name": "cbc.tlssim.test", "allow_legacy": True},
        expect=Expect(ok=False, alert="bad_record_mac", sent_by="client"),
    ),
)

BROKEN_LINKS: tuple[Scenario, ...] = (
    Scenario(
        name="dropped-server-hello",
        description="the ServerHello record is dropped: encrypted records follow out of turn",
        faults=(Fault("client_server", drop(handshake_type="server_hello")),),
        expect=Expect(ok=False, alert="unexpected_message", sent_by="client"),
    ),
    Scenario(
        name="server-answer-held",
        description="nothing comes back from the server: the client gives up at its 10 s "
        "deadline instead of hanging",
        faults=(Fault("client_server", toxic("timeout", timeout=0)),),
        expect=Expect(ok=False, error=True),
    ),
    Scenario(
        name="reset-mid-handshake",
        description="the client-server link is reset as soon as the server answers",
        faults=(
            Fault(
                "client_server",
                toxic("reset_peer", timeout=0),
            ),
        ),
        expect=Expect(ok=False, error=True),
    ),
    Scenario(
        name="client-server-link-down",
        description="the client cannot reach the server at all",
        faults=(Fault("client_server", down=True),),
        expect=Expect(ok=False, error=True),
    ),
)

CA_DOWN_AT_SERVER_START = Scenario(
    name="ca-down-while-server-starts",
    description="a server starts while the ca is unreachable: it waits, unhealthy, then "
    "enrolls and serves once the ca is back",
    procedure="ca_down_while_server_starts",
    expect=Expect(ok=True),
)

POST_QUANTUM: tuple[Scenario, ...] = (
    Scenario(
        name="pq-host-refuses-classical-client",
        description="a client offering only x25519 to the host that requires a post-quantum "
        "group: the server refuses",
        request={"server_name": "pq.tlssim.test", "groups": ["x25519"]},
        expect=Expect(ok=False, alert="handshake_failure", sent_by="server"),
    ),
    Scenario(
        name="mldsa-host-refuses-tls12",
        description="TLS 1.2 has no ML-DSA: the ML-DSA-65 host refuses a TLS 1.2 client",
        request={"server_name": "mldsa65.tlssim.test", "tls_version": "1.2"},
        expect=Expect(ok=False, alert="handshake_failure", sent_by="server"),
    ),
    Scenario(
        name="mldsa-live-ocsp",
        description="no staple: the client asks the responder about the ML-DSA leaf, and the "
        "ML-DSA-signed answer verifies",
        request={
            "server_name": "mldsa65.tlssim.test",
            "revocation": "hard",
            "no_status_request": True,
        },
        expect=Expect(ok=True, revocation="good", revocation_source="ocsp"),
    ),
    Scenario(
        name="mldsa-crl-fallback",
        description="OCSP is unreachable: the ML-DSA intermediate's CRL (ML-DSA signed) says good",
        faults=(Fault("client_ocsp", down=True),),
        request={
            "server_name": "mldsa65.tlssim.test",
            "revocation": "hard",
            "no_status_request": True,
        },
        expect=Expect(ok=True, revocation="good", revocation_source="crl"),
    ),
    Scenario(
        name="pq-cost-on-a-slow-link",
        description="classical, hybrid, then hybrid with ML-DSA-44 and -65 chains through "
        "1 Mbit/s, 50 ms and 1460-byte segments: bytes and time of each",
        procedure="pq_cost_on_a_slow_link",
        measures=True,
        expect=Expect(ok=True),
    ),
)

REPLAYED_0RTT = Scenario(
    name="replayed-0rtt",
    description="a resumed handshake's first flight with its 0-RTT data is copied and sent "
    "again as a new client: the server accepts the early data once and refuses the copy "
    "(single-use tickets; with TLSSIM_ANTI_REPLAY=off it would accept both)",
    procedure="replayed_0rtt",
    expect=Expect(ok=True),
)

_AIA_CHASE = {"server_name": "aia-chain.tlssim.test", "chase_aia": True, "revocation": "hard"}

AIA_CHASE: tuple[Scenario, ...] = (
    Scenario(
        name="aia-chase",
        description="the server leaves out the intermediate; the client fetches it from the "
        "leaf's AIA caIssuers URL (the responder's HTTP port) and builds the path",
        request=_AIA_CHASE,
        expect=Expect(ok=True, revocation="good"),
    ),
    Scenario(
        name="aia-chase-responder-down",
        description="the caIssuers URL does not answer: no path, unknown_ca",
        faults=(Fault("ocsp_http", down=True),),
        request=_AIA_CHASE,
        expect=Expect(ok=False, alert="unknown_ca", sent_by="client", failed_check="/ca/"),
    ),
    Scenario(
        name="aia-chase-slow",
        description="the caIssuers URL answers after the client's 2 s limit: unknown_ca",
        faults=(Fault("ocsp_http", latency(3000)),),
        request=_AIA_CHASE,
        expect=Expect(
            ok=False, alert="unknown_ca", sent_by="client", failed_check="no answer within"
        ),
    ),
)

# ACME orders (an http-01 validation through the faults link acme_http01), docs/acme.md.
ACME_VALIDATION: tuple[Scenario, ...] = (
    Scenario(
        name="acme-validation-link-slow",
        description="300 ms on the ACME validator's link to the http-01 responder: the "
        "order waits, and the certificate is issued",
        procedure="acme_validation_link_slow",
        expect=Expect(ok=True),
    ),
    Scenario(
        name="acme-validation-link-down",
        description="the ACME validator's link to the http-01 responder is down: the "
        "challenge fails with a connection problem and nothing is issued",
        procedure="acme_validation_link_down",
        expect=Expect(ok=False, failed_check="connection"),
    ),
)

# Faults of the ACME service itself, and a toxic on its validation link; the expected
# outcome of each is an acme.AcmeExpect, checked by its procedure.
ACME_FAULTS: tuple[Scenario, ...] = tuple(
    Scenario(
        name=fault.name,
        description=f"{fault.description} (expected: {fault.expect.describe()})",
        procedure=fault.procedure,
        expect=Expect(ok=fault.expect.issued),
        # What the client went through (retries, polls, waits) is worth reading on a pass.
        measures=True,
    )
    for fault in acme.FAULTS
)

SCENARIOS: tuple[Scenario, ...] = (
    _host_scenarios()
    + _latency_scenarios()
    + ROUND_TRIPS
    + HANDSHAKE_FAULTS
    + STAPLE_FAULTS
    + REVOCATION_PATH
    + BROKEN_LINKS
    + POST_QUANTUM
    + AIA_CHASE
    + (CA_DOWN_AT_SERVER_START, REPLAYED_0RTT)
    + ACME_VALIDATION
    + ACME_FAULTS
)
