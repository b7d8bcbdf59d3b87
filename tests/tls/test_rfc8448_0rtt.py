"""RFC 8448 section 4 (Resumed 0-RTT Handshake): the early-data key schedule, byte for byte.

https://www.rfc-editor.org/rfc/rfc8448#section-4 ; values in tests/vectors. The client's
ClientHello offers the section 3 ticket as a PSK with early_data; from it come the
binder, client_early_traffic_secret, the early write key and IV, and the first early
application_data record ("ABCDEF").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tlssim.tls import CipherSuite, ProtocolVersion, Session, events
from tlssim.tls.core import ConnectionCore
from tlssim.tls.early_data import send_early_data
from tlssim.tls.hello_extensions import decode_hello_extensions
from tlssim.tls.keyschedule import TLS13_SUITES, KeySchedule, traffic_key_iv
from tlssim.tls.messages import ClientHello
from tlssim.tls.record import RecordLayer, RecordProtection
from tlssim.tls.states import Handshake
from tlssim.tls.tickets import compute_binder, truncated_hello

V = {
    k: bytes.fromhex(v)
    for k, v in json.loads(
        (Path(__file__).parents[1] / "vectors" / "rfc8448_resumed_0rtt.json").read_text()
    ).items()
    if not k.startswith("_")
}
PARAMS = TLS13_SUITES[CipherSuite.TLS_AES_128_GCM_SHA256]


def test_early_secret_binder_and_early_traffic_secret() -> None:
    schedule = KeySchedule(PARAMS, V["psk"])
    assert schedule.secret == V["early_secret"]
    assert hashlib.sha256(V["client_hello"]).digest() == V["client_hello_hash"]
    exts = decode_hello_extensions(ClientHello.parse(V["client_hello"][4:]))
    assert exts.early_data and exts.pre_shared_key is not None
    truncated = truncated_hello(V["client_hello"], exts.pre_shared_key)
    binder = compute_binder(PARAMS, V["psk"], hashlib.sha256(truncated).digest())
    assert binder == V["binder"] == exts.pre_shared_key.binders[0]
    assert schedule.early_traffic(V["client_hello_hash"]) == V["client_early_traffic_secret"]
    assert (
        schedule.derive(b"e exp master", V["client_hello_hash"])
        == (V["early_exporter_master_secret"])
    )
    key, iv = traffic_key_iv(PARAMS, V["client_early_traffic_secret"])
    assert (key, iv) == (V["early_key"], V["early_iv"])


def _no_handshake(msg_type: int, body: bytes, raw: bytes) -> Handshake:
    raise AssertionError("no handshake message expected")


def test_client_sends_the_rfc_early_record() -> None:
    """Our client's early flight after the RFC ClientHello is the RFC's record."""
    core = ConnectionCore(lambda n: bytes(n), True, _no_handshake)
    core.client_random = V["client_hello"][6:38]
    core.transcript.add(V["client_hello"])
    session = Session(
        version=ProtocolVersion.TLSv1_3,
        cipher_suite=CipherSuite.TLS_AES_128_GCM_SHA256,
        secret=V["psk"],
        server_name="server",
        ticket=b"t",
        max_early_data=1024,
    )
    send_early_data(core, session, V["early_payload"], compat=False)
    assert core.records.take_outgoing() == V["early_record"]
    (secret,) = [e for e in core.take_events() if isinstance(e, events.SecretDerived)]
    assert secret.label == "CLIENT_EARLY_TRAFFIC_SECRET"
    assert secret.secret == V["client_early_traffic_secret"]


def test_server_side_opens_the_rfc_early_record() -> None:
    records = RecordLayer()
    records.read_protection = RecordProtection(PARAMS, V["client_early_traffic_secret"])
    records.feed(V["early_record"])
    assert records.next_record() == (23, V["early_payload"])
