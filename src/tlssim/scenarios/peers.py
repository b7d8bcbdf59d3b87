"""Scenarios with another stack's client (`tlssim scenarios run NAME --peer gnutls`).

The faults are the scenario's own, put on the path the peer takes: a peer speaks TLS over
TCP, so it connects through the faults proxy `client_server_tcp` (to the server's TCP
listener), and a fault the scenario puts on `client_server` (our client's gRPC link) goes
on that proxy instead; the responder's links are the same for everyone (a peer asks the
OCSP URL in the certificate, which is the `ocsp_http` proxy). The peer runs with its
revocation options where it has them (in the scenarios that set a revocation policy), and
with its clock moved as the scenario moves ours (libfaketime, for the peer programs it
reaches).

What each peer is expected to make of each scenario is the table `EXPECTED` below, with the
reason wherever a peer departs from our client.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tlssim import rpcutil
from tlssim.faults.rest_client import FaultsApi
from tlssim.interop.peers import (
    CLIENT_PEERS,
    ClientPeer,
    Outcome,
    Target,
    can_move_clock,
    clock_ahead,
    installed,
)
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.scenarios.model import Fault, Scenario
from tlssim.scenarios.runner import ScenarioResult
from tlssim.topology.endpoints import Endpoints

#: The faults proxy in front of the server's TLS-over-TCP listener.
PEER_LINK = "client_server_tcp"
#: Our client's link to the server (gRPC): its faults go on PEER_LINK for a peer.
CLIENT_LINK = "client_server"


@dataclass(frozen=True, slots=True)
class PeerExpect:
    """What a peer makes of a scenario: whether it connects, words its error (or its
    note on the connection) contains, and why it departs from our client where it does."""

    connects: bool
    says: str = ""
    reason: str = ""

    def describe(self) -> str:
        text = "connected" if self.connects else "refused"
        if self.says:
            text += f", saying {self.says!r}"
        return text + (f" ({self.reason})" if self.reason else "")


_RUNS_ON = "checks no revocation, so the responder's absence changes nothing"
_LEAF_ONLY = "takes the leaf's staple and asks nothing about the intermediate"

#: scenario -> peer -> what the peer does. A scenario takes a peer when it is named here.
#: Our client refuses all three: the tampered ServerHello (bad_record_mac), the stale
#: staple (bad_certificate_status_response), and the must-staple host with the responder
#: down (certificate_unknown: the leaf's status is stapled, the intermediate's is not).
EXPECTED: dict[str, dict[str, PeerExpect]] = {
    "tamper-server-hello": {
        "openssl": PeerExpect(False, "bad record mac"),
        "pyopenssl": PeerExpect(False, "record layer failure"),
        "gnutls": PeerExpect(False, "Decryption has failed"),
        "nss": PeerExpect(False, "SSL_ERROR_BAD_MAC_READ"),
        "botan": PeerExpect(
            False,
            "Bad signature on server key exchange",
            "TLS 1.2 only: the random is signed in ServerKeyExchange, whose signature fails "
            "before any record is decrypted",
        ),
        "go": PeerExpect(False, "bad record MAC"),
        "java": PeerExpect(False, "Tag mismatch"),
        "tlslite": PeerExpect(False, "bad_record_mac"),
        "python-ssl": PeerExpect(False, "BAD_RECORD_MAC"),
        "curl": PeerExpect(False, "bad record mac"),
        "wget": PeerExpect(False, "Decryption has failed"),
    },
    "stale-staple": {
        "openssl": PeerExpect(
            True,
            "good",
            "s_client -status prints the staple's status and checks neither its freshness "
            "nor what it says",
        ),
        "gnutls": PeerExpect(False, "OCSP data are old"),
        "nss": PeerExpect(False, "no fresh revocation status"),
        "botan": PeerExpect(
            True,
            "OCSP response has expired",
            "tls_client prints the validation result and completes the handshake whatever it says",
        ),
        "java": PeerExpect(
            True,
            "",
            "JSSE sets a staple past its nextUpdate aside and checks the CRLs the "
            "certificates name instead, which say good",
        ),
        "curl": PeerExpect(False, "OCSP response has expired"),
        "wget": PeerExpect(False, "is not trusted"),
    },
    "responder-down-must-staple": {
        "openssl": PeerExpect(True, "good", _LEAF_ONLY),
        "pyopenssl": PeerExpect(True, "good", _LEAF_ONLY),
        "gnutls": PeerExpect(True, "", _LEAF_ONLY),
        "nss": PeerExpect(True, "good", _LEAF_ONLY),
        "botan": PeerExpect(True, "", _RUNS_ON),
        "go": PeerExpect(True, "", _RUNS_ON),
        # like our client: JSSE asks the responder about the intermediate and fails hard
        "java": PeerExpect(False, "Connection refused"),
        "tlslite": PeerExpect(True, "", _RUNS_ON),
        "python-ssl": PeerExpect(True, "", _RUNS_ON),
        "curl": PeerExpect(True, "", _LEAF_ONLY),
        "wget": PeerExpect(True, "", _LEAF_ONLY),
    },
}


def takes_peers(scenario: Scenario) -> bool:
    return scenario.name in EXPECTED


def peers_for(scenario: Scenario) -> list[ClientPeer]:
    """The peers the scenario has an expectation for that can run here."""
    table = EXPECTED.get(scenario.name, {})
    moves_clock = bool(scenario.request.get("clock_skew_seconds"))
    return [
        p
        for p in CLIENT_PEERS
        if p.name in table and installed(p) and (not moves_clock or can_move_clock(p))
    ]


def choose_peer(scenario: Scenario, name: str) -> ClientPeer:
    """The peer called `name` for `scenario`; ValueError (one line) when it cannot be."""
    if not takes_peers(scenario):
        with_peers = ", ".join(EXPECTED)
        raise ValueError(
            f"scenario {scenario.name} runs with our client only (these take --peer: {with_peers})"
        )
    available = peers_for(scenario)
    for peer in available:
        if peer.name == name:
            return peer
    known = {p.name for p in CLIENT_PEERS}
    what = "unknown peer" if name not in known else "peer not available for this scenario here"
    names = ", ".join(p.name for p in available) or "none"
    raise ValueError(f"{what} {name!r}; for {scenario.name} here: {names}")


def peer_faults(scenario: Scenario) -> tuple[Fault, ...]:
    """The scenario's faults on the path a peer takes."""
    return tuple(
        Fault(PEER_LINK, f.toxic, f.down) if f.link == CLIENT_LINK else f for f in scenario.faults
    )


def peer_target(scenario: Scenario, peer: ClientPeer, address: str, ca_file: Path) -> Target:
    version = str(scenario.request.get("tls_version") or "1.3")
    if version not in peer.versions:
        version = peer.versions[0]
    return Target(
        address,
        str(scenario.request.get("server_name") or "valid.tlssim.test"),
        ca_file,
        version,
        # its revocation options where it has them and the scenario is about revocation
        revocation=bool(peer.revocation_options) and "revocation" in scenario.request,
    )


def noticed(outcome: Outcome) -> bool:
    """Whether the peer showed any sign of the fault: it refused, said something of the
    connection, or reported a status other than good."""
    return not outcome.connected or bool(outcome.detail) or outcome.status not in ("", "good")


def judge(expect: PeerExpect, outcome: Outcome) -> bool:
    if outcome.connected != expect.connects:
        return False
    said = f"{outcome.detail} {outcome.status}".lower()
    return expect.says.lower() in said


def describe(outcome: Outcome) -> str:
    text = "connected" if outcome.connected else "refused"
    if outcome.detail:
        text += f", saying {outcome.detail!r}"
    if outcome.status:
        text += f", status {outcome.status}"
    return text + (", noticed the fault" if noticed(outcome) else ", did not notice the fault")


async def run_with_peer(
    scenario: Scenario, peer: ClientPeer, endpoints: Endpoints
) -> ScenarioResult:
    """Sets up the scenario's faults, runs the peer's client through them, judges it."""
    expect = EXPECTED[scenario.name][peer.name]
    api = FaultsApi(endpoints.faults_api)
    version = await asyncio.to_thread(peer.version_of)
    details: dict[str, Any] = {"peer": peer.name, "peer_version": version}
    try:
        await api.acall("POST", "/reset")
        address = str((await api.acall("GET", f"/proxies/{PEER_LINK}"))["listen"])
        with _bundle_file(await _bundle(endpoints)) as ca_file:
            target = peer_target(scenario, peer, address, ca_file)
            for fault in peer_faults(scenario):
                if fault.down:
                    await api.acall("POST", f"/proxies/{fault.link}", {"enabled": False})
                else:
                    await api.acall("POST", f"/proxies/{fault.link}/toxics", fault.toxic)
            if scenario.hold_s:
                await asyncio.sleep(scenario.hold_s)
            with clock_ahead(int(scenario.request.get("clock_skew_seconds") or 0)):
                outcome = await asyncio.to_thread(peer.run, target)
    except Exception as exc:  # an infrastructure failure is a failed scenario, not a crash
        return ScenarioResult(
            scenario.name, False, expect.describe(), f"could not run: {exc}", details=details
        )
    finally:
        await api.acall("POST", "/reset")
    details |= {
        "tls_version": target.version,
        "connected": outcome.connected,
        "said": outcome.detail,
        "status": outcome.status,
        "noticed": noticed(outcome),
    }
    # what a peer said is worth reading even when it was expected
    return ScenarioResult(
        scenario.name,
        judge(expect, outcome),
        expect.describe(),
        describe(outcome),
        measured=True,
        details=details,
    )


async def _bundle(endpoints: Endpoints) -> str:
    async with rpcutil.open_channel(endpoints.ca) as channel:
        reply = await ca_pb2_grpc.CertificateAuthorityStub(channel).GetTrustBundle(
            ca_pb2.GetTrustBundleRequest(), timeout=10
        )
    return str(reply.pem)


@contextlib.contextmanager
def _bundle_file(pem: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tlssim-peer-") as tmp:
        path = Path(tmp) / "bundle.pem"
        path.write_text(pem)
        yield path
