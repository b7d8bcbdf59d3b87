"""The records of a report: decoded from bytes and key log, carried in the typed report
(schema-valid, through JSON and back) with no secret, and listed in the HTML page from the
decoded records alone, as the console receives them."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from importlib import resources

import jsonschema

from tests.diagrams.reports import load
from tests.tls.tlshelpers import HOST, pki, selector_for
from tlssim.diagrams.page import diagram_fragment
from tlssim.report.model import Capture, Report
from tlssim.report.records import records_of, render_records, to_dicts
from tlssim.tls import ClientConfig, ClientConnection, ServerConfig, ServerConnection, events


def _recorded(
    order: list[tuple[str, int]] | None = None,
) -> tuple[bytes, bytes, list[str]]:
    """An in-memory TLS 1.3 handshake with application data: the bytes each side sent (and,
    into `order`, each chunk's sender and size as they crossed)."""
    order = [] if order is None else order
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=os.urandom))
    server = ServerConnection(
        ServerConfig(entropy=os.urandom, certificate_selector=selector_for(pki().keys["ecdsa"]))
    )
    sent, received = bytearray(), bytearray()
    evs = client.start()
    for _ in range(10):
        out = client.data_to_send()
        sent += out
        if out:
            order.append(("client", len(out)))
            server.receive_data(out)
        back = server.data_to_send()
        received += back
        if back:
            order.append(("server", len(back)))
            new = client.receive_data(back)
            while client.awaiting_certificate_decision:
                new += client.accept_certificate()
            evs += new
    client.send_application_data(b"hello")
    out = client.data_to_send()
    sent += out
    order.append(("client", len(out)))
    server.receive_data(out)
    keylog = [e.keylog_line() for e in evs if isinstance(e, events.SecretDerived)]
    return bytes(sent), bytes(received), keylog


def test_records_travel_in_the_report_and_the_page_lists_them() -> None:
    sent, received, keylog = _recorded()
    records = records_of(sent, received, keylog)
    text = render_records(records)
    assert "Protected by = server handshake traffic secret" in text
    assert "Protected by = client application traffic secret" in text
    report = dataclasses.replace(load("tls13"), records=tuple(to_dicts(records)))
    as_json = report.to_json()
    schema = json.loads(resources.files("tlssim.report").joinpath("schema.json").read_text())
    jsonschema.validate(json.loads(as_json), schema)
    back = Report.from_json(as_json)
    assert back.records == report.records
    for line in keylog:
        assert line.split()[2] not in as_json  # no secret travels with the records
    page = diagram_fragment(back)
    assert "Records on the wire" in page
    assert "server handshake traffic secret" in page
    assert re.search(r"<summary>EncryptedExtensions, length \d+</summary>", page)


def test_the_page_lists_the_records_in_wire_order() -> None:
    order: list[tuple[str, int]] = []
    sent, received, keylog = _recorded(order)
    capture = Capture(client_to_server=sent, server_to_client=received, order=tuple(order))
    report = dataclasses.replace(load("tls13"), capture=capture, keylog=tuple(keylog))
    back = Report.from_json(report.to_json())
    assert back.capture is not None and back.capture.order == tuple(order)
    page = diagram_fragment(back)
    names = re.findall(r"<summary>(\w+), length \d+</summary>", page)
    # The server's flight, its Finished included, before the client's Finished.
    assert names[:7] == [
        "ClientHello",
        "ServerHello",
        "EncryptedExtensions",
        "Certificate",
        "CertificateVerify",
        "Finished",
        "Finished",
    ], names
    senders = re.findall(r'<tr class="(client|server)">', page)
    assert senders[:2] == ["client", "server"], senders
