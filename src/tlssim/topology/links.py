"""Every link between two services, each routed through a faults proxy of the same name.

This list is the one declaration of the links. `tlssim up` creates these proxies and points
each service's variable at its proxy; compose does the same with services/faults.json, which
is generated from it (`python -m tlssim.topology.links > services/faults.json`), and with
the `# LINK` lines of compose.yaml; tests/test_links.py checks both against it, and each
variable against what `endpoints.Endpoints.from_env` reads. A fault is put on a link by
naming its proxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tlssim.topology import endpoints as ep


@dataclass(frozen=True, slots=True)
class Link:
    name: str  # the Toxiproxy proxy name
    source: str  # the service that dials
    target: str  # the endpoint dialled: a service, or one of its extra ports
    variable: str  # the source's environment variable that points at the proxy
    # "tlssim-grpc": the proxy relays TlsServer.Connect calls and sees the TLS records inside.
    protocol: str = "tcp"
    #: The faults container's port for this proxy under compose (`tlssim up` picks free ones).
    compose_port: int = 0


LINKS: tuple[Link, ...] = (
    Link(
        "client_server", "client", "server", "TLSSIM_SERVER_ADDR", "tlssim-grpc", compose_port=15053
    ),
    Link("client_ocsp", "client", "ocsp", "TLSSIM_OCSP_ADDR", compose_port=15052),
    Link("client_ca", "client", "ca", "TLSSIM_CA_ADDR", compose_port=15051),
    Link("server_ca", "server", "ca", "TLSSIM_CA_ADDR", compose_port=25051),
    Link("server_ocsp", "server", "ocsp", "TLSSIM_OCSP_ADDR", compose_port=25052),
    Link("ocsp_ca", "ocsp", "ca", "TLSSIM_CA_ADDR", compose_port=35051),
    # The responder's HTTP port as written into certificates (AIA, CRL distribution point).
    Link("ocsp_http", "ca", "ocsp_http", "TLSSIM_OCSP_URL", compose_port=18080),
    # The server's TLS-over-TCP port, for `tlssim handshake --tcp` through a fault.
    Link("client_server_tcp", "client", "server_tcp", "TLSSIM_SERVER_TCP_ADDR", compose_port=18443),
    # The ACME validator's connections to the challenge ports (docs/acme.md): the ACME
    # service reads these itself (ACME settings), not through `endpoints.Endpoints`.
    Link("acme_http01", "acme", "acme_http01", "TLSSIM_ACME_HTTP_VIA", compose_port=45002),
    Link(
        "acme_tlsalpn01", "acme", "acme_tlsalpn01", "TLSSIM_ACME_TLS_ALPN_VIA", compose_port=45001
    ),
)


def find(name: str) -> Link:
    for link in LINKS:
        if link.name == name:
            return link
    raise KeyError(f"no link {name!r}; links: {', '.join(link.name for link in LINKS)}")


#: Where each link's target listens under compose: (service, port).
COMPOSE_TARGETS: dict[str, tuple[str, int]] = {
    "server": ("server", ep.SERVER_GRPC_PORT),
    "server_tcp": ("server", ep.SERVER_TCP_PORT),
    "ocsp": ("ocsp", ep.OCSP_GRPC_PORT),
    "ocsp_http": ("ocsp", ep.OCSP_HTTP_PORT),
    "ca": ("ca", ep.CA_PORT),
    # the ACME client being validated runs on the host (certbot, lego): compose maps
    # host.docker.internal to it
    "acme_http01": ("host.docker.internal", 5002),
    "acme_tlsalpn01": ("host.docker.internal", 5001),
}


def compose_proxies() -> str:
    """services/faults.json: the faults container's proxies, one line per link."""
    lines = []
    for link in LINKS:
        host, port = COMPOSE_TARGETS[link.target]
        proxy: dict[str, object] = {
            "name": link.name,
            "listen": f"0.0.0.0:{link.compose_port}",
            "upstream": f"{host}:{port}",
            "enabled": True,
        }
        if link.protocol != "tcp":
            proxy["protocol"] = link.protocol
        lines.append("  " + json.dumps(proxy))
    return "[\n" + ",\n".join(lines) + "\n]\n"


def compose_variable(link: Link) -> str:
    """The line in the source service's compose environment that routes it over `link`."""
    address = f"faults:{link.compose_port}"
    if link.variable == "TLSSIM_OCSP_URL":
        address = f"http://{address}"
    return f"{link.variable}: {address} # {link.name}"


if __name__ == "__main__":
    print(compose_proxies(), end="")
