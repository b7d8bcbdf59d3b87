"""The ACME service's own declarations (docs/acme.md), read by services/acme_settings.py, and
its addresses as the command line reads them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tlssim.acme.addresses import ACME_GRPC_PORT, ACME_PORT
from tlssim.services.settings.declaring import Environment
from tlssim.services.settings.declaring import text as _text
from tlssim.topology import endpoints as ep

# The ACME service's own settings (docs/acme.md), read by services/acme_settings.py; it
# also reads TLSSIM_CA_ADDR, TLSSIM_LISTEN, TLSSIM_DATA_DIR, TLSSIM_ENROLLMENT_TOKEN_FILE,
# TLSSIM_ADMIN_TOKEN (for its faults control) and the log settings.
ACME_SETTINGS: Final = tuple(
    _text(name, "", meaning, ("acme",), shown=shown)
    for name, shown, meaning in (
        (
            "TLSSIM_ACME_ADDR",
            "$TLSSIM_HOST:14000",
            "where the ACME server answers HTTPS (its directory: https://ADDR/directory)",
        ),
        (
            "TLSSIM_ACME_GRPC_ADDR",
            "$TLSSIM_HOST:50055",
            "where the ACME service answers gRPC (health, trace events)",
        ),
        (
            "TLSSIM_ACME_LISTEN",
            "$TLSSIM_LISTEN_HOST and the port of $TLSSIM_ACME_ADDR",
            "where the ACME service binds HTTPS",
        ),
        ("TLSSIM_ACME_HTTP_PORT", "5002", "port the validator connects to for http-01"),
        ("TLSSIM_ACME_TLS_ALPN_PORT", "5001", "port the validator connects to for tls-alpn-01"),
        (
            "TLSSIM_ACME_HTTP_VIA",
            "(none)",
            "HOST:PORT dialled for http-01 instead (a faults proxy)",
        ),
        (
            "TLSSIM_ACME_TLS_ALPN_VIA",
            "(none)",
            "HOST:PORT dialled for tls-alpn-01 instead (a faults proxy)",
        ),
        (
            "TLSSIM_ACME_RESOLVE",
            "tlssim.test=127.0.0.1,*.tlssim.test=127.0.0.1",
            "how the validator finds lab names: PATTERN=ADDRESS, comma-separated, first match wins",
        ),
        (
            "TLSSIM_ACME_ZONES",
            "tlssim.test",
            "DNS zones whose names ACME issues (comma-separated; within the ca's acme policy)",
        ),
        (
            "TLSSIM_ACME_IP_NETWORKS",
            "127.0.0.0/8,::1/128",
            "networks whose addresses ACME issues as ip identifiers (none: empty)",
        ),
        (
            "TLSSIM_ACME_LIFETIME_S",
            "7776000",
            "lifetime of ACME certificates in seconds (90 days; at least 60)",
        ),
        (
            "TLSSIM_ACME_ORDERS_PER_HOUR",
            "300",
            "new orders one account may place in an hour (more: rateLimited)",
        ),
        (
            "TLSSIM_ACME_EAB_FILE",
            "(none)",
            "external account keys, KID HMAC-KEY-BASE64URL a line; when set, accounts need one",
        ),
        (
            "TLSSIM_ACME_NONCE_REJECT",
            "0",
            "share of good nonces refused as badNonce (0 to 1, a fault)",
        ),
        (
            "TLSSIM_ACME_VALIDATION_DELAY_S",
            "0",
            "seconds each validation waits before it connects (a fault)",
        ),
        (
            "TLSSIM_ACME_VALIDATION_FAIL",
            "0",
            "share of validations refused after connecting, as incorrectResponse (0 to 1, a fault)",
        ),
        (
            "TLSSIM_ACME_FINALIZE_DELAY_S",
            "0",
            "seconds a finalized order stays processing before the ca issues (a fault)",
        ),
        (
            "TLSSIM_ACME_RETRY_AFTER_S",
            "1",
            "Retry-After seconds on pending and processing orders, authorizations, challenges",
        ),
    )
)


def acme_addresses(env: Mapping[str, str]) -> tuple[str, str]:
    """Where the ACME service answers HTTPS and gRPC, as the command line finds it (each
    checked as HOST:PORT, by default on $TLSSIM_HOST)."""
    e = Environment(env)
    host = e.text("TLSSIM_HOST", ep.DEFAULT_HOST)
    return (
        e.address("TLSSIM_ACME_ADDR", f"{host}:{ACME_PORT}"),
        e.address("TLSSIM_ACME_GRPC_ADDR", f"{host}:{ACME_GRPC_PORT}"),
    )
