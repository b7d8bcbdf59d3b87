"""The server's echo protocol: what it answers to each piece of application data.

Every application data record comes back as it was; 0-RTT data comes back once the
handshake completed. One request asks more: a first line ``GET /private`` makes the server
ask for a client certificate after the handshake (TLS 1.3 post-handshake authentication),
and the echo then ends with a line naming whom it authenticated, ``authenticated: <subject>``.
"""

from __future__ import annotations

from cryptography import x509

from tlssim.tls import ProtocolVersion, ServerConnection, events
from tlssim.tls.config import ClientAuth

PRIVATE_PATH = b"/private"
AUTHENTICATED = b"authenticated: "
#: What the line says when no certificate could be asked for (TLS 1.2).
NOBODY = "nobody (TLS 1.2 has no post-handshake authentication)"


def asks_for_certificate(data: bytes) -> bool:
    """Whether the request line is ``GET /private`` (or a path under it)."""
    words = data.split(b"\n", 1)[0].split()
    if len(words) < 2 or words[0] != b"GET":
        return False
    path = words[1].split(b"?", 1)[0]
    return path == PRIVATE_PATH or path.startswith(PRIVATE_PATH + b"/")


def authenticated_line(subject: str) -> bytes:
    return AUTHENTICATED + subject.encode("utf-8", "replace") + b"\r\n"


def subject_of(chain: tuple[bytes, ...]) -> str:
    """The leaf's subject, as the line names it ("nobody" without a chain)."""
    if not chain:
        return "nobody"
    return x509.load_der_x509_certificate(chain[0]).subject.rfc4514_string()


def authenticated_in(sent: bytes, reply: bytes) -> str | None:
    """What the server's line said, when ``sent`` asked for a certificate and ``reply`` is
    its echo followed by the line; None otherwise."""
    if not asks_for_certificate(sent) or not reply.startswith(sent):
        return None
    line = reply[len(sent) :]
    if not line.startswith(AUTHENTICATED) or not line.endswith(b"\r\n"):
        return None
    return line[len(AUTHENTICATED) : -2].decode("utf-8", "replace")


class Echo:
    """The server's side of the protocol on one connection."""

    def __init__(self, conn: ServerConnection, authenticate: ClientAuth | None) -> None:
        self._conn = conn
        self._authenticate = authenticate
        self._early = bytearray()
        #: Requests held back while the client's certificate is awaited, in order.
        self._held: list[bytes] = []

    def answer(self, evs: list[events.Event]) -> list[events.Event]:
        """Queue the replies these events call for; returns events the engine added."""
        more: list[events.Event] = []
        for ev in evs:
            if self._conn.closed:
                break
            match ev:
                case events.EarlyDataReceived(data=data):
                    self._early += data
                case events.HandshakeComplete() if self._early:
                    self._send(bytes(self._early))
                    self._early.clear()
                case events.ApplicationDataReceived(data=data):
                    more += self._on_request(data)
                case events.ClientAuthenticated(chain=chain) if self._held:
                    first, *rest = self._held
                    self._held = []
                    self._send(first + authenticated_line(subject_of(chain)))
                    for data in rest:
                        more += self._on_request(data)
        return more

    def _on_request(self, data: bytes) -> list[events.Event]:
        if self._held:
            self._held.append(data)  # answered in order, after the certificate
            return []
        if self._authenticate is None or not asks_for_certificate(data):
            self._send(data)
            return []
        negotiated = self._conn.negotiated
        if negotiated is None or negotiated.version != ProtocolVersion.TLSv1_3:
            self._send(data + authenticated_line(NOBODY))
            return []
        self._held.append(data)
        asked = self._conn.request_client_certificate(self._authenticate)
        return asked + self.answer(asked)

    def _send(self, data: bytes) -> None:
        if not self._conn.closed:
            self._conn.send_application_data(data)
