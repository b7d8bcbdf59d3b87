"""The server: a thin facade over the connection core and the handshake that drives it.

The first ClientHello chooses the version (``versions.server_select_version``); from then
on that version's handshake object (``server13.ServerTls13`` or ``server12.ServerTls12``)
takes every message through its transition table.
"""

from __future__ import annotations

from dataclasses import replace

from tlssim.tls import events as ev
from tlssim.tls.anti_replay import MAX_EARLY_DATA_LIMIT
from tlssim.tls.config import ClientAuth, ServerConfig
from tlssim.tls.constants import HandshakeType, ProtocolVersion
from tlssim.tls.core import ConnectionCore
from tlssim.tls.endpoint import Endpoint
from tlssim.tls.errors import LocalProtocolError, UnexpectedMessage
from tlssim.tls.hello_extensions import decode_hello_extensions
from tlssim.tls.keyschedule import TLS13_SUITES
from tlssim.tls.messages import ClientHello
from tlssim.tls.server12 import ServerTls12
from tlssim.tls.server13 import ServerTls13
from tlssim.tls.states import Handshake, message_name
from tlssim.tls.tickets import MAX_TICKET_LIFETIME
from tlssim.tls.tls12 import ALL_TLS12_SUITES
from tlssim.tls.versions import check_enabled, server_check_fallback, server_select_version

_KNOWN_SUITES = frozenset(TLS13_SUITES) | frozenset(ALL_TLS12_SUITES)


class ServerConnection(Endpoint):
    """The server side: waits for a ClientHello, then answers in one flight."""

    is_client = False

    def __init__(self, config: ServerConfig) -> None:
        check_enabled(config.versions)
        if not config.cipher_suites or not _KNOWN_SUITES.issuperset(config.cipher_suites):
            raise ValueError("cipher_suites must be TLS 1.3 or TLS 1.2 suites")
        if config.ticket_key is not None and len(config.ticket_key) != 32:
            raise ValueError("ticket_key must be 32 bytes")
        if not 0 < config.ticket_lifetime <= MAX_TICKET_LIFETIME:
            raise ValueError("ticket_lifetime must be 1..604800 seconds (RFC 8446 4.6.1)")
        if config.early_data is not None and not (
            0 < config.early_data.max_size <= MAX_EARLY_DATA_LIMIT
        ):
            raise ValueError("early_data.max_size must be 1..2^32-1 bytes")
        self.config = config
        #: The server_name the ClientHello carried, known even when the handshake then
        #: fails (an unknown or refused name); None without the extension.
        self.offered_server_name: str | None = None
        #: The ClientHello itself (which stack sent it: `tlssim.tls.fingerprint`).
        self.client_hello: ClientHello | None = None
        self._core = ConnectionCore(config.entropy, False, self._select_version)

    def _select_version(self, msg_type: int, body: bytes, raw: bytes) -> Handshake:
        """The first client message must be a ClientHello; the version it allows picks."""
        if msg_type != HandshakeType.client_hello:
            raise UnexpectedMessage(f"{message_name(msg_type)} received instead of ClientHello")
        core = self._core
        core.started = True
        hello = ClientHello.parse(body)
        exts = decode_hello_extensions(hello)
        self.offered_server_name = exts.server_name
        self.client_hello = hello
        config = self._host_config(exts.server_name)
        version = server_select_version(
            exts.supported_versions, hello.legacy_version, config.versions
        )
        server_check_fallback(hello.cipher_suites, version, config.versions)
        core.peer_hello_seen = True
        if version == ProtocolVersion.TLSv1_3:
            return ServerTls13(core, config, (hello, exts))
        if version < ProtocolVersion.TLSv1_2:
            core.records.version = version.to_bytes(2, "big")
        return ServerTls12(core, config, (hello, exts), version)

    def _host_config(self, server_name: str | None) -> ServerConfig:
        """The configuration with the SNI's host policy applied (a legacy host's versions
        and suites), or as it is."""
        config = self.config
        policy = config.host_policy(server_name) if config.host_policy is not None else None
        if policy is None:
            return config
        return replace(
            config,
            versions=check_enabled(policy.versions),
            cipher_suites=policy.cipher_suites,
            encrypt_then_mac=policy.encrypt_then_mac,
            dh_group=policy.dh_group or config.dh_group,
        )

    # -- public API -----------------------------------------------------------------

    def start(self) -> list[ev.Event]:
        """Nothing to send first; present for symmetry with the client."""
        return []

    @property
    def post_handshake_auth_offered(self) -> bool:
        """Whether the client offered post_handshake_auth (TLS 1.3, 4.2.6)."""
        hs = self._core.handshake
        return isinstance(hs, ServerTls13) and hs.post_handshake_auth_offered

    def request_client_certificate(self, ask: ClientAuth) -> list[ev.Event]:
        """TLS 1.3 post-handshake authentication (4.6.2), once connected.

        The client's chain comes as ``CertificateReceived`` (decide with
        ``accept_certificate``/``reject_certificate``), then ``ClientAuthenticated`` once
        its Finished verified. An empty Certificate fails a required request with
        certificate_required, as does a client that offered no post_handshake_auth.
        """
        core = self._core
        hs = core.handshake
        if not isinstance(hs, ServerTls13) or core.negotiated is None or core.closed:
            raise LocalProtocolError("post-handshake authentication needs a TLS 1.3 connection")
        hs.request_client_certificate(ask)
        return core.take_events()
