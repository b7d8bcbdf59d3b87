"""Scenarios with a peer's client: which scenarios take one, the one table of what each
peer is expected to do, and how a scenario's faults and options reach the peer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlssim.interop.peers import CLIENT_PEERS, Outcome, by_name
from tlssim.scenarios import SCENARIOS
from tlssim.scenarios import peers as sp
from tlssim.scenarios.model import Fault

BY_NAME = {s.name: s for s in SCENARIOS}
PEER_NAMES = {p.name for p in CLIENT_PEERS}


def test_the_table_names_catalogue_scenarios_and_known_peers() -> None:
    assert set(sp.EXPECTED) <= set(BY_NAME)
    assert {"responder-down-must-staple", "stale-staple", "tamper-server-hello"} <= set(sp.EXPECTED)
    for table in sp.EXPECTED.values():
        assert set(table) <= PEER_NAMES
        assert {"gnutls", "openssl"} <= set(table)


def test_a_peer_that_departs_from_our_client_says_why() -> None:
    for name, table in sp.EXPECTED.items():
        ours = BY_NAME[name].expect.ok
        for peer, expect in table.items():
            if expect.connects != ours:
                assert expect.reason, f"{peer} in {name} departs from our client without a reason"


def test_faults_on_our_clients_link_go_on_the_peers() -> None:
    tamper = sp.peer_faults(BY_NAME["tamper-server-hello"])
    assert [f.link for f in tamper] == ["client_server_tcp"]
    assert tamper[0].toxic == BY_NAME["tamper-server-hello"].faults[0].toxic
    down = sp.peer_faults(BY_NAME["responder-down-must-staple"])
    assert down == (Fault("client_ocsp", down=True), Fault("ocsp_http", down=True))


def test_the_target_follows_the_scenario(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    gnutls, botan, go = by_name(["gnutls", "botan", "go"])
    staple = sp.peer_target(BY_NAME["responder-down-must-staple"], gnutls, "127.0.0.1:1", ca)
    assert (staple.server_name, staple.version, staple.revocation) == (
        "must-staple.tlssim.test",
        "1.3",
        True,
    )
    tamper = sp.peer_target(BY_NAME["tamper-server-hello"], gnutls, "127.0.0.1:1", ca)
    assert (tamper.server_name, tamper.revocation) == ("valid.tlssim.test", False)
    assert sp.peer_target(BY_NAME["tamper-server-hello"], botan, "x:1", ca).version == "1.2"
    assert not sp.peer_target(BY_NAME["stale-staple"], go, "x:1", ca).revocation  # has none


def test_a_scenario_without_peers_and_an_unknown_peer_are_refused_in_one_line() -> None:
    with pytest.raises(ValueError) as none:
        sp.choose_peer(BY_NAME["client-server-link-down"], "gnutls")
    assert "stale-staple" in str(none.value) and "\n" not in str(none.value)
    with pytest.raises(ValueError) as unknown:
        sp.choose_peer(BY_NAME["tamper-server-hello"], "schannel")
    message = str(unknown.value)
    assert "unknown peer 'schannel'" in message and "\n" not in message
    available = [p.name for p in sp.peers_for(BY_NAME["tamper-server-hello"])]
    assert message.endswith(", ".join(available) or "none")


def test_judging_a_peer() -> None:
    expect = sp.PeerExpect(False, "bad record mac")
    assert sp.judge(expect, Outcome(False, "decryption failed or BAD RECORD MAC"))
    assert not sp.judge(expect, Outcome(False, "unknown_ca"))
    assert not sp.judge(expect, Outcome(True))
    assert sp.judge(sp.PeerExpect(True, "good"), Outcome(True, status="good"))
    assert not sp.noticed(Outcome(True, status="good"))
    assert sp.noticed(Outcome(True, "goes on after: OCSP response has expired"))
    assert sp.noticed(Outcome(False, "refused"))
    assert "did not notice" in sp.describe(Outcome(True, status="good"))
