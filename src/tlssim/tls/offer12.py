"""What a TLS 1.2 ClientHello offers (RFC 5246 7.4.1.2, RFC 8422, RFC 7627, RFC 5746)."""

from __future__ import annotations

from tlssim.tls.constants import CipherSuite, ExtensionType, NamedGroup, SignatureScheme
from tlssim.tls.errors import HandshakeFailure, IllegalParameter
from tlssim.tls.hello_extensions import HelloExtensions
from tlssim.tls.messages import ClientHello


class Offer12:
    """What a TLS 1.2 ClientHello offers, validated once."""

    __slots__ = (
        "asks_replica",
        "ec_point_formats",
        "encrypt_then_mac",
        "extended_master_secret",
        "groups",
        "hello",
        "renegotiation_info",
        "schemes",
        "server_name",
        "status_request",
    )

    def __init__(self, hello: ClientHello, exts: HelloExtensions) -> None:
        self.hello = hello
        if 0 not in hello.legacy_compression_methods:
            raise IllegalParameter("ClientHello without null compression")
        # RFC 8422 5.1: no supported_groups means "any curve"; we then use secp256r1.
        groups = exts.supported_groups
        self.groups = groups if groups is not None else (NamedGroup.secp256r1,)
        self.schemes = tuple(
            SignatureScheme(s)
            for s in exts.signature_algorithms or ()
            if s in SignatureScheme._value2member_map_
        )
        self.server_name = exts.server_name
        self.asks_replica = ExtensionType.tlssim_replica in exts.by_type
        self.status_request = exts.status_request
        self.extended_master_secret = exts.extended_master_secret
        reneg = exts.renegotiation_info
        if reneg:  # RFC 5746 3.6
            raise HandshakeFailure("renegotiation_info must be empty in an initial handshake")
        self.renegotiation_info = (
            reneg is not None
            or CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
        )
        self.ec_point_formats = exts.ec_point_formats is not None
        self.encrypt_then_mac = exts.encrypt_then_mac
