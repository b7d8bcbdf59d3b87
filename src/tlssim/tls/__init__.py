"""tlssim.tls: a sans-IO TLS 1.3 and TLS 1.2 engine (bytes in, bytes and events out).

    conn = ClientConnection(ClientConfig(server_name="valid.tlssim.test", entropy=os.urandom))
    conn.start()
    sock.sendall(conn.data_to_send())
    for event in conn.receive_data(sock.recv(65536)): ...

No sockets, threads, clocks or OS randomness: randomness comes from ``config.entropy``.
``ClientConfig.versions`` / ``ServerConfig.versions`` choose TLS 1.3 and/or TLS 1.2; a
``SessionReceived`` event carries a ``Session`` to pass back as ``ClientConfig.session``
(TLS 1.2 session id, or a TLS 1.3 ticket offered as a PSK). ``decrypt_session`` decrypts a
recorded TLS 1.2 RSA key-transport connection with the server's key, and raises
``ForwardSecrecyError`` for (EC)DHE and TLS 1.3.
"""

from tlssim.tls import events
from tlssim.tls.client_connection import ClientConnection
from tlssim.tls.config import CertifiedKey, ClientConfig, ServerConfig
from tlssim.tls.constants import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.decrypt import (
    DecryptedSession,
    ForwardSecrecyError,
    OfflineDecryptionError,
    RecordedMessage,
    WrongKeyError,
    decrypt_session,
)
from tlssim.tls.errors import (
    BadCertificate,
    BadRecordMac,
    DecodeError,
    DecryptError,
    HandshakeFailure,
    IllegalParameter,
    InternalError,
    LocalProtocolError,
    MissingExtension,
    PeerAlert,
    ProtocolVersionError,
    RecordOverflow,
    TLSError,
    Truncated,
    UnexpectedMessage,
    UnrecognizedName,
    UnsupportedExtension,
)
from tlssim.tls.negotiated import Negotiated, key_exchange_name
from tlssim.tls.server_connection import ServerConnection
from tlssim.tls.sessions import Session, SessionCache
from tlssim.tls.states import State, Tls12State, Tls13State

__all__ = [
    "AlertDescription",
    "AlertLevel",
    "BadCertificate",
    "BadRecordMac",
    "CertifiedKey",
    "CipherSuite",
    "ClientConfig",
    "ClientConnection",
    "ContentType",
    "DecodeError",
    "DecryptError",
    "DecryptedSession",
    "ExtensionType",
    "ForwardSecrecyError",
    "HandshakeFailure",
    "HandshakeType",
    "IllegalParameter",
    "InternalError",
    "LocalProtocolError",
    "MissingExtension",
    "NamedGroup",
    "Negotiated",
    "OfflineDecryptionError",
    "PeerAlert",
    "ProtocolVersion",
    "ProtocolVersionError",
    "RecordOverflow",
    "RecordedMessage",
    "ServerConfig",
    "ServerConnection",
    "Session",
    "SessionCache",
    "SignatureScheme",
    "State",
    "TLSError",
    "Tls12State",
    "Tls13State",
    "Truncated",
    "UnexpectedMessage",
    "UnrecognizedName",
    "UnsupportedExtension",
    "WrongKeyError",
    "decrypt_session",
    "events",
    "key_exchange_name",
]
