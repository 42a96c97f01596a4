"""Drop-in config files as commands (pure): what a file says is what its streams become, once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder import commands
from recorder.commands import Conflict
from recorder.declared import decide_config_file, decide_config_file_removed
from recorder.events import ConfigFileFailed, Event, Payload
from recorder.views import Views, replay

AT = datetime(2026, 11, 25, tzinfo=timezone.utc)
JAZZ = {"name": "Morning Jazz", "url": "http://127.0.0.1:8000/jazz.mp3", "artist": "Jazz FM",
        "schedules": [{"cron": "0 9 * * 1-5", "duration_minutes": 60}]}


def run(views: Views, payloads: list[Payload]) -> list[Payload]:
    for payload in payloads:
        views.apply(Event(views.last_seq + 1, AT, "config", payload))
    return payloads


def apply(views: Views, file: str, document: Any) -> list[Payload]:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return run(views, decide_config_file(views, file, data, "Europe/Berlin"))


def described(views: Views, file: str) -> list[tuple[str, list[tuple[str, int, str]]]]:
    """The streams a file owns, as (name, [(cron, minutes, zone)...]), in the file's order."""
    row = views.config_file(file)
    return [(views.get("streams", stream_id)["name"],
             sorted((s["cron"], s["duration_minutes"], s["timezone"]) for s in views.schedules(stream_id)))
            for stream_id in row["stream_ids"]]


def test_a_file_creates_its_stream_and_schedules_once() -> None:
    views = Views()
    first = apply(views, "jazz.json", JAZZ)
    assert [p.TYPE for p in first] == ["stream.created", "schedule.created", "config.applied"]
    assert described(views, "jazz.json") == [("Morning Jazz", [("0 9 * * 1-5", 60, "Europe/Berlin")])]
    assert views.config_file_of(1) == "jazz.json"
    assert apply(views, "jazz.json", JAZZ) == []
    assert apply(views, "jazz.json", json.dumps(JAZZ, indent=4).encode()) == [], "layout is not content"


def test_editing_updates_in_place_and_removing_deletes() -> None:
    views = Views()
    apply(views, "shows.json", {"streams": [JAZZ, {"name": "News", "url": "https://127.0.0.1/news"}]})
    edited = {**JAZZ, "artist": "Jazz Radio", "schedules": [{"cron": "0 10 * * 1-5", "duration_minutes": 60},
                                                            {"cron": "0 18 * * 6", "duration_minutes": 30}]}
    changes = apply(views, "shows.json", {"streams": [edited]})
    assert [p.TYPE for p in changes] == ["stream.updated", "schedule.updated", "schedule.created",
                                         "stream.deleted", "config.applied"]
    assert changes[1].schedule_id == 1, "the schedule keeps its id (and its session history)"
    assert described(views, "shows.json") == [("Morning Jazz", [("0 10 * * 1-5", 60, "Europe/Berlin"),
                                                                ("0 18 * * 6", 30, "Europe/Berlin")])]
    removed = run(views, decide_config_file_removed(views, "shows.json"))
    assert [p.TYPE for p in removed] == ["schedule.deleted", "schedule.deleted", "stream.deleted", "config.removed"]
    assert views.streams() == [] and views.schedules() == [] and views.config_file("shows.json") is None
    assert decide_config_file_removed(views, "shows.json") == []


@pytest.mark.parametrize(("data", "error", "line", "field"), [
    (b'{"name": "A",\n "url": }', "not valid JSON: Expecting value (line 2, column 9)", 2, None),
    (b"\xff\xfe", "not UTF-8 text (byte 0)", None, None),
    (b"[1, 2]", 'expected a stream object {"name", "url", ...} or {"streams": [...]}', None, None),
    (b'{"name": "A", "url": "file:///etc/passwd"}', "must start with http://, https://, rtmp://, rtmps:// "
                                                     "(not file)", None, "url"),
    (b'{"streams": [{"name": "A", "url": "http://h/"}, {"name": "B"}]}', "is required", None, "streams[1].url"),
    (b'{"name": "A", "url": "http://h/", "schedules": [{"cron": "0 9 * * *", "duration_minutes": 0}]}',
     "must be between 1 and 10080", None, "schedules[0].duration_minutes"),
    (b'{"name": "A", "url": "http://h/", "schedules": [{"cron": "0 25 * * *", "duration_minutes": 5}]}',
     None, None, "schedules[0].cron"),
    (b'{"name": "A", "name": "B", "url": "http://h/"}', "'name' is given twice in one object", None, "name"),
    (b'{"streams": [{"name": "A", "url": "http://h/"}, {"name": "a", "url": "http://h/"}]}',
     "the name 'a' is used twice in this file", None, "streams[1].name"),
    (b'{"name": "A", "url": "http://h/", "bitrate": 5}', None, None, "bitrate"),
    (b'{"streams": {}}', "must be a list of stream objects", None, "streams"),
    (b'{"name": "A", "url": "http://h/", "max_retries": NaN}', "NaN is not a JSON number", None, None),
    (b"[" * 100_000 + b"]" * 100_000, "not a config file: JSON nested too deeply", None, None),
])
def test_a_broken_file_changes_nothing_and_says_where_once(data: bytes, error: str | None, line: int | None,
                                                            field: str | None) -> None:
    views = Views()
    apply(views, "x.json", JAZZ)
    before = views.snapshot()["rows"]["streams"], views.snapshot()["rows"]["schedules"]
    [failed] = apply(views, "x.json", data)
    assert isinstance(failed, ConfigFileFailed) and (failed.line, failed.field) == (line, field)
    assert error is None or failed.error == error
    assert (views.snapshot()["rows"]["streams"], views.snapshot()["rows"]["schedules"]) == before
    assert views.config_file_of(1) == "x.json", "the last good version still owns its stream"
    assert apply(views, "x.json", data) == [], "the same error is reported once"
    assert [p.TYPE for p in apply(views, "x.json", JAZZ)] == ["config.applied"]


def test_files_cannot_claim_each_others_streams_but_adopt_free_ones() -> None:
    views = Views()
    apply(views, "a.json", JAZZ)
    [failed] = apply(views, "b.json", {**JAZZ, "name": "morning jazz"})
    assert failed.error == "a stream named 'Morning Jazz' is already described by a.json" and failed.field == "name"
    run(views, commands.decide_create_stream(views, {"name": "Talk", "url": "http://127.0.0.1/talk"}))
    run(views, commands.decide_set_artwork(views, 2, "cover-2.png"))
    adopted = apply(views, "b.json", {"name": "Talk", "url": "http://127.0.0.1/talk2"})
    assert [p.TYPE for p in adopted] == ["stream.updated", "config.applied"]
    assert views.get("streams", 2)["artwork"] == "cover-2.png", "uploaded art survives the file"
    assert views.config_file_of(2) == "b.json"


@pytest.mark.parametrize("change", [
    lambda views: commands.decide_update_stream(views, 1, {"artist": "x"}),
    lambda views: commands.decide_delete_stream(views, 1, True),
    lambda views: commands.decide_create_schedule(views, {"stream_id": 1, "cron": "0 1 * * *",
                                                          "duration_minutes": 5}, "UTC"),
    lambda views: commands.decide_update_schedule(views, 1, {"active": False}),
    lambda views: commands.decide_delete_schedule(views, 1),
])
def test_the_api_refuses_to_change_what_a_file_owns(change: Any) -> None:
    views = Views()
    apply(views, "jazz.json", JAZZ)
    with pytest.raises(Conflict, match="comes from the config file jazz.json"):
        change(views)


def test_restore_leaves_file_streams_to_their_file() -> None:
    views = Views()
    apply(views, "jazz.json", JAZZ)
    backup = Views()
    run(backup, commands.decide_create_stream(backup, {"name": "Morning Jazz", "url": "http://other/"}))
    run(backup, commands.decide_create_schedule(backup, {"stream_id": 1, "cron": "0 3 * * *",
                                                         "duration_minutes": 5}, "UTC"))
    assert commands.decide_restore(views, backup, overwrite=True) == []
    assert commands.decide_restore(views, Views(), overwrite=True) == []


documents = st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from(["Jazz", "News", "Talk"]),
     "url": st.sampled_from(["http://127.0.0.1/a", "http://127.0.0.1/b"])},
    optional={"artist": st.sampled_from(["", "X"]),
              "schedules": st.lists(st.fixed_dictionaries(
                  {"cron": st.sampled_from(["0 9 * * *", "30 7 * * 1-5"]),
                   "duration_minutes": st.sampled_from([5, 60])}, optional={"active": st.booleans()}),
                  max_size=3)}), max_size=3).map(lambda streams: {"streams": streams})
steps = st.lists(st.tuples(st.sampled_from(["a.json", "b.json"]), st.none() | documents), max_size=12)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_any_sequence_of_file_versions_leaves_what_the_files_say(script: list[tuple[str, Any]]) -> None:
    views, log = Views(), []
    for file, document in script:
        payloads = decide_config_file_removed(views, file) if document is None else decide_config_file(
            views, file, json.dumps(document).encode(), "UTC")
        log += [Event(views.last_seq + 1 + index, AT, "config", payload) for index, payload in enumerate(payloads)]
        run(views, payloads)
        if document is None:
            assert views.config_file(file) is None
            continue
        again = decide_config_file(views, file, json.dumps(document).encode(), "UTC")
        assert again == [], "reading an unchanged file appends nothing"
        row = views.config_file(file)
        if row["status"] == "failed":
            assert "already described by" in row["error"] or "used twice" in row["error"]
            continue
        names = [s["name"] for s in document["streams"]]
        assert [views.get("streams", i)["name"] for i in row["stream_ids"]] == names
        for stream_id, stream in zip(row["stream_ids"], document["streams"]):
            wanted = sorted((s["cron"], s["duration_minutes"], s.get("active", True))
                            for s in stream.get("schedules", []))
            assert sorted((s["cron"], s["duration_minutes"], s["active"])
                          for s in views.schedules(stream_id)) == wanted
    owners = [views.config_file_of(s.doc_id) for s in views.streams()]
    assert all(owner is not None for owner in owners), "every stream here came from a file that still has it"
    assert replay(log).snapshot() == views.snapshot()
