"""The console follows every replica of a replicated service: each address the service's
name resolves to (as Swarm's DNS answers for a scaled service), looked up again as
replicas come and go. Two real client services here; the resolver stands in for DNS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from tests.integration.conftest import LocalStack
from tlssim.bench.stack import direct_client
from tlssim.console import sources
from tlssim.console.state import LabState
from tlssim.report.model import Report
from tlssim.rpc.v1 import client_pb2, client_pb2_grpc
from tlssim.topology import endpoints as ep

pytestmark = pytest.mark.integration
CLIENTS = "clients.tlssim.test:50054"


async def _handshake(address: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await client_pb2_grpc.TlsClientStub(channel).RunHandshake(
            client_pb2.HandshakeRequest(server_name="valid.tlssim.test"), timeout=30
        )
    assert reply.ok
    trace_id = Report.from_json(reply.report_json).trace_id
    assert trace_id
    return trace_id


class HeardState(LabState):
    """The console's state, keeping every client report's trace id it was given (its rows
    keep only the latest 200: a long-running stack's backlog can push a new row out)."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: set[str] = set()

    def client_report(self, report: Report) -> None:
        self.heard.add(report.trace_id or "")
        super().client_report(report)


async def _shown(state: HeardState, trace_id: str, within_s: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if trace_id in state.heard:
            return True
        await asyncio.sleep(0.05)
    return False


def test_the_console_follows_each_replica_and_lets_go_of_one_that_went(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "RESOLVE_S", 0.2)
    env = stack.env
    with direct_client(env, tmp_path) as (second, _):
        replicas = [env["TLSSIM_CLIENT_ADDR"], second]

        async def resolve(address: str) -> list[str]:
            if address == CLIENTS:
                return list(replicas)
            return await ep.replicas_of(address)

        async def scenario() -> None:
            state = HeardState()
            tasks = sources.follow_all(
                state,
                env["TLSSIM_SERVER_ADDR"],
                CLIENTS,
                env["TLSSIM_CA_ADDR"],
                env["TLSSIM_FAULTS_API"],
                resolve=resolve,
            )
            try:
                for address in list(replicas):
                    assert await _shown(state, await _handshake(address)), address
                del replicas[1]  # scaled down: the second is no longer followed
                await asyncio.sleep(0.5)
                assert not await _shown(state, await _handshake(second), within_s=1.0)
                assert await _shown(state, await _handshake(replicas[0]))
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(scenario())
