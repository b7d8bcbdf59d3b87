"""Keys kept on disk for the next start (keys.kept_private_key): reused when the file holds a
key of the asked type, replaced when it is missing, garbled or of another type, and still
handed out, unkept, when the disk refuses them."""

from __future__ import annotations

import stat
from pathlib import Path

from tlssim.pki import keys


def _public(key: keys.PrivateKey) -> bytes:
    return keys.subject_public_key_bits(keys.public_key_of(key))


def test_a_new_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "host.ecdsa-p256.pem"
    first = keys.kept_private_key("ecdsa-p256", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = keys.kept_private_key("ecdsa-p256", path)
    assert _public(again) == _public(first)


def test_a_garbled_or_other_type_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "host.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    fresh = keys.kept_private_key("ecdsa-p256", path)
    assert keys.key_type_name(fresh) == "ecdsa-p256"
    assert _public(keys.private_key_from_pem(path.read_bytes())) == _public(fresh)

    other = keys.kept_private_key("ed25519", path)  # the file holds a P-256 key
    assert keys.key_type_name(other) == "ed25519"
    assert keys.key_type_name(keys.private_key_from_pem(path.read_bytes())) == "ed25519"


def test_a_key_that_cannot_be_kept_is_still_given(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("where the directory should be")
    key = keys.kept_private_key("ecdsa-p256", blocked / "host.pem")
    assert keys.key_type_name(key) == "ecdsa-p256"
