"""The faults proxy: TCP proxies with Toxiproxy-style toxics and a compatible REST API."""

import tlssim.faults.tlstoxics  # noqa: F401  (registers the tls_* toxics)
from tlssim.faults.api import VERSION, Api
from tlssim.faults.app import FaultsServer
from tlssim.faults.errors import BadRequestError, ConflictError, FaultsError, NotFoundError
from tlssim.faults.grpcrelay import GrpcRelayProxy
from tlssim.faults.proxy import PROTOCOLS, TCP, TLSSIM_GRPC, Proxy, ProxySpec
from tlssim.faults.registry import Registry, load_config
from tlssim.faults.toxics import (
    TOXIC_TYPES,
    Chunk,
    Direction,
    LinkContext,
    Toxic,
    ToxicSpec,
    register_toxic,
)

__all__ = [
    "PROTOCOLS",
    "TCP",
    "TLSSIM_GRPC",
    "TOXIC_TYPES",
    "VERSION",
    "Api",
    "BadRequestError",
    "Chunk",
    "ConflictError",
    "Direction",
    "FaultsError",
    "FaultsServer",
    "GrpcRelayProxy",
    "LinkContext",
    "NotFoundError",
    "Proxy",
    "ProxySpec",
    "Registry",
    "Toxic",
    "ToxicSpec",
    "load_config",
    "register_toxic",
]
