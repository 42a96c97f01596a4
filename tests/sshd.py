"""A real OpenSSH sshd on loopback for the transfer tests: started, restarted and stopped by PID.

Every server gets its own folder (config, log, PID file). The host key is a file the test can keep, so the same
server can be restarted with the same key on the same port, or a different key can be served on that port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from conftest import free_port

SSHD = "/usr/sbin/sshd"
KEYGEN = "ssh-keygen"


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "") -> Path:
    """A new private key at `path` (public half at `path.pub`), made by ssh-keygen like a user would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([KEYGEN, "-q", "-t", kind, "-N", passphrase, "-C", f"test-{path.name}", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    return path


def fingerprint(key: Path) -> str:
    """The SHA256 fingerprint ssh-keygen -l prints for a key file."""
    out = subprocess.run([KEYGEN, "-l", "-E", "sha256", "-f", str(key)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def authorize(authorized_keys: Path, *keys: Path) -> None:
    """Let the holders of these private keys log in (append their public halves)."""
    with authorized_keys.open("a") as sink:
        for key in keys:
            sink.write(Path(f"{key}.pub").read_text())


@dataclass
class Sshd:
    """One sshd listening on 127.0.0.1:`port`; `extra` are more config lines (e.g. a read-only SFTP server)."""

    root: Path
    port: int
    host_key: Path
    authorized_keys: Path
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        return self.root / f"sshd-{self.port}.conf"

    @property
    def log_file(self) -> Path:
        return self.root / f"sshd-{self.port}.log"

    def known_hosts_line(self) -> str:
        """The line `ssh-keyscan -p PORT 127.0.0.1` would print for this server's key."""
        kind, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def write_config(self) -> None:
        lines = ["ListenAddress 127.0.0.1", f"Port {self.port}", f"HostKey {self.host_key}",
                 f"PidFile {self.root / f'sshd-{self.port}.pid'}", f"AuthorizedKeysFile {self.authorized_keys}",
                 "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", "LogLevel VERBOSE",
                 *self.extra]
        if not any(line.startswith("Subsystem") for line in self.extra):
            lines.append("Subsystem sftp internal-sftp")
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10) -> Sshd:
        """Check the config with `sshd -t`, run sshd in the foreground, return once it sends its banner."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.write_config()
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege separation folder
        check = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        assert check.returncode == 0, f"sshd -t refused {self.config}: {check.stderr}"
        with self.log_file.open("ab") as sink:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                            stdout=sink, stderr=subprocess.STDOUT)
        self._wait_banner(timeout)
        return self

    def _wait_banner(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"sshd exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:  # not listening yet
                pass
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"sshd on port {self.port} sent no banner within {timeout} s:\n{self.log()}")

    def sessions(self) -> list[psutil.Process]:
        """The per-connection sshd processes (children of the listener)."""
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def cut_connections(self) -> None:
        """Kill every open session, like a dropped network link; the listener keeps running."""
        for child in self.sessions():
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Stop the listener and its sessions by PID; the port refuses connections afterwards."""
        self.cut_connections()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_sshd(root: Path, authorized_keys: Path, port: int | None = None, host_key: Path | None = None,
               extra: tuple[str, ...] = ()) -> Sshd:
    """A running sshd in `root`; a new ed25519 host key unless `host_key` is given, a free port unless `port` is."""
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    host_key = host_key or keygen(root / f"host-key-{port}-{time.monotonic_ns()}")
    return Sshd(root, port, host_key, authorized_keys, extra).start()
