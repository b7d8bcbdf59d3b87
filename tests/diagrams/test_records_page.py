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
from tlssim.report.model import Report
from tlssim.report.records import records_of, render_records, to_dicts
from tlssim.tls import ClientConfig, ClientConnection, ServerConfig, ServerConnection, events


def _recorded() -> tuple[bytes, bytes, list[str]]:
    """An in-memory TLS 1.3 handshake with application data: the bytes each side sent."""
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
            server.receive_data(out)
        back = server.data_to_send()
        received += back
        if back:
            new = client.receive_data(back)
            while client.awaiting_certificate_decision:
                new += client.accept_certificate()
            evs += new
    client.send_application_data(b"hello")
    out = client.data_to_send()
    sent += out
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
