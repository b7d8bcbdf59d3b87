"""A throwaway CA with an ECDSA P-256 and an RSA-2048 leaf, as PEM files and CertifiedKeys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlssim.pki import throwaway
from tlssim.tls import CertifiedKey
from tlssim.tls.signatures import PrivateKey

HOST = "bench.tlssim.test"
KINDS = ("ecdsa", "rsa")


@dataclass(frozen=True)
class BenchPKI:
    directory: Path
    ca: x509.Certificate
    keys: dict[str, CertifiedKey]

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def cert_file(self, kind: str) -> Path:
        return self.directory / f"{kind}.crt"

    def key_file(self, kind: str) -> Path:
        return self.directory / f"{kind}.key"


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def create(directory: Path) -> BenchPKI:
    """Writes ca.pem, {ecdsa,rsa}.crt (leaf then CA) and {ecdsa,rsa}.key into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = throwaway.make_ca("tlssim bench CA")
    (directory / "ca.pem").write_bytes(_pem(ca))
    keys: dict[str, CertifiedKey] = {}
    leaf_keys: dict[str, PrivateKey] = {
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(65537, 2048),
    }
    for kind, key in leaf_keys.items():
        leaf = throwaway.make_leaf(ca, ca_key, HOST, key)
        (directory / f"{kind}.crt").write_bytes(_pem(leaf) + _pem(ca))
        (directory / f"{kind}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        keys[kind] = CertifiedKey(
            chain=(
                leaf.public_bytes(serialization.Encoding.DER),
                ca.public_bytes(serialization.Encoding.DER),
            ),
            private_key=key,
        )
    return BenchPKI(directory, ca, keys)


def load(directory: Path) -> BenchPKI:
    """Reads back what `create` wrote (for the server subprocesses)."""
    ca = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    keys: dict[str, CertifiedKey] = {}
    for kind in KINDS:
        chain = x509.load_pem_x509_certificates((directory / f"{kind}.crt").read_bytes())
        key = serialization.load_pem_private_key(
            (directory / f"{kind}.key").read_bytes(), password=None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        keys[kind] = CertifiedKey(
            chain=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain),
            private_key=key,
        )
    return BenchPKI(directory, ca, keys)
