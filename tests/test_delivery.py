"""Delivery end to end: record-now on a real server, upload to a real sshd, retries, trust, restarts."""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from recorder.delivery import retry_delay

from conftest import Server, start_server
from sshd import Sshd, authorize, fingerprint, keygen, start_sshd


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("delivery-keys")
    key = keygen(root / "ssh_key")
    authorized = root / "authorized_keys"
    authorize(authorized, key)
    return key, authorized


@pytest.fixture
def sshd(client_key: tuple[Path, Path], tmp_path: Path) -> Iterator[Sshd]:
    server = start_sshd(tmp_path / "sshd", client_key[1])
    yield server
    server.stop()


def recorder(tmp_path: Path, key: Path, **env: str) -> Server:
    state = tmp_path / "state"
    (state / "config").mkdir(parents=True, exist_ok=True)
    shutil.copy(key, state / "config" / "ssh_key")
    return start_server(state, **{"RETRY_DELAY_SECONDS": "1", **env})


def pin(tmp_path: Path, sshd: Sshd) -> None:
    """Start the recorder with the test server's host key already trusted."""
    (tmp_path / "state" / "config").mkdir(parents=True)
    (tmp_path / "state" / "config" / "known_hosts").write_text(sshd.known_hosts_line())


def record(server: Server, stream_url: str, destination: str, name: str = "Delivered FM") -> int:
    api = server.client()
    stream = api.post(server.url + "/api/streams", timeout=5,
                      json={"name": name, "url": stream_url, "scp_destination": destination}).json()
    return api.post(f"{server.url}/api/streams/{stream['id']}/record", json={"duration_seconds": 2},
                    timeout=5).json()["session_id"]


def wait_status(server: Server, session_id: int, statuses: tuple[str, ...], timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    session: dict[str, Any] = {}
    while time.monotonic() < deadline:
        session = server.client().get(f"{server.url}/api/sessions/{session_id}", timeout=5).json()
        if session["status"] in statuses:
            return session
        time.sleep(0.2)
    raise AssertionError(f"session {session_id} is {session.get('status')}, not {statuses}: {session}")


def transfer_events(state: Path, session_id: int) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in (state / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["type"].startswith("transfer.") and e["data"]["session_id"] == session_id]


def test_retry_delays_grow_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    delays = [retry_delay(attempt, 60, rng) for attempt in range(1, 6)]
    for attempt, delay in enumerate(delays, start=1):
        assert 0.8 * 60 * 2 ** (attempt - 1) <= delay <= 1.2 * 60 * 2 ** (attempt - 1)
    assert retry_delay(30, 60, rng) <= 1.2 * 6 * 3600


def test_unknown_host_fails_at_once_then_trust_and_retry_deliver(tmp_path: Path, sshd: Sshd, stream: str,
                                                                 client_key: tuple[Path, Path]) -> None:
    server = recorder(tmp_path, client_key[0])
    try:
        api = server.client()
        target = tmp_path / "remote" / "shows"
        session_id = record(server, stream, f"root@127.0.0.1:{sshd.port}:{target}/")
        failed = wait_status(server, session_id, ("failed",))
        host_fingerprint = fingerprint(Path(f"{sshd.host_key}.pub"))
        assert host_fingerprint in failed["error"] and "trust" in failed["error"]
        events = transfer_events(server.state_dir, session_id)
        assert [e["type"] for e in events] == ["transfer.attempted", "transfer.failed"]
        assert events[1]["data"]["permanent"] is True and events[1]["data"]["retry_at"] is None

        check = api.post(f"{server.url}/api/streams/{failed['stream_id']}/test-destination", timeout=30).json()
        assert check["ok"] is False and any(host_fingerprint in problem for problem in check["problems"])
        wrong = api.post(server.url + "/api/hosts/trust", timeout=30,
                         json={"host": "127.0.0.1", "port": sshd.port, "fingerprint": "SHA256:not-it"})
        assert wrong.status_code == 409
        trusted = api.post(server.url + "/api/hosts/trust", timeout=30,
                           json={"host": "127.0.0.1", "port": sshd.port, "fingerprint": host_fingerprint})
        assert trusted.status_code == 200, trusted.text
        assert api.post(f"{server.url}/api/streams/{failed['stream_id']}/test-destination",
                        timeout=30).json() == {"stream_id": failed["stream_id"], "ok": True, "problems": [],
                                               "destination": f"root@127.0.0.1:{sshd.port}:{target}/"}

        assert api.post(f"{server.url}/api/sessions/{session_id}/retry-transfer", timeout=5).status_code == 202
        done = wait_status(server, session_id, ("completed",))
        delivered = target / Path(failed["file"]).name
        assert delivered.is_file() and done["remote_path"].endswith(delivered.name)
        assert not (server.state_dir / "recordings" / failed["file"]).exists(), "CLEANUP_AFTER_TRANSFER"
        assert not list(target.glob(".*.part"))
        assert api.post(f"{server.url}/api/sessions/{session_id}/retry-transfer", timeout=5).status_code == 409
    finally:
        server.stop()


def test_a_server_that_is_down_is_retried_until_it_is_back(tmp_path: Path, sshd: Sshd, stream: str,
                                                           client_key: tuple[Path, Path]) -> None:
    pin(tmp_path, sshd)
    sshd.stop()
    server = recorder(tmp_path, client_key[0], DEFAULT_MAX_RETRIES="6", CLEANUP_AFTER_TRANSFER="false")
    try:
        target = tmp_path / "remote"
        session_id = record(server, stream, f"root@127.0.0.1:{sshd.port}:{target}/")
        waiting = wait_status(server, session_id, ("waiting_retry",))
        assert "refused" in waiting["error"]
        sshd.start()
        done = wait_status(server, session_id, ("completed",), timeout=60)
        local = server.state_dir / "recordings" / done["file"]
        assert (target / local.name).read_bytes() == local.read_bytes(), "kept locally and identical remotely"
        kinds = [e["type"] for e in transfer_events(server.state_dir, session_id)]
        assert kinds[-1] == "transfer.completed" and kinds.count("transfer.failed") >= 1
        assert all(not e["data"]["permanent"] for e in transfer_events(server.state_dir, session_id)
                   if e["type"] == "transfer.failed")
    finally:
        server.stop()


def test_a_wrong_key_fails_at_once_without_retries(tmp_path: Path, sshd: Sshd, stream: str) -> None:
    pin(tmp_path, sshd)
    stranger = keygen(tmp_path / "stranger")
    server = recorder(tmp_path, stranger, DEFAULT_MAX_RETRIES="5")
    try:
        session_id = record(server, stream, f"root@127.0.0.1:{sshd.port}:{tmp_path / 'remote'}/")
        failed = wait_status(server, session_id, ("failed",))
        assert [e["type"] for e in transfer_events(server.state_dir, session_id)] == ["transfer.attempted",
                                                                                     "transfer.failed"]
        assert "ssh_key" in failed["error"] or "key" in failed["error"]
    finally:
        server.stop()


def test_pending_transfers_survive_a_kill_and_arrive_once(tmp_path: Path, sshd: Sshd, stream: str,
                                                          client_key: tuple[Path, Path]) -> None:
    pin(tmp_path, sshd)
    sshd.stop()
    server = recorder(tmp_path, client_key[0], RETRY_DELAY_SECONDS="30", DEFAULT_MAX_RETRIES="5")
    target = tmp_path / "remote"
    ids = [record(server, stream, f"root@127.0.0.1:{sshd.port}:{target}/", name=f"Pending {n}") for n in range(2)]
    for session_id in ids:
        wait_status(server, session_id, ("waiting_retry",))
    server.kill()
    sshd.start()
    server = start_server(server.state_dir, RETRY_DELAY_SECONDS="30")
    try:
        for session_id in ids:
            wait_status(server, session_id, ("completed",))
        assert len(list(target.glob("*.mp3"))) == 2 and not list(target.glob(".*"))
        for session_id in ids:
            assert [e["type"] for e in transfer_events(server.state_dir, session_id)].count(
                "transfer.completed") == 1
    finally:
        server.stop()
