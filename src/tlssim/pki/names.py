"""Certificates' names as RFC 4514 text, made once per certificate: `cryptography` renders a
name in Python on every call, and every handshake names the same few certificates in its
checks and report."""

from __future__ import annotations

import functools

from cryptography import x509


@functools.lru_cache(maxsize=256)
def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


@functools.lru_cache(maxsize=256)
def issuer_text(cert: x509.Certificate) -> str:
    return cert.issuer.rfc4514_string()
