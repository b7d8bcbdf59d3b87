"""The TLS 1.3 server handshake (RFC 8446 appendix A.2), from the ClientHello on.

The server answers a ClientHello in one flight (ServerHello, EncryptedExtensions,
Certificate, CertificateVerify, Finished; no Certificate or CertificateVerify when it
resumes a ticket), or with a HelloRetryRequest when no offered key share fits, then waits
for the client's Finished and sends one NewSessionTicket when tickets are enabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlssim.tls import early_data
from tlssim.tls import events as ev
from tlssim.tls.certificate_request import CertificateRequest, request_fields
from tlssim.tls.config import CertifiedKey, ClientAuth, ServerConfig
from tlssim.tls.constants import (
    HELLO_RETRY_REQUEST_RANDOM,
    AlertDescription,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.core import ConnectionCore
from tlssim.tls.describe import (
    certificate_fields,
    names_of,
    offered_hello_fields,
    server_hello_fields,
)
from tlssim.tls.errors import (
    DecodeError,
    HandshakeFailure,
    IllegalParameter,
    InternalError,
    LocalProtocolError,
    TLSError,
)
from tlssim.tls.extensions import (
    Extension,
    encode_certificate_status,
    encode_replica,
    encode_server_key_share,
    encode_uint16,
    encode_uint16_list,
    index_extensions,
)
from tlssim.tls.hello_extensions import HelloExtensions, decode_hello_extensions
from tlssim.tls.keyexchange import SUPPORTED_GROUPS, answer_share, host_groups, select_group
from tlssim.tls.keys13 import Tls13Keys
from tlssim.tls.keyschedule import TLS13_SUITES, SuiteParams, resumption_psk
from tlssim.tls.messages import (
    Certificate,
    CertificateEntry,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    NewSessionTicket,
    ServerHello,
)
from tlssim.tls.negotiated import Negotiated, key_exchange_name
from tlssim.tls.offer13 import AcceptedPsk, Offer13, accept_psk
from tlssim.tls.post_handshake_auth import PostHandshakeRequest
from tlssim.tls.signatures import (
    CLIENT_CONTEXT,
    SERVER_CONTEXT,
    SUPPORTED_SCHEMES,
    PublicKey,
    key_supports,
    leaf_public_key,
    sign,
    signed_content,
    verify,
)
from tlssim.tls.states import Handshake, Table, Tls13State, sent, step
from tlssim.tls.tickets import TicketContents, seal_ticket
from tlssim.tls.versions import server_select_version

S, M = Tls13State, HandshakeType


@dataclass(frozen=True, slots=True)
class _Signer:
    """The certificate the selector chose and the scheme we sign with."""

    certified: CertifiedKey
    scheme: SignatureScheme


@dataclass(frozen=True, slots=True)
class _Retry:
    """What our HelloRetryRequest settled: the suite, and the group of the share we asked for."""

    params: SuiteParams
    group: NamedGroup


@dataclass(frozen=True, slots=True)
class _Agreed:
    """What our ServerHello settled, all at once: the key schedule, the (EC)DHE group, and
    the certificate we sign with (None: we resumed the client's PSK and sign nothing)."""

    keys: Tls13Keys
    group: NamedGroup
    signer: _Signer | None


class ServerTls13(Handshake):
    version = ProtocolVersion.TLSv1_3

    def __init__(
        self,
        core: ConnectionCore,
        config: ServerConfig,
        hello: tuple[ClientHello, HelloExtensions],
    ) -> None:
        self.state = S.WAIT_CH
        self._core = core
        self._config = config
        #: The ClientHello the facade parsed to choose this version.
        self._first_hello = hello
        #: Each of these from the step that settles it on (the table orders the steps).
        self._signer_or_none: _Signer | None = None
        self._retry_or_none: _Retry | None = None
        self._agreed_or_none: _Agreed | None = None
        self._client_key_or_none: PublicKey | None = None
        self._server_name: str | None = None
        self._groups_or_none: tuple[int, ...] | None = None
        #: What we ask of the client in the handshake (None: nothing).
        self._client_auth: ClientAuth | None = None
        self._requested_schemes: tuple[SignatureScheme, ...] = ()
        #: The early traffic secret while 0-RTT is accepted (read until EndOfEarlyData).
        self._early_secret: bytes | None = None
        self.post_handshake_auth_offered = False
        self._pha_or_none: PostHandshakeRequest | None = None

    @property
    def _agreed(self) -> _Agreed:
        if self._agreed_or_none is None:
            raise InternalError("no keys before our ServerHello")
        return self._agreed_or_none

    @property
    def _signer(self) -> _Signer:
        if self._signer_or_none is None:
            raise InternalError("no certificate selected")
        return self._signer_or_none

    @property
    def _retry(self) -> _Retry:
        if self._retry_or_none is None:
            raise InternalError("no HelloRetryRequest sent")
        return self._retry_or_none

    @property
    def _ask(self) -> ClientAuth:
        if self._client_auth is None:
            raise InternalError("no client certificate asked for")
        return self._client_auth

    @property
    def _client_key(self) -> PublicKey:
        if self._client_key_or_none is None:
            raise InternalError("no client key before its Certificate")
        return self._client_key_or_none

    @property
    def _pha(self) -> PostHandshakeRequest:
        if self._pha_or_none is None:
            raise InternalError("no post-handshake CertificateRequest sent")
        return self._pha_or_none

    # -- ClientHello --------------------------------------------------------------------

    def on_client_hello(self, body: bytes, raw: bytes) -> Tls13State:
        hello, exts = self._first_hello
        core, config = self._core, self._config
        offer = Offer13(hello, exts)
        core.client_random = hello.random
        candidates = tuple(
            TLS13_SUITES[s]
            for s in config.cipher_suites
            if s in hello.cipher_suites and s in TLS13_SUITES
        )
        if not candidates:
            raise HandshakeFailure("no common cipher suite")
        params = candidates[0]
        self._server_name = offer.server_name
        if config.client_auth is not None:
            self._client_auth = config.client_auth(offer.server_name)
        choice = select_group(self._server_groups(), offer.groups, offer.shares)
        client_public = choice[1] if choice is not None else None
        psk: AcceptedPsk | None = None
        # a PSK handshake has no CertificateRequest (4.3.2): asking means a full handshake;
        # after a HelloRetryRequest the second ClientHello decides
        if client_public is not None and self._client_auth is None:
            psk, psk_params = accept_psk(config.ticket_key, offer, raw, candidates, core.transcript)
            if psk is not None:
                params = psk_params
        if psk is None:
            self._select_certificate(offer)
        core.transcript.add(raw)
        core.transcript.start(params)
        core.events.append(_hello_received(raw, offer))
        if choice is None:
            raise HandshakeFailure("no common key exchange group")
        group = choice[0]
        if client_public is None:
            self._send_hello_retry_request(offer, group, params)
            if offer.extensions.early_data:
                early_data.skip_early_data(core, config.early_data)
                core.events.append(ev.EarlyDataAnswered(False, "a HelloRetryRequest came first"))
            return S.WAIT_CH2
        verdict = early_data.judge(config.early_data, offer, psk, params, after_retry=False)
        if verdict is not None and verdict.accepted and psk is not None:
            self._early_secret = early_data.early_traffic_secret(core, params, psk.contents.psk)
        self._send_flight(offer, group, client_public, params, psk, verdict)
        if self._early_secret is not None:
            return S.WAIT_EOED
        return S.WAIT_FINISHED if self._client_auth is None else S.WAIT_CERT

    def on_client_hello_after_retry(self, body: bytes, raw: bytes) -> Tls13State:
        core, config = self._core, self._config
        hello = ClientHello.parse(body)
        exts = decode_hello_extensions(hello)
        version = server_select_version(
            exts.supported_versions, hello.legacy_version, config.versions
        )
        if version != ProtocolVersion.TLSv1_3:
            raise IllegalParameter("second ClientHello changed the version")
        offer = Offer13(hello, exts)
        params, group = self._retry.params, self._retry.group
        if hello.random != core.client_random:
            raise IllegalParameter("second ClientHello changed the random")
        if params.suite not in hello.cipher_suites:
            raise IllegalParameter("second ClientHello dropped the selected cipher suite")
        if len(offer.shares) != 1 or offer.shares[0][0] != group:
            raise IllegalParameter("second ClientHello must carry only the requested share")
        psk: AcceptedPsk | None = None
        if self._client_auth is None:
            psk, _ = accept_psk(config.ticket_key, offer, raw, (params,), core.transcript)
        core.transcript.add(raw)
        core.events.append(_hello_received(raw, offer))
        verdict = early_data.judge(config.early_data, offer, psk, params, after_retry=True)
        self._send_flight(offer, group, offer.shares[0][1], params, psk, verdict)
        return S.WAIT_FINISHED if self._client_auth is None else S.WAIT_CERT

    def _server_groups(self) -> tuple[int, ...]:
        groups = self._groups_or_none
        if groups is None:  # for the SNI of the first ClientHello, asked again for its answer
            config = self._config
            for_host = host_groups(
                config.supported_groups, config.groups_for_server_name, self._server_name
            )
            groups = self._groups_or_none = tuple(g for g in for_host if g in SUPPORTED_GROUPS)
        return groups

    def _select_certificate(self, offer: Offer13) -> None:
        config = self._config
        try:
            certified = config.certificate_selector(offer.server_name, offer.schemes)
        except TLSError:
            raise
        except Exception as exc:
            raise HandshakeFailure(f"certificate selection failed: {exc!r}") from exc
        scheme = next(
            (
                s
                for s in offer.schemes
                if s in config.signature_schemes and key_supports(certified.private_key, s)
            ),
            None,
        )
        if scheme is None or not certified.chain:
            raise HandshakeFailure("no signature scheme fits the certificate key")
        self._signer_or_none = _Signer(certified, scheme)

    def _send_hello_retry_request(
        self, offer: Offer13, group: NamedGroup, params: SuiteParams
    ) -> None:
        core = self._core
        core.transcript.replace_with_message_hash(params)
        exts = (
            Extension(ExtensionType.supported_versions, encode_uint16(self.version)),
            Extension(ExtensionType.key_share, encode_uint16(group)),
        )
        hrr = ServerHello(
            random=HELLO_RETRY_REQUEST_RANDOM,
            legacy_session_id_echo=offer.hello.legacy_session_id,
            cipher_suite=params.suite,
            extensions=exts,
        )
        core.send_handshake(
            hrr.serialize(),
            "HelloRetryRequest",
            server_hello_fields(hrr, index_extensions(exts), group),
        )
        core.flush_handshake()
        if offer.hello.legacy_session_id:
            core.send_compat_ccs()
        self._retry_or_none = _Retry(params, group)

    # -- the server flight ----------------------------------------------------------------

    def _send_flight(
        self,
        offer: Offer13,
        group: NamedGroup,
        client_public: bytes,
        params: SuiteParams,
        psk: AcceptedPsk | None,
        verdict: early_data.Verdict | None = None,
    ) -> None:
        """ServerHello, EncryptedExtensions, [Certificate, CertificateVerify], Finished."""
        core, entropy = self._core, self._config.entropy
        self.post_handshake_auth_offered = offer.extensions.post_handshake_auth
        random = entropy(32)
        server_public, shared = answer_share(group, client_public, entropy)
        exts: tuple[Extension, ...] = (
            Extension(ExtensionType.key_share, encode_server_key_share(group, server_public)),
            Extension(ExtensionType.supported_versions, encode_uint16(self.version)),
        )
        if psk is not None:
            exts += (Extension(ExtensionType.pre_shared_key, encode_uint16(psk.index)),)
        sh = ServerHello(
            random=random,
            legacy_session_id_echo=offer.hello.legacy_session_id,
            cipher_suite=params.suite,
            extensions=exts,
        )
        fields = server_hello_fields(sh, index_extensions(exts), group)
        if psk is not None:
            fields["selected_identity"] = psk.index
            fields["resumed"] = True
        core.send_handshake(sh.serialize(), "ServerHello", fields)
        core.flush_handshake()
        if offer.hello.legacy_session_id:
            core.send_compat_ccs()

        keys = Tls13Keys(core, params, None if psk is None else psk.contents.psk)
        signer = self._signer if psk is None else None
        self._agreed_or_none = _Agreed(keys, group, signer)
        keys.enter_handshake(shared)
        keys.write_with(keys.server_handshake)
        ee_exts: tuple[Extension, ...] = ()
        if offer.server_name is not None and psk is None:
            ee_exts = (Extension(ExtensionType.server_name, b""),)
        server_groups = self._server_groups()
        if server_groups and server_groups[0] != group:
            # 4.2.7: we took this group but prefer another, offered or not: list all we support
            ee_exts += (
                Extension(ExtensionType.supported_groups, encode_uint16_list(server_groups)),
            )
        if verdict is not None and verdict.accepted:
            ee_exts += (early_data.INDICATION,)
        replica = self._config.replica
        if replica and ExtensionType.tlssim_replica in offer.extensions.by_type:
            ee_exts += (Extension(ExtensionType.tlssim_replica, encode_replica(replica)),)
        core.send_handshake(
            EncryptedExtensions(extensions=ee_exts).serialize(),
            "EncryptedExtensions",
            {"extensions": names_of(ExtensionType, tuple([e.type for e in ee_exts]))},
        )
        if verdict is not None:
            core.events.append(ev.EarlyDataAnswered(verdict.accepted, verdict.reason))
        if psk is None and self._client_auth is not None:
            self._send_certificate_request(self._client_auth)
        if signer is not None:
            self._send_certificate(offer, signer)
        keys.send_finished(keys.server_handshake)
        keys.enter_master()
        keys.write_with(keys.write_application)
        settings = self._config.early_data
        if self._early_secret is not None and settings is not None:
            early_data.read_early_data(core, params, self._early_secret, settings)
            return
        keys.read_with(keys.client_handshake)
        if verdict is not None:
            early_data.skip_early_data(core, settings)

    def _send_certificate(self, offer: Offer13, signer: _Signer) -> None:
        core, certified, scheme = self._core, signer.certified, signer.scheme
        staple = certified.ocsp_response if offer.status_request else None
        entries = [CertificateEntry(cert_data=der) for der in certified.chain]
        if staple is not None:
            status = Extension(ExtensionType.status_request, encode_certificate_status(staple))
            entries[0] = CertificateEntry(cert_data=certified.chain[0], extensions=(status,))
        cert = Certificate(entries=tuple(entries))
        core.send_handshake(cert.serialize(), "Certificate", certificate_fields(cert, staple))
        content = signed_content(SERVER_CONTEXT, core.transcript.digest())
        cv = CertificateVerify(
            algorithm=scheme, signature=sign(certified.private_key, scheme, content)
        )
        core.send_handshake(
            cv.serialize(),
            "CertificateVerify",
            {"signature_scheme": name_of(SignatureScheme, scheme)},
        )

    def _send_certificate_request(self, ask: ClientAuth) -> None:
        schemes = tuple(s for s in self._config.signature_schemes if s in SUPPORTED_SCHEMES)
        self._requested_schemes = schemes
        request = CertificateRequest(schemes=schemes, authorities=ask.certificate_authorities)
        self._core.send_handshake(
            request.serialize(),
            "CertificateRequest",
            request_fields(schemes, ask.certificate_authorities),
        )

    # -- the client's certificate -------------------------------------------------------

    def on_client_certificate(self, body: bytes, raw: bytes) -> Tls13State:
        """An empty one fails a required request; a chain goes to the caller (pause)."""
        core, ask = self._core, self._ask
        cert = Certificate.parse(body)
        if cert.request_context:
            raise IllegalParameter("client Certificate with a request context we never sent")
        core.received(raw, "Certificate", certificate_fields(cert, None))
        if not cert.entries:
            if ask.required:
                raise TLSError("no client certificate", AlertDescription.certificate_required)
            return S.WAIT_FINISHED
        for entry in cert.entries:
            index_extensions(entry.extensions)
        self._client_key_or_none = leaf_public_key(cert.entries[0].cert_data)
        core.events.append(ev.CertificateReceived(tuple(e.cert_data for e in cert.entries), None))
        core.pause()
        return S.WAIT_CV

    def on_client_certificate_verify(self, body: bytes, raw: bytes) -> None:
        cv = CertificateVerify.parse(body)
        if cv.algorithm not in self._requested_schemes:
            raise IllegalParameter("client CertificateVerify with a scheme we did not ask for")
        content = signed_content(CLIENT_CONTEXT, self._core.transcript.digest())
        verify(self._client_key, cv.algorithm, cv.signature, content)
        scheme = SignatureScheme(cv.algorithm)
        self._core.received(raw, "CertificateVerify", {"signature_scheme": scheme.name})

    def on_end_of_early_data(self, body: bytes, raw: bytes) -> None:
        """0-RTT is over (4.5): the client's handshake key from here on."""
        core, keys = self._core, self._agreed.keys
        if body:
            raise DecodeError("EndOfEarlyData with a body")
        core.early_data_left = None
        core.received(raw, "EndOfEarlyData", {})
        keys.read_with(keys.client_handshake)

    # -- the client's Finished, and after -------------------------------------------------

    def on_finished(self, body: bytes, raw: bytes) -> None:
        core, agreed = self._core, self._agreed
        keys, signer = agreed.keys, agreed.signer
        keys.check_finished(body, raw, keys.client_handshake, "client")
        keys.read_with(keys.read_application)
        core.complete(
            Negotiated(
                version=self.version,
                cipher_suite=keys.params.suite,
                group=agreed.group,
                signature_scheme=None if signer is None else signer.scheme,
                server_name=self._server_name,
                key_exchange=key_exchange_name(agreed.group),
                resumed=signer is None,
            )
        )
        if self._config.ticket_key is not None and self._client_auth is None:
            self._send_new_session_ticket(keys, self._config.ticket_key)

    def _send_new_session_ticket(self, keys: Tls13Keys, ticket_key: bytes) -> None:
        """One self-contained ticket after the client's Finished (4.6.1)."""
        params, entropy = keys.params, self._config.entropy
        ticket_nonce = b"\x00"  # one ticket per connection
        seal_nonce = entropy(12)
        age_add = int.from_bytes(entropy(4), "big")
        lifetime = self._config.ticket_lifetime
        settings = self._config.early_data
        contents = TicketContents(
            cipher_suite=params.suite,
            psk=resumption_psk(params, keys.resumption_master(), ticket_nonce),
            server_name=self._server_name,
            ticket_age_add=age_add,
            ticket_lifetime=lifetime,
            max_early_data=settings.max_size if settings is not None else 0,
            early_data_scope=settings.used_tickets.scope
            if settings is not None and settings.used_tickets is not None
            else b"",
        )
        nst = NewSessionTicket(
            ticket_lifetime=lifetime,
            ticket_age_add=age_add,
            ticket_nonce=ticket_nonce,
            ticket=seal_ticket(ticket_key, seal_nonce, contents),
            extensions=early_data.ticket_extensions(settings),
        )
        fields: dict[str, object] = {"ticket_lifetime": lifetime, "ticket_size": len(nst.ticket)}
        if settings is not None:
            fields["max_early_data_size"] = settings.max_size
        self._core.send_post_handshake(nst.serialize(), "NewSessionTicket", fields)

    def on_key_update(self, body: bytes, raw: bytes) -> None:
        self._agreed.keys.on_key_update(body, raw)

    # -- post-handshake authentication (4.6.2) --------------------------------------------

    def request_client_certificate(self, ask: ClientAuth) -> None:
        """Send a CertificateRequest now; ``ClientAuthenticated`` ends the exchange.

        A client that did not offer post_handshake_auth cannot be asked: a required
        certificate then fails with certificate_required, an optional one ends at once
        with no chain.
        """
        core, agreed = self._core, self._agreed_or_none
        if (self.state, sent(M.certificate_request)) not in self.transitions or agreed is None:
            raise LocalProtocolError(f"cannot ask for a certificate in state {self.state.name}")
        if not self.post_handshake_auth_offered:
            if ask.required:
                core.fail(
                    TLSError(
                        "the client offered no post_handshake_auth",
                        AlertDescription.certificate_required,
                    )
                )
            else:
                core.events.append(ev.ClientAuthenticated(()))
            return
        self._pha_or_none = PostHandshakeRequest(core, agreed.keys, ask)
        core.step_sent(self, M.certificate_request)

    def send_certificate_request(self, body: bytes, raw: bytes) -> None:
        """The table's step for our post-handshake CertificateRequest (nothing received)."""
        self._pha.send(self._config.signature_schemes)

    def on_pha_certificate(self, body: bytes, raw: bytes) -> Tls13State:
        return S.PHA_WAIT_CV if self._pha.on_certificate(raw) else S.PHA_WAIT_FINISHED

    def on_pha_certificate_verify(self, body: bytes, raw: bytes) -> None:
        self._pha.on_certificate_verify(raw)

    def on_pha_finished(self, body: bytes, raw: bytes) -> None:
        self._pha.on_finished(raw)
        self._pha_or_none = None


def _hello_received(raw: bytes, offer: Offer13) -> ev.HandshakeMessageReceived:
    return ev.HandshakeMessageReceived(
        "ClientHello", len(raw), offered_hello_fields(offer.hello, offer.extensions)
    )


TRANSITIONS: Table[ServerTls13] = {
    # our flight up to Finished, or a HelloRetryRequest when no offered key share fits
    # (WAIT_CERT when our flight carried a CertificateRequest)
    (S.WAIT_CH, M.client_hello): step(
        ServerTls13.on_client_hello, S.WAIT_FINISHED, S.WAIT_CH2, S.WAIT_CERT, S.WAIT_EOED
    ),
    (S.WAIT_CH2, M.client_hello): step(
        ServerTls13.on_client_hello_after_retry, S.WAIT_FINISHED, S.WAIT_CERT
    ),
    # accepted 0-RTT: early data until EndOfEarlyData
    (S.WAIT_EOED, M.end_of_early_data): step(ServerTls13.on_end_of_early_data, S.WAIT_FINISHED),
    # the client's certificate, maybe empty; CertificateVerify only after a non-empty one
    (S.WAIT_CERT, M.certificate): step(
        ServerTls13.on_client_certificate, S.WAIT_CV, S.WAIT_FINISHED
    ),
    (S.WAIT_CV, M.certificate_verify): step(
        ServerTls13.on_client_certificate_verify, S.WAIT_FINISHED
    ),
    (S.WAIT_FINISHED, M.finished): step(ServerTls13.on_finished, S.CONNECTED),
    (S.CONNECTED, M.key_update): step(ServerTls13.on_key_update, S.CONNECTED),
    # post-handshake authentication (4.6.2): we ask (the caller's request), the client answers
    (S.CONNECTED, sent(M.certificate_request)): step(
        ServerTls13.send_certificate_request, S.PHA_WAIT_CERT
    ),
    (S.PHA_WAIT_CERT, M.certificate): step(
        ServerTls13.on_pha_certificate, S.PHA_WAIT_CV, S.PHA_WAIT_FINISHED
    ),
    (S.PHA_WAIT_CV, M.certificate_verify): step(
        ServerTls13.on_pha_certificate_verify, S.PHA_WAIT_FINISHED
    ),
    (S.PHA_WAIT_FINISHED, M.finished): step(ServerTls13.on_pha_finished, S.CONNECTED),
}

ServerTls13.transitions = TRANSITIONS
