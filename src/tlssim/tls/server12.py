"""TLS 1.2 half of the server state machine (RFC 5246 section 7.3).

Full handshake:   ClientHello -> ServerHello, Certificate, [CertificateStatus],
                  [ServerKeyExchange], ServerHelloDone  (WAIT_CKE)
                  ClientKeyExchange (WAIT_CCS) -> ChangeCipherSpec (WAIT_FINISHED)
                  -> Finished -> ChangeCipherSpec, Finished (CONNECTED)
Abbreviated:      ClientHello with a cached session id -> ServerHello, ChangeCipherSpec,
                  Finished (WAIT_CCS) -> ChangeCipherSpec, Finished (CONNECTED)

RSA key transport follows the RFC 5246 7.4.7.1 countermeasure: a random 48-byte premaster
is drawn *before* decrypting, and any decryption, length or version failure silently uses
it, so the only symptom is a Finished that does not verify (decrypt_error), exactly as for
a wrong password: no distinguishable alert and no early exit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tlssim.tls import events as ev
from tlssim.tls.config import CertifiedKey, ServerConfig
from tlssim.tls.connection import Connection, Negotiated, State
from tlssim.tls.constants import (
    CipherSuite,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.describe import client_hello_fields, server_hello_fields
from tlssim.tls.errors import DecodeError, HandshakeFailure, IllegalParameter, TLSError
from tlssim.tls.extensions import (
    Extension,
    decode_server_name,
    decode_status_request,
    decode_uint16_list,
    index_extensions,
)
from tlssim.tls.keyexchange import SUPPORTED_GROUPS, KeyShare
from tlssim.tls.messages import ClientHello, ServerHello
from tlssim.tls.messages12 import (
    Certificate12,
    CertificateStatus,
    ClientKeyExchange,
    ServerHelloDone,
    ServerKeyExchange,
    ecdh_params,
)
from tlssim.tls.sessions import Session
from tlssim.tls.signatures import PrivateKey, key_supports, sign
from tlssim.tls.tls12 import TLS12_SUITES, Tls12Suite, master_secret
from tlssim.tls.versions import downgrade_random

Handler = Callable[["ServerTLS12", bytes, bytes], None]

_RSA_SCHEMES = frozenset(
    s for s in SignatureScheme if s.name.startswith(("rsa_pss_rsae", "rsa_pkcs1"))
)
_ECDSA_SCHEMES = frozenset(s for s in SignatureScheme if s.name.startswith(("ecdsa", "ed25519")))
_UNCOMPRESSED = b"\x01\x00"  # ec_point_formats: [uncompressed]


def _auth_fits(key: PrivateKey, authentication: str) -> bool:
    if authentication == "rsa":
        return isinstance(key, rsa.RSAPrivateKey)
    return isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)


class Offer12:
    """What a TLS 1.2 ClientHello offers, validated once."""

    __slots__ = (
        "ec_point_formats",
        "extended_master_secret",
        "groups",
        "hello",
        "renegotiation_info",
        "schemes",
        "server_name",
        "status_request",
    )

    def __init__(self, hello: ClientHello, exts: dict[int, bytes]) -> None:
        self.hello = hello
        if 0 not in hello.legacy_compression_methods:
            raise IllegalParameter("ClientHello without null compression")
        groups = exts.get(ExtensionType.supported_groups)
        # RFC 8422 5.1: no supported_groups means "any curve"; we then use secp256r1.
        self.groups = decode_uint16_list(groups) if groups is not None else (NamedGroup.secp256r1,)
        schemes = exts.get(ExtensionType.signature_algorithms)
        self.schemes = tuple(
            SignatureScheme(s)
            for s in (decode_uint16_list(schemes) if schemes is not None else ())
            if s in SignatureScheme._value2member_map_
        )
        name_ext = exts.get(ExtensionType.server_name)
        self.server_name = decode_server_name(name_ext) if name_ext is not None else None
        status = exts.get(ExtensionType.status_request)
        self.status_request = status is not None and decode_status_request(status)
        ems = exts.get(ExtensionType.extended_master_secret)
        if ems:
            raise DecodeError("extended_master_secret with a body")
        self.extended_master_secret = ems is not None
        reneg = exts.get(ExtensionType.renegotiation_info)
        if reneg is not None and reneg != b"\x00":
            raise HandshakeFailure("renegotiation_info must be empty in an initial handshake")
        self.renegotiation_info = (
            reneg is not None
            or CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
        )
        self.ec_point_formats = ExtensionType.ec_point_formats in exts


class ServerTLS12(Connection):
    """The TLS 1.2 handlers of ServerConnection (which sets the attributes below)."""

    config: ServerConfig
    _certified: CertifiedKey | None
    _scheme: SignatureScheme | None
    _group: NamedGroup | None
    _server_name: str | None

    def _init_tls12(self) -> None:
        self._share12: KeyShare | None = None
        self._client_version = 0x0303
        self._session_id = b""

    # -- ClientHello ----------------------------------------------------------------------

    def _answer_tls12(self, hello: ClientHello, exts: dict[int, bytes], raw: bytes) -> None:
        offer = Offer12(hello, exts)
        self._tls12 = True
        self._client_random = hello.random
        self._client_version = hello.legacy_version
        self._server_name = offer.server_name
        self._ems = offer.extended_master_secret
        self._events.append(
            ev.HandshakeMessageReceived("ClientHello", len(raw), client_hello_fields(hello, exts))
        )
        cached = self._find_session(offer)
        if cached is not None:
            self._resume_tls12(offer, cached, raw)
            return
        suite, certified, scheme, group = self._choose_tls12(offer)
        self._suite12, self._certified, self._scheme, self._group = suite, certified, scheme, group
        self._transcript.add(raw)
        self._transcript.start(suite)
        entropy = self.config.entropy
        random = entropy(32)
        self._server_random = downgrade_random(
            random, ProtocolVersion.TLSv1_2, self.config.versions
        )
        self._session_id = entropy(32) if self.config.session_cache is not None else b""
        staple = certified.ocsp_response if offer.status_request else None
        self._send_server_hello(offer, staple is not None)
        cert = Certificate12(chain=certified.chain)
        self._send_handshake(
            cert.serialize(),
            "Certificate",
            {"certificates": len(cert.chain), "sizes": [len(c) for c in cert.chain]},
        )
        if staple is not None:
            self._send_handshake(
                CertificateStatus(ocsp_response=staple).serialize(),
                "CertificateStatus",
                {"status_type": "ocsp", "ocsp_response_size": len(staple)},
            )
        if suite.key_exchange == "ecdhe":
            assert group is not None and scheme is not None
            share = self._share12 = KeyShare(group, entropy)
            params = ecdh_params(group, share.public)
            signature = sign(
                certified.private_key,
                scheme,
                self._client_random + self._server_random + params,
            )
            ske = ServerKeyExchange(
                group=group, public=share.public, algorithm=scheme, signature=signature
            )
            self._send_handshake(
                ske.serialize(),
                "ServerKeyExchange",
                {
                    "key_exchange": "ecdhe",
                    "group": group.name,
                    "public_size": len(share.public),
                    "signature_scheme": scheme.name,
                },
            )
        self._send_handshake(ServerHelloDone().serialize(), "ServerHelloDone", {})
        self._flush_handshake()
        self._state = State.WAIT_CKE

    def _send_server_hello(self, offer: Offer12, staple: bool) -> None:
        assert self._suite12 is not None
        exts: list[Extension] = []
        if offer.renegotiation_info:
            exts.append(Extension(ExtensionType.renegotiation_info, b"\x00"))
        if self._ems:
            exts.append(Extension(ExtensionType.extended_master_secret, b""))
        if offer.server_name is not None and not self._resumed:
            exts.append(Extension(ExtensionType.server_name, b""))
        if staple:
            exts.append(Extension(ExtensionType.status_request, b""))
        if offer.ec_point_formats and self._suite12.key_exchange == "ecdhe":
            exts.append(Extension(ExtensionType.ec_point_formats, _UNCOMPRESSED))
        sh = ServerHello(
            random=self._server_random,
            legacy_session_id_echo=self._session_id,
            cipher_suite=self._suite12.suite,
            extensions=tuple(exts),
        )
        fields = server_hello_fields(sh, index_extensions(sh.extensions), None)
        fields["selected_version"] = ProtocolVersion.TLSv1_2.label
        fields["extended_master_secret"] = self._ems
        fields["resumed"] = self._resumed
        self._send_handshake(sh.serialize(), "ServerHello", fields)

    def _choose_tls12(
        self, offer: Offer12
    ) -> tuple[Tls12Suite, CertifiedKey, SignatureScheme | None, NamedGroup | None]:
        """Suite, certificate, signature scheme and group, in server preference order."""
        offered = offer.hello.cipher_suites
        candidates = [
            TLS12_SUITES[s] for s in self.config.cipher_suites if s in TLS12_SUITES and s in offered
        ]
        if not candidates:
            raise HandshakeFailure("no common cipher suite")
        auths = {c.authentication for c in candidates}
        hint = tuple(
            s
            for s in offer.schemes
            if ("rsa" in auths and s in _RSA_SCHEMES) or ("ecdsa" in auths and s in _ECDSA_SCHEMES)
        )
        rsa_kx = any(c.key_exchange == "rsa" for c in candidates)
        if rsa_kx and not any(s in _RSA_SCHEMES for s in hint):
            hint += (SignatureScheme.rsa_pss_rsae_sha256,)
        try:
            certified = self.config.certificate_selector(offer.server_name, hint)
        except TLSError:
            raise
        except Exception as exc:
            raise HandshakeFailure(f"certificate selection failed: {exc!r}") from exc
        if not certified.chain:
            raise HandshakeFailure("empty certificate chain")
        key = certified.private_key
        groups = [
            NamedGroup(g)
            for g in self.config.supported_groups
            if g in SUPPORTED_GROUPS and g in offer.groups
        ]
        for suite in candidates:
            if not _auth_fits(key, suite.authentication):
                continue
            if suite.key_exchange == "rsa":
                return suite, certified, None, None
            scheme = next(
                (
                    s
                    for s in offer.schemes
                    if s in self.config.signature_schemes and key_supports(key, s, tls12=True)
                ),
                None,
            )
            if groups and scheme is not None:
                return suite, certified, scheme, groups[0]
        raise HandshakeFailure("no offered cipher suite fits the certificate, groups and schemes")

    # -- resumption -----------------------------------------------------------------------

    def _find_session(self, offer: Offer12) -> Session | None:
        cache = self.config.session_cache
        session_id = offer.hello.legacy_session_id
        if cache is None or not session_id:
            return None
        session = cache.get(session_id)
        if (
            session is None
            or session.version != ProtocolVersion.TLSv1_2
            or session.cipher_suite not in offer.hello.cipher_suites
            or session.cipher_suite not in self.config.cipher_suites
            or session.server_name != offer.server_name
        ):
            return None
        if session.extended_master_secret != offer.extended_master_secret:
            # RFC 7627 5.3: never resume across an EMS mismatch; fall back to a full handshake
            return None
        return session

    def _resume_tls12(self, offer: Offer12, session: Session, raw: bytes) -> None:
        self._resumed = True
        self._suite12 = suite = TLS12_SUITES[session.cipher_suite]
        self._transcript.add(raw)
        self._transcript.start(suite)
        self._server_random = downgrade_random(
            self.config.entropy(32), ProtocolVersion.TLSv1_2, self.config.versions
        )
        self._session_id = session.session_id
        self._master = session.secret
        self._send_server_hello(offer, False)
        self._secret("CLIENT_RANDOM", self._master)
        self._derive_keys_tls12()
        self._send_change_cipher_spec()
        self._send_finished_tls12()
        self._state = State.WAIT_CCS

    # -- ClientKeyExchange ----------------------------------------------------------------

    def _on_client_key_exchange(self, body: bytes, raw: bytes) -> None:
        suite = self._suite12
        assert suite is not None
        cke = ClientKeyExchange.parse(body, suite.key_exchange)
        if suite.key_exchange == "ecdhe":
            assert self._share12 is not None and self._group is not None
            premaster = self._share12.exchange(cke.exchange_keys)
            fields: dict[str, object] = {
                "key_exchange": "ecdhe",
                "group": self._group.name,
                "public_size": len(cke.exchange_keys),
            }
        else:
            premaster = self._rsa_premaster(cke.exchange_keys)
            fields = {
                "key_exchange": "rsa",
                "premaster": "encrypted with the server's public key",
                "encrypted_size": len(cke.exchange_keys),
            }
        self._received(raw, "ClientKeyExchange", fields)
        session_hash = self._transcript.digest() if self._ems else None
        self._master = master_secret(
            suite, premaster, self._client_random, self._server_random, session_hash
        )
        self._secret("CLIENT_RANDOM", self._master)
        self._derive_keys_tls12()
        self._state = State.WAIT_CCS

    def _rsa_premaster(self, encrypted: bytes) -> bytes:
        """Decrypt the premaster; every failure yields the random one (5246 7.4.7.1)."""
        assert self._certified is not None
        key = self._certified.private_key
        fallback = self.config.entropy(48)
        if not isinstance(key, rsa.RSAPrivateKey):
            return fallback
        try:
            premaster = key.decrypt(encrypted, padding.PKCS1v15())
        except ValueError:
            return fallback
        version = self._client_version.to_bytes(2, "big")
        if len(premaster) != 48 or premaster[:2] != version:
            return fallback
        return premaster

    # -- Finished -------------------------------------------------------------------------

    def _on_finished_tls12(self, body: bytes, raw: bytes) -> None:
        self._check_finished_tls12(body, raw)
        if not self._resumed:
            self._send_change_cipher_spec()
            self._send_finished_tls12()
            self._store_session()
        assert self._suite12 is not None
        self._complete(
            Negotiated(
                version=ProtocolVersion.TLSv1_2,
                cipher_suite=self._suite12.suite,
                group=self._group,
                signature_scheme=self._scheme,
                server_name=self._server_name,
                extended_master_secret=self._ems,
                resumed=self._resumed,
            )
        )

    def _store_session(self) -> None:
        cache = self.config.session_cache
        if cache is None or not self._session_id:
            return
        assert self._suite12 is not None
        cache.put(
            Session(
                version=ProtocolVersion.TLSv1_2,
                cipher_suite=self._suite12.suite,
                secret=self._master,
                server_name=self._server_name,
                session_id=self._session_id,
                extended_master_secret=self._ems,
            )
        )

    _TRANSITIONS_TLS12: ClassVar[dict[tuple[State, int], Handler]] = {
        (State.WAIT_CKE, HandshakeType.client_key_exchange): _on_client_key_exchange,
        (State.WAIT_FINISHED, HandshakeType.finished): _on_finished_tls12,
        (State.CONNECTED, HandshakeType.client_hello): Connection._refuse_renegotiation,
    }
