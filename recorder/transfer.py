"""Delivery of finished recordings over SFTP: resumable uploads, verified against the local file, renamed into place.

An adapter at the edge: it uploads, checks and renames over a `Link` (see sftp_link, which connects and explains
failures), and every failure is a `TransferError` that says whether retrying can help (`permanent`). When and how
often to retry is the runner's business.
"""

from __future__ import annotations

import hashlib
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

from .destination import Destination
from .host_keys import HostKey, pinning_problem
from .sftp_link import (
    REMOTE_ERRORS,
    Link,
    Target,
    TransferError,
    connect,
    connection_error,
    load_key,
    load_pinned_keys,
    parse_target,
    prepare_folder,
    run_remote,
)

__all__ = ["Progress", "TransferError", "Uploaded", "check_destination", "fetch_host_key", "upload"]

READ_BLOCK = 256 * 1024  # at least this much read from disk and handed to paramiko per call
TAIL_CHECK = 64 * 1024  # bytes at the end of a leftover .part compared with the local file before resuming
# `openssl dgst` uses the CPU's SHA instructions where it has them (3x faster than coreutils 9.1 sha256sum here);
# servers without openssl answer "command not found" and get sha256sum. Both print "<hex> [*]<path>".
REMOTE_HASH_COMMANDS = ("openssl dgst -sha256 -r", "sha256sum")
HASH_BYTES_PER_SECOND = 20e6  # time allowed for hashing on a slow server disk, on top of `timeout`
_SHA256_LINE = re.compile(rb"^\\?([0-9a-f]{64}) ", re.MULTILINE)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Uploaded:
    """Where the main file landed, its size, where this attempt started in it, and how long the call took."""

    remote_path: str
    size_bytes: int
    resumed_from: int
    seconds: float


def fetch_host_key(host: str, port: int, timeout: float = 10) -> HostKey:
    """Read a server's host key without logging in, for the user to confirm before `trust_host`."""
    target = Target(f"{host}:{port}", Destination("-", host, port, "/"), "/", timeout)
    transport: paramiko.Transport | None = None
    try:
        transport = paramiko.Transport(socket.create_connection((host, port), timeout=timeout))
        transport.banner_timeout = transport.handshake_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except Exception as exc:  # paramiko raises a wide range here; all of it means "could not talk to the server"
        raise connection_error(exc, target) from exc
    finally:
        if transport is not None:
            transport.close()
    return HostKey(host, port, key.get_name(), key.fingerprint, key.get_base64())


def check_destination(destination: str, key_file: Path, known_hosts: Path, timeout: float = 10,
                      create_folders: bool = True) -> list[str]:
    """Try what an upload needs (login, host key, a probe file in the folder): [] or one sentence per problem.

    Like an upload, it creates a missing folder when `create_folders` is on."""
    try:
        target = parse_target(destination, timeout)
        try:
            pkey = load_key(target, key_file)
        except TransferError as error:  # no login possible; still say whether the host key is the trusted one
            return [error.reason, *_host_key_problems(target, known_hosts)]
        with connect(target, pkey, key_file, known_hosts) as link:
            prepare_folder(link, create_folders)
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
    target = parse_target(destination, timeout)
    pkey = load_key(target, key_file)
    for path in (local, *extra_files):
        _local_size(target, path)  # a missing local file is found before connecting
    with connect(target, pkey, key_file, known_hosts) as link:
        prepare_folder(link, create_folders)
        remote_path, size, resumed_from = _send(link, local, progress)
        for extra in extra_files:
            _send(link, extra, None)
    return Uploaded(remote_path, size, resumed_from, time.monotonic() - started)


def _host_key_problems(target: Target, known_hosts: Path) -> list[str]:
    """Without logging in: is the server's key the pinned one? (For check_destination when the key file is bad.)"""
    pinned = paramiko.HostKeys()
    try:
        load_pinned_keys(target, known_hosts, pinned)
        key = fetch_host_key(target.dest.host, target.dest.port, target.timeout)
    except TransferError as error:
        return [error.reason]
    problem = pinning_problem(pinned, key, target.label)
    return [problem] if problem else []


# --- remote steps ----------------------------------------------------------------------------------------------------

def _probe(link: Link) -> None:
    """Create and delete a small file: the only sure test of write permission."""
    path = posixpath.join(link.target.folder, f".recorder-probe-{secrets.token_hex(4)}")
    with link.step(f"create a test file in {link.target.shown_folder}"):
        with link.sftp.open(path, "w") as probe:
            probe.write(b"probe\n")
    with link.step(f"delete the test file {path}"):
        link.sftp.remove(path)


def _local_size(target: Target, path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise target.error(f"The local file {path} cannot be read ({exc.strerror}).", True) from exc


def _send(link: Link, local: Path, progress: Progress | None) -> tuple[str, int, int]:
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


def _upload_part(link: Link, local: Path, part: str, progress: Progress | None) -> tuple[int, int]:
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
            if isinstance(exc, REMOTE_ERRORS):
                raise link.error(exc, f"write {part}", failure_permanent=False) from exc
            raise  # a TransferError, or whatever `progress` raised to cancel
    return size, offset


@contextmanager
def _open_local(target: Target, local: Path) -> Iterator[BinaryIO]:
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


def _copy(link: Link, source: BinaryIO, remote: paramiko.SFTPFile, offset: int, size: int,
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


def _abandon(link: Link, remote: paramiko.SFTPFile, part: str, exc: BaseException) -> None:
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
    except REMOTE_ERRORS:  # best effort: the next attempt checks a leftover .part before using it
        pass


def _verify(link: Link, local: Path, part: str, size: int, local_hash: Future[str]) -> None:
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
        output = run_remote(client, f"{command} {shlex.quote(path)}", timeout)
        if output is None:  # refused or timed out: the size check must do
            return None
        if match := _SHA256_LINE.search(output):
            return match[1].decode()
    return None


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
