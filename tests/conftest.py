"""Shared fixtures: real `serve` processes on loopback ports, started and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A real small or read-only disk (a tmpfs mounted at `folder`), not a mock; skips where mounting is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def wait_for(condition: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    output: Path

    def client(self, password: str = PASSWORD) -> requests.Session:
        session = requests.Session()
        session.auth = ("admin", password)
        return session

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def server_env(state_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_DIR")}
    env.update(STATE_DIR=str(state_dir), WEB_HOST="127.0.0.1", WEB_PORT=str(port), ADMIN_PASSWORD=PASSWORD,
               LOG_LEVEL="INFO", TZ="UTC")
    env.update(extra)
    return env


def start_server(state_dir: Path, wait: bool = True, **extra_env: str) -> Server:
    """Run `python -m recorder serve` on a free loopback port; with `wait`, return once /health answers."""
    port = free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    output = state_dir.parent / f"serve-{port}.out"
    with open(output, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "recorder", "serve"], cwd=REPO,
                                   env=server_env(state_dir, port, **extra_env), stdout=sink,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, f"http://127.0.0.1:{port}", state_dir, output)
    if wait:
        wait_healthy(server)
    return server


def wait_healthy(server: Server, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"serve exited with {server.process.returncode}:\n{server.log()}")
        try:
            if requests.get(server.url + "/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still starting up
            pass
        time.sleep(0.05)
    server.kill()
    raise AssertionError(f"serve did not answer /health within {timeout} s:\n{server.log()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server shared by the API tests (they create what they need with unique names)."""
    running = start_server(tmp_path_factory.mktemp("shared") / "state")
    yield running
    running.stop()


@pytest.fixture
def api(server: Server) -> requests.Session:
    return server.client()


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a live MP3 stream on loopback."""
    from streams import StreamServer, make_mp3

    server = StreamServer(make_mp3(tmp_path_factory.mktemp("stream") / "tone.mp3"))
    yield server.url
    server.stop()
