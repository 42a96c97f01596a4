"""REST API over a real socket against a real `serve` process: every route, good and bad input."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from conftest import Server, wait_for


def new_stream(api: requests.Session, server: Server, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Show {uuid.uuid4().hex[:8]}", "url": "http://127.0.0.1:8000/live.mp3", **fields}
    response = api.post(server.url + "/api/streams", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def new_schedule(api: requests.Session, server: Server, stream_id: int, **fields: Any) -> dict[str, Any]:
    body = {"stream_id": stream_id, "cron": "30 14 * * 0", "duration_minutes": 60, **fields}
    response = api.post(server.url + "/api/schedules", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def test_health_needs_no_login_and_reports_the_log(server: Server) -> None:
    body = requests.get(server.url + "/health", timeout=5).json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptime_seconds"] >= 0
    assert isinstance(body["last_seq"], int)


@pytest.mark.parametrize("auth", [None, ("admin", "wrong"), ("root", "correct horse battery staple")])
def test_api_refuses_without_the_admin_password(server: Server, auth: Any) -> None:
    response = requests.get(server.url + "/api/streams", auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert "error" in response.json()


def test_no_cors_headers_for_foreign_origins(api: requests.Session, server: Server) -> None:
    response = api.get(server.url + "/api/streams", headers={"Origin": "http://evil.example"}, timeout=5)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_stream_lifecycle(api: requests.Session, server: Server) -> None:
    created = new_stream(api, server, artist="DJ", album="Mornings", album_artist="Station",
                         scp_destination="user@example.org:/srv/shows/")
    stream_id = created["id"]
    assert created["artist"] == "DJ" and created["scp_destination"] == "user@example.org:/srv/shows/"
    assert api.get(f"{server.url}/api/streams/{stream_id}", timeout=5).json() == created
    assert stream_id in [s["id"] for s in api.get(server.url + "/api/streams", timeout=5).json()["streams"]]

    updated = api.put(f"{server.url}/api/streams/{stream_id}", json={"album": "Evenings"}, timeout=5)
    assert updated.status_code == 200
    assert updated.json()["album"] == "Evenings" and updated.json()["artist"] == "DJ"
    # A client may PUT back what it got, read-only fields included.
    assert api.put(f"{server.url}/api/streams/{stream_id}", json=updated.json(), timeout=5).status_code == 200

    assert api.delete(f"{server.url}/api/streams/{stream_id}", timeout=5).status_code == 200
    assert api.get(f"{server.url}/api/streams/{stream_id}", timeout=5).status_code == 404


def test_schedule_lifecycle_shows_next_run_and_description(api: requests.Session, server: Server) -> None:
    stream = new_stream(api, server)
    schedule = new_schedule(api, server, stream["id"], timezone="Europe/Berlin")
    assert schedule["timezone"] == "Europe/Berlin" and schedule["active"] is True
    assert schedule["description"] == "Sundays at 14:30"
    assert schedule["stream_name"] == stream["name"]
    assert schedule["next_run"].endswith(("+01:00", "+02:00"))
    listed = api.get(server.url + "/api/schedules", timeout=5).json()["schedules"]
    assert any(row["id"] == schedule["id"] and row["next_run"] == schedule["next_run"] for row in listed)

    paused = api.put(f"{server.url}/api/schedules/{schedule['id']}", json={"active": False}, timeout=5).json()
    assert paused["active"] is False and paused["next_run"] is None
    assert api.delete(f"{server.url}/api/schedules/{schedule['id']}", timeout=5).status_code == 200
    assert api.get(f"{server.url}/api/schedules/{schedule['id']}", timeout=5).status_code == 404


def test_schedule_timezone_defaults_to_tz(api: requests.Session, server: Server) -> None:
    schedule = new_schedule(api, server, new_stream(api, server)["id"])
    assert schedule["timezone"] == "UTC"


def test_deleting_a_stream_with_schedules_needs_cascade(api: requests.Session, server: Server) -> None:
    stream = new_stream(api, server)
    schedule = new_schedule(api, server, stream["id"])
    refused = api.delete(f"{server.url}/api/streams/{stream['id']}", timeout=5)
    assert refused.status_code == 409
    assert "schedule" in refused.json()["error"]
    assert api.get(f"{server.url}/api/schedules/{schedule['id']}", timeout=5).status_code == 200

    deleted = api.delete(f"{server.url}/api/streams/{stream['id']}?cascade=true", timeout=5)
    assert deleted.json() == {"deleted": {"stream_id": stream["id"], "schedule_ids": [schedule["id"]]}}
    assert api.get(f"{server.url}/api/schedules/{schedule['id']}", timeout=5).status_code == 404


def test_duplicate_stream_names_conflict_regardless_of_case(api: requests.Session, server: Server) -> None:
    stream = new_stream(api, server)
    response = api.post(server.url + "/api/streams", json={"name": f" {stream['name'].upper()} ",
                                                           "url": "https://example.org/a.mp3"}, timeout=5)
    assert response.status_code == 409
    assert response.json()["field"] == "name"
    other = new_stream(api, server)
    renamed = api.put(f"{server.url}/api/streams/{other['id']}", json={"name": stream["name"]}, timeout=5)
    assert renamed.status_code == 409


@pytest.mark.parametrize("body, field, words", [
    ({"url": "http://a.example/x"}, "name", "required"),
    ({"name": "x"}, "url", "required"),
    ({"name": "x", "url": "file:///etc/passwd"}, "url", "must start with"),
    ({"name": "x", "url": "concat:http://a/x|http://b/y"}, "url", "must start with"),
    ({"name": "x", "url": "ftp://a.example/x"}, "url", "must start with"),
    ({"name": "x", "url": "http:///nohost"}, "url", "host"),
    ({"name": 5, "url": "http://a.example/x"}, "name", "text"),
    ({"name": "", "url": "http://a.example/x"}, "name", "empty"),
    ({"name": "x" * 101, "url": "http://a.example/x"}, "name", "at most 100"),
    ({"name": "a\nb", "url": "http://a.example/x"}, "name", "control"),
    ({"name": "a\ud800b", "url": "http://a.example/x"}, "name", "surrogate"),
    ({"name": "x", "url": "http://a.example/x", "colour": "red"}, "colour", "unknown field"),
    ({"name": "x", "url": "http://a.example/x", "scp_destination": "not a destination"}, "scp_destination",
     "user@host"),
    ({"name": "x", "url": "http://a.example/x", "scp_destination": "-oProxyCommand=x@h:/p"}, "scp_destination",
     "user@host"),
])
def test_bad_stream_input_is_refused_with_the_field(api: requests.Session, server: Server, body: dict[str, Any],
                                                    field: str, words: str) -> None:
    response = api.post(server.url + "/api/streams", json=body, timeout=5)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert words in response.json()["error"]


@pytest.mark.parametrize("fields, field, words", [
    ({"cron": "61 * * * *"}, "cron", "minute 61 is out of range 0-59"),
    ({"cron": "* * *"}, "cron", "5 fields"),
    ({"duration_minutes": 0}, "duration_minutes", "between 1 and"),
    ({"duration_minutes": "60"}, "duration_minutes", "whole number"),
    ({"duration_minutes": True}, "duration_minutes", "whole number"),
    ({"active": "yes"}, "active", "true or false"),
    ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
    ({"timezone": "../../etc/passwd"}, "timezone", "time zone"),
    ({"pad_before_seconds": -1}, "pad_before_seconds", "between 0 and"),
    ({"stream_id": 999999}, "stream_id", "does not exist"),
])
def test_bad_schedule_input_is_refused_with_the_field(api: requests.Session, server: Server,
                                                      fields: dict[str, Any], field: str, words: str) -> None:
    body = {"stream_id": new_stream(api, server)["id"], "cron": "0 9 * * 1-5", "duration_minutes": 60, **fields}
    response = api.post(server.url + "/api/schedules", json=body, timeout=5)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert words in response.json()["error"]


@pytest.mark.parametrize("data, headers, status", [
    (b"{not json", {"Content-Type": "application/json"}, 400),
    (b"[1, 2]", {"Content-Type": "application/json"}, 400),
    (b"\xff\xfe", {"Content-Type": "application/json"}, 400),
    (b'{"name": "x", "url": "http://a.example/x"}', {"Content-Type": "text/plain"}, 415),
    (b"name=x&url=http://a.example/x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    (b"x" * (10 * 1024 * 1024), {"Content-Type": "application/json"}, 413),
])
def test_malformed_bodies_get_clear_json_errors(api: requests.Session, server: Server, data: bytes,
                                                headers: dict[str, str], status: int) -> None:
    response = api.post(server.url + "/api/streams", data=data, headers=headers, timeout=30)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/streams/999999"), ("PUT", "/api/streams/999999"), ("DELETE", "/api/streams/999999"),
    ("GET", "/api/schedules/999999"), ("PUT", "/api/schedules/999999"), ("DELETE", "/api/schedules/999999"),
    ("GET", "/api/streams/abc"), ("GET", "/api/nothing-here"),
])
def test_unknown_ids_and_paths_are_404_json(api: requests.Session, server: Server, method: str,
                                            path: str) -> None:
    response = api.request(method, server.url + path, json={}, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]


def test_wrong_method_is_405_json(api: requests.Session, server: Server) -> None:
    response = api.patch(server.url + "/api/streams", json={}, timeout=5)
    assert response.status_code == 405
    assert response.json()["error"] == "method not allowed"


@pytest.mark.parametrize("cron, timezone, description, weekday", [
    ("30 14 * * 0", "Europe/Berlin", "Sundays at 14:30", 6),
    ("30 14 * * 7", "America/New_York", "Sundays at 14:30", 6),
    ("0 9 * * 1-5", "UTC", "Weekdays at 09:00", None),
])
def test_validate_cron_explains_and_lists_the_next_runs(api: requests.Session, server: Server, cron: str,
                                                        timezone: str, description: str, weekday: int | None) -> None:
    from datetime import datetime

    body = api.post(server.url + "/api/schedules/validate-cron", json={"cron": cron, "timezone": timezone},
                    timeout=5).json()
    assert body["valid"] is True and body["description"] == description
    runs = [datetime.fromisoformat(run) for run in body["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs)
    if weekday is not None:
        assert {run.weekday() for run in runs} == {weekday}
    else:
        assert {run.weekday() for run in runs} <= {0, 1, 2, 3, 4}
    assert all(run.hour == int(cron.split()[1]) for run in runs), "wall-clock hour in the schedule's zone"


@pytest.mark.parametrize("body, error", [
    ({"cron": "61 * * * *"}, "minute 61 is out of range 0-59"),
    ({"cron": "0 9 * * 1-5", "timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
])
def test_validate_cron_answers_invalid_with_200(api: requests.Session, server: Server, body: dict[str, Any],
                                                error: str) -> None:
    response = api.post(server.url + "/api/schedules/validate-cron", json=body, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"valid": False, "error": error}


@pytest.mark.parametrize("body", [{}, {"cron": 5}, [], {"cron": "* * * * *", "timezone": 3}])
def test_validate_cron_malformed_request_is_400(api: requests.Session, server: Server, body: Any) -> None:
    assert api.post(server.url + "/api/schedules/validate-cron", json=body, timeout=5).status_code == 400


def test_sessions_filter_and_page(api: requests.Session, server: Server) -> None:
    stream = new_stream(api, server, url="http://127.0.0.1:9/unreachable.mp3")
    ids = [api.post(f"{server.url}/api/streams/{stream['id']}/record", json={"duration_seconds": 1},
                    timeout=5).json()["session_id"] for _ in range(3)]
    page = api.get(server.url + "/api/sessions", params={"stream_id": stream["id"], "limit": 2}, timeout=5).json()
    assert page["total"] == 3 and [s["id"] for s in page["sessions"]] == sorted(ids, reverse=True)[:2]
    rest = api.get(server.url + "/api/sessions", params={"stream_id": stream["id"], "limit": 2, "offset": 2},
                   timeout=5).json()
    assert [s["id"] for s in rest["sessions"]] == [min(ids)]
    assert api.get(server.url + "/api/sessions", params={"limit": "lots"}, timeout=5).status_code == 400
    today = datetime.now(timezone.utc).date()
    in_range = api.get(server.url + "/api/sessions", timeout=5, params={
        "stream_id": stream["id"], "from": today.isoformat(), "to": today.isoformat()}).json()
    assert in_range["total"] == 3
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert api.get(server.url + "/api/sessions", params={"stream_id": stream["id"], "from": tomorrow},
                   timeout=5).json()["total"] == 0
    bad = api.get(server.url + "/api/sessions", params={"from": "last week"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["field"] == "from"
    assert api.get(server.url + "/api/sessions/999999", timeout=5).status_code == 404



def test_events_page_the_audit_trail_with_filters(api: requests.Session, server: Server) -> None:
    stream = new_stream(api, server)
    schedule = new_schedule(api, server, stream["id"])
    assert api.put(f"{server.url}/api/streams/{stream['id']}", json={"artist": "Someone Else"},
                   timeout=5).status_code == 200
    mine = api.get(server.url + "/api/events", params={"stream_id": stream["id"], "limit": 2}, timeout=5).json()
    assert [(e["type"], e["source"]) for e in mine["events"]] == [("stream.updated", "api"),
                                                                  ("schedule.created", "api")]
    assert mine["events"][1]["data"]["schedule_id"] == schedule["id"] and mine["before"] == mine["events"][1]["seq"]
    older = api.get(server.url + "/api/events", params={"stream_id": stream["id"], "before": mine["before"]},
                    timeout=5).json()
    assert [e["type"] for e in older["events"]] == ["stream.created"] and older["before"] is None
    streams_only = api.get(server.url + "/api/events", params={"type": "stream", "limit": 500}, timeout=5).json()
    assert streams_only["events"] and all(e["type"].startswith("stream.") for e in streams_only["events"])
    future = api.get(server.url + "/api/events", params={"from": "2999-01-01"}, timeout=5).json()
    assert future["events"] == []
    for params, field in (({"from": "yesterday"}, "from"), ({"before": "-1"}, "before"), ({"limit": 0}, "limit")):
        bad = api.get(server.url + "/api/events", params=params, timeout=5)
        assert bad.status_code == 400 and bad.json()["field"] == field


def test_streams_from_a_config_file_are_shown_with_it_and_refused_to_the_api(api: requests.Session,
                                                                              server: Server) -> None:
    folder = server.state_dir / "config"
    (folder / "api-owned.json").write_text(json.dumps({"name": "Owned FM", "url": "http://127.0.0.1:9/o.mp3",
                                                       "schedules": [{"cron": "0 6 * * *", "duration_minutes": 5}]}))
    wait_for(lambda: any(s["name"] == "Owned FM" for s in api.get(server.url + "/api/streams", timeout=5).json()[
        "streams"]), timeout=5)
    owned = next(s for s in api.get(server.url + "/api/streams", timeout=5).json()["streams"]
                 if s["name"] == "Owned FM")
    assert owned["config_file"] == "api-owned.json"
    assert new_stream(api, server)["config_file"] is None
    schedule = next(s for s in api.get(server.url + "/api/schedules", timeout=5).json()["schedules"]
                    if s["stream_id"] == owned["id"])
    assert schedule["config_file"] == "api-owned.json"
    refused = api.put(f"{server.url}/api/streams/{owned['id']}", json={"artist": "x"}, timeout=5)
    assert refused.status_code == 409 and "api-owned.json" in refused.json()["error"]
    assert api.delete(f"{server.url}/api/schedules/{schedule['id']}", timeout=5).status_code == 409
    files = api.get(server.url + "/api/config/files", timeout=5).json()
    assert files["folder"] == str(folder)
    assert [(f["status"], f["stream_ids"]) for f in files["files"] if f["file"] == "api-owned.json"] == [
        ("applied", [owned["id"]])]
    (folder / "api-owned.json").unlink()
    wait_for(lambda: api.get(f"{server.url}/api/streams/{owned['id']}", timeout=5).status_code == 404, timeout=5)
    history = api.get(server.url + "/api/events", params={"stream_id": owned["id"]}, timeout=5).json()["events"]
    assert [e["source"] for e in history] == ["config"] * len(history) and history[0]["type"] == "stream.deleted"

def png_bytes() -> bytes:
    """A real 2x2 PNG, built by hand (zlib + CRCs) so the test needs no image library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


UPLOAD = {"X-Requested-With": "test"}


def test_artwork_upload_is_checked_stored_served_and_removed(api: requests.Session, server: Server) -> None:
    stream = new_stream(api, server)
    url = f"{server.url}/api/streams/{stream['id']}/artwork"
    answer = api.post(url, files={"artwork": ("../../evil.png", png_bytes(), "image/png")}, headers=UPLOAD, timeout=5)
    assert answer.status_code == 200, answer.text
    name = answer.json()["artwork"]
    assert name.startswith(f"stream-{stream['id']}-") and name.endswith(".png") and "/" not in name
    served = api.get(url, timeout=5)
    assert served.content == png_bytes() and served.headers["Content-Type"] == "image/png"
    assert (server.state_dir / "artwork" / name).read_bytes() == png_bytes()

    replaced = api.post(url, files={"artwork": ("x.png", png_bytes(), "image/png")}, headers=UPLOAD, timeout=5)
    assert replaced.json()["artwork"] != name and not (server.state_dir / "artwork" / name).exists()
    removed = api.delete(url, timeout=5)
    assert removed.json()["artwork"] == "" and api.get(url, timeout=5).status_code == 404


@pytest.mark.parametrize("files, headers, status, words", [
    ({"artwork": ("a.png", b"<html>not an image</html>", "image/png")}, UPLOAD, 400, "JPEG or PNG"),
    ({"artwork": ("a.png", b"", "image/png")}, UPLOAD, 400, "empty"),
    ({"picture": ("a.png", png_bytes(), "image/png")}, UPLOAD, 400, "'artwork'"),
    ({"artwork": ("a.png", png_bytes(), "image/png")}, {}, 403, "X-Requested-With"),
    ({"artwork": ("a.png", png_bytes() + b"\0" * (11 * 2**20), "image/png")}, UPLOAD, 413, "larger than"),
])
def test_bad_artwork_is_refused(api: requests.Session, server: Server, files: dict[str, Any],
                                headers: dict[str, str], status: int, words: str) -> None:
    stream = new_stream(api, server)
    answer = api.post(f"{server.url}/api/streams/{stream['id']}/artwork", files=files, headers=headers, timeout=30)
    assert answer.status_code == status and words in answer.json()["error"]
    assert api.get(f"{server.url}/api/streams/{stream['id']}", timeout=5).json()["artwork"] == ""


def test_stream_test_reports_codec_or_the_reason(api: requests.Session, server: Server, stream: str) -> None:
    good = new_stream(api, server, url=stream)
    report = api.post(f"{server.url}/api/streams/{good['id']}/test", timeout=30).json()
    assert report["reachable"] is True and report["codec"] == "mp3" and report["icy_name"] == "Test Radio"
    bad = new_stream(api, server, url="http://127.0.0.1:9/none.mp3")
    report = api.post(f"{server.url}/api/streams/{bad['id']}/test", timeout=30).json()
    assert report["reachable"] is False and "refused" in report["reason"]


def test_system_status_reports_resources_folders_and_work(api: requests.Session, server: Server) -> None:
    status = api.get(server.url + "/api/system/status", timeout=10).json()
    assert {disk["folder"] for disk in status["disks"]} == {"state", "recordings", "logs", "artwork", "config",
                                                            "backups"}
    assert all(0 < disk["free_bytes"] <= disk["total_bytes"] for disk in status["disks"])
    assert status["process"]["rss_bytes"] > 10 * 2**20 and status["memory"]["total_bytes"] > 0
    assert isinstance(status["active_recordings"], list) and isinstance(status["pending_transfers"], list)
    assert status["version"] and status["uptime_seconds"] >= 0 and status["last_event_seq"] >= 0
    assert status["warnings"] == [], "a test machine has more than 200 MB free"


def test_logs_filter_by_level_and_follow(api: requests.Session, server: Server) -> None:
    api.post(server.url + "/api/streams", json={"name": "x" * 101, "url": "http://a.example/"}, timeout=5)
    everything = api.get(server.url + "/api/logs", params={"level": "DEBUG", "limit": 500}, timeout=5).json()
    assert any("Recorder listening on" in entry["message"] for entry in everything["entries"])
    warnings = api.get(server.url + "/api/logs", params={"level": "WARNING"}, timeout=5).json()
    assert all(entry["level"] in ("WARNING", "ERROR", "CRITICAL") for entry in warnings["entries"])
    offset = everything["next_offset"]
    new_stream(api, server, url="http://127.0.0.1:9/follow.mp3")
    stream_id = api.get(server.url + "/api/streams", timeout=5).json()["streams"][-1]["id"]
    api.post(f"{server.url}/api/streams/{stream_id}/test", timeout=30)  # logs "Stream connection failed"
    followed = api.get(server.url + "/api/logs", params={"after": offset}, timeout=5).json()
    assert any("Stream connection failed" in entry["message"] for entry in followed["entries"])
    assert followed["next_offset"] > offset
    system = api.get(server.url + "/api/logs", params={"file": "system.log"}, timeout=5).json()
    assert any("Recorder listening on" in entry["message"] for entry in system["entries"])
    for params, field in (({"level": "LOUD"}, "level"), ({"file": "../../etc/passwd"}, "file"),
                          ({"after": "-1"}, "after")):
        bad = api.get(server.url + "/api/logs", params=params, timeout=5)
        assert bad.status_code == 400 and bad.json()["field"] == field
