"""The SSH/SFTP connection under `transfer`: the parsed destination, the login key, the pinned host keys, an open
session (`Link`) whose remote steps each run within their time, the destination folder, and remote commands.

Every failure here becomes a `TransferError` that says what went wrong and whether retrying can help; `transfer`
does the file work over a `Link`.
"""

from __future__ import annotations

import math
import posixpath
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY
from paramiko.ssh_exception import IncompatiblePeer, NoValidConnectionsError

from .destination import Destination, parse_destination
from .host_keys import (
    KnownHostsUnreadable,
    RejectAndRemember,
    changed_key_reason,
    load_known_hosts,
    unknown_host_reason,
)

SFTP_WRITE = 32 * 1024  # bytes per SFTP write request that every server accepts
SFTP_WRITE_MAX = 256 * 1024  # our cap when the server offers more (OpenSSH: 255 KiB, via limits@openssh.com)
CIPHERS_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")  # AEAD: no separate MAC pass per packet
KEY_HINT = ("Put an unencrypted OpenSSH private key (ed25519, ECDSA or RSA) in config/ssh_key and make it "
            "readable by the recorder only (chmod 600).")
REMOTE_ERRORS = (OSError, EOFError, paramiko.SSHException, paramiko.SFTPError)


class TransferError(Exception):
    """An upload failed. `permanent` means retrying cannot help until the user fixes something."""

    def __init__(self, destination: str, reason: str, permanent: bool) -> None:
        super().__init__(f"SCP transfer failed to {destination}: {reason}")
        self.destination = destination
        self.reason = reason
        self.permanent = permanent


# --- where to, and with which key --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One destination as parsed, with the words every message about it uses."""

    text: str
    dest: Destination
    folder: str  # "" is the login folder
    timeout: float

    @property
    def label(self) -> str:
        host = f"[{self.dest.host}]" if ":" in self.dest.host else self.dest.host
        return f"{host}:{self.dest.port}"

    @property
    def shown_folder(self) -> str:
        return self.folder or "the login folder"

    def error(self, reason: str, permanent: bool) -> TransferError:
        return TransferError(self.text, reason, permanent)


def parse_target(destination: str, timeout: float) -> Target:
    """The destination text as a `Target`; a malformed one is a permanent TransferError."""
    try:
        dest = parse_destination(destination)
    except ValueError as exc:
        raise TransferError(destination.strip(), f"The destination is not valid: {exc}.", True) from exc
    path = dest.path[2:] if dest.path == "~" or dest.path.startswith("~/") else dest.path  # SFTP starts at ~
    folder = path.rstrip("/") or ("/" if path.startswith("/") else "")
    return Target(destination.strip(), dest, folder, timeout)


def load_key(target: Target, key_file: Path) -> paramiko.PKey:
    """The private key to log in with, read before connecting; an unusable one is a permanent TransferError."""
    try:
        return paramiko.PKey.from_path(key_file)
    except FileNotFoundError:
        problem = "does not exist"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except (TypeError, paramiko.PasswordRequiredException):  # cryptography: TypeError for a missing password
        problem = "is protected by a passphrase, which the recorder cannot type"
    except Exception as exc:  # ValueError, UnknownKeyType, SSHException: not a usable key
        problem = f"is not a private key the recorder can use ({exc})"
    raise target.error(f"The SSH key {key_file} (to log in to {target.label}) {problem}. {KEY_HINT}", True)


def load_pinned_keys(target: Target, known_hosts: Path, into: paramiko.HostKeys) -> None:
    """`load_known_hosts` for a connection to `target`: an unreadable file is a permanent TransferError."""
    try:
        load_known_hosts(known_hosts, into)
    except KnownHostsUnreadable as exc:
        raise target.error(str(exc), True) from exc


# --- the connection ------------------------------------------------------------------------------------------------

class Watchdog:
    """Closes the connection when a step overruns its time. Some paramiko waits have no timeout of their own
    (subsystem and exec requests, socket writes to a peer that stopped reading); closing ends them."""

    def __init__(self, client: paramiko.SSHClient) -> None:
        self.client = client
        self.deadline = math.inf
        self.fired = False
        self._done = threading.Event()
        threading.Thread(target=self._watch, name="transfer-watchdog", daemon=True).start()

    def allow(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(0.25):
            if time.monotonic() > self.deadline:
                self.fired = True
                self.client.close()
                return


@dataclass
class Link:
    """An open SFTP session and what is needed to explain its failures."""

    target: Target
    client: paramiko.SSHClient
    watchdog: Watchdog
    sftp: paramiko.SFTPClient | None = None
    write_size: int = SFTP_WRITE

    def refused(self, exc: BaseException) -> bool:
        """The server answered "no" with an SFTP status, as opposed to the connection breaking."""
        status = isinstance(exc, (FileNotFoundError, PermissionError)) or (type(exc) is OSError and not exc.errno)
        transport = self.client.get_transport()
        alive = transport is not None and transport.is_active() and not self.watchdog.fired
        return status and alive and self.sftp is not None and not self.sftp.get_channel().closed

    def error(self, exc: BaseException, what: str, failure_permanent: bool = True) -> TransferError:
        target, folder = self.target, self.target.shown_folder
        if not self.refused(exc):
            return connection_error(exc, target, what, self.watchdog.fired)
        if isinstance(exc, FileNotFoundError):
            return target.error(f"Could not {what} on {target.label}: no such file or folder. Check that {folder} "
                                "exists, or turn on creating folders.", True)
        if isinstance(exc, PermissionError):
            return target.error(f"The server {target.label} refused to {what}: permission denied. Let user "
                                f"{target.dest.user} write to {folder}, or choose another folder.", True)
        return target.error(f"The server {target.label} could not {what} ({exc}). The folder {folder} may be on a "
                            "read-only or full disk; check it on the server.", failure_permanent)

    @contextmanager
    def step(self, what: str, seconds: float | None = None) -> Iterator[None]:
        """Run one remote step within its time; what goes wrong becomes a TransferError saying what failed."""
        self.watchdog.allow((seconds or 0) + 2 * self.target.timeout)  # past the socket timeouts: a backstop
        try:
            yield
        except REMOTE_ERRORS as exc:
            raise self.error(exc, what) from exc


@contextmanager
def connect(target: Target, pkey: paramiko.PKey, key_file: Path, known_hosts: Path) -> Iterator[Link]:
    """An SFTP session that trusts only the pinned host key and logs in with the key file only; closed on exit."""
    client = paramiko.SSHClient()
    policy = RejectAndRemember()
    client.set_missing_host_key_policy(policy)
    load_pinned_keys(target, known_hosts, client.get_host_keys())
    link = Link(target, client, Watchdog(client))
    dest, timeout = target.dest, target.timeout
    try:
        link.watchdog.allow(5 * timeout)  # TCP connect, banner, key exchange, login, SFTP start: each `timeout`
        try:
            client.connect(dest.host, dest.port, username=dest.user, pkey=pkey, look_for_keys=False,
                           allow_agent=False, compress=False, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, channel_timeout=timeout, transport_factory=_transport)
            link.sftp = client.open_sftp()
            link.sftp.get_channel().settimeout(timeout)  # every SFTP request waits at most this long for its answer
            link.write_size = _write_size(link.sftp)
        except Exception as exc:  # paramiko's connect raises a wide range; each is explained below
            raise _login_error(exc, link, policy.key, key_file) from exc
        yield link
    finally:
        link.watchdog.stop()
        client.close()


def _transport(sock: socket.socket, **options: object) -> paramiko.Transport:
    """A paramiko Transport that offers AES-GCM first. paramiko's own order starts with AES-CTR + HMAC-SHA2, which
    costs a separate MAC pass and a Python hmac object per packet; AES-GCM (an AEAD, in OpenSSH's default list too)
    does both in one call. The other ciphers stay offered, in paramiko's order, for servers without GCM."""
    transport = paramiko.Transport(sock, **options)
    security = transport.get_security_options()
    security.ciphers = (*CIPHERS_FIRST, *(name for name in security.ciphers if name not in CIPHERS_FIRST))
    return transport


def _write_size(sftp: paramiko.SFTPClient) -> int:
    """The largest SFTP write the server says it takes (OpenSSH's limits@openssh.com extension), up to our cap;
    the 32 KiB every server accepts when it does not say. Fewer, larger requests: less work on both ends."""
    try:  # paramiko has no public call for SFTP extensions; its own posix_rename uses this one
        kind, reply = sftp._request(CMD_EXTENDED, "limits@openssh.com")
    except OSError:  # SSH_FX_OP_UNSUPPORTED, or another refusal: not an OpenSSH server
        return SFTP_WRITE
    if kind != CMD_EXTENDED_REPLY:
        return SFTP_WRITE
    max_packet, _max_read, max_write = reply.get_int64(), reply.get_int64(), reply.get_int64()
    size = min(max_write, max_packet - 1024, SFTP_WRITE_MAX)  # room for the request's own fields in the packet
    return size if size > SFTP_WRITE else SFTP_WRITE


def _login_error(exc: Exception, link: Link, unknown: paramiko.PKey | None, key_file: Path) -> TransferError:
    target, user = link.target, link.target.dest.user
    if isinstance(exc, paramiko.BadHostKeyException):
        return target.error(changed_key_reason(target.label, exc.key.fingerprint, exc.expected_key.fingerprint), True)
    if unknown is not None:
        return target.error(unknown_host_reason(target.label, unknown.get_name(), unknown.fingerprint), True)
    if isinstance(exc, paramiko.AuthenticationException):
        return target.error(f"The server {target.label} refused the SSH key {key_file} for user {user}. Add its "
                            f"public key ({key_file}.pub) to ~{user}/.ssh/authorized_keys on the server, or fix the "
                            "user name in the destination.", True)
    if isinstance(exc, IncompatiblePeer):
        return target.error(f"The server {target.label} and the recorder share no SSH algorithm ({exc}); the "
                            "server's SSH configuration must allow a current key exchange and cipher.", True)
    return connection_error(exc, target, "log in", link.watchdog.fired)


def connection_error(exc: BaseException, target: Target, what: str = "", stalled: bool = False) -> TransferError:
    """Network trouble: always worth another attempt later (a half-written .part stays, to be resumed)."""
    label, during = target.label, f" while trying to {what}" if what else ""
    if isinstance(exc, socket.gaierror):
        reason = (f"The host name {target.dest.host} could not be resolved ({exc.strerror}); check its spelling "
                  "and this machine's DNS if it keeps happening.")
    elif isinstance(exc, (NoValidConnectionsError, ConnectionRefusedError)):
        reason = (f"The server {label} refused the connection; check that the SSH server is running there and "
                  f"listens on port {target.dest.port}.")
    elif stalled or isinstance(exc, TimeoutError):
        reason = (f"The server {label} did not answer in time (timeout {target.timeout:g} s){during}; check the "
                  "network and the server.")
    elif isinstance(exc, paramiko.SSHException) and "banner" in str(exc):
        reason = f"The server {label} did not answer like an SSH server ({exc}); check the host and the port."
    else:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        reason = f"The connection to {label} broke{during} ({detail}); a later attempt continues where this stopped."
    return target.error(reason, False)


# --- on the server --------------------------------------------------------------------------------------------------

def prepare_folder(link: Link, create: bool) -> None:
    """Make sure the target folder exists (mkdir -p when `create`) and is a folder."""
    folder = link.target.folder
    with link.step(f"look at {folder}"):
        if not folder or _is_dir(link, folder):
            return
    if not create:
        raise link.target.error(f"The folder {folder} does not exist on {link.target.label}; create it there, or "
                                "turn on creating folders.", True)
    path = "/" if folder.startswith("/") else ""
    for name in folder.strip("/").split("/"):
        path = posixpath.join(path, name)
        with link.step(f"create the folder {path}"):
            if not _is_dir(link, path):
                try:
                    link.sftp.mkdir(path)
                except OSError:
                    if not _is_dir(link, path):  # someone else may have made it meanwhile
                        raise


def _is_dir(link: Link, path: str) -> bool:
    """True for a folder, False when nothing is there; a file in the way is for the user to move."""
    try:
        mode = link.sftp.stat(path).st_mode or 0
    except FileNotFoundError:
        return False
    if mode & 0o170000 != 0o040000:
        raise link.target.error(f"On {link.target.label}, {path} is a file, not a folder; move it away or choose "
                                "another folder.", True)
    return True


def run_remote(client: paramiko.SSHClient, command: str, timeout: float) -> bytes | None:
    """What `command` prints (its first 64 KiB), or None when the server refuses it or it overruns `timeout`."""
    try:
        channel = client.get_transport().open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.exec_command(command)
        channel.shutdown_write()  # an SFTP-only account may start an SFTP server here: let it see EOF and end
        output = b""
        while len(output) < 65536 and (data := channel.recv(4096)):
            output += data
        channel.close()
    except REMOTE_ERRORS:
        return None
    return output
