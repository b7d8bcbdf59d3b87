"""What answers a CertificateRequest when the request does not say: the lab's enrolled
identity through the lab's own server, nothing over --tcp (a server outside the lab)."""

from __future__ import annotations

import pytest

from tlssim.client.request import plan_for
from tlssim.rpc.v1 import client_pb2


@pytest.mark.parametrize(
    ("tcp", "asked", "mode", "why"),
    [
        ("", "", "auto", "the lab's own server"),
        ("127.0.0.1:4433", "", "none", "outside the lab"),
        ("127.0.0.1:4433", "auto", "auto", "--client-cert auto"),
        ("", "none", "none", "--client-cert none"),
    ],
)
def test_the_default_depends_on_where_the_client_goes(
    tcp: str, asked: str, mode: str, why: str
) -> None:
    plan = plan_for(client_pb2.HandshakeRequest(tcp_address=tcp, client_cert=asked))
    assert plan.client_cert == mode
    assert why in plan.client_cert_why
    assert plan.config.client_certificate is None  # "auto" is added by the service
