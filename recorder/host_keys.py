"""Pinned SSH host keys: the known_hosts file, how a confirmed key gets into it, and what to tell the user.

The recorder trusts only keys the user confirmed (`trust_host`, replayed from `host.trusted` events). Connections
refuse every other key with `RejectAndRemember`; the sentences here say which fingerprint to check and how.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko

_KEY_TYPE = re.compile(r"[A-Za-z0-9@._+-]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True)
class HostKey:
    """A server's host key as shown to the user before trusting it; `fingerprint` reads like `ssh-keygen -l`."""

    host: str
    port: int
    key_type: str
    fingerprint: str
    key_base64: str


class KnownHostsUnreadable(Exception):
    """The known_hosts file exists but cannot be read or has a broken line; the message says what to do."""


def trust_host(known_hosts: Path, key: HostKey) -> None:
    """Pin `key` in an OpenSSH known_hosts file, replacing every older entry for that host and port, atomically."""
    if not (_KEY_TYPE.fullmatch(key.key_type) and _BASE64.fullmatch(key.key_base64)) or re.search(r"\s", key.host):
        raise ValueError(f"not a host key that can be written to known_hosts: {key}")
    name = known_hosts_name(key.host, key.port)
    lines = known_hosts.read_text().splitlines() if known_hosts.exists() else []
    kept = [line for line in (_without_host(line, name) for line in lines) if line is not None]
    kept.append(f"{name} {key.key_type} {key.key_base64}")
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    temporary = known_hosts.with_name(f".{known_hosts.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "w") as sink:
        sink.write("\n".join(kept) + "\n")
        sink.flush()
        os.fsync(sink.fileno())  # complete on disk before it replaces the old file
    os.chmod(temporary, 0o600)
    os.replace(temporary, known_hosts)


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: bare on port 22, `[host]:port` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def load_known_hosts(known_hosts: Path, into: paramiko.HostKeys) -> None:
    """Add the pinned keys to `into`; a missing file pins nothing (every host is then unknown)."""
    try:
        if known_hosts.exists():
            into.load(str(known_hosts))
    except Exception as exc:  # OSError, or InvalidHostKey for a broken line
        raise KnownHostsUnreadable(f"The known_hosts file {known_hosts} cannot be read ({exc}); fix or delete the "
                                   "bad line, then confirm the fingerprint and trust the host again.") from exc


def pinning_problem(pinned: paramiko.HostKeys, key: HostKey, label: str) -> str | None:
    """Why `key` is not the trusted key of its host (unknown host, or a changed key); None when it is."""
    keys = pinned.lookup(known_hosts_name(key.host, key.port)) or {}
    if not keys:
        return unknown_host_reason(label, key.key_type, key.fingerprint)
    if key.key_type in keys and keys[key.key_type].get_base64() == key.key_base64:
        return None
    old = keys.get(key.key_type) or next(iter(keys.values()))
    return changed_key_reason(label, key.fingerprint, old.fingerprint)


def unknown_host_reason(label: str, key_type: str, fingerprint: str) -> str:
    """What to check before trusting a server seen for the first time."""
    return (f"The server {label} is not a known host yet: check that its {key_type} fingerprint {fingerprint} "
            "is the one the server shows (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there), then confirm the "
            "fingerprint and trust the host.")


def changed_key_reason(label: str, new: str, old: str) -> str:
    """A pinned server now shows another key: a reinstall, or someone in between."""
    return (f"The host key changed for {label}: it now presents {new}, but {old} is trusted. If the server "
            "was reinstalled or its key replaced on purpose, confirm the new fingerprint and trust the host again; "
            "otherwise someone may be intercepting the connection.")


class RejectAndRemember(paramiko.RejectPolicy):
    """Refuse unknown hosts exactly like RejectPolicy, but keep the key so the message can show its fingerprint."""

    def __init__(self) -> None:
        self.key: paramiko.PKey | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.key = key
        super().missing_host_key(client, hostname, key)


def _without_host(line: str, name: str) -> str | None:
    """`line` with `name` taken out of its host list; None when no host is left. Comments and markers stay."""
    fields = line.split(maxsplit=1)
    if len(fields) < 2 or fields[0].startswith(("#", "@")):
        return line
    if fields[0].startswith("|1|"):
        try:
            return None if paramiko.HostKeys.hash_host(name, fields[0]) == fields[0] else line
        except Exception:  # a malformed hashed entry is not ours to judge
            return line
    hosts = fields[0].split(",")
    others = [host for host in hosts if host != name]
    if len(others) == len(hosts):
        return line
    return f"{','.join(others)} {fields[1]}" if others else None
