"""The TLS 1.2 server handshake (RFC 5246 section 7.3), from the ClientHello on.

Full:        ClientHello -> we send ServerHello, Certificate, [CertificateStatus],
             [ServerKeyExchange], ServerHelloDone -> ClientKeyExchange -> ChangeCipherSpec
             -> Finished; we send ChangeCipherSpec, Finished
Abbreviated: ClientHello with a cached session id -> we send ServerHello, ChangeCipherSpec,
             Finished -> ChangeCipherSpec -> Finished

RSA key transport follows the RFC 5246 7.4.7.1 countermeasure: a random 48-byte premaster
is drawn *before* decrypting, and any decryption, length or version failure silently uses
it, so the only symptom is a Finished that does not verify (decrypt_error), exactly as for
a wrong password: no distinguishable alert and no early exit.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tlssim.tls import events as ev
from tlssim.tls.certificate_request import CertificateRequest12, request_fields
from tlssim.tls.config import CertifiedKey, ClientAuth, ServerConfig
from tlssim.tls.constants import (
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.core import ConnectionCore
from tlssim.tls.describe import offered_hello_fields, server_hello_fields
from tlssim.tls.errors import HandshakeFailure, IllegalParameter, InternalError, TLSError
from tlssim.tls.extensions import (
    Extension,
    encode_replica,
    index_extensions,
)
from tlssim.tls.ffdhe import DhGroup, DhShare
from tlssim.tls.ffdhe import negotiate as negotiate_dh
from tlssim.tls.hello_extensions import HelloExtensions
from tlssim.tls.keyexchange import ECDHE_GROUPS, KeyShare, host_groups
from tlssim.tls.keys12 import Tls12Keys, refuse_renegotiation
from tlssim.tls.legacy_signatures import legacy_sign
from tlssim.tls.legacy_signatures import scheme_for as legacy_scheme
from tlssim.tls.messages import CertificateVerify, ClientHello, ServerHello
from tlssim.tls.messages12 import (
    Certificate12,
    CertificateStatus,
    ClientKeyExchange,
    DheServerKeyExchange,
    ServerHelloDone,
    ServerKeyExchange,
    dh_params,
    ecdh_params,
)
from tlssim.tls.negotiated import Negotiated, key_exchange_name
from tlssim.tls.offer12 import Offer12
from tlssim.tls.sessions import Session
from tlssim.tls.signatures import (
    SCHEMES_FOR_KEY,
    SUPPORTED_SCHEMES_TLS12,
    TLS13_COUNTERPART,
    PrivateKey,
    PublicKey,
    key_supports,
    leaf_public_key,
    sign,
    verify,
)
from tlssim.tls.states import CHANGE_CIPHER_SPEC, Handshake, Table, Tls12State, step
from tlssim.tls.tls12 import ALL_TLS12_SUITES, Tls12Suite
from tlssim.tls.versions import downgrade_random

S, M = Tls12State, HandshakeType


_RULES = SCHEMES_FOR_KEY[ProtocolVersion.TLSv1_2]
_RSA_SCHEMES = _RULES["rsa"]
_ECDSA_SCHEMES = frozenset().union(*(v for k, v in _RULES.items() if k != "rsa"))
_ECDSA_ANY_CURVE = _RULES["secp256r1"]
_UNCOMPRESSED = b"\x01\x00"  # ec_point_formats: [uncompressed]
_TLS12 = ProtocolVersion.TLSv1_2


def _tls13_names(scheme: SignatureScheme) -> tuple[SignatureScheme, ...]:
    """What a TLS 1.2 scheme stands for among TLS 1.3's names (which the certificate
    selector judges keys by): a PKCS#1 v1.5 scheme is the RSA-PSS one of its hash, and an
    ECDSA scheme, which in TLS 1.2 fixes no curve, is every ECDSA scheme."""
    if scheme in _ECDSA_ANY_CURVE:
        return (scheme, *sorted(_ECDSA_ANY_CURVE - {scheme}))
    return (TLS13_COUNTERPART.get(scheme, scheme),)


def _auth_fits(key: PrivateKey, authentication: str) -> bool:
    if authentication == "rsa":
        return isinstance(key, rsa.RSAPrivateKey)
    return isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)


@dataclass(frozen=True, slots=True)
class _Ecdhe:
    """Our ServerKeyExchange: our share (its group with it) and the scheme we signed with."""

    share: KeyShare
    scheme: SignatureScheme


class ServerTls12(Handshake):
    version = ProtocolVersion.TLSv1_2

    def __init__(
        self,
        core: ConnectionCore,
        config: ServerConfig,
        hello: tuple[ClientHello, HelloExtensions],
        protocol: ProtocolVersion = ProtocolVersion.TLSv1_2,
    ) -> None:
        self.state = S.WAIT_CH
        #: The version negotiated: TLS 1.2, or 1.1 / 1.0 on a host that allows them (this
        #: class runs all three; the core treats them alike).
        self.protocol = protocol
        self._core = core
        self._config = config
        #: The ClientHello the facade parsed to choose this version.
        self._first_hello = hello
        #: Each of these from the step that settles it on (the table orders the steps).
        self._keys_or_none: Tls12Keys | None = None
        self._client_version = 0x0303
        self._server_name: str | None = None
        self._ems = False
        self._session_id = b""
        self._resumed_from: Session | None = None
        self._certified_or_none: CertifiedKey | None = None
        #: Our ServerKeyExchange (None: RSA key transport, or a resumption).
        self._ecdhe: _Ecdhe | None = None
        #: ... for DHE: our share and the scheme we signed with.
        self._dhe: DhShare | None = None
        #: The group of a DHE suite (RFC 7919 negotiation, or the configured one).
        self._dh_group: DhGroup | None = None
        self._dhe_scheme: SignatureScheme | None = None
        #: What we ask of the client (None: nothing).
        self._client_auth: ClientAuth | None = None
        #: The client's certificate key (None: it sent no certificate, or was not asked).
        self._client_key_or_none: PublicKey | None = None
        self._requested_schemes: tuple[SignatureScheme, ...] = ()

    # -- ClientHello ----------------------------------------------------------------------

    @property
    def _keys(self) -> Tls12Keys:
        if self._keys_or_none is None:
            raise InternalError("no keys before our ServerHello")
        return self._keys_or_none

    @property
    def _certified(self) -> CertifiedKey:
        if self._certified_or_none is None:
            raise InternalError("no certificate selected")
        return self._certified_or_none

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

    def on_client_hello(self, body: bytes, raw: bytes) -> Tls12State:
        hello, exts = self._first_hello
        core = self._core
        offer = Offer12(hello, exts)
        core.client_random = hello.random
        self._client_version = hello.legacy_version
        self._server_name = offer.server_name
        self._ems = offer.extended_master_secret
        core.events.append(
            ev.HandshakeMessageReceived("ClientHello", len(raw), offered_hello_fields(hello, exts))
        )
        if self._config.client_auth is not None:
            self._client_auth = self._config.client_auth(offer.server_name)
        if self._client_auth is not None and self.protocol < _TLS12:
            # no TLS 1.0/1.1 CertificateVerify here (MD5+SHA-1): a required certificate
            # cannot be had, an optional one is not asked for
            if self._client_auth.required:
                raise HandshakeFailure("client certificates need TLS 1.2 or better here")
            self._client_auth = None
        # asking for a certificate means a full handshake: a resumption would skip it
        cached = self._find_session(offer) if self._client_auth is None else None
        if cached is not None:
            self._resume(offer, cached, raw)
            return S.WAIT_CCS
        self._full_handshake(offer, raw)
        return S.WAIT_CKE if self._client_auth is None else S.WAIT_CERT

    def _full_handshake(self, offer: Offer12, raw: bytes) -> None:
        """ServerHello, Certificate, [CertificateStatus], [ServerKeyExchange], ServerHelloDone."""
        core, config = self._core, self._config
        suite, certified, scheme, group = self._choose(offer)
        self._certified_or_none = certified
        core.transcript.add(raw)
        core.transcript.start(suite)
        entropy = config.entropy
        server_random = downgrade_random(entropy(32), self.protocol, config.versions)
        self._keys_or_none = keys = self._new_keys(offer, suite, server_random)
        cacheable = config.session_cache is not None and self._client_auth is None
        self._session_id = entropy(32) if cacheable else b""
        staple = certified.ocsp_response if offer.status_request else None
        self._send_server_hello(offer, keys, staple is not None)
        cert = Certificate12(chain=certified.chain)
        core.send_handshake(
            cert.serialize(),
            "Certificate",
            {"certificates": len(cert.chain), "sizes": [len(c) for c in cert.chain]},
        )
        if staple is not None:
            core.send_handshake(
                CertificateStatus(ocsp_response=staple).serialize(),
                "CertificateStatus",
                {"status_type": "ocsp", "ocsp_response_size": len(staple)},
            )
        if scheme is not None and group is None:  # DHE
            self._send_dhe_key_exchange(certified, scheme, server_random)
        if scheme is not None and group is not None:  # ECDHE
            share = KeyShare(group, entropy)
            self._ecdhe = _Ecdhe(share, scheme)
            params = ecdh_params(group, share.public)
            signed = core.client_random + server_random + params
            signature, algorithm = self._sign(certified, scheme, signed)
            ske = ServerKeyExchange(
                group=group, public=share.public, algorithm=algorithm, signature=signature
            )
            core.send_handshake(
                ske.serialize(),
                "ServerKeyExchange",
                {
                    "key_exchange": "ecdhe",
                    "group": group.name,
                    "public_size": len(share.public),
                    "signature_scheme": scheme.name,
                },
            )
        if self._client_auth is not None:
            self._send_certificate_request(self._client_auth)
        core.send_handshake(ServerHelloDone().serialize(), "ServerHelloDone", {})
        core.flush_handshake()

    def _send_dhe_key_exchange(
        self, certified: CertifiedKey, scheme: SignatureScheme, server_random: bytes
    ) -> None:
        """ServerDHParams in our group (RFC 5246 7.4.3), signed like ECDHE's."""
        core, group = self._core, self._dh_group
        if group is None:  # _choose takes a DHE suite only with a group
            raise InternalError("DHE without a group")
        share = self._dhe = DhShare(group, self._config.entropy(32))
        p = group.p.to_bytes((group.bits + 7) // 8, "big")
        g = group.g.to_bytes((group.g.bit_length() + 7) // 8, "big")
        params = dh_params(p, g, share.public)
        signed = core.client_random + server_random + params
        signature, algorithm = self._sign(certified, scheme, signed)
        self._dhe_scheme = scheme
        ske = DheServerKeyExchange(
            p=p, g=g, public=share.public, algorithm=algorithm, signature=signature
        )
        core.send_handshake(
            ske.serialize(),
            "ServerKeyExchange",
            {
                "key_exchange": "dhe",
                "group": group.name,
                "group_bits": group.bits,
                "public_size": len(share.public),
                "signature_scheme": scheme.name,
            },
        )

    def _sign(
        self, certified: CertifiedKey, scheme: SignatureScheme, signed: bytes
    ) -> tuple[bytes, SignatureScheme | None]:
        """The ServerKeyExchange signature and the algorithm field (none before TLS 1.2)."""
        if self.protocol < _TLS12:
            return legacy_sign(certified.private_key, signed), None
        return sign(certified.private_key, scheme, signed), scheme

    def _new_keys(self, offer: Offer12, suite: Tls12Suite, server_random: bytes) -> Tls12Keys:
        """Keys for the suite chosen; encrypt_then_mac when a CBC suite and both sides want it."""
        etm = suite.is_cbc and offer.encrypt_then_mac and self._config.encrypt_then_mac
        return Tls12Keys(self._core, suite, server_random, self.protocol, etm)

    def _send_certificate_request(self, ask: ClientAuth) -> None:
        schemes = tuple(s for s in self._config.signature_schemes if s in SUPPORTED_SCHEMES_TLS12)
        self._requested_schemes = schemes
        request = CertificateRequest12(schemes=schemes, authorities=ask.certificate_authorities)
        fields = request_fields(schemes, ask.certificate_authorities)
        fields["certificate_types"] = ["rsa_sign", "ecdsa_sign"]
        self._core.send_handshake(request.serialize(), "CertificateRequest", fields)

    def _send_server_hello(self, offer: Offer12, keys: Tls12Keys, staple: bool) -> None:
        resumed = self._resumed_from is not None
        exts: list[Extension] = []
        if offer.renegotiation_info:
            exts.append(Extension(ExtensionType.renegotiation_info, b"\x00"))
        if self._ems:
            exts.append(Extension(ExtensionType.extended_master_secret, b""))
        if offer.server_name is not None and not resumed:
            exts.append(Extension(ExtensionType.server_name, b""))
        if staple:
            exts.append(Extension(ExtensionType.status_request, b""))
        if offer.asks_replica and (replica := self._config.replica):
            exts.append(Extension(ExtensionType.tlssim_replica, encode_replica(replica)))
        if offer.ec_point_formats and keys.suite.key_exchange == "ecdhe":
            exts.append(Extension(ExtensionType.ec_point_formats, _UNCOMPRESSED))
        if keys.encrypt_then_mac:
            exts.append(Extension(ExtensionType.encrypt_then_mac, b""))
        sh = ServerHello(
            legacy_version=self.protocol,
            random=keys.server_random,
            legacy_session_id_echo=self._session_id,
            cipher_suite=keys.suite.suite,
            extensions=tuple(exts),
        )
        fields = server_hello_fields(sh, index_extensions(sh.extensions), None)
        fields["selected_version"] = self.protocol.label
        fields["extended_master_secret"] = self._ems
        fields["resumed"] = resumed
        if keys.suite.aead is None:
            fields["encrypt_then_mac"] = keys.encrypt_then_mac
        self._core.send_handshake(sh.serialize(), "ServerHello", fields)

    def _choose(
        self, offer: Offer12
    ) -> tuple[Tls12Suite, CertifiedKey, SignatureScheme | None, NamedGroup | None]:
        """Suite, certificate, and for (EC)DHE the signature scheme (and the ECDHE group), in
        server preference order."""
        config = self._config
        offered = offer.hello.cipher_suites
        candidates = [
            ALL_TLS12_SUITES[s]
            for s in config.cipher_suites
            if s in ALL_TLS12_SUITES
            and s in offered
            and ALL_TLS12_SUITES[s].min_version <= self.protocol
        ]
        if not candidates:
            raise HandshakeFailure("no common cipher suite")
        auths = {c.authentication for c in candidates}
        # the selector judges keys by TLS 1.3's rule: schemes go by their TLS 1.3 names
        hint = tuple(
            dict.fromkeys(
                named
                for s in offer.schemes
                if ("rsa" in auths and s in _RSA_SCHEMES)
                or ("ecdsa" in auths and s in _ECDSA_SCHEMES)
                for named in _tls13_names(s)
            )
        )
        rsa_kx = any(c.key_exchange == "rsa" for c in candidates)
        if rsa_kx and not any(s in _RSA_SCHEMES for s in hint):
            hint += (SignatureScheme.rsa_pss_rsae_sha256,)
        try:
            certified = config.certificate_selector(offer.server_name, hint)
        except TLSError:
            raise
        except Exception as exc:
            raise HandshakeFailure(f"certificate selection failed: {exc!r}") from exc
        if not certified.chain:
            raise HandshakeFailure("empty certificate chain")
        key = certified.private_key
        accepted = host_groups(
            config.supported_groups, config.groups_for_server_name, offer.server_name
        )
        groups = [NamedGroup(g) for g in accepted if g in ECDHE_GROUPS and g in offer.groups]
        dh_group = self._dh_group = negotiate_dh(config.dh_group, tuple(offer.groups))
        for suite in candidates:
            if suite.key_exchange == "dhe" and dh_group is None:
                continue  # RFC 7919 4: the client lists RFC 7919 groups, none of ours
            if not _auth_fits(key, suite.authentication):
                continue
            if suite.key_exchange == "rsa":
                return suite, certified, None, None
            if self.protocol < _TLS12:  # no scheme to choose: MD5+SHA-1 (RSA) or SHA-1
                if isinstance(key, ed25519.Ed25519PrivateKey):
                    continue  # Ed25519 signs in TLS 1.2 and 1.3 only
                legacy = legacy_scheme(key)
                if suite.key_exchange == "dhe":
                    return suite, certified, legacy, None
                if groups:
                    return suite, certified, legacy, groups[0]
                continue
            usable = [
                s
                for s in offer.schemes
                if s in config.signature_schemes and key_supports(key, s, tls12=True)
            ]
            # TLS 1.2 lets an ECDSA key sign with any ECDSA scheme; the one named for the
            # key's own curve (its hash as strong as the curve) comes first when offered
            scheme = next((s for s in usable if key_supports(key, s)), None) or next(
                iter(usable), None
            )
            if suite.key_exchange == "dhe" and scheme is not None:
                return suite, certified, scheme, None
            if groups and scheme is not None:
                return suite, certified, scheme, groups[0]
        raise HandshakeFailure("no offered cipher suite fits the certificate, groups and schemes")

    # -- resumption -----------------------------------------------------------------------

    def _find_session(self, offer: Offer12) -> Session | None:
        cache = self._config.session_cache
        session_id = offer.hello.legacy_session_id
        if cache is None or not session_id:
            return None
        session = cache.get(session_id)
        if (
            session is None
            or session.version != self.protocol
            or session.cipher_suite not in self._config.cipher_suites
            or session.server_name != offer.server_name
        ):
            return None
        # a session we would resume, offered without its own suite: refuse, as OpenSSL does
        # (the CVE-2010-4180 class: never resume a session under a suite the client left out)
        if session.cipher_suite not in offer.hello.cipher_suites:
            raise IllegalParameter("resuming a session without offering its cipher suite")
        # RFC 7627 5.3: an EMS session offered without EMS aborts; the other way round, a
        # full handshake replaces the session that had none
        if session.extended_master_secret and not offer.extended_master_secret:
            raise HandshakeFailure("resuming an extended master secret session without it")
        if session.extended_master_secret != offer.extended_master_secret:
            return None
        return session

    def _resume(self, offer: Offer12, session: Session, raw: bytes) -> None:
        """ServerHello echoing the session id, then ChangeCipherSpec and our Finished."""
        core, config = self._core, self._config
        self._resumed_from = session
        suite = ALL_TLS12_SUITES[session.cipher_suite]
        core.transcript.add(raw)
        core.transcript.start(suite)
        server_random = downgrade_random(config.entropy(32), self.protocol, config.versions)
        self._keys_or_none = keys = self._new_keys(offer, suite, server_random)
        self._session_id = session.session_id
        self._send_server_hello(offer, keys, False)
        keys.set_master(session.secret)
        keys.send_change_cipher_spec()
        keys.send_finished()

    # -- the client's certificate ---------------------------------------------------------

    def on_client_certificate(self, body: bytes, raw: bytes) -> None:
        """An empty one fails a required request; a chain goes to the caller (pause)."""
        core, ask = self._core, self._ask
        cert = Certificate12.parse(body)
        core.received(
            raw,
            "Certificate",
            {"certificates": len(cert.chain), "sizes": [len(c) for c in cert.chain]},
        )
        if not cert.chain:
            if ask.required:  # TLS 1.2 has no certificate_required (RFC 5246 7.4.6)
                raise HandshakeFailure("no client certificate")
            return
        self._client_key_or_none = leaf_public_key(cert.chain[0])
        core.events.append(ev.CertificateReceived(cert.chain, None))
        core.pause()

    def on_client_certificate_verify(self, body: bytes, raw: bytes) -> None:
        """The signature over every handshake message so far (RFC 5246 7.4.8)."""
        cv = CertificateVerify.parse(body)
        if cv.algorithm not in self._requested_schemes:
            raise IllegalParameter("client CertificateVerify with a scheme we did not ask for")
        messages = self._core.transcript.messages()
        verify(self._client_key, cv.algorithm, cv.signature, messages, tls12=True)
        scheme = SignatureScheme(cv.algorithm)
        self._core.received(raw, "CertificateVerify", {"signature_scheme": scheme.name})

    # -- ClientKeyExchange ----------------------------------------------------------------

    def on_client_key_exchange(self, body: bytes, raw: bytes) -> Tls12State:
        core, keys = self._core, self._keys
        suite = keys.suite
        cke = ClientKeyExchange.parse(body, suite.key_exchange)
        if suite.key_exchange == "dhe":
            if self._dhe is None:
                raise InternalError("DHE without our ServerKeyExchange")
            premaster = self._dhe.exchange(cke.exchange_keys)
            fields: dict[str, object] = {
                "key_exchange": "dhe",
                "group": self._dhe.group.name,
                "public_size": len(cke.exchange_keys),
            }
        elif suite.key_exchange == "ecdhe":
            if self._ecdhe is None:  # an ECDHE suite's flight carried our ServerKeyExchange
                raise InternalError("ECDHE without our ServerKeyExchange")
            share = self._ecdhe.share
            premaster = share.exchange(cke.exchange_keys)
            fields = {
                "key_exchange": "ecdhe",
                "group": share.group.name,
                "public_size": len(cke.exchange_keys),
            }
        else:
            premaster = self._rsa_premaster(cke.exchange_keys)
            fields = {
                "key_exchange": "rsa",
                "premaster": "encrypted with the server's public key",
                "encrypted_size": len(cke.exchange_keys),
            }
        core.received(raw, "ClientKeyExchange", fields)
        keys.set_master(keys.master_secret(premaster, self._ems))
        return S.WAIT_CCS if self._client_key_or_none is None else S.WAIT_CV

    def _rsa_premaster(self, encrypted: bytes) -> bytes:
        """Decrypt the premaster; every failure yields the random one (5246 7.4.7.1).

        The random premaster is drawn before decrypting and the choice is made once, after
        every check: bad padding, a wrong version or a wrong length take the same steps as
        a good premaster, and the only symptom is a Finished that does not verify.
        """
        key = self._certified.private_key
        fallback = self._config.entropy(48)
        decrypted = b""
        if isinstance(key, rsa.RSAPrivateKey):
            try:
                decrypted = key.decrypt(encrypted, padding.PKCS1v15())
            except ValueError:
                decrypted = b""
        candidate = decrypted[:48].ljust(48, b"\x00")
        version = self._client_version.to_bytes(2, "big")
        version_ok = hmac.compare_digest(candidate[:2], version)
        return candidate if version_ok and len(decrypted) == 48 else fallback

    # -- ChangeCipherSpec, Finished -------------------------------------------------------

    def on_change_cipher_spec(self, body: bytes, raw: bytes) -> None:
        self._keys.receive_change_cipher_spec()

    def on_finished(self, body: bytes, raw: bytes) -> None:
        keys, ecdhe = self._keys, self._ecdhe
        keys.check_finished(body, raw)
        group = None if ecdhe is None else ecdhe.share.group
        key_exchange = key_exchange_name(group, self._resumed_from)
        if self._dhe is not None and self._resumed_from is None:
            key_exchange = self._dhe.group.name
        if self._resumed_from is None:
            keys.send_change_cipher_spec()
            keys.send_finished()
            self._store_session(keys, key_exchange)
        self._core.complete(
            Negotiated(
                version=self.protocol,
                cipher_suite=keys.suite.suite,
                group=group,
                signature_scheme=self._dhe_scheme if ecdhe is None else ecdhe.scheme,
                server_name=self._server_name,
                key_exchange=key_exchange,
                extended_master_secret=self._ems,
                resumed=self._resumed_from is not None,
            )
        )

    def _store_session(self, keys: Tls12Keys, key_exchange: str) -> None:
        cache = self._config.session_cache
        if cache is None or not self._session_id:
            return
        cache.put(
            Session(
                version=self.protocol,
                cipher_suite=keys.suite.suite,
                secret=keys.master,
                server_name=self._server_name,
                session_id=self._session_id,
                extended_master_secret=self._ems,
                key_exchange=key_exchange,
            )
        )

    def on_renegotiation(self, body: bytes, raw: bytes) -> None:
        refuse_renegotiation(self._core, raw)


TRANSITIONS: Table[ServerTls12] = {
    # a full handshake, or a resumed one when the session id is in our cache
    # (WAIT_CERT when we asked for the client's certificate)
    (S.WAIT_CH, M.client_hello): step(
        ServerTls12.on_client_hello, S.WAIT_CKE, S.WAIT_CCS, S.WAIT_CERT
    ),
    (S.WAIT_CERT, M.certificate): step(ServerTls12.on_client_certificate, S.WAIT_CKE),
    # CertificateVerify follows the key exchange when the client sent a certificate
    (S.WAIT_CKE, M.client_key_exchange): step(
        ServerTls12.on_client_key_exchange, S.WAIT_CCS, S.WAIT_CV
    ),
    (S.WAIT_CV, M.certificate_verify): step(ServerTls12.on_client_certificate_verify, S.WAIT_CCS),
    (S.WAIT_CCS, CHANGE_CIPHER_SPEC): step(ServerTls12.on_change_cipher_spec, S.WAIT_FINISHED),
    (S.WAIT_FINISHED, M.finished): step(ServerTls12.on_finished, S.CONNECTED),
    (S.CONNECTED, M.client_hello): step(ServerTls12.on_renegotiation, S.CONNECTED),
}

ServerTls12.transitions = TRANSITIONS
