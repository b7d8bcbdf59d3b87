"""Post-handshake client authentication (RFC 8446 4.6.2), both sides.

A client that offered post_handshake_auth may get a CertificateRequest at any time after
the handshake, with a non-empty certificate_request_context. It answers Certificate
(echoing the context; empty when it has no certificate to fit), CertificateVerify over a
non-empty one, and Finished under its current application traffic secret. Each exchange
hashes the handshake (to the client's Finished) and its own messages, never another
exchange's, so it works on a fork of the handshake transcript.
"""

from __future__ import annotations

import hmac

from tlssim.tls import events as ev
from tlssim.tls.certificate_request import CertificateRequest, client_scheme, request_fields
from tlssim.tls.config import CertifiedKey, ClientAuth
from tlssim.tls.constants import AlertDescription, SignatureScheme
from tlssim.tls.core import ConnectionCore
from tlssim.tls.describe import certificate_fields
from tlssim.tls.errors import DecodeError, DecryptError, IllegalParameter, TLSError
from tlssim.tls.extensions import index_extensions
from tlssim.tls.keys13 import Tls13Keys
from tlssim.tls.keyschedule import Transcript, finished_verify_data
from tlssim.tls.messages import Certificate, CertificateEntry, CertificateVerify, Finished
from tlssim.tls.signatures import (
    CLIENT_CONTEXT,
    SUPPORTED_SCHEMES,
    PublicKey,
    leaf_public_key,
    sign,
    signed_content,
    verify,
)

CONTEXT_LENGTH = 8


def _received(core: ConnectionCore, raw: bytes, name: str, fields: dict[str, object]) -> None:
    core.events.append(ev.HandshakeMessageReceived(name, len(raw), fields))


def _sent(
    core: ConnectionCore, transcript: Transcript, raw: bytes, name: str, fields: dict[str, object]
) -> None:
    transcript.add(raw)
    core.send_post_handshake(raw, name, fields)


# -- the client ----------------------------------------------------------------------------


def answer_request(
    core: ConnectionCore,
    keys: Tls13Keys,
    certified: CertifiedKey | None,
    our_schemes: tuple[SignatureScheme, ...],
    raw: bytes,
) -> None:
    """Certificate, [CertificateVerify,] Finished for one post-handshake CertificateRequest."""
    request = CertificateRequest.parse(raw[4:])
    if not request.request_context:
        raise IllegalParameter("post-handshake CertificateRequest with an empty context")
    transcript = core.transcript.fork()
    transcript.add(raw)
    fields = request_fields(request.schemes, request.authorities)
    fields["request_context"] = request.request_context.hex()
    _received(core, raw, "CertificateRequest", fields)
    context = request.request_context
    scheme = client_scheme(certified, request.schemes, our_schemes)
    if certified is None or scheme is None:
        empty = Certificate(request_context=context, entries=())
        _sent(core, transcript, empty.serialize(), "Certificate", {"certificates": 0})
    else:
        entries = tuple(CertificateEntry(cert_data=der) for der in certified.chain)
        cert = Certificate(request_context=context, entries=entries)
        _sent(core, transcript, cert.serialize(), "Certificate", certificate_fields(cert, None))
        content = signed_content(CLIENT_CONTEXT, transcript.digest())
        cv = CertificateVerify(
            algorithm=scheme, signature=sign(certified.private_key, scheme, content)
        )
        _sent(
            core, transcript, cv.serialize(), "CertificateVerify", {"signature_scheme": scheme.name}
        )
    data = finished_verify_data(keys.params, keys.write_application, transcript.digest())
    _sent(
        core,
        transcript,
        Finished(verify_data=data).serialize(),
        "Finished",
        {"verify_data": data.hex()},
    )


# -- the server ----------------------------------------------------------------------------


class PostHandshakeRequest:
    """One outstanding CertificateRequest of the server and the answer so far."""

    def __init__(self, core: ConnectionCore, keys: Tls13Keys, ask: ClientAuth) -> None:
        self._core = core
        self._keys = keys
        self._ask = ask
        self._transcript = core.transcript.fork()
        self._context = core.entropy(CONTEXT_LENGTH)
        self._schemes: tuple[SignatureScheme, ...] = ()
        self._client_key: PublicKey | None = None
        self._chain: tuple[bytes, ...] = ()

    def send(self, schemes: tuple[SignatureScheme, ...]) -> None:
        self._schemes = tuple(s for s in schemes if s in SUPPORTED_SCHEMES)
        authorities = self._ask.certificate_authorities
        request = CertificateRequest(
            request_context=self._context, schemes=self._schemes, authorities=authorities
        )
        fields = request_fields(self._schemes, authorities)
        fields["request_context"] = self._context.hex()
        _sent(self._core, self._transcript, request.serialize(), "CertificateRequest", fields)

    def on_certificate(self, raw: bytes) -> bool:
        """True when a CertificateVerify must follow (a chain came: the caller judges it)."""
        core = self._core
        cert = Certificate.parse(raw[4:])
        if cert.request_context != self._context:
            raise IllegalParameter("client Certificate with another request context")
        self._transcript.add(raw)
        _received(core, raw, "Certificate", certificate_fields(cert, None))
        if not cert.entries:
            if self._ask.required:
                raise TLSError("no client certificate", AlertDescription.certificate_required)
            return False
        for entry in cert.entries:
            index_extensions(entry.extensions)
        self._client_key = leaf_public_key(cert.entries[0].cert_data)
        self._chain = tuple(e.cert_data for e in cert.entries)
        core.events.append(ev.CertificateReceived(self._chain, None))
        core.pause()
        return True

    def on_certificate_verify(self, raw: bytes) -> None:
        cv = CertificateVerify.parse(raw[4:])
        if cv.algorithm not in self._schemes:
            raise IllegalParameter("client CertificateVerify with a scheme we did not ask for")
        assert self._client_key is not None
        content = signed_content(CLIENT_CONTEXT, self._transcript.digest())
        verify(self._client_key, cv.algorithm, cv.signature, content)
        self._transcript.add(raw)
        scheme = SignatureScheme(cv.algorithm)
        _received(self._core, raw, "CertificateVerify", {"signature_scheme": scheme.name})

    def on_finished(self, raw: bytes) -> None:
        """The client's Finished must verify; then the exchange is over."""
        keys = self._keys
        if len(raw) - 4 != keys.params.hash_length:
            raise DecodeError("client Finished of the wrong length for the suite's hash")
        fin = Finished.parse(raw[4:])
        expected = finished_verify_data(
            keys.params, keys.read_application, self._transcript.digest()
        )
        if not hmac.compare_digest(expected, fin.verify_data):
            raise DecryptError("client Finished does not verify")
        _received(self._core, raw, "Finished", {"verify_data": fin.verify_data.hex()})
        self._core.events.append(ev.ClientAuthenticated(self._chain))
