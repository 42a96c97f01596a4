"""Browser logins: a signed session cookie, a CSRF token bound to it, and a brake on password guessing.

The cookie holds `user|expiry|csrf` and an HMAC-SHA256 of them under a key kept beside the log (never in it);
nothing is pickled. Every state-changing request made with the cookie must echo the session's CSRF token (form
field or X-CSRF-Token header), which a foreign page cannot read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

COOKIE = "recorder_session"
KEY_FILE = "session.key"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Login:
    user: str
    csrf: str
    expires: int


def load_key(state_dir: Path) -> bytes:
    """The signing key of this state folder, made at first use (readable by the owner only)."""
    path = state_dir / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(32))
    return path.read_bytes()


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, user: str, now: float | None = None) -> tuple[str, Login]:
        login = Login(user, secrets.token_urlsafe(24), int((now or time.time()) + MAX_AGE_SECONDS))
        payload = f"{login.user}|{login.expires}|{login.csrf}".encode()
        return base64.urlsafe_b64encode(payload).decode() + "." + self._sign(payload), login

    def read(self, cookie: str | None, now: float | None = None) -> Login | None:
        """The login a cookie proves, or None if it is missing, forged, malformed or expired."""
        if not cookie or "." not in cookie:
            return None
        encoded, signature = cookie.rsplit(".", 1)
        try:
            payload = base64.urlsafe_b64decode(encoded.encode())
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            user, expires, csrf = payload.decode().split("|")
            login = Login(user, csrf, int(expires))
        except ValueError:
            return None
        return login if login.expires > (now or time.time()) else None

    def form_token(self, purpose: str, now: float | None = None) -> str:
        """A stateless token for forms shown before login (the login form itself), valid for an hour."""
        stamp = str(int(now or time.time()))
        return f"{stamp}.{self._sign(f'{purpose}|{stamp}'.encode())}"

    def check_form_token(self, purpose: str, token: str, now: float | None = None) -> bool:
        stamp, _, signature = token.partition(".")
        if not stamp.isdigit() or (now or time.time()) - int(stamp) > 3600:
            return False
        return hmac.compare_digest(signature, self._sign(f"{purpose}|{stamp}".encode()))

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()


class LoginThrottle:
    """At most `limit` failed logins per client address in `window` seconds; then it must wait."""

    def __init__(self, limit: int = 5, window: float = 300) -> None:
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def wait_seconds(self, client: str, now: float | None = None) -> int:
        now = now or time.monotonic()
        failures = self._failures[client]
        while failures and now - failures[0] > self._window:
            failures.popleft()
        return int(self._window - (now - failures[0])) + 1 if len(failures) >= self._limit else 0

    def failed(self, client: str, now: float | None = None) -> None:
        self._failures[client].append(now or time.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
