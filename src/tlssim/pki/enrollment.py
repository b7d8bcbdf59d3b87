"""Enrollment credentials: the per-service secret each service presents to be issued a
certificate (like a step-ca provisioner or an ACME external account binding).

The ca creates one token per identity at first start, each in its own directory of its
data dir (`enrollment/<identity>/token`, 0600 in a 0700 directory), so a deployment can
hand each service exactly one directory. Tokens are read again whenever their file changes:
rotating a credential (`tlssim ca rotate-credentials`) takes effect without a restart.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.pki.admin import ADMIN_TOKEN_FILE

ENROLLMENT_TOKEN_METADATA_KEY: Final = "x-tlssim-enrollment-token"
IDENTITIES: Final = ("server", "ocsp", "client", "acme")
ADMIN: Final = "admin"  # the admin token, rotated with the same command
ENROLLMENT_DIR: Final = "enrollment"
TOKEN_FILE: Final = "token"
# A presented token longer than this is not compared at all.
MAX_TOKEN_CHARS: Final = 256


class CredentialMissing(OSError):
    """A service's enrollment token file does not exist (yet) or is empty."""


def credential_path(ca_data_dir: Path, identity: str) -> Path:
    """Where the ca keeps `identity`'s enrollment token."""
    if identity not in IDENTITIES:
        raise ValueError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")
    return ca_data_dir / ENROLLMENT_DIR / identity / TOKEN_FILE


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_secret(path: Path, token: str) -> None:
    """Writes `token` to `path` (0600, its directory 0700) atomically: a reader sees the old
    token or the new one, never a partial file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(token + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_token(path: Path) -> str:
    """The token in a credential file; CredentialMissing when there is none."""
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise CredentialMissing(f"no enrollment credential at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialMissing(f"cannot read the enrollment credential {path}: {exc}") from None
    if not token:
        raise CredentialMissing(f"the enrollment credential {path} is empty")
    return token


def token_equals(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


@dataclass(slots=True)
class _WatchedToken:
    """A token file, read again only when its inode, size or mtime changed."""

    path: Path
    stamp: tuple[int, int, int] | None = None
    token: str | None = None

    def current(self) -> str | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self.stamp, self.token = None, None
            return None
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if stamp != self.stamp:
            try:
                self.token = read_token(self.path)
            except CredentialMissing:
                self.token = None
            self.stamp = stamp
        return self.token


class EnrollmentCredentials:
    """The ca's side: which identity, if any, a presented token belongs to."""

    def __init__(self, ca_data_dir: Path) -> None:
        self._tokens = {
            identity: _WatchedToken(credential_path(ca_data_dir, identity))
            for identity in IDENTITIES
        }

    @classmethod
    def open(cls, ca_data_dir: Path) -> EnrollmentCredentials:
        """The ca's credentials, creating every missing one (at first start, or after its
        file was deleted to rotate it)."""
        for identity in IDENTITIES:
            path = credential_path(ca_data_dir, identity)
            if not path.exists():
                write_secret(path, new_token())
            path.parent.chmod(0o700)
        (ca_data_dir / ENROLLMENT_DIR).chmod(0o700)
        return cls(ca_data_dir)

    def identify(self, presented: str | None) -> str | None:
        """The identity whose token is `presented`; every token is compared, in constant
        time, whatever matches."""
        if not presented or len(presented) > MAX_TOKEN_CHARS:
            return None
        found = None
        for identity, watched in self._tokens.items():
            expected = watched.current()
            if expected is not None and token_equals(presented, expected):
                found = identity
        return found


class AdminToken:
    """The admin token: a configured value, else the ca's admin-token file, followed as it
    is rotated."""

    def __init__(self, ca_data_dir: Path, configured: str = "") -> None:
        self._configured = configured.strip()
        self._file = _WatchedToken(ca_data_dir / ADMIN_TOKEN_FILE)

    def matches(self, presented: str | None) -> bool:
        expected = self._configured or self._file.current()
        if not presented or not expected or len(presented) > MAX_TOKEN_CHARS:
            return False
        return token_equals(presented, expected)


def rotate(ca_data_dir: Path, names: Iterable[str]) -> list[Path]:
    """New tokens for the named identities ("admin" for the admin token); the files written.

    A running ca accepts the new tokens, and refuses the old ones, at once.
    """
    written = []
    for name in names:
        path = (
            ca_data_dir / ADMIN_TOKEN_FILE if name == ADMIN else credential_path(ca_data_dir, name)
        )
        write_secret(path, new_token())
        written.append(path)
    return written
