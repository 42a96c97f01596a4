"""Record-now through the real server, real ffmpeg and a real stream on loopback."""

from __future__ import annotations

import json
import subprocess
import time

from conftest import Server


def test_record_now_captures_the_requested_seconds(api, server: Server, stream: str) -> None:
    created = api.post(server.url + "/api/streams", json={"name": "Loop FM", "url": stream}, timeout=5).json()
    answer = api.post(f"{server.url}/api/streams/{created['id']}/record", json={"duration_seconds": 3}, timeout=5)
    assert answer.status_code == 202
    session_id = answer.json()["session_id"]
    assert answer.headers["Location"] == f"/api/sessions/{session_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        session = api.get(f"{server.url}/api/sessions/{session_id}", timeout=5).json()
        if session["status"] not in ("scheduled", "queued", "recording"):
            break
        time.sleep(0.2)
    assert session["status"] == "recorded", session
    path = server.state_dir / "recordings" / session["file"]
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                                       "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout)
    assert probe["streams"][0]["codec_name"] == "mp3"
    assert 2.5 <= float(probe["format"]["duration"]) <= 3.5
    assert session["trigger"] == "manual" and session["parts"] == 1


def test_record_now_refuses_bad_input(api, server: Server) -> None:
    stream = api.post(server.url + "/api/streams", json={"name": "Refusals", "url": "http://127.0.0.1:9/x"},
                      timeout=5).json()
    for body, field in (({}, "duration_seconds"), ({"duration_seconds": 0}, "duration_seconds"),
                        ({"duration_seconds": 5, "x": 1}, "x")):
        answer = api.post(f"{server.url}/api/streams/{stream['id']}/record", json=body, timeout=5)
        assert answer.status_code == 400 and answer.json()["field"] == field
    assert api.post(f"{server.url}/api/streams/999999/record", json={"duration_seconds": 5},
                    timeout=5).status_code == 404
