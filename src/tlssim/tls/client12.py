"""TLS 1.2 half of the client state machine (RFC 5246 section 7.3).

Full handshake:  ServerHello (WAIT_CERT) -> Certificate -> [CertificateStatus]
                 -> [ServerKeyExchange] -> ServerHelloDone -> ClientKeyExchange,
                 ChangeCipherSpec, Finished (WAIT_CCS) -> ChangeCipherSpec (WAIT_FINISHED)
                 -> Finished (CONNECTED)
Abbreviated:     ServerHello echoing our session id (WAIT_CCS) -> ChangeCipherSpec
                 -> Finished -> ChangeCipherSpec, Finished (CONNECTED)

The ``CertificateReceived`` pause comes as soon as the chain and its staple are known:
right after Certificate, or after CertificateStatus when the server acknowledged
status_request; so the caller judges the chain *before* the ServerKeyExchange signature
is checked (a server that acknowledged status_request but sends no CertificateStatus, as
RFC 6066 allows, gets the pause with no staple before its next message is processed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tlssim.tls import events as ev
from tlssim.tls.config import ClientConfig
from tlssim.tls.connection import Connection, Negotiated, State
from tlssim.tls.constants import (
    AlertDescription,
    CipherSuite,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.describe import server_hello_fields
from tlssim.tls.errors import (
    BadCertificate,
    DecodeError,
    HandshakeFailure,
    IllegalParameter,
    TLSError,
    UnsupportedExtension,
)
from tlssim.tls.keyexchange import SUPPORTED_GROUPS, KeyShare
from tlssim.tls.messages import ServerHello
from tlssim.tls.messages12 import (
    Certificate12,
    CertificateStatus,
    ClientKeyExchange,
    ServerHelloDone,
    ServerKeyExchange,
)
from tlssim.tls.sessions import Session
from tlssim.tls.signatures import PublicKey, verify
from tlssim.tls.tls12 import TLS12_SUITES, master_secret
from tlssim.tls.versions import client_check_downgrade

Handler = Callable[["ClientTLS12", bytes, bytes], None]

#: ServerHello extensions a TLS 1.2 server may answer with (only if we sent them).
_SH12_ALLOWED = {
    ExtensionType.server_name,
    ExtensionType.status_request,
    ExtensionType.renegotiation_info,
    ExtensionType.extended_master_secret,
    ExtensionType.ec_point_formats,
}


class ClientTLS12(Connection):
    """The TLS 1.2 handlers of ClientConnection (which sets the attributes below)."""

    config: ClientConfig
    _session_id: bytes
    _leaf_key: PublicKey | None
    _scheme: SignatureScheme | None
    _group: NamedGroup | None

    def _init_tls12(self) -> None:
        self._chain12: tuple[bytes, ...] = ()
        self._staple_expected = False
        self._server_public = b""
        self._server_session_id = b""

    def _offered_versions(self) -> tuple[ProtocolVersion, ...]:
        raise NotImplementedError

    # -- ServerHello ----------------------------------------------------------------------

    def _on_server_hello_tls12(self, sh: ServerHello, exts: dict[int, bytes], raw: bytes) -> None:
        client_check_downgrade(sh.random, ProtocolVersion.TLSv1_2, self._offered_versions())
        if sh.cipher_suite not in self.config.cipher_suites or sh.cipher_suite not in TLS12_SUITES:
            raise IllegalParameter("server chose a cipher suite we did not offer")
        if sh.legacy_compression_method != 0:
            raise IllegalParameter("non-null compression")
        for etype in exts:
            if etype not in _SH12_ALLOWED:
                raise UnsupportedExtension(f"unexpected extension {etype} in ServerHello")
        if ExtensionType.status_request in exts and not self.config.request_ocsp:
            raise UnsupportedExtension("status_request acknowledged but not sent")
        if ExtensionType.server_name in exts and self.config.server_name is None:
            raise UnsupportedExtension("server_name acknowledged but not sent")
        reneg = exts.get(ExtensionType.renegotiation_info)
        if reneg is not None and reneg != b"\x00":
            raise HandshakeFailure("non-empty renegotiation_info in an initial handshake")
        ems = exts.get(ExtensionType.extended_master_secret)
        if ems:
            raise DecodeError("extended_master_secret with a body")
        self._tls12 = True
        self._ems = ems is not None
        self._peer_hello_seen = True
        self._suite12 = suite = TLS12_SUITES[CipherSuite(sh.cipher_suite)]
        self._server_random = sh.random
        self._server_session_id = sh.legacy_session_id_echo
        self._staple_expected = ExtensionType.status_request in exts
        self._transcript.start(suite)
        session = self.config.session
        self._resumed = (
            session is not None
            and session.version == ProtocolVersion.TLSv1_2
            and bool(session.session_id)
            and sh.legacy_session_id_echo == session.session_id
        )
        fields = server_hello_fields(sh, exts, None)
        fields["selected_version"] = ProtocolVersion.TLSv1_2.label
        fields["extended_master_secret"] = self._ems
        fields["resumed"] = self._resumed
        self._received(raw, "ServerHello", fields)
        if self._resumed:
            assert session is not None
            if session.cipher_suite != sh.cipher_suite:
                raise IllegalParameter("resumed session with a different cipher suite")
            if session.extended_master_secret != self._ems:
                raise HandshakeFailure("extended_master_secret differs from the session's")
            self._master = session.secret
            self._secret("CLIENT_RANDOM", self._master)
            self._derive_keys_tls12()
            self._state = State.WAIT_CCS
        else:
            self._state = State.WAIT_CERT

    # -- server certificate ---------------------------------------------------------------

    def _on_certificate_tls12(self, body: bytes, raw: bytes) -> None:
        cert = Certificate12.parse(body)
        if not cert.chain:
            raise DecodeError("server sent an empty Certificate")
        try:
            key = x509.load_der_x509_certificate(cert.chain[0]).public_key()
        except Exception as exc:
            raise BadCertificate(f"cannot parse the leaf certificate: {exc}") from exc
        assert self._suite12 is not None
        if self._suite12.authentication == "rsa":
            fits = isinstance(key, rsa.RSAPublicKey)
        else:
            fits = isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
        if not fits or not isinstance(
            key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
        ):
            raise TLSError(
                "certificate key does not fit the cipher suite",
                AlertDescription.unsupported_certificate,
            )
        self._leaf_key = key
        self._chain12 = cert.chain
        self._received(
            raw,
            "Certificate",
            {"certificates": len(cert.chain), "sizes": [len(c) for c in cert.chain]},
        )
        if self._staple_expected:
            self._state = State.WAIT_CERT_STATUS
        else:
            self._pause_for_certificate(None)

    def _pause_for_certificate(self, staple: bytes | None) -> None:
        self._events.append(ev.CertificateReceived(self._chain12, staple))
        self._paused = True
        assert self._suite12 is not None
        self._state = State.WAIT_SKE if self._suite12.key_exchange == "ecdhe" else State.WAIT_SHD

    def _on_certificate_status(self, body: bytes, raw: bytes) -> None:
        status = CertificateStatus.parse(body)
        self._received(
            raw,
            "CertificateStatus",
            {"status_type": "ocsp", "ocsp_response_size": len(status.ocsp_response)},
        )
        self._pause_for_certificate(status.ocsp_response)

    def _on_no_certificate_status(self, body: bytes, raw: bytes) -> None:
        """status_request acknowledged but no CertificateStatus (RFC 6066 allows it)."""
        self._hs_in[:0] = raw  # handled again after the caller's decision
        self._pause_for_certificate(None)

    # -- ServerKeyExchange, ServerHelloDone -------------------------------------------------

    def _on_server_key_exchange(self, body: bytes, raw: bytes) -> None:
        ske = ServerKeyExchange.parse(body)
        if ske.group not in self.config.supported_groups or ske.group not in SUPPORTED_GROUPS:
            raise IllegalParameter("ServerKeyExchange for a group we did not offer")
        if ske.algorithm not in self.config.signature_schemes:
            raise IllegalParameter("ServerKeyExchange signed with a scheme we did not offer")
        assert self._leaf_key is not None
        signed = self._client_random + self._server_random + ske.params
        verify(self._leaf_key, ske.algorithm, ske.signature, signed, tls12=True)
        self._group = NamedGroup(ske.group)
        self._scheme = SignatureScheme(ske.algorithm)
        self._server_public = ske.public
        self._received(
            raw,
            "ServerKeyExchange",
            {
                "key_exchange": "ecdhe",
                "group": self._group.name,
                "public_size": len(ske.public),
                "signature_scheme": self._scheme.name,
            },
        )
        self._state = State.WAIT_SHD

    def _on_server_hello_done(self, body: bytes, raw: bytes) -> None:
        ServerHelloDone.parse(body)
        self._received(raw, "ServerHelloDone", {})
        suite = self._suite12
        assert suite is not None
        if suite.key_exchange == "ecdhe":
            assert self._group is not None
            share = KeyShare(self._group, self.config.entropy)
            premaster = share.exchange(self._server_public)
            cke = ClientKeyExchange(key_exchange="ecdhe", exchange_keys=share.public)
            fields: dict[str, object] = {
                "key_exchange": "ecdhe",
                "group": self._group.name,
                "public_size": len(share.public),
            }
        else:
            premaster = ProtocolVersion.TLSv1_2.to_bytes(2, "big") + self.config.entropy(46)
            assert isinstance(self._leaf_key, rsa.RSAPublicKey)
            encrypted = self._leaf_key.encrypt(premaster, padding.PKCS1v15())
            cke = ClientKeyExchange(key_exchange="rsa", exchange_keys=encrypted)
            fields = {
                "key_exchange": "rsa",
                "premaster": "encrypted with the server's public key",
                "encrypted_size": len(encrypted),
            }
        self._send_handshake(cke.serialize(), "ClientKeyExchange", fields)
        session_hash = self._transcript.digest() if self._ems else None
        self._master = master_secret(
            suite, premaster, self._client_random, self._server_random, session_hash
        )
        self._secret("CLIENT_RANDOM", self._master)
        self._derive_keys_tls12()
        self._send_change_cipher_spec()
        self._send_finished_tls12()
        self._state = State.WAIT_CCS

    # -- Finished -------------------------------------------------------------------------

    def _on_finished_tls12(self, body: bytes, raw: bytes) -> None:
        self._check_finished_tls12(body, raw)
        if self._resumed:
            self._send_change_cipher_spec()
            self._send_finished_tls12()
        assert self._suite12 is not None
        negotiated = Negotiated(
            version=ProtocolVersion.TLSv1_2,
            cipher_suite=self._suite12.suite,
            group=self._group,
            signature_scheme=self._scheme,
            server_name=self.config.server_name,
            extended_master_secret=self._ems,
            resumed=self._resumed,
        )
        self._complete(negotiated)
        if self._server_session_id and not self._resumed:
            session = Session(
                version=ProtocolVersion.TLSv1_2,
                cipher_suite=self._suite12.suite,
                secret=self._master,
                server_name=self.config.server_name,
                session_id=self._server_session_id,
                extended_master_secret=self._ems,
            )
            self._events.append(ev.SessionReceived(session))

    _TRANSITIONS_TLS12: ClassVar[dict[tuple[State, int], Handler]] = {
        (State.WAIT_CERT, HandshakeType.certificate): _on_certificate_tls12,
        (State.WAIT_CERT_STATUS, HandshakeType.certificate_status): _on_certificate_status,
        (State.WAIT_CERT_STATUS, HandshakeType.server_key_exchange): _on_no_certificate_status,
        (State.WAIT_CERT_STATUS, HandshakeType.server_hello_done): _on_no_certificate_status,
        (State.WAIT_SKE, HandshakeType.server_key_exchange): _on_server_key_exchange,
        (State.WAIT_SHD, HandshakeType.server_hello_done): _on_server_hello_done,
        (State.WAIT_FINISHED, HandshakeType.finished): _on_finished_tls12,
        (State.CONNECTED, HandshakeType.hello_request): Connection._refuse_renegotiation,
    }
