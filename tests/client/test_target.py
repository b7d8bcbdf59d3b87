"""The names a request sends and verifies are decided in one place."""

from __future__ import annotations

from tlssim.client.request import DEFAULT_SERVER_NAME, Target, plan_for, target_for
from tlssim.rpc.v1 import client_pb2


def test_the_name_is_sent_and_verified() -> None:
    assert target_for("rsa2048.tlssim.test", no_sni=False) == Target(
        sni="rsa2048.tlssim.test", verify_name="rsa2048.tlssim.test"
    )


def test_no_sni_still_verifies_the_given_name() -> None:
    assert target_for("other.test", no_sni=True) == Target(sni=None, verify_name="other.test")


def test_no_name_at_all_is_the_valid_host() -> None:
    assert DEFAULT_SERVER_NAME == "valid.tlssim.test"
    assert target_for("", no_sni=False) == Target(
        sni="valid.tlssim.test", verify_name="valid.tlssim.test"
    )
    assert target_for("", no_sni=True) == Target(sni=None, verify_name="valid.tlssim.test")


def test_the_engine_sends_the_targets_sni() -> None:
    plan = plan_for(client_pb2.HandshakeRequest(server_name="other.test", no_sni=True))
    assert plan.config.server_name is None
    assert plan.target.verify_name == "other.test"
    plan = plan_for(client_pb2.HandshakeRequest(server_name="other.test"))
    assert plan.config.server_name == "other.test"
