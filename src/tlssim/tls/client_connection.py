"""The client: a thin facade over the connection core and the handshake that drives it.

``start()`` sends the ClientHello (``client_hello.ClientOffer``); the ServerHello chooses
the version, and from then on that version's handshake object (``client13.ClientTls13`` or
``client12.ClientTls12``) takes every message through its transition table.
"""

from __future__ import annotations

from tlssim.tls import events as ev
from tlssim.tls.client12 import ClientTls12
from tlssim.tls.client13 import ClientTls13
from tlssim.tls.client_hello import ClientOffer
from tlssim.tls.config import ClientConfig
from tlssim.tls.constants import HandshakeType, ProtocolVersion
from tlssim.tls.core import ConnectionCore
from tlssim.tls.endpoint import Endpoint
from tlssim.tls.errors import LocalProtocolError, UnexpectedMessage
from tlssim.tls.extensions import index_extensions
from tlssim.tls.messages import ServerHello
from tlssim.tls.states import Handshake, message_name
from tlssim.tls.versions import client_check_version


class ClientConnection(Endpoint):
    """The client side. ``start()`` queues the ClientHello.

    On ``CertificateReceived`` the engine pauses; the caller then calls
    ``accept_certificate()`` or ``reject_certificate(alert)``.

    A TLS 1.3 ``config.session`` is offered as a PSK (psk_dhe_ke, one identity, the binder
    over the truncated ClientHello) when its SNI equals ``config.server_name`` and a suite
    with its hash is offered. If the server accepts it the handshake is abbreviated: no
    Certificate, no CertificateVerify, so no ``CertificateReceived`` and no pause; the
    server proved it holds the PSK, and the caller relies on the verification done in the
    session's original handshake. ``HandshakeComplete.resumed`` tells which happened.
    """

    is_client = True

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._offer = ClientOffer(config)
        self._core = ConnectionCore(config.entropy, True, self._select_version)

    def _select_version(self, msg_type: int, body: bytes, raw: bytes) -> Handshake:
        """The first server message must be a ServerHello; its version picks the handshake."""
        if msg_type != HandshakeType.server_hello:
            raise UnexpectedMessage(f"{message_name(msg_type)} received instead of ServerHello")
        if not self._core.started:
            raise UnexpectedMessage("ServerHello before our ClientHello")
        sh = ServerHello.parse(body)
        exts = index_extensions(sh.extensions)
        version = client_check_version(exts, self._offer.versions, sh.legacy_version)
        if version == ProtocolVersion.TLSv1_3:
            return ClientTls13(self._core, self._offer, (sh, exts))
        if version < ProtocolVersion.TLSv1_2:
            self._core.records.version = version.to_bytes(2, "big")
        return ClientTls12(self._core, self._offer, (sh, exts), version)

    # -- public API -----------------------------------------------------------------

    def start(self) -> list[ev.Event]:
        """Queue the ClientHello; returns its HandshakeMessageSent event."""
        core = self._core
        if core.started:
            raise LocalProtocolError("start() called twice")
        core.started = True
        self._offer.send_first(core)
        return core.take_events()

    def update_keys(self, request_peer: bool = True) -> list[ev.Event]:
        """TLS 1.3, once connected: queue a KeyUpdate (4.6.3) and write under the next
        traffic secret from now on; `request_peer` asks the server to update its own."""
        core = self._core
        handshake = core.handshake
        if core.negotiated is None or core.closed or core.write_closed:
            raise LocalProtocolError(f"cannot update keys in state {core.state.name}")
        if not isinstance(handshake, ClientTls13):
            raise LocalProtocolError("KeyUpdate exists only in TLS 1.3")
        handshake.send_key_update(request_peer)
        return core.take_events()
