"""The TLS 1.3 client handshake (RFC 8446 appendix A.1), from the ServerHello on.

The client facade sent the ClientHello and, seeing a ServerHello that selects TLS 1.3,
hands over to this object. A resumed (PSK) handshake has no Certificate or
CertificateVerify: EncryptedExtensions leads straight to WAIT_FINISHED. On Certificate the
engine pauses until the caller accepts or rejects the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from tlssim.tls import early_data
from tlssim.tls import events as ev
from tlssim.tls.certificate_request import CertificateRequest, client_scheme, request_fields
from tlssim.tls.client_hello import ClientOffer
from tlssim.tls.constants import (
    AlertDescription,
    CipherSuite,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    member_of,
    name_of,
)
from tlssim.tls.core import ConnectionCore
from tlssim.tls.describe import certificate_fields, server_hello_fields
from tlssim.tls.errors import (
    BadCertificate,
    DecodeError,
    IllegalParameter,
    InternalError,
    MissingExtension,
    TLSError,
    UnexpectedMessage,
    UnsupportedExtension,
)
from tlssim.tls.extensions import (
    decode_certificate_status,
    decode_cookie,
    decode_replica,
    decode_server_key_share,
    decode_uint16,
    decode_uint16_list,
    index_extensions,
)
from tlssim.tls.keyexchange import SUPPORTED_GROUPS, KeyShare
from tlssim.tls.keys13 import Tls13Keys
from tlssim.tls.keyschedule import TLS13_SUITES, SuiteParams, resumption_psk
from tlssim.tls.messages import (
    Certificate,
    CertificateEntry,
    CertificateVerify,
    EncryptedExtensions,
    NewSessionTicket,
    ServerHello,
)
from tlssim.tls.negotiated import Negotiated, key_exchange_name
from tlssim.tls.post_handshake_auth import answer_request
from tlssim.tls.sessions import Session
from tlssim.tls.signatures import (
    CLIENT_CONTEXT,
    SERVER_CONTEXT,
    PublicKey,
    is_supported_public_key,
    sign,
    signed_content,
    verify,
)
from tlssim.tls.states import Handshake, Table, Tls13State, step
from tlssim.tls.versions import client_check_version

S, M = Tls13State, HandshakeType


_SH_ALLOWED = {ExtensionType.key_share, ExtensionType.supported_versions}
_HRR_ALLOWED = {ExtensionType.key_share, ExtensionType.supported_versions, ExtensionType.cookie}
_EE_FORBIDDEN = {
    ExtensionType.key_share,
    ExtensionType.supported_versions,
    ExtensionType.signature_algorithms,
    ExtensionType.status_request,
    ExtensionType.pre_shared_key,
    ExtensionType.cookie,
}
#: Extensions RFC 8446 4.2 lists for EncryptedExtensions, of those this client sends.
_EE_ALLOWED = {
    ExtensionType.server_name,
    ExtensionType.supported_groups,
    ExtensionType.early_data,
    ExtensionType.tlssim_replica,
}


@dataclass(frozen=True, slots=True)
class _Agreed:
    """What the ServerHello settles, all at once: the key schedule, the (EC)DHE group, and
    whether the server resumed our PSK."""

    keys: Tls13Keys
    group: NamedGroup
    resumed: bool


class ClientTls13(Handshake):
    version = ProtocolVersion.TLSv1_3

    def __init__(
        self, core: ConnectionCore, offer: ClientOffer, hello: tuple[ServerHello, dict[int, bytes]]
    ) -> None:
        self.state = S.WAIT_SH
        self._core = core
        self._offer = offer
        self._config = offer.config
        #: The ServerHello the facade parsed to choose this version.
        self._first_hello = hello
        #: From the ServerHello on (the table runs nothing that needs it before).
        self._agreed_or_none: _Agreed | None = None
        #: The server's certificate key, from its Certificate on (a full handshake).
        self._leaf_key_or_none: PublicKey | None = None
        #: How the server signed (None: it resumed our PSK and signed nothing).
        self._scheme: SignatureScheme | None = None
        self._resumption_master = b""
        self._request: CertificateRequest | None = None
        #: Our write key is still the 0-RTT one (until the server answers early_data).
        self._early_write = offer.early_data_sent
        self._server_replica: str | None = None

    @property
    def _agreed(self) -> _Agreed:
        if self._agreed_or_none is None:
            raise InternalError("no keys before the ServerHello")
        return self._agreed_or_none

    @property
    def _leaf_key(self) -> PublicKey:
        if self._leaf_key_or_none is None:
            raise InternalError("no server key before its Certificate")
        return self._leaf_key_or_none

    # -- ServerHello / HelloRetryRequest -----------------------------------------------

    def on_server_hello(self, body: bytes, raw: bytes) -> Tls13State:
        sh, exts = self._first_hello
        self._check_server_hello(sh, exts)
        if sh.is_hello_retry_request:
            self._retry(sh, exts, raw)
            return S.WAIT_SH2
        self._enter_handshake(sh, exts, raw)
        return S.WAIT_EE

    def on_server_hello_after_retry(self, body: bytes, raw: bytes) -> None:
        sh = ServerHello.parse(body)
        exts = index_extensions(sh.extensions)
        version = client_check_version(exts, self._offer.versions, sh.legacy_version)
        if version != ProtocolVersion.TLSv1_3:
            raise IllegalParameter("TLS 1.2 ServerHello after a HelloRetryRequest")
        self._check_server_hello(sh, exts)
        if sh.is_hello_retry_request:
            raise UnexpectedMessage("a second HelloRetryRequest")
        if sh.cipher_suite != self._offer.retry_suite:
            raise IllegalParameter("cipher suite changed after HelloRetryRequest")
        self._enter_handshake(sh, exts, raw)

    def _check_server_hello(self, sh: ServerHello, exts: dict[int, bytes]) -> None:
        offer = self._offer
        if sh.legacy_session_id_echo != offer.session_id:
            raise IllegalParameter("legacy_session_id_echo does not match")
        if sh.cipher_suite not in offer.suites or sh.cipher_suite not in TLS13_SUITES:
            raise IllegalParameter("server chose a cipher suite we did not offer")
        if sh.legacy_compression_method != 0:
            raise IllegalParameter("non-null compression")
        allowed = _HRR_ALLOWED if sh.is_hello_retry_request else _SH_ALLOWED
        if offer.psk_offered and not sh.is_hello_retry_request:
            allowed = allowed | {ExtensionType.pre_shared_key}
        for etype in exts:
            if etype not in allowed:
                raise UnsupportedExtension(f"unexpected extension {etype} in ServerHello")
        self._core.peer_hello_seen = True

    def _retry(self, hrr: ServerHello, exts: dict[int, bytes], raw: bytes) -> None:
        """HelloRetryRequest (4.1.4): a new share and/or the cookie, in a new ClientHello."""
        core, offer, config = self._core, self._offer, self._config
        if ExtensionType.cookie in exts:
            offer.cookie = decode_cookie(exts[ExtensionType.cookie])
        selected: int | None = None
        if ExtensionType.key_share in exts:
            selected = decode_uint16(exts[ExtensionType.key_share])
            if (
                selected not in config.supported_groups
                or selected not in SUPPORTED_GROUPS
                or selected in offer.shares
            ):
                raise IllegalParameter("HelloRetryRequest selected an unusable group")
        elif offer.cookie is None:
            raise IllegalParameter("HelloRetryRequest would not change the ClientHello")
        suite = CipherSuite(hrr.cipher_suite)
        params = TLS13_SUITES[suite]
        offer.retry_suite = suite
        core.transcript.start(params)
        core.transcript.replace_with_message_hash(params)
        core.received(raw, "HelloRetryRequest", server_hello_fields(hrr, exts, selected))
        if selected is not None:
            group = NamedGroup(selected)
            offer.shares = {group: KeyShare(group, config.entropy)}
        if config.compatibility_mode:
            core.send_compat_ccs()
        if self._early_write:
            # 0-RTT is off after a HelloRetryRequest (4.2.10): the new hello goes in clear
            core.flush_handshake()
            core.records.write_protection = None
            self._early_write = False
        offer.hello(core)
        core.flush_handshake()

    def _enter_handshake(self, sh: ServerHello, exts: dict[int, bytes], raw: bytes) -> None:
        """(EC)DHE with the server's share, then the handshake traffic keys."""
        core = self._core
        if ExtensionType.key_share not in exts:
            raise MissingExtension("ServerHello without key_share")
        group, server_public = decode_server_key_share(exts[ExtensionType.key_share])
        share = self._offer.shares.get(group)
        if share is None:
            raise IllegalParameter("server key share for a group we did not send")
        shared = share.exchange(server_public)
        params = TLS13_SUITES[member_of(CipherSuite, sh.cipher_suite)]
        if self._offer.retry_suite is None:
            core.transcript.start(params)
        psk = self._selected_psk(exts, params)
        fields = server_hello_fields(sh, exts, group)
        if psk is not None:
            fields["selected_identity"] = 0
            fields["resumed"] = True
        core.received(raw, "ServerHello", fields)
        keys = Tls13Keys(core, params, psk)
        self._agreed_or_none = _Agreed(keys, share.group, resumed=psk is not None)
        keys.enter_handshake(shared)
        keys.read_with(keys.server_handshake)
        if self._config.compatibility_mode:
            core.send_compat_ccs()
        if not self._early_write:
            keys.write_with(keys.client_handshake)

    def _selected_psk(self, exts: dict[int, bytes], params: SuiteParams) -> bytes | None:
        """The PSK the server selected in ServerHello, or None for a full handshake."""
        body = exts.get(ExtensionType.pre_shared_key)
        if body is None:
            return None
        session = self._offer.psk_session
        if session is None:  # _check_server_hello allows pre_shared_key only when offered
            raise InternalError("pre_shared_key answered but no PSK offered")
        if decode_uint16(body) != 0:
            raise IllegalParameter("server selected a PSK identity we did not offer")
        if TLS13_SUITES[session.cipher_suite].hash_name != params.hash_name:
            raise IllegalParameter("server resumed with a cipher suite of another hash")
        return session.secret

    # -- the server's encrypted flight ------------------------------------------------

    def on_encrypted_extensions(self, body: bytes, raw: bytes) -> Tls13State:
        ee = EncryptedExtensions.parse(body)
        exts = index_extensions(ee.extensions)
        for etype in exts:
            if etype in _EE_FORBIDDEN:
                raise IllegalParameter(f"extension {etype} not allowed in EncryptedExtensions")
            # 4.2: a response to an extension we did not send is unsupported_extension
            if etype not in self._offer.sent_extensions:
                raise UnsupportedExtension(f"extension {etype} answered but not sent")
            if etype not in _EE_ALLOWED:
                raise IllegalParameter(f"extension {etype} not allowed in EncryptedExtensions")
        if exts.get(ExtensionType.server_name):
            raise DecodeError("server_name in EncryptedExtensions must be empty")
        if ExtensionType.supported_groups in exts:
            # 4.2.7: the server's preferences, for later connections; only its syntax matters
            decode_uint16_list(exts[ExtensionType.supported_groups])
        if ExtensionType.early_data in exts:
            early_data.check_indication(exts[ExtensionType.early_data])
            if not self._agreed.resumed or not self._early_write:
                raise IllegalParameter("early_data accepted without the ticket it needs")
        fields: dict[str, object] = {"extensions": [name_of(ExtensionType, t) for t in exts]}
        if ExtensionType.tlssim_replica in exts:
            self._server_replica = decode_replica(exts[ExtensionType.tlssim_replica])
            fields["replica"] = self._server_replica
        self._core.received(raw, "EncryptedExtensions", fields)
        if self._offer.early_data_sent:
            self._settle_early_data(ExtensionType.early_data in exts)
        # resumed with a PSK: the server authenticated by knowing it; Finished comes next
        return S.WAIT_FINISHED if self._agreed.resumed else S.WAIT_CERT_CR

    def _settle_early_data(self, accepted: bool) -> None:
        """Accepted: EndOfEarlyData goes under the early key after the server's Finished.
        Rejected: the handshake key from now on; the caller may send the data again."""
        reason = "" if accepted else "the server did not accept it"
        self._core.events.append(ev.EarlyDataAnswered(accepted, reason))
        if not accepted and self._early_write:
            keys = self._agreed.keys
            keys.write_with(keys.client_handshake)
            self._early_write = False

    def on_certificate_request(self, body: bytes, raw: bytes) -> None:
        request = CertificateRequest.parse(body)
        if request.request_context:
            raise IllegalParameter("CertificateRequest context must be empty in the handshake")
        self._request = request
        self._core.received(
            raw, "CertificateRequest", request_fields(request.schemes, request.authorities)
        )

    def on_certificate(self, body: bytes, raw: bytes) -> None:
        core = self._core
        cert = Certificate.parse(body)
        if cert.request_context:
            raise IllegalParameter("server Certificate with a request context")
        if not cert.entries:
            raise DecodeError("server sent an empty Certificate")
        ocsp: bytes | None = None
        leaf_exts = index_extensions(cert.entries[0].extensions)
        if ExtensionType.status_request in leaf_exts:
            if not self._config.request_ocsp:
                raise UnsupportedExtension("OCSP staple we did not ask for")
            ocsp = decode_certificate_status(leaf_exts[ExtensionType.status_request])
        for entry in cert.entries[1:]:
            index_extensions(entry.extensions)
        try:
            key = x509.load_der_x509_certificate(cert.entries[0].cert_data).public_key()
        except Exception as exc:
            raise BadCertificate(f"cannot parse the leaf certificate: {exc}") from exc
        if not is_supported_public_key(key):
            raise TLSError("unsupported leaf key type", AlertDescription.unsupported_certificate)
        self._leaf_key_or_none = key
        core.received(raw, "Certificate", certificate_fields(cert, ocsp))
        core.events.append(ev.CertificateReceived(tuple(e.cert_data for e in cert.entries), ocsp))
        core.pause()

    def on_certificate_verify(self, body: bytes, raw: bytes) -> None:
        cv = CertificateVerify.parse(body)
        if cv.algorithm not in self._config.signature_schemes:
            raise IllegalParameter("CertificateVerify with a scheme we did not offer")
        content = signed_content(SERVER_CONTEXT, self._core.transcript.digest())
        verify(self._leaf_key, cv.algorithm, cv.signature, content)
        self._scheme = member_of(SignatureScheme, cv.algorithm)
        self._core.received(
            raw, "CertificateVerify", {"signature_scheme": name_of(SignatureScheme, self._scheme)}
        )

    def on_finished(self, body: bytes, raw: bytes) -> None:
        agreed = self._agreed
        keys = agreed.keys
        keys.check_finished(body, raw, keys.server_handshake, "server")
        keys.enter_master()
        keys.read_with(keys.read_application)
        if self._early_write:
            self._core.send_handshake(early_data.END_OF_EARLY_DATA, "EndOfEarlyData", {})
            keys.write_with(keys.client_handshake)
            self._early_write = False
        if self._request is not None:
            self._send_client_certificate(self._request)
        keys.send_finished(keys.client_handshake)
        keys.write_with(keys.write_application)
        self._resumption_master = keys.resumption_master()
        self._core.complete(
            Negotiated(
                version=self.version,
                cipher_suite=keys.params.suite,
                group=agreed.group,
                signature_scheme=self._scheme,
                server_name=self._config.server_name,
                key_exchange=key_exchange_name(agreed.group),
                resumed=agreed.resumed,
                server_replica=self._server_replica,
            )
        )

    def _send_client_certificate(self, request: CertificateRequest) -> None:
        """Our Certificate and CertificateVerify, or an empty Certificate (4.4.2)."""
        core, certified = self._core, self._config.client_certificate
        scheme = client_scheme(certified, request.schemes, self._config.signature_schemes)
        if certified is None or scheme is None:
            empty = Certificate(request_context=request.request_context, entries=())
            core.send_handshake(empty.serialize(), "Certificate", {"certificates": 0})
            return
        entries = tuple(CertificateEntry(cert_data=der) for der in certified.chain)
        cert = Certificate(request_context=request.request_context, entries=entries)
        core.send_handshake(cert.serialize(), "Certificate", certificate_fields(cert, None))
        content = signed_content(CLIENT_CONTEXT, core.transcript.digest())
        cv = CertificateVerify(
            algorithm=scheme, signature=sign(certified.private_key, scheme, content)
        )
        core.send_handshake(cv.serialize(), "CertificateVerify", {"signature_scheme": scheme.name})

    # -- after the handshake ------------------------------------------------------------

    def on_new_session_ticket(self, body: bytes, raw: bytes) -> None:
        """Keep the ticket as a resumable Session (4.6.1), offered back as a PSK."""
        ticket = NewSessionTicket.parse(body)
        core, keys = self._core, self._agreed.keys
        nst_exts = index_extensions(ticket.extensions)
        max_early = 0
        if ExtensionType.early_data in nst_exts:
            max_early = early_data.decode_max_early_data(nst_exts[ExtensionType.early_data])
        fields: dict[str, object] = {
            "ticket_lifetime": ticket.ticket_lifetime,
            "ticket_size": len(ticket.ticket),
        }
        if max_early:
            fields["max_early_data_size"] = max_early
        core.events.append(ev.HandshakeMessageReceived("NewSessionTicket", len(raw), fields))
        psk = resumption_psk(keys.params, self._resumption_master, ticket.ticket_nonce)
        session = Session(
            version=ProtocolVersion.TLSv1_3,
            cipher_suite=keys.params.suite,
            secret=psk,
            server_name=self._config.server_name,
            ticket=ticket.ticket,
            ticket_age_add=ticket.ticket_age_add,
            ticket_lifetime=ticket.ticket_lifetime,
            max_early_data=max_early,
        )
        core.events.append(ev.SessionReceived(session))

    def on_key_update(self, body: bytes, raw: bytes) -> None:
        self._agreed.keys.on_key_update(body, raw)

    def send_key_update(self, request_peer: bool) -> None:
        self._agreed.keys.send_key_update(request_peer)

    def on_post_handshake_request(self, body: bytes, raw: bytes) -> None:
        if ExtensionType.post_handshake_auth not in self._offer.sent_extensions:
            raise UnexpectedMessage("CertificateRequest after the handshake, not offered")
        config = self._config
        answer_request(
            self._core, self._agreed.keys, config.client_certificate, config.signature_schemes, raw
        )


TRANSITIONS: Table[ClientTls13] = {
    # ServerHello, or a HelloRetryRequest (another ClientHello goes out)
    (S.WAIT_SH, M.server_hello): step(ClientTls13.on_server_hello, S.WAIT_EE, S.WAIT_SH2),
    (S.WAIT_SH2, M.server_hello): step(ClientTls13.on_server_hello_after_retry, S.WAIT_EE),
    # a full handshake authenticates with a certificate; a PSK resumption does not
    (S.WAIT_EE, M.encrypted_extensions): step(
        ClientTls13.on_encrypted_extensions, S.WAIT_CERT_CR, S.WAIT_FINISHED
    ),
    # the server may ask for our certificate before sending its own
    (S.WAIT_CERT_CR, M.certificate_request): step(ClientTls13.on_certificate_request, S.WAIT_CERT),
    (S.WAIT_CERT_CR, M.certificate): step(ClientTls13.on_certificate, S.WAIT_CV),
    (S.WAIT_CERT, M.certificate): step(ClientTls13.on_certificate, S.WAIT_CV),
    (S.WAIT_CV, M.certificate_verify): step(ClientTls13.on_certificate_verify, S.WAIT_FINISHED),
    (S.WAIT_FINISHED, M.finished): step(ClientTls13.on_finished, S.CONNECTED),
    (S.CONNECTED, M.new_session_ticket): step(ClientTls13.on_new_session_ticket, S.CONNECTED),
    (S.CONNECTED, M.key_update): step(ClientTls13.on_key_update, S.CONNECTED),
    # post-handshake authentication (4.6.2), when we offered it
    (S.CONNECTED, M.certificate_request): step(ClientTls13.on_post_handshake_request, S.CONNECTED),
}

ClientTls13.transitions = TRANSITIONS
