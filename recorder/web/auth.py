"""Who may use the UI and API: user `admin` with ADMIN_PASSWORD, or a generated password kept hashed.

The password never enters the event log. When ADMIN_PASSWORD is unset, a strong one is generated at first
start, stored as an scrypt hash beside the log, and shown once; delete the hash file to get a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

USER = "admin"
HASH_FILE = "admin_password.hash"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _matches(password: str, stored: str) -> bool:
    try:
        scheme, salt, _ = stored.split("$")
        expected = hash_password(password, bytes.fromhex(salt))
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(expected, stored)


@dataclass
class Credentials:
    """Checks a user and password; remembers a verified password by keyed digest so scrypt runs once."""

    stored_hash: str
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _verified: set[bytes] = field(default_factory=set)

    def check(self, user: str, password: str) -> bool:
        marker = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        if marker in self._verified:
            return hmac.compare_digest(user.encode(), USER.encode())  # str needs ASCII
        if _matches(password, self.stored_hash):
            self._verified.add(marker)
            return hmac.compare_digest(user.encode(), USER.encode())  # str needs ASCII
        return False

    def check_basic(self, header: str) -> bool:
        """Check an `Authorization: Basic ...` header value."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except ValueError:
            return False
        return self.check(user, password)


def load_credentials(state_dir: Path, admin_password: str) -> tuple[Credentials, str | None]:
    """Credentials for this state folder, and the password if it was generated just now (to show once)."""
    if admin_password:
        return Credentials(hash_password(admin_password)), None
    hash_file = state_dir / HASH_FILE
    if hash_file.exists():
        return Credentials(hash_file.read_text().strip()), None
    password = secrets.token_urlsafe(18)
    hash_file.touch(mode=0o600)
    hash_file.write_text(hash_password(password) + "\n")
    return Credentials(hash_file.read_text().strip()), password
