"""A throwaway CA with an ECDSA P-256 and an RSA-2048 leaf, as PEM files and CertifiedKeys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def create(directory: Path) -> BenchPKI:
    """Writes ca.pem, {ecdsa,rsa}.crt (leaf then CA) and {ecdsa,rsa}.key into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("tlssim bench CA"))
        .issuer_name(_name("tlssim bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(_pem(ca))
    keys: dict[str, CertifiedKey] = {}
    leaf_keys: dict[str, PrivateKey] = {
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(65537, 2048),
    }
    for serial, (kind, key) in enumerate(leaf_keys.items(), start=2):
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(HOST))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
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
