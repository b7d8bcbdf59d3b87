"""Every link between two services, each routed through a faults proxy of the same name.

`tlssim up` creates these proxies and points each service's variable at its proxy; compose
does the same with services/faults.json. A fault is put on a link by naming its proxy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Link:
    name: str  # the Toxiproxy proxy name
    source: str  # the service that dials
    target: str  # the endpoint dialled: a service, or one of its extra ports
    variable: str  # the source's environment variable that points at the proxy
    # "tlssim-grpc": the proxy relays TlsServer.Connect calls and sees the TLS records inside.
    protocol: str = "tcp"


LINKS: tuple[Link, ...] = (
    Link("client_server", "client", "server", "TLSSIM_SERVER_ADDR", "tlssim-grpc"),
    Link("client_ocsp", "client", "ocsp", "TLSSIM_OCSP_ADDR"),
    Link("client_ca", "client", "ca", "TLSSIM_CA_ADDR"),
    Link("server_ca", "server", "ca", "TLSSIM_CA_ADDR"),
    Link("server_ocsp", "server", "ocsp", "TLSSIM_OCSP_ADDR"),
    Link("ocsp_ca", "ocsp", "ca", "TLSSIM_CA_ADDR"),
    # The responder's HTTP port as written into certificates (AIA, CRL distribution point).
    Link("ocsp_http", "ca", "ocsp_http", "TLSSIM_OCSP_URL"),
    # The server's TLS-over-TCP port, for `tlssim handshake --tcp` through a fault.
    Link("client_server_tcp", "client", "server_tcp", "TLSSIM_SERVER_TCP_ADDR"),
    # The ACME validator's connections to the challenge ports (docs/acme.md).
    Link("acme_http01", "acme", "acme_http01", "TLSSIM_ACME_HTTP_VIA"),
    Link("acme_tlsalpn01", "acme", "acme_tlsalpn01", "TLSSIM_ACME_TLS_ALPN_VIA"),
)


def find(name: str) -> Link:
    for link in LINKS:
        if link.name == name:
            return link
    raise KeyError(f"no link {name!r}; links: {', '.join(link.name for link in LINKS)}")
