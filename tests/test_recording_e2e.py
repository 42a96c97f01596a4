"""Record-now through the real server, real ffmpeg and a real stream on loopback, to a tagged MP3."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
from mutagen.id3 import ID3

from conftest import Server, start_server, wait_for
from test_api import UPLOAD, png_bytes


def wait_done(api: requests.Session, server: Server, session_id: int, timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = api.get(f"{server.url}/api/sessions/{session_id}", timeout=5).json()
        if session["status"] in ("completed", "failed", "missed"):
            return session
        time.sleep(0.2)
    raise AssertionError(f"session {session_id} still {session['status']}")


def probe(path: Path) -> dict[str, Any]:
    return json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                                      "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout)


def test_record_now_makes_a_tagged_mp3_with_artwork(api: requests.Session, server: Server, stream: str) -> None:
    created = api.post(server.url + "/api/streams", json={"name": "Loop FM", "url": stream, "artist": "The DJ",
                                                          "album": "Weekly", "album_artist": "Loop Station"},
                       timeout=5).json()
    api.post(f"{server.url}/api/streams/{created['id']}/artwork", headers=UPLOAD, timeout=5,
             files={"artwork": ("cover.png", png_bytes(), "image/png")})
    answer = api.post(f"{server.url}/api/streams/{created['id']}/record", json={"duration_seconds": 4}, timeout=5)
    assert answer.status_code == 202
    session_id = answer.json()["session_id"]
    assert answer.headers["Location"] == f"/api/sessions/{session_id}"
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 40
    while (not seen or seen[-1]["status"] in ("scheduled", "recording")) and time.monotonic() < deadline:
        seen.append(api.get(f"{server.url}/api/sessions/{session_id}", timeout=5).json())
        time.sleep(0.2)
    live = [s["progress"] for s in seen if s["status"] == "recording" and s["progress"]["bytes"] > 0]
    assert live and live[-1]["seconds"] > live[0]["seconds"], "progress advances while recording"

    session = wait_done(api, server, session_id)
    assert session["status"] == "completed", session
    assert session["trigger"] == "manual" and session["parts"] == 1 and session["gaps"] == []
    path = server.state_dir / "recordings" / session["file"]
    assert path.suffix == ".mp3" and path.name.startswith("Loop FM ")
    media = probe(path)
    assert media["streams"][0]["codec_name"] == "mp3"
    assert 3.5 <= float(media["format"]["duration"]) <= 4.5
    tags = ID3(path)
    assert tags.version[:2] == (2, 4)
    assert str(tags["TIT2"]).startswith("Loop FM ") and str(tags["TPE1"]) == "The DJ"
    assert str(tags["TALB"]) == "Weekly" and str(tags["TPE2"]) == "Loop Station"
    assert tags.getall("APIC")[0].data == png_bytes()
    assert not (server.state_dir / "recordings" / f"session-{session_id}").exists()


def test_record_now_refuses_bad_input(api: requests.Session, server: Server) -> None:
    stream = api.post(server.url + "/api/streams", json={"name": "Refusals", "url": "http://127.0.0.1:9/x"},
                      timeout=5).json()
    for body, field in (({}, "duration_seconds"), ({"duration_seconds": 0}, "duration_seconds"),
                        ({"duration_seconds": 5, "x": 1}, "x")):
        answer = api.post(f"{server.url}/api/streams/{stream['id']}/record", json=body, timeout=5)
        assert answer.status_code == 400 and answer.json()["field"] == field
    assert api.post(f"{server.url}/api/streams/999999/record", json={"duration_seconds": 5},
                    timeout=5).status_code == 404


def test_an_unreachable_stream_fails_the_session_with_the_reason(api: requests.Session, server: Server) -> None:
    stream = api.post(server.url + "/api/streams", json={"name": "Gone FM", "url": "http://127.0.0.1:9/x.mp3"},
                      timeout=5).json()
    session_id = api.post(f"{server.url}/api/streams/{stream['id']}/record", json={"duration_seconds": 2},
                          timeout=5).json()["session_id"]
    session = wait_done(api, server, session_id)
    assert session["status"] == "failed" and "Stream connection failed" in session["error"]


def test_kill_9_mid_recording_continues_in_a_new_part(tmp_path: Path, stream: str) -> None:
    state = tmp_path / "state"
    server = start_server(state)
    api = server.client()
    created = api.post(server.url + "/api/streams", json={"name": "Crash FM", "url": stream}, timeout=5).json()
    session_id = api.post(f"{server.url}/api/streams/{created['id']}/record", json={"duration_seconds": 8},
                          timeout=5).json()["session_id"]
    wait_for(lambda: (api.get(f"{server.url}/api/sessions/{session_id}", timeout=5).json()["progress"]
                      or {}).get("seconds", 0) >= 3, timeout=20)  # recording for a while, however slow the start
    server.kill()  # SIGKILL: no chance to tidy up; ffmpeg is orphaned and must be dealt with
    down = time.monotonic()
    server = start_server(state)
    try:
        restart = time.monotonic() - down
        api = server.client()
        session = wait_done(api, server, session_id)
        assert session["status"] == "completed", session
        assert session["parts"] == 2
        events = [json.loads(line) for line in (state / "events.jsonl").read_text().splitlines()]
        kinds = [e["type"] for e in events if e["data"].get("session_id") == session_id]
        assert kinds[:4] == ["session.scheduled", "session.started", "session.interrupted", "session.started"]
        duration = float(probe(state / "recordings" / session["file"])["format"]["duration"])
        assert 8 - restart - 1.5 <= duration <= 8.5, (duration, restart)
    finally:
        server.stop()
