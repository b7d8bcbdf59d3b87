"""The client's own certificate (mutual TLS): enrolled with the ca under the "client"
profile with the client's credential, kept in memory, and enrolled again when a third of
its validity is left. Also: a chain and key given as PEM in a request."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from cryptography import x509

from tlssim.clock import Clock
from tlssim.pki import keys
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, read_token
from tlssim.pki.policy import CLIENT_NAME
from tlssim.rpc.v1 import ca_pb2
from tlssim.tls import CertifiedKey
from tlssim.tls.signatures import PrivateKey

log = logging.getLogger("tlssim.client")

CLIENT_PROFILE = "client"


class ClientIdentity:
    def __init__(
        self, ca: Any, credential: Path, clock: Clock, profile: str = CLIENT_PROFILE
    ) -> None:
        self._ca = ca
        self._credential = credential
        self._clock = clock
        self._profile = profile
        self.current: CertifiedKey | None = None
        self._not_before: dt.datetime | None = None
        self._not_after: dt.datetime | None = None

    async def enroll(self) -> CertifiedKey:
        """A new key and certificate from the ca (raises grpc errors, CredentialMissing)."""
        key = keys.generate_private_key("ecdsa-p256")
        csr = keys.build_csr(key, CLIENT_NAME, (CLIENT_NAME,))
        reply = await self._ca.IssueCertificate(
            ca_pb2.IssueCertificateRequest(
                csr_der=csr.public_bytes(keys.Encoding.DER), profile=self._profile
            ),
            metadata=((ENROLLMENT_TOKEN_METADATA_KEY, read_token(self._credential)),),
            timeout=10,
        )
        chain = tuple(bytes(c) for c in reply.chain_der)
        leaf = x509.load_der_x509_certificate(chain[0])
        self._not_before, self._not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        self.current = CertifiedKey(chain=chain, private_key=key)
        log.info("enrolled %s (%s) until %s", CLIENT_NAME, self._profile, self._not_after)
        return self.current

    def needs_renewal(self) -> bool:
        if self._not_before is None or self._not_after is None:
            return True
        left = self._not_after - self._clock.now()
        return left < (self._not_after - self._not_before) / 3


def certified_from_pem(chain_pem: str, key_pem: str) -> CertifiedKey:
    """A chain (leaf first) and its key, as given in a request; ValueError if unusable."""
    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    key: PrivateKey = keys.private_key_from_pem(key_pem.encode())
    if keys.public_key_of(key) != certs[0].public_key():
        raise ValueError("the private key does not belong to the first certificate")
    return CertifiedKey(
        chain=tuple(c.public_bytes(keys.Encoding.DER) for c in certs), private_key=key
    )
