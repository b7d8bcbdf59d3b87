"""mac.hmac_digest gives hmac.digest's bytes for every hash and key length it may see."""

from __future__ import annotations

import hmac

import pytest

from tlssim.tls.mac import hmac_digest


@pytest.mark.parametrize("hash_name", ["md5", "sha1", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("key_length", [0, 1, 32, 48, 64, 65, 128, 129, 300])
def test_hmac_digest_matches_the_standard_library(hash_name: str, key_length: int) -> None:
    key = bytes(range(256)) * 2
    key = key[:key_length]
    for message in (b"", b"tls13 derived", bytes(200)):
        assert hmac_digest(key, message, hash_name) == hmac.digest(key, message, hash_name)
