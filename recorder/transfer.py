"""Delivery of finished recordings over SFTP: pinned host keys (see host_keys), resumable uploads, a verified rename.

An adapter at the edge: it connects, uploads, checks and renames, and turns every failure into a `TransferError`
that says whether retrying can help (`permanent`). When and how often to retry is the runner's business.
"""

from __future__ import annotations

import hashlib
import math
import os
import posixpath
import re
import secrets
import shlex
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY
from paramiko.ssh_exception import IncompatiblePeer, NoValidConnectionsError

from .destination import Destination, parse_destination
from .host_keys import (
    HostKey,
    KnownHostsUnreadable,
    RejectAndRemember,
    changed_key_reason,
    load_known_hosts,
    pinning_problem,
    unknown_host_reason,
)

READ_BLOCK = 256 * 1024  # at least this much read from disk and handed to paramiko per call
SFTP_WRITE = 32 * 1024  # bytes per SFTP write request that every server accepts
SFTP_WRITE_MAX = 256 * 1024  # our cap when the server offers more (OpenSSH: 255 KiB, via limits@openssh.com)
CIPHERS_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")  # AEAD: no separate MAC pass per packet
TAIL_CHECK = 64 * 1024  # bytes at the end of a leftover .part compared with the local file before resuming
# `openssl dgst` uses the CPU's SHA instructions where it has them (3x faster than coreutils 9.1 sha256sum here);
# servers without openssl answer "command not found" and get sha256sum. Both print "<hex> [*]<path>".
REMOTE_HASH_COMMANDS = ("openssl dgst -sha256 -r", "sha256sum")
HASH_BYTES_PER_SECOND = 20e6  # time allowed for hashing on a slow server disk, on top of `timeout`
KEY_HINT = ("Put an unencrypted OpenSSH private key (ed25519, ECDSA or RSA) in config/ssh_key and make it "
            "readable by the recorder only (chmod 600).")
_REMOTE_ERRORS = (OSError, EOFError, paramiko.SSHException, paramiko.SFTPError)
_SHA256_LINE = re.compile(rb"^\\?([0-9a-f]{64}) ", re.MULTILINE)

Progress = Callable[[int, int], None]


class TransferError(Exception):
    """An upload failed. `permanent` means retrying cannot help until the user fixes something."""

    def __init__(self, destination: str, reason: str, permanent: bool) -> None:
        super().__init__(f"SCP transfer failed to {destination}: {reason}")
        self.destination = destination
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Uploaded:
    """Where the main file landed, its size, where this attempt started in it, and how long the call took."""

    remote_path: str
    size_bytes: int
    resumed_from: int
    seconds: float


def fetch_host_key(host: str, port: int, timeout: float = 10) -> HostKey:
    """Read a server's host key without logging in, for the user to confirm before `trust_host`."""
    target = _Target(f"{host}:{port}", Destination("-", host, port, "/"), "/", timeout)
    transport: paramiko.Transport | None = None
    try:
        transport = paramiko.Transport(socket.create_connection((host, port), timeout=timeout))
        transport.banner_timeout = transport.handshake_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except Exception as exc:  # paramiko raises a wide range here; all of it means "could not talk to the server"
        raise _connection_error(exc, target) from exc
    finally:
        if transport is not None:
            transport.close()
    return HostKey(host, port, key.get_name(), key.fingerprint, key.get_base64())


def check_destination(destination: str, key_file: Path, known_hosts: Path, timeout: float = 10,
                      create_folders: bool = True) -> list[str]:
    """Try what an upload needs (login, host key, a probe file in the folder): [] or one sentence per problem.

    Like an upload, it creates a missing folder when `create_folders` is on."""
    try:
        target = _parse(destination, timeout)
        try:
            pkey = _load_key(target, key_file)
        except TransferError as error:  # no login possible; still say whether the host key is the trusted one
            return [error.reason, *_host_key_problems(target, known_hosts)]
        with _connect(target, pkey, key_file, known_hosts) as link:
            _prepare_folder(link, create_folders)
            _probe(link)
    except TransferError as error:
        return [error.reason]
    return []


def upload(local: Path, destination: str, key_file: Path, known_hosts: Path, create_folders: bool = True,
           extra_files: Sequence[Path] = (), timeout: float = 20, progress: Progress | None = None) -> Uploaded:
    """Copy `local`, then `extra_files`, into the destination folder: resumable, verified, renamed into place.

    An exception raised by `progress` aborts the upload, keeps the partial copy for the next attempt, and
    propagates unchanged."""
    started = time.monotonic()
    target = _parse(destination, timeout)
    pkey = _load_key(target, key_file)
    for path in (local, *extra_files):
        _local_size(target, path)  # a missing local file is found before connecting
    with _connect(target, pkey, key_file, known_hosts) as link:
        _prepare_folder(link, create_folders)
        remote_path, size, resumed_from = _send(link, local, progress)
        for extra in extra_files:
            _send(link, extra, None)
    return Uploaded(remote_path, size, resumed_from, time.monotonic() - started)


# --- where to, and with which key --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
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


def _parse(destination: str, timeout: float) -> _Target:
    try:
        dest = parse_destination(destination)
    except ValueError as exc:
        raise TransferError(destination.strip(), f"The destination is not valid: {exc}.", True) from exc
    path = dest.path[2:] if dest.path == "~" or dest.path.startswith("~/") else dest.path  # SFTP starts at ~
    folder = path.rstrip("/") or ("/" if path.startswith("/") else "")
    return _Target(destination.strip(), dest, folder, timeout)


def _load_key(target: _Target, key_file: Path) -> paramiko.PKey:
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


def _load_known_hosts(target: _Target, known_hosts: Path, into: paramiko.HostKeys) -> None:
    try:
        load_known_hosts(known_hosts, into)
    except KnownHostsUnreadable as exc:
        raise target.error(str(exc), True) from exc


def _host_key_problems(target: _Target, known_hosts: Path) -> list[str]:
    """Without logging in: is the server's key the pinned one? (For check_destination when the key file is bad.)"""
    pinned = paramiko.HostKeys()
    try:
        _load_known_hosts(target, known_hosts, pinned)
        key = fetch_host_key(target.dest.host, target.dest.port, target.timeout)
    except TransferError as error:
        return [error.reason]
    problem = pinning_problem(pinned, key, target.label)
    return [problem] if problem else []


# --- the connection ------------------------------------------------------------------------------------------------

class _Watchdog:
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
class _Link:
    """An open SFTP session and what is needed to explain its failures."""

    target: _Target
    client: paramiko.SSHClient
    watchdog: _Watchdog
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
            return _connection_error(exc, target, what, self.watchdog.fired)
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
        except _REMOTE_ERRORS as exc:
            raise self.error(exc, what) from exc


@contextmanager
def _connect(target: _Target, pkey: paramiko.PKey, key_file: Path, known_hosts: Path) -> Iterator[_Link]:
    """An SFTP session that trusts only the pinned host key and logs in with the key file only; closed on exit."""
    client = paramiko.SSHClient()
    policy = RejectAndRemember()
    client.set_missing_host_key_policy(policy)
    _load_known_hosts(target, known_hosts, client.get_host_keys())
    link = _Link(target, client, _Watchdog(client))
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


def _login_error(exc: Exception, link: _Link, unknown: paramiko.PKey | None, key_file: Path) -> TransferError:
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
    return _connection_error(exc, target, "log in", link.watchdog.fired)


def _connection_error(exc: BaseException, target: _Target, what: str = "", stalled: bool = False) -> TransferError:
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


# --- remote steps ----------------------------------------------------------------------------------------------------

def _prepare_folder(link: _Link, create: bool) -> None:
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


def _is_dir(link: _Link, path: str) -> bool:
    """True for a folder, False when nothing is there; a file in the way is for the user to move."""
    try:
        mode = link.sftp.stat(path).st_mode or 0
    except FileNotFoundError:
        return False
    if mode & 0o170000 != 0o040000:
        raise link.target.error(f"On {link.target.label}, {path} is a file, not a folder; move it away or choose "
                                "another folder.", True)
    return True


def _probe(link: _Link) -> None:
    """Create and delete a small file: the only sure test of write permission."""
    path = posixpath.join(link.target.folder, f".recorder-probe-{secrets.token_hex(4)}")
    with link.step(f"create a test file in {link.target.shown_folder}"):
        with link.sftp.open(path, "w") as probe:
            probe.write(b"probe\n")
    with link.step(f"delete the test file {path}"):
        link.sftp.remove(path)


def _local_size(target: _Target, path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise target.error(f"The local file {path} cannot be read ({exc.strerror}).", True) from exc


def _send(link: _Link, local: Path, progress: Progress | None) -> tuple[str, int, int]:
    """Upload one file as .<name>.part (resuming an earlier attempt), verify it, rename it into place."""
    folder = link.target.folder
    final, part = posixpath.join(folder, local.name), posixpath.join(folder, f".{local.name}.part")
    stop_hashing = threading.Event()
    with ThreadPoolExecutor(1) as pool:  # the local SHA-256 is computed while the file uploads, not after it
        local_hash = pool.submit(_local_sha256, local, stop_hashing)
        try:
            size, offset = _upload_part(link, local, part, progress)
            _verify(link, local, part, size, local_hash)
        finally:
            stop_hashing.set()  # a failed or cancelled attempt does not wait for it
    with link.step(f"rename {part} to {final}"):
        _rename(link.sftp, part, final)
        if not final.startswith("/"):
            final = link.sftp.normalize(final)  # say where it landed, not "relative to the login folder"
    return final, size, offset


def _upload_part(link: _Link, local: Path, part: str, progress: Progress | None) -> tuple[int, int]:
    """Write `local` to `part`, from where a usable leftover ends; its size and where this attempt started."""
    with _open_local(link.target, local) as source:
        size = os.fstat(source.fileno()).st_size
        with link.step(f"read the partial copy {part}"):
            offset = _resume_offset(link.sftp, part, source, size)
        with link.step(f"create {part}"):
            remote = link.sftp.open(part, "r+" if offset else "w")  # never append mode: each write has its offset
        try:
            remote.set_pipelined(True)  # writes do not wait for answers; errors surface by close() at the latest
            remote.MAX_REQUEST_SIZE = link.write_size  # per handle; paramiko's class default is 32 KiB
            remote.seek(offset)
            _copy(link, source, remote, offset, size, progress)
            remote.close()
        except BaseException as exc:
            _abandon(link, remote, part, exc)
            if isinstance(exc, _REMOTE_ERRORS):
                raise link.error(exc, f"write {part}", failure_permanent=False) from exc
            raise  # a TransferError, or whatever `progress` raised to cancel
    return size, offset


@contextmanager
def _open_local(target: _Target, local: Path) -> Iterator[BinaryIO]:
    try:
        source = open(local, "rb")
    except OSError as exc:
        raise target.error(f"The local file {local} cannot be read ({exc.strerror}).", True) from exc
    with source:
        yield source


def _resume_offset(sftp: paramiko.SFTPClient, part: str, source: BinaryIO, size: int) -> int:
    """How much of a leftover .part to keep: all of it if its end matches the local file, else nothing."""
    try:
        have = sftp.stat(part).st_size or 0
    except FileNotFoundError:
        return 0
    if have == 0 or have > size:
        return 0
    length = min(have, TAIL_CHECK)
    with sftp.open(part, "r") as remote:
        remote.seek(have - length)
        theirs = remote.read(length)
    source.seek(have - length)
    return have if theirs == source.read(length) else 0


def _copy(link: _Link, source: BinaryIO, remote: paramiko.SFTPFile, offset: int, size: int,
          progress: Progress | None) -> None:
    done = offset
    block = link.write_size * max(1, READ_BLOCK // link.write_size)  # whole SFTP write requests
    source.seek(offset)
    if progress:
        progress(done, size)
    while done < size:
        link.watchdog.allow(2 * link.target.timeout)  # each block must get through within the timeout
        data = source.read(min(block, size - done))
        if not data:
            raise link.target.error(f"The local file {source.name} got shorter during the upload.", False)
        remote.write(data)
        done += len(data)
        if progress:
            progress(done, size)
    link.watchdog.allow(2 * link.target.timeout)  # close() collects the last answers


def _abandon(link: _Link, remote: paramiko.SFTPFile, part: str, exc: BaseException) -> None:
    """After a failed write: keep the .part when the connection broke (to resume), remove it when refused."""
    refused = link.refused(exc)
    if not refused:
        link.client.close()  # gone, stuck or cancelled: do not wait for it again below
    remote.set_pipelined(False)  # close without collecting answers that may never come
    try:
        remote.close()
    except Exception:  # the handle dies with the connection anyway
        pass
    if refused:
        _discard(link.sftp, part)


def _discard(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.remove(path)
    except _REMOTE_ERRORS:  # best effort: the next attempt checks a leftover .part before using it
        pass


def _verify(link: _Link, local: Path, part: str, size: int, local_hash: Future[str]) -> None:
    """Compare the remote size, and the SHA-256 when the server lets us run a command; remove a bad copy."""
    with link.step(f"check the size of {part}"):
        remote_size = link.sftp.stat(part).st_size
    problem = f"has {remote_size} bytes instead of {size}" if remote_size != size else ""
    if not problem:
        seconds = link.target.timeout + size / HASH_BYTES_PER_SECOND
        with link.step(f"check the SHA-256 of {part}", seconds):
            remote_hash = _remote_sha256(link.client, part, seconds)
        if remote_hash is not None and remote_hash != local_hash.result():
            problem = "differs from the local file (SHA-256 mismatch)"
    if problem:
        _discard(link.sftp, part)
        raise link.target.error(f"The copy of {local.name} on {link.target.label} {problem}; it was removed and the "
                                "next attempt starts over.", False)


def _remote_sha256(client: paramiko.SSHClient, path: str, timeout: float) -> str | None:
    """The server's SHA-256 of `path` from the first hashing tool it has, or None when it cannot run commands
    (e.g. SFTP-only accounts) or does not answer in time."""
    for command in REMOTE_HASH_COMMANDS:
        output = _run_remote(client, f"{command} {shlex.quote(path)}", timeout)
        if output is None:  # refused or timed out: the size check must do
            return None
        if match := _SHA256_LINE.search(output):
            return match[1].decode()
    return None


def _run_remote(client: paramiko.SSHClient, command: str, timeout: float) -> bytes | None:
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
    except _REMOTE_ERRORS:
        return None
    return output


def _local_sha256(local: Path, stop: threading.Event) -> str:
    digest = hashlib.sha256()
    with open(local, "rb") as source:
        while not stop.is_set() and (data := source.read(1024 * 1024)):
            digest.update(data)
    return digest.hexdigest()


def _rename(sftp: paramiko.SFTPClient, part: str, final: str) -> None:
    """Atomically replace `final` (posix-rename@openssh.com); remove + rename on servers without that extension.

    In the fallback `final` is briefly missing, never partial: the verified data stays in the .part until then."""
    try:
        sftp.posix_rename(part, final)
        return
    except OSError as exc:
        if type(exc) is not OSError or "support" not in str(exc).lower():  # SSH_FX_OP_UNSUPPORTED only
            raise
    try:
        sftp.remove(final)
    except FileNotFoundError:
        pass
    sftp.rename(part, final)

