"""Proxies listen on loopback unless the operator allows more (TLSSIM_FAULTS_LISTEN_HOSTS)."""

from __future__ import annotations

import pytest

from tests.faults.helpers import run
from tlssim.faults import FaultsServer, ProxySpec
from tlssim.faults.errors import BadRequestError
from tlssim.faults.rest_client import FaultsApi, FaultsApiError


def test_a_proxy_on_every_interface_is_refused_by_default() -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0") as faults:
            api = FaultsApi(faults.api_address)
            spec = {"name": "wide", "listen": "0.0.0.0:0", "upstream": "127.0.0.1:9"}
            with pytest.raises(FaultsApiError, match=r"may listen on .*127\.0\.0\.1") as refused:
                await api.acall("POST", "/proxies", spec)
            assert refused.value.status == 400
            created = await api.acall("POST", "/proxies", spec | {"listen": "127.0.0.1:0"})
            assert created["name"] == "wide"
            with pytest.raises(FaultsApiError, match="may listen on"):
                await api.acall("POST", "/proxies/wide", {"listen": "0.0.0.0:0"})

    run(body())


def test_the_operator_may_allow_any_host() -> None:
    async def body() -> None:
        async with FaultsServer("127.0.0.1:0", listen_hosts=None) as faults:
            proxy = await faults.registry.create(
                ProxySpec(name="wide", listen="0.0.0.0:0", upstream="127.0.0.1:9")
            )
            assert proxy.spec.listen.startswith("0.0.0.0:")
            with pytest.raises(BadRequestError):
                faults.registry.listen_hosts = frozenset({"127.0.0.1"})
                await faults.registry.create(
                    ProxySpec(name="other", listen="0.0.0.0:0", upstream="127.0.0.1:9")
                )

    run(body())
