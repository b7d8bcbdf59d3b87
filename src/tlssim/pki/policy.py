"""What each enrolling identity may be issued, and the size bounds of any CSR.

The server gets its virtual hosts' names under the server-side profiles; the responder gets
OCSP-signing certificates, from any of the CAs it answers for, naming only itself; the
client gets clientAuth certificates naming only itself (and the expired and revoked ones a
client-auth host must refuse); the ACME service gets names in the lab's zone and loopback
addresses for its accounts. Nobody gets a CA certificate or a wildcard, and only the ACME
service an IP address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from tlssim.pki.errors import InvalidRequest, PolicyRefused
from tlssim.topology import vhosts

RESPONDER_COMMON_NAME: Final = "tlssim OCSP responder"
CLIENT_NAME: Final = "client.tlssim.test"
CLIENT_PROFILES: Final = frozenset({"client", "client-expired", "client-revoked"})
OCSP_RESPONDER_PROFILE: Final = "ocsp-responder"
ACME_PROFILE: Final = "acme"

# Bounds on what a CSR may carry, checked before anything else looks at it.
MAX_CSR_BYTES: Final = 16 * 1024
MAX_PROFILE_CHARS: Final = 128
MAX_SUBJECT_ATTRIBUTES: Final = 8
MAX_ATTRIBUTE_CHARS: Final = 256
MAX_SUBJECT_ALT_NAMES: Final = 16
MAX_NAME_CHARS: Final = 253


def check_request_size(csr_der: bytes, profile_name: str) -> None:
    if len(csr_der) > MAX_CSR_BYTES:
        raise InvalidRequest(f"the CSR is {len(csr_der)} bytes; at most {MAX_CSR_BYTES}")
    if len(profile_name) > MAX_PROFILE_CHARS:
        raise InvalidRequest(f"the profile name is longer than {MAX_PROFILE_CHARS} characters")


def check_csr_bounds(csr: x509.CertificateSigningRequest) -> None:
    """Refuses a subject or subjectAltName too large to be a real request."""
    attributes = list(csr.subject)
    if len(attributes) > MAX_SUBJECT_ATTRIBUTES:
        raise InvalidRequest(
            f"the CSR subject has {len(attributes)} attributes; at most {MAX_SUBJECT_ATTRIBUTES}"
        )
    for attribute in attributes:
        if len(attribute.value) > MAX_ATTRIBUTE_CHARS:
            raise InvalidRequest(
                f"a CSR subject attribute is {len(attribute.value)} characters long; "
                f"at most {MAX_ATTRIBUTE_CHARS}"
            )
    names = requested_alt_names(csr)
    if len(names) > MAX_SUBJECT_ALT_NAMES:
        raise InvalidRequest(
            f"the CSR names {len(names)} subjectAltNames; at most {MAX_SUBJECT_ALT_NAMES}"
        )
    for name in names:
        if len(str(name.value)) > MAX_NAME_CHARS:
            raise InvalidRequest(f"a subjectAltName is longer than {MAX_NAME_CHARS} characters")


def requested_alt_names(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:
        raise InvalidRequest(f"the CSR's extensions do not parse: {exc}") from exc
    return list(extension.value)


def _requests_ca(csr: x509.CertificateSigningRequest) -> bool:
    for extension in csr.extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints) and value.ca:
            return True
        if isinstance(value, x509.KeyUsage) and (value.key_cert_sign or value.crl_sign):
            return True
    return False


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class NamePolicy:
    """What one identity may ask for: profiles, issuers and the names in subject and SAN."""

    identity: str
    profiles: frozenset[str] = frozenset()
    # Whether the identity may pick another issuing CA ("<profile>@<issuer id>").
    any_issuer: bool = False
    # DNS names allowed in the SAN and as CN (lowercase).
    dns_names: frozenset[str] = frozenset()
    # Further CNs allowed that are not DNS names (the responder's own name).
    common_names: frozenset[str] = field(default_factory=frozenset)
    # Zones whose every name is allowed too ("tlssim.test": it and any name under it).
    dns_zones: frozenset[str] = frozenset()
    # IP addresses allowed in the SAN (and as CN), by network; none for most identities.
    ip_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def check(self, csr: x509.CertificateSigningRequest, profile: str, issuer_named: bool) -> None:
        """Raises PolicyRefused, with a one-line reason, unless the request is allowed."""
        if profile not in self.profiles:
            allowed = ", ".join(sorted(self.profiles)) or "none yet"
            raise PolicyRefused(
                "profile-not-allowed",
                f"the {self.identity} identity may not request profile {profile!r} "
                f"(allowed: {allowed})",
            )
        if issuer_named and not self.any_issuer:
            raise PolicyRefused(
                "issuer-not-allowed", f"the {self.identity} identity may not pick the issuing CA"
            )
        if _requests_ca(csr):
            raise PolicyRefused("ca-requested", "no identity may be issued a CA certificate")
        for attribute in csr.subject:
            if attribute.oid != NameOID.COMMON_NAME:
                raise PolicyRefused(
                    "subject-not-allowed",
                    f"the subject may hold only a CN, not {attribute.oid.dotted_string}",
                )
        for common_name in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = str(common_name.value)
            if value not in self.common_names and not self._allows_ip(value):
                self._check_dns_name(value, "CN")
        for name in requested_alt_names(csr):
            if isinstance(name, x509.IPAddress):
                if self._allows_ip(str(name.value)):
                    continue
                raise PolicyRefused(
                    "ip-address", f"the {self.identity} identity may not be issued this IP address"
                )
            if not isinstance(name, x509.DNSName):
                raise PolicyRefused(
                    "name-type-not-allowed",
                    f"only DNS names are issued, not {type(name).__name__}",
                )
            self._check_dns_name(name.value, "subjectAltName")

    def _check_dns_name(self, name: str, where: str) -> None:
        if "*" in name:
            raise PolicyRefused("wildcard", f"no identity may be issued a wildcard ({where})")
        if _is_ip_address(name.strip()):
            raise PolicyRefused("ip-address", f"no identity may be issued an IP address ({where})")
        lowered = name.lower()
        in_zone = any(lowered == z or lowered.endswith("." + z) for z in self.dns_zones)
        if lowered not in self.dns_names and not in_zone:
            raise PolicyRefused(
                "name-not-allowed",
                f"the {self.identity} identity may not be issued {name[:80]!r} ({where})",
            )

    def _allows_ip(self, text: str) -> bool:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return False
        return any(address in network for network in self.ip_networks)


# What the ACME service may have issued for its accounts: the lab's zone and loopback
# addresses (its own policy, settings in docs/acme.md, may be narrower).
ACME_ZONES: Final = frozenset({"tlssim.test"})
ACME_NETWORKS: Final = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def server_side_profiles() -> frozenset[str]:
    """The ca profiles the virtual hosts are issued under."""
    return frozenset(h.profile for h in vhosts.VIRTUAL_HOSTS if h.profile != vhosts.SELF_SIGNED)


def build_policies() -> Mapping[str, NamePolicy]:
    """Identity -> its policy, for the identities of pki.enrollment.IDENTITIES."""
    return {
        "server": NamePolicy(
            identity="server",
            profiles=server_side_profiles(),
            dns_names=frozenset(h.name for h in vhosts.VIRTUAL_HOSTS),
        ),
        "ocsp": NamePolicy(
            identity="ocsp",
            profiles=frozenset({OCSP_RESPONDER_PROFILE}),
            any_issuer=True,
            common_names=frozenset({RESPONDER_COMMON_NAME}),
        ),
        "client": NamePolicy(
            identity="client", profiles=CLIENT_PROFILES, dns_names=frozenset({CLIENT_NAME})
        ),
        "acme": NamePolicy(
            identity="acme",
            profiles=frozenset({ACME_PROFILE}),
            dns_zones=ACME_ZONES,
            ip_networks=ACME_NETWORKS,
        ),
    }
