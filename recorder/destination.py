"""Where a finished recording goes: `user@host:/path/`, `user@host:port:/path/` or `sftp://user@host:port/path/`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_USER = r"(?P<user>[A-Za-z0-9_.][A-Za-z0-9_.-]*)"  # never starts with '-': no option injection
_HOST = r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_SCP_FORM = re.compile(rf"{_USER}@{_HOST}(?::(?P<port>[0-9]{{1,5}}))?:(?P<path>[^\x00-\x1f\x7f]+)")


@dataclass(frozen=True)
class Destination:
    user: str
    host: str
    port: int
    path: str


def parse_destination(text: str) -> Destination:
    """Read a destination; raise ValueError with a message a user can act on."""
    text = text.strip()
    if text.startswith("sftp://"):
        return _parse_sftp_url(text)
    match = _SCP_FORM.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not of the form user@host:/path/ or user@host:port:/path/")
    return Destination(match["user"], match["host"].strip("[]"), _port(match["port"] or "22"), match["path"])


def _parse_sftp_url(text: str) -> Destination:
    parts = urlsplit(text)
    try:
        port = parts.port or 22
    except ValueError:
        raise ValueError(f"{text!r} has a bad port") from None
    if not parts.username or not parts.hostname or not parts.path:
        raise ValueError(f"{text!r} is not of the form sftp://user@host:port/path/")
    if parts.password:
        raise ValueError("put no password in the destination: the SSH key in the config folder is used")
    match = _SCP_FORM.fullmatch(f"{unquote(parts.username)}@{parts.hostname}:{unquote(parts.path)}")
    if not match:
        raise ValueError(f"{text!r} has characters not allowed in a user, host or path")
    return Destination(match["user"], parts.hostname, _port(str(port)), match["path"])


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    return port
