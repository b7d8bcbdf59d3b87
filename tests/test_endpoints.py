"""Looking up a service's replicas: every address its name resolves to, one per replica."""

from __future__ import annotations

import asyncio

import pytest

from tlssim.topology import endpoints as ep


def test_each_address_a_name_resolves_to_is_a_replica() -> None:
    assert ep.replica_addresses("127.0.0.1:50053") == ["127.0.0.1:50053"]
    assert "127.0.0.1:8443" in ep.replica_addresses("localhost:8443")
    assert ep.replica_addresses("[::1]:1") == ["[::1]:1"]
    assert asyncio.run(ep.replicas_of("localhost:8443")) == ep.replica_addresses("localhost:8443")


def test_a_name_that_does_not_resolve_or_an_address_without_port_is_an_error() -> None:
    with pytest.raises(OSError):
        ep.replica_addresses("nowhere.invalid:1")
    with pytest.raises(ValueError):
        ep.replica_addresses("no-port")
