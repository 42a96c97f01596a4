"""SFTP delivery against a real OpenSSH sshd on 127.0.0.1, logged in as root with a key (see tests/sshd.py)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import socket
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import paramiko
import pytest

from recorder.host_keys import HostKey, trust_host
from recorder.transfer import TransferError, Uploaded, check_destination, fetch_host_key, upload

from conftest import tmpfs
from sshd import Sshd, authorize, fingerprint, keygen, start_sshd


@dataclass(frozen=True)
class Keys:
    root: Path
    client: Path  # lives at .../config/ssh_key, like in the recorder's config folder
    authorized: Path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("ssh")
    client = keygen(root / "config" / "ssh_key")
    authorized = root / "authorized_keys"
    authorize(authorized, client)
    return Keys(root, client, authorized)


@pytest.fixture(scope="session")
def sshd(keys: Keys) -> Iterator[Sshd]:
    """The shared server: tests only add files in their own tmp folders, and never stop it."""
    server = start_sshd(keys.root / "shared", keys.authorized)
    yield server
    server.stop()


@pytest.fixture
def own_sshd(keys: Keys, tmp_path: Path) -> Iterator[Sshd]:
    """A server this test may stop, restart, or replace with one holding another host key."""
    server = start_sshd(tmp_path / "sshd", keys.authorized)
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path, sshd: Sshd) -> Path:
    path = tmp_path / "config" / "known_hosts"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sshd.known_hosts_line())
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """The folder the server writes into (the server is this machine)."""
    return tmp_path / "remote"


def dest(server: Sshd, folder: Path) -> str:
    return f"root@127.0.0.1:{server.port}:{folder}/"


def make_file(path: Path, size: int, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def wait_idle(server: Sshd, timeout: float = 5) -> None:
    """Until the server's sessions ended: after a cut or a cancel it may still be writing what it received."""
    deadline = time.monotonic() + timeout
    while server.sessions() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.sessions()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") or ".recorder-probe-" in p.name)


def failure(*args: object, **kwargs: object) -> TransferError:
    with pytest.raises(TransferError) as caught:
        upload(*args, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- the normal path ---------------------------------------------------------------------------------------------

def test_upload_lands_under_final_name_with_identical_bytes(sshd: Sshd, keys: Keys, known_hosts: Path,
                                                            remote: Path, tmp_path: Path) -> None:
    local = make_file(tmp_path / "show 2024-05-01.mp3", 1_000_003)
    seen: list[tuple[int, int]] = []
    result = upload(local, dest(sshd, remote / "a" / "b"), keys.client, known_hosts,
                    progress=lambda done, total: seen.append((done, total)))
    final = remote / "a" / "b" / local.name
    assert final.read_bytes() == local.read_bytes()
    assert result == Uploaded(str(final), 1_000_003, 0, result.seconds) and 0 < result.seconds < 10
    assert leftovers(final.parent) == []
    assert seen[0] == (0, 1_000_003) and seen[-1] == (1_000_003, 1_000_003)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_upload_replaces_a_file_of_the_same_name(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                                 tmp_path: Path) -> None:
    local = make_file(tmp_path / "show.mp3", 50_000, seed=2)
    make_file(remote / "show.mp3", 80_000, seed=3)
    upload(local, dest(sshd, remote), keys.client, known_hosts)
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_extra_files_follow_the_main_file(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                          tmp_path: Path) -> None:
    local = make_file(tmp_path / "show.mp3", 200_000)
    chapters = tmp_path / "show.chapters.txt"
    chapters.write_text("00:00:00.000 Intro\n00:12:00.000 News\n")
    result = upload(local, dest(sshd, remote), keys.client, known_hosts, extra_files=[chapters])
    assert result.remote_path == str(remote / "show.mp3")
    assert (remote / "show.chapters.txt").read_text() == chapters.read_text()
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()
    assert leftovers(remote) == []


@pytest.mark.parametrize("form", ["scp-with-port", "sftp-url"])
def test_both_destination_forms_work(form: str, sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                     tmp_path: Path) -> None:
    text = (f"root@127.0.0.1:{sshd.port}:{remote}/" if form == "scp-with-port"
            else f"sftp://root@127.0.0.1:{sshd.port}{remote}/")
    local = make_file(tmp_path / "show.mp3", 10_000)
    upload(local, text, keys.client, known_hosts)
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_large_file(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path, tmp_path: Path) -> None:
    local = make_file(tmp_path / "long show.mp3", 50 * 1024 * 1024, seed=7)
    result = upload(local, dest(sshd, remote), keys.client, known_hosts)
    final = remote / local.name
    assert result.size_bytes == final.stat().st_size == 50 * 1024 * 1024
    assert hashlib.sha256(final.read_bytes()).digest() == hashlib.sha256(local.read_bytes()).digest()
    print(f"50 MiB in {result.seconds:.2f} s")


# --- resuming ----------------------------------------------------------------------------------------------------

def test_resumes_from_a_partial_copy_left_on_the_server(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                                        tmp_path: Path) -> None:
    local = make_file(tmp_path / "show.mp3", 1_000_000)
    make_part = remote / ".show.mp3.part"
    make_part.parent.mkdir(parents=True)
    make_part.write_bytes(local.read_bytes()[:300_001])
    result = upload(local, dest(sshd, remote), keys.client, known_hosts)
    assert result.resumed_from == 300_001
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()
    assert leftovers(remote) == []


@pytest.mark.parametrize("leftover", ["larger than the file", "different ending"])
def test_an_implausible_partial_copy_starts_over(leftover: str, sshd: Sshd, keys: Keys, known_hosts: Path,
                                                 remote: Path, tmp_path: Path) -> None:
    local = make_file(tmp_path / "show.mp3", 500_000)
    remote.mkdir()
    other = random.Random(9).randbytes(700_000 if leftover == "larger than the file" else 200_000)
    (remote / ".show.mp3.part").write_bytes(other)
    result = upload(local, dest(sshd, remote), keys.client, known_hosts)
    assert result.resumed_from == 0
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_a_corrupt_partial_copy_is_caught_by_the_checksum(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                                          tmp_path: Path) -> None:
    """The end matches (so it is resumed) but the middle is wrong: sha256sum on the server catches it."""
    local = make_file(tmp_path / "show.mp3", 1_000_000)
    prefix = bytearray(local.read_bytes()[:600_000])
    prefix[1000:2000] = bytes(1000)
    remote.mkdir()
    (remote / ".show.mp3.part").write_bytes(prefix)
    error = failure(local, dest(sshd, remote), keys.client, known_hosts)
    assert not error.permanent and "SHA-256" in error.reason
    assert list(remote.iterdir()) == []  # neither the bad copy nor anything under the final name
    assert upload(local, dest(sshd, remote), keys.client, known_hosts).resumed_from == 0
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_resumes_after_the_connection_was_cut(own_sshd: Sshd, keys: Keys, tmp_path: Path, remote: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(own_sshd.known_hosts_line())
    local = make_file(tmp_path / "show.mp3", 8 * 1024 * 1024)

    def cut_halfway(done: int, total: int) -> None:
        if done > total // 2 and own_sshd.sessions():
            own_sshd.cut_connections()

    started = time.monotonic()
    error = failure(local, dest(own_sshd, remote), keys.client, known_hosts, timeout=5, progress=cut_halfway)
    assert not error.permanent, error
    assert time.monotonic() - started < 10
    assert not (remote / "show.mp3").exists()
    wait_idle(own_sshd)
    kept = (remote / ".show.mp3.part").stat().st_size
    assert 0 < kept < local.stat().st_size
    result = upload(local, dest(own_sshd, remote), keys.client, known_hosts)
    assert result.resumed_from == kept
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_a_server_that_freezes_mid_transfer_times_out(own_sshd: Sshd, keys: Keys, tmp_path: Path,
                                                      remote: Path) -> None:
    """SIGSTOP the server's session: the TCP connection stays open but nothing is read or answered any more."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(own_sshd.known_hosts_line())
    local = make_file(tmp_path / "show.mp3", 16 * 1024 * 1024)

    def freeze(done: int, total: int) -> None:
        if done > total // 4:
            for session in own_sshd.sessions():
                os.kill(session.pid, signal.SIGSTOP)

    started = time.monotonic()
    error = failure(local, dest(own_sshd, remote), keys.client, known_hosts, timeout=1, progress=freeze)
    assert not error.permanent and "did not answer in time" in error.reason, error
    assert time.monotonic() - started < 6
    own_sshd.cut_connections()  # SIGKILL ends stopped processes too
    wait_idle(own_sshd)
    assert not (remote / "show.mp3").exists() and (remote / ".show.mp3.part").exists()
    assert upload(local, dest(own_sshd, remote), keys.client, known_hosts).resumed_from > 0
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_an_exception_from_progress_cancels_and_keeps_the_partial_copy(sshd: Sshd, keys: Keys, known_hosts: Path,
                                                                       remote: Path, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done >= 3_000_000:  # past paramiko's 2 MiB window, so the server has surely written some of it
            raise Cancelled()

    local = make_file(tmp_path / "show.mp3", 4_000_000)
    with pytest.raises(Cancelled):
        upload(local, dest(sshd, remote), keys.client, known_hosts, progress=cancel)
    assert not (remote / "show.mp3").exists()
    wait_idle(sshd)
    kept = (remote / ".show.mp3.part").stat().st_size
    assert upload(local, dest(sshd, remote), keys.client, known_hosts).resumed_from == kept > 0
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


# --- host keys ---------------------------------------------------------------------------------------------------

def test_unknown_host_is_refused_until_its_key_is_trusted(sshd: Sshd, keys: Keys, remote: Path,
                                                          tmp_path: Path) -> None:
    known_hosts = tmp_path / "config" / "known_hosts"  # does not exist yet
    local = make_file(tmp_path / "show.mp3", 10_000)
    expected = fingerprint(Path(f"{sshd.host_key}.pub"))
    error = failure(local, dest(sshd, remote), keys.client, known_hosts)
    assert error.permanent
    assert expected in str(error) and "confirm the fingerprint and trust the host" in str(error)
    assert f"127.0.0.1:{sshd.port}" in str(error)

    key = fetch_host_key("127.0.0.1", sshd.port)
    assert (key.key_type, key.fingerprint) == ("ssh-ed25519", expected)
    trust_host(known_hosts, key)
    assert known_hosts.read_text() == sshd.known_hosts_line()
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    upload(local, dest(sshd, remote), keys.client, known_hosts)
    assert (remote / "show.mp3").exists()


def test_changed_host_key_is_refused(own_sshd: Sshd, keys: Keys, tmp_path: Path, remote: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(own_sshd.known_hosts_line())
    local = make_file(tmp_path / "show.mp3", 10_000)
    upload(local, dest(own_sshd, remote), keys.client, known_hosts)

    own_sshd.stop()
    impostor = start_sshd(tmp_path / "impostor", keys.authorized, port=own_sshd.port)
    try:
        error = failure(local, dest(own_sshd, remote), keys.client, known_hosts)
    finally:
        impostor.stop()
    assert error.permanent and "host key changed" in str(error)
    assert fingerprint(Path(f"{impostor.host_key}.pub")) in str(error)
    assert fingerprint(Path(f"{own_sshd.host_key}.pub")) in str(error)

    own_sshd.start()  # the real server is back, with its old key
    upload(local, dest(own_sshd, remote), keys.client, known_hosts)


def test_trust_host_replaces_every_old_entry_and_keeps_the_rest(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    name = "[files.example]:2222"
    hashed = paramiko.HostKeys.hash_host(name)
    known_hosts.write_text(
        "# my hosts\n"
        "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTHEROTHEROTHEROTHEROTHEROTHEROTHEROTHER\n"
        f"{name} ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQOLD\n"
        f"alias.example,{name} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLD\n"
        f"{hashed} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHASHED\n"
        "@cert-authority *.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICA\n")
    trust_host(known_hosts, HostKey("files.example", 2222, "ssh-ed25519", "SHA256:x", "AAAAC3NzaC1lZDI1NTE5AAAAINEW"))
    assert known_hosts.read_text().splitlines() == [
        "# my hosts",
        "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTHEROTHEROTHEROTHEROTHEROTHEROTHEROTHER",
        "alias.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLD",
        "@cert-authority *.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICA",
        f"{name} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEW"]
    trust_host(known_hosts, HostKey("files.example", 22, "ssh-ed25519", "SHA256:x", "AAAAC3NzaC1lZDI1NTE5AAAAI22"))
    assert known_hosts.read_text().splitlines()[-1] == "files.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI22"
    with pytest.raises(ValueError):
        trust_host(known_hosts, HostKey("evil\nhost", 22, "ssh-ed25519", "SHA256:x", "AAAA"))


# --- client keys -------------------------------------------------------------------------------------------------

def test_a_key_the_server_does_not_know_is_refused(sshd: Sshd, known_hosts: Path, remote: Path,
                                                   tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "config" / "ssh_key")
    error = failure(make_file(tmp_path / "show.mp3", 1000), dest(sshd, remote), stranger, known_hosts)
    assert error.permanent
    assert "authorized_keys" in error.reason and "user root" in error.reason
    assert f"127.0.0.1:{sshd.port}" in error.reason


@pytest.mark.parametrize("problem", ["missing", "passphrase", "not a key"])
def test_an_unusable_key_file_is_permanent(problem: str, sshd: Sshd, known_hosts: Path, remote: Path,
                                           tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "ssh_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if problem == "passphrase":
        keygen(key_file, passphrase="secret words")
    elif problem == "not a key":
        key_file.write_text("hello\n")
    error = failure(make_file(tmp_path / "show.mp3", 1000), dest(sshd, remote), key_file, known_hosts)
    assert error.permanent
    assert "config/ssh_key" in error.reason and "chmod 600" in error.reason
    assert ("passphrase" in error.reason) == (problem == "passphrase")


# --- the server side ---------------------------------------------------------------------------------------------

def test_server_down_is_transient_and_the_next_attempt_works(own_sshd: Sshd, keys: Keys, tmp_path: Path,
                                                            remote: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(own_sshd.known_hosts_line())
    local = make_file(tmp_path / "show.mp3", 10_000)
    own_sshd.stop()
    error = failure(local, dest(own_sshd, remote), keys.client, known_hosts)
    assert not error.permanent
    assert f"The server 127.0.0.1:{own_sshd.port} refused the connection" in error.reason
    own_sshd.start()
    upload(local, dest(own_sshd, remote), keys.client, known_hosts)
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_a_server_that_never_answers_times_out(keys: Keys, known_hosts: Path, tmp_path: Path) -> None:
    """A port that accepts and then says nothing (no SSH banner) must not hang the caller."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        error = failure(make_file(tmp_path / "show.mp3", 1000), f"root@127.0.0.1:{port}:/tmp/x/", keys.client,
                        known_hosts, timeout=1)
    assert not error.permanent and f"127.0.0.1:{port}" in error.reason
    assert time.monotonic() - started < 5


def test_an_sftp_server_that_never_starts_times_out(keys: Keys, tmp_path: Path) -> None:
    """Login works but the SFTP subsystem never answers: paramiko has no timeout there, the watchdog ends it."""
    server = start_sshd(tmp_path / "sshd", keys.authorized, extra=("Subsystem sftp /bin/sleep 60",))
    try:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        started = time.monotonic()
        error = failure(make_file(tmp_path / "show.mp3", 1000), dest(server, tmp_path / "remote"), keys.client,
                        known_hosts, timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        server.stop()
    assert not error.permanent and "did not answer in time" in error.reason


def test_unknown_host_name_is_transient(keys: Keys, known_hosts: Path, tmp_path: Path) -> None:
    error = failure(make_file(tmp_path / "show.mp3", 1000), "root@no-such-host.invalid:/srv/", keys.client,
                    known_hosts)
    assert not error.permanent and "could not be resolved" in error.reason


def test_missing_folder_without_create_folders_is_permanent(sshd: Sshd, keys: Keys, known_hosts: Path,
                                                            remote: Path, tmp_path: Path) -> None:
    error = failure(make_file(tmp_path / "show.mp3", 1000), dest(sshd, remote / "new"), keys.client, known_hosts,
                    create_folders=False)
    assert error.permanent and f"{remote / 'new'} does not exist" in error.reason
    assert not remote.exists()


def test_a_file_where_the_folder_should_be_is_permanent(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                                        tmp_path: Path) -> None:
    make_file(remote, 10)
    error = failure(make_file(tmp_path / "show.mp3", 1000), dest(sshd, remote), keys.client, known_hosts)
    assert error.permanent and "is a file, not a folder" in error.reason


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only tmpfs. Root ignores file permissions, so chmod 555 would not stop the server;
    a read-only mount does (EROFS, which OpenSSH's SFTP server reports as a plain "Failure")."""
    with tmpfs(tmp_path / "read-only", "ro,size=1m") as folder:
        yield folder


def test_read_only_folder_is_permanent(sshd: Sshd, keys: Keys, known_hosts: Path, read_only_folder: Path,
                                       tmp_path: Path) -> None:
    error = failure(make_file(tmp_path / "show.mp3", 1000), dest(sshd, read_only_folder), keys.client, known_hosts)
    assert error.permanent
    assert "read-only" in error.reason and str(read_only_folder) in error.reason
    problems = check_destination(dest(sshd, read_only_folder), keys.client, known_hosts)
    assert len(problems) == 1 and "read-only" in problems[0]


def test_read_only_sftp_account_is_permanent(keys: Keys, tmp_path: Path, remote: Path) -> None:
    """A server that only lets this account read (internal-sftp -R) answers "permission denied"."""
    server = start_sshd(tmp_path / "sshd", keys.authorized, extra=("Subsystem sftp internal-sftp -R",))
    try:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        remote.mkdir()
        error = failure(make_file(tmp_path / "show.mp3", 1000), dest(server, remote), keys.client, known_hosts)
    finally:
        server.stop()
    assert error.permanent and "permission denied" in error.reason and "user root" in error.reason
    assert list(remote.iterdir()) == []


def test_sftp_only_account_skips_the_checksum_quietly(keys: Keys, tmp_path: Path, remote: Path) -> None:
    """ForceCommand internal-sftp: exec requests get no shell, so only the size is checked; no hang, no error."""
    server = start_sshd(tmp_path / "sshd", keys.authorized, extra=("ForceCommand internal-sftp",))
    try:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        local = make_file(tmp_path / "show.mp3", 2_000_000)
        result = upload(local, dest(server, remote), keys.client, known_hosts, timeout=5)
    finally:
        server.stop()
    assert result.seconds < 5
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


def test_invalid_destination_is_permanent(keys: Keys, known_hosts: Path, tmp_path: Path) -> None:
    error = failure(make_file(tmp_path / "show.mp3", 10), "not a destination", keys.client, known_hosts)
    assert error.permanent and str(error).startswith("SCP transfer failed to not a destination: ")


# --- the connection test -----------------------------------------------------------------------------------------

def test_check_destination_of_a_good_setup_is_empty(sshd: Sshd, keys: Keys, known_hosts: Path,
                                                    remote: Path) -> None:
    assert check_destination(dest(sshd, remote / "new"), keys.client, known_hosts) == []
    assert (remote / "new").is_dir() and leftovers(remote / "new") == []


def test_check_destination_says_what_is_wrong(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                              tmp_path: Path) -> None:
    good = dest(sshd, remote)
    unknown = check_destination(good, keys.client, tmp_path / "empty_known_hosts")
    assert len(unknown) == 1 and fingerprint(Path(f"{sshd.host_key}.pub")) in unknown[0]

    stranger = keygen(tmp_path / "stranger")
    refused = check_destination(good, stranger, known_hosts)
    assert len(refused) == 1 and "authorized_keys" in refused[0]

    two = check_destination(good, tmp_path / "config" / "ssh_key", tmp_path / "empty_known_hosts")
    assert len(two) == 2 and "does not exist" in two[0] and "trust the host" in two[1]

    missing = check_destination(dest(sshd, remote / "nope"), keys.client, known_hosts, create_folders=False)
    assert len(missing) == 1 and "does not exist" in missing[0]
    for sentence in unknown + refused + two + missing:
        assert sentence[0].isupper() and sentence.endswith(".")


def test_check_destination_of_a_stopped_server(own_sshd: Sshd, keys: Keys, tmp_path: Path, remote: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(own_sshd.known_hosts_line())
    own_sshd.stop()
    problems = check_destination(dest(own_sshd, remote), keys.client, known_hosts, timeout=2)
    assert len(problems) == 1 and "refused the connection" in problems[0]


def test_no_threads_are_left_behind(sshd: Sshd, keys: Keys, known_hosts: Path, remote: Path,
                                    tmp_path: Path) -> None:
    before = threading.active_count()
    upload(make_file(tmp_path / "show.mp3", 1000), dest(sshd, remote), keys.client, known_hosts)
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_no_auto_adding_policy_anywhere() -> None:
    source = "".join((Path(__file__).parents[1] / "recorder" / name).read_text()
                     for name in ("transfer.py", "sftp_link.py", "host_keys.py"))
    assert "AutoAddPolicy" not in source and "WarningPolicy" not in source and "password=" not in source
    assert "look_for_keys=False" in source and "allow_agent=False" in source


def test_without_openssl_on_the_server_sha256sum_checks_the_copy(keys: Keys, tmp_path: Path, remote: Path) -> None:
    """The checksum prefers `openssl dgst`; a server without openssl falls back to sha256sum, which still checks."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "sha256sum").symlink_to(shutil.which("sha256sum") or "/usr/bin/sha256sum")
    server = start_sshd(tmp_path / "sshd", keys.authorized, extra=(f"SetEnv PATH={tools}",))
    try:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        local = make_file(tmp_path / "show.mp3", 1_000_000)
        corrupt = bytearray(local.read_bytes()[:600_000])
        corrupt[1000:2000] = bytes(1000)
        remote.mkdir()
        (remote / ".show.mp3.part").write_bytes(corrupt)
        error = failure(local, dest(server, remote), keys.client, known_hosts)
        assert "SHA-256" in error.reason
        upload(local, dest(server, remote), keys.client, known_hosts)
    finally:
        server.stop()
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()


@pytest.mark.parametrize("ciphers", ["aes128-ctr", "aes256-gcm@openssh.com"])
def test_a_server_with_other_ciphers_is_still_reached(ciphers: str, keys: Keys, tmp_path: Path,
                                                      remote: Path) -> None:
    """AES-GCM is offered first because it costs us least; the rest of paramiko's list stays offered (the server
    here allows only `ciphers`)."""
    server = start_sshd(tmp_path / "sshd", keys.authorized, extra=(f"Ciphers {ciphers}",))
    try:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        local = make_file(tmp_path / "show.mp3", 300_000)
        upload(local, dest(server, remote), keys.client, known_hosts)
    finally:
        server.stop()
    assert (remote / "show.mp3").read_bytes() == local.read_bytes()
