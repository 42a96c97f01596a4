"""`serve` as a process: one owner per state folder, nothing acknowledged is lost to SIGKILL, the CLI tools."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from conftest import PASSWORD, REPO, free_port, server_env, start_server


def test_a_second_serve_on_the_same_state_refuses_to_start(tmp_path: Path) -> None:
    first = start_server(tmp_path / "state")
    try:
        second = subprocess.run([sys.executable, "-m", "recorder", "serve"], cwd=REPO, capture_output=True,
                                text=True, timeout=30, env=server_env(tmp_path / "state", free_port()))
        assert second.returncode == 1
        assert f"in use by another recorder process (pid {first.process.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        assert requests.get(first.url + "/health", timeout=5).status_code == 200
    finally:
        assert first.stop() == 0


def test_acknowledged_streams_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    """Writers hammer the API while the server is killed; whatever got a 201 must be there after restart."""
    state = tmp_path / "state"
    acknowledged: set[str] = set()
    rounds = 20
    for round_number in range(rounds):
        server = start_server(state)
        stop = threading.Event()
        lock = threading.Lock()

        def writer(worker: int) -> None:
            client = server.client()
            for number in range(10_000):
                if stop.is_set():
                    return
                name = f"r{round_number}-w{worker}-{number}"
                try:
                    response = client.post(server.url + "/api/streams", timeout=5,
                                           json={"name": name, "url": "http://127.0.0.1/x.mp3"})
                except requests.RequestException:
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged.add(name)

        workers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(random.uniform(0.2, 0.8))
        server.kill()
        stop.set()
        for worker in workers:
            worker.join()

    server = start_server(state)
    try:
        names = [row["name"] for row in server.client().get(server.url + "/api/streams", timeout=10).json()["streams"]]
        assert len(acknowledged) > rounds * 10, "the writers got some work done"
        assert acknowledged <= set(names), f"lost: {sorted(acknowledged - set(names))[:5]}"
        assert len(names) == len(set(names))
    finally:
        server.stop()


def test_a_generated_password_is_shown_once_and_never_logged_as_an_event(tmp_path: Path) -> None:
    state = tmp_path / "state"
    server = start_server(state, ADMIN_PASSWORD="")
    server.stop()
    line = next(line for line in server.log().splitlines() if "Generated admin password" in line)
    password = line.rsplit(": ", 1)[1].strip()
    assert len(password) >= 20

    server = start_server(state, ADMIN_PASSWORD="")
    try:
        assert server.client(password).post(server.url + "/api/streams", timeout=5, json={
            "name": "A", "url": "http://127.0.0.1/a.mp3"}).status_code == 201
        assert server.client(PASSWORD).get(server.url + "/api/streams", timeout=5).status_code == 401
    finally:
        server.stop()
    assert "Generated admin password" not in server.log(), "shown only at the first start"
    assert password not in (state / "events.jsonl").read_text()
    assert password not in (state / "admin_password.hash").read_text()


def test_check_and_events_read_a_live_log(tmp_path: Path) -> None:
    state = tmp_path / "state"
    server = start_server(state)
    try:
        client = server.client()
        stream = client.post(server.url + "/api/streams", timeout=5,
                             json={"name": "A", "url": "http://127.0.0.1/a.mp3"}).json()
        client.post(server.url + "/api/schedules", timeout=5,
                    json={"stream_id": stream["id"], "cron": "0 9 * * 1-5", "duration_minutes": 30})
        env = server_env(state, 1)
        check = subprocess.run([sys.executable, "-m", "recorder", "check"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        assert "2 events, last seq 2" in check.stdout
        assert "streams: 1" in check.stdout and "schedules: 1" in check.stdout
        events = subprocess.run([sys.executable, "-m", "recorder", "events", "--type", "schedule"], cwd=REPO,
                                env=env, capture_output=True, text=True, timeout=30)
        assert [line.count('"type":"schedule.created"') for line in events.stdout.splitlines()] == [1]
    finally:
        server.stop()



def test_check_config_is_a_dry_run_of_the_drop_in_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = state / "config"
    config.mkdir(parents=True)
    (config / "jazz.json").write_text('{"name": "Jazz", "url": "http://127.0.0.1/j.mp3", '
                                      '"schedules": [{"cron": "0 9 * * *", "duration_minutes": 60}]}')
    (config / "broken.json").write_text('{"name": "Broken",\n "url": }')
    (config / ".editor-copy.json").write_text("{")
    env = server_env(state, 1)
    dry = subprocess.run([sys.executable, "-m", "recorder", "check-config"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=30)
    assert dry.returncode == 1, dry.stderr
    assert dry.stdout.splitlines() == [
        f"{config / 'broken.json'}: not usable: line 2: not valid JSON: Expecting value (line 2, column 9)",
        f"{config / 'jazz.json'}: ok (1 schedule.created, 1 stream.created)"]
    assert not (state / "events.jsonl").exists(), "a dry run writes nothing"
    one = subprocess.run([sys.executable, "-m", "recorder", "check-config", str(config / "jazz.json")], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=30)
    assert one.returncode == 0 and "ok (1 schedule.created, 1 stream.created)" in one.stdout

def test_a_corrupt_line_stops_start_up_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    server = start_server(state)
    client = server.client()
    for name in ("A", "B", "C"):
        client.post(server.url + "/api/streams", timeout=5, json={"name": name, "url": "http://127.0.0.1/a"})
    server.stop()
    log = state / "events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + "oops\n" + "".join(lines[1:]))
    result = subprocess.run([sys.executable, "-m", "recorder", "serve"], cwd=REPO, capture_output=True, text=True,
                            timeout=30, env=server_env(state, free_port()))
    assert result.returncode == 1
    assert "the event log is damaged at line 2: not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_copied_log_becomes_a_restorable_backup(tmp_path: Path) -> None:
    server = start_server(tmp_path / "a")
    server.client().post(server.url + "/api/streams", timeout=5, json={"name": "Copied", "url": "http://a.example/"})
    server.stop()
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes((tmp_path / "a" / "events.jsonl").read_bytes())
    env = server_env(tmp_path / "b", free_port())
    made = subprocess.run([sys.executable, "-m", "recorder", "import-log", str(copy), "--name", "old-box"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "b" / "backups" / "old-box.tar.gz").is_file()
    server = start_server(tmp_path / "b")
    try:
        api = server.client()
        assert api.post(server.url + "/api/backup/restore", json={"name": "old-box"}, timeout=10).json()["events"] == 1
        assert [s["name"] for s in api.get(server.url + "/api/streams", timeout=5).json()["streams"]] == ["Copied"]
    finally:
        server.stop()
