"""Backups as log snapshots and restore as replay: round trips, idempotence, and archives that must be refused."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder import backup
from recorder.commands import CommandError, Commands
from recorder.events import Event, ScheduleConfig, ScheduleCreated, StreamConfig, StreamCreated, encode
from recorder.store import Store
from recorder.views import Views

from conftest import Server

names = st.sampled_from(["Jazz", "News", "Talk", "Mornings", "Late Show"])
stream_fields = st.fixed_dictionaries({"name": names, "url": st.sampled_from(["http://a.example/x.mp3",
                                                                             "https://b.example/live"])},
                                      optional={"artist": st.sampled_from(["", "DJ"]),
                                                "scp_destination": st.sampled_from(["", "u@h:/srv/"])})
schedule_fields = st.fixed_dictionaries({"cron": st.sampled_from(["0 9 * * 1-5", "30 14 * * 0", "*/15 * * * *"]),
                                         "duration_minutes": st.integers(1, 120)},
                                        optional={"active": st.booleans(),
                                                  "timezone": st.sampled_from(["UTC", "Europe/Berlin"])})
configurations = st.lists(st.tuples(stream_fields, st.lists(schedule_fields, max_size=3)), max_size=5)


def build(store: Store, configuration: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    commands = Commands(store)
    for stream, schedules in configuration:
        try:
            stream_id = commands.create_stream(stream, "test")[0].data.stream_id
        except CommandError:
            continue  # a duplicate name: the configuration simply has one stream fewer
        for schedule in schedules:
            commands.create_schedule({**schedule, "stream_id": stream_id}, "test")


def state(views: Views) -> tuple[set[Any], set[Any]]:
    """The configuration, without ids: streams by content, schedules by their stream's name and content."""
    names_by_id = {row.doc_id: row["name"] for row in views.streams()}
    streams = {tuple(sorted((k, v) for k, v in row.items() if k not in ("id", "created_at", "updated_at")))
               for row in views.streams()}
    schedules = {(names_by_id[row["stream_id"]], row["cron"], row["timezone"], row["duration_minutes"],
                  row["active"]) for row in views.schedules()}
    return streams, schedules


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configurations, configurations)
def test_restore_of_a_backup_gives_back_its_state_and_is_idempotent(tmp_path_factory: pytest.TempPathFactory,
                                                                    saved: list, other: list) -> None:
    folder = tmp_path_factory.mktemp("round")
    source = Store.open(folder / "a" / "events.jsonl")
    build(source, saved)
    expected = source.read(state)
    made = backup.create(folder / "backups", folder / "a" / "events.jsonl", folder / "art", "snap", False)
    source.close()
    assert made["counts"]["streams"] == len(expected[0])

    target = Store.open(folder / "b" / "events.jsonl")
    build(target, other)  # whatever was there before
    snapshot = backup.load(folder / "backups" / "snap.tar.gz")
    Commands(target).restore(snapshot.views, overwrite=True, source="restore")
    assert target.read(state) == expected
    assert Commands(target).restore(snapshot.views, overwrite=True, source="restore") == [], "idempotent"

    again = backup.create(folder / "backups", folder / "b" / "events.jsonl", folder / "art", "again", False)
    assert again["counts"]["streams"] == len(expected[0])
    assert Commands(target).restore(backup.load(folder / "backups" / "again.tar.gz").views, True, "restore") == []
    target.close()


def test_merge_adds_only_what_is_missing(tmp_path: Path) -> None:
    source = Store.open(tmp_path / "a" / "events.jsonl")
    build(source, [({"name": "Jazz", "url": "http://a.example/x.mp3", "artist": "Old"}, []),
                   ({"name": "News", "url": "http://a.example/n.mp3"}, [{"cron": "0 9 * * 1-5", "duration_minutes": 5}])])
    backup.create(tmp_path / "backups", tmp_path / "a" / "events.jsonl", tmp_path, "b1", False)
    source.close()
    target = Store.open(tmp_path / "b" / "events.jsonl")
    build(target, [({"name": "Jazz", "url": "http://a.example/x.mp3", "artist": "New"}, []),
                   ({"name": "Talk", "url": "http://a.example/t.mp3"}, [])])
    Commands(target).restore(backup.load(tmp_path / "backups" / "b1.tar.gz").views, overwrite=False, source="t")
    streams = {row["name"]: row for row in target.read(lambda views: [dict(r) for r in views.streams()])}
    assert set(streams) == {"Jazz", "News", "Talk"} and streams["Jazz"]["artist"] == "New", "merge keeps what is"
    assert len(target.read(lambda views: views.schedules())) == 1
    target.close()


def tamper(path: Path, member: str, content: bytes | None, manifest_change: dict[str, Any] | None = None) -> None:
    """Rewrite one member of an archive in place, or change fields of its manifest."""
    with tarfile.open(path, "r:gz") as archive:
        members = {info.name: archive.extractfile(info).read() for info in archive.getmembers()}
    if content is not None:
        members[member] = content
    if manifest_change is not None:
        manifest = json.loads(members["manifest.json"])
        manifest.update(manifest_change)
        members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    store = Store.open(tmp_path / "s" / "events.jsonl")
    build(store, [({"name": "Jazz", "url": "http://a.example/x.mp3"}, [{"cron": "0 9 * * *", "duration_minutes": 5}])])
    store.close()
    backup.create(tmp_path / "backups", tmp_path / "s" / "events.jsonl", tmp_path, "good", False)
    return tmp_path / "backups" / "good.tar.gz"


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a readable backup"),
    (lambda p: p.write_bytes(b"not an archive at all"), "not a readable backup"),
    (lambda p: tamper(p, "events.jsonl", b'{"seq": 1}\n'), "checksum"),
    (lambda p: tamper(p, "manifest.json", b'{"format": "something-else"}'), "foreign"),
    (lambda p: tamper(p, "manifest.json", None, {"version": 99}), "newer recorder"),
    (lambda p: tamper(p, "manifest.json", b"{}"), "foreign"),
    (lambda p: tamper(p, "../../etc/cron.d/x", b"boom"), "unexpected entry"),
    (lambda p: tamper(p, "artwork/../../x", b"boom"), "unexpected entry"),
])
def test_damaged_or_foreign_archives_are_refused(archive: Path, damage: Any, words: str) -> None:
    damage(archive)
    found = backup.problems(archive)
    assert found and any(words in problem for problem in found), found
    with pytest.raises(backup.BackupError):
        backup.load(archive)



@pytest.mark.parametrize("stream, schedule_stream, words", [
    (StreamConfig(name=5, url="http://a.example/x.mp3"), 1, "stream 1: name: must be text"),  # type: ignore[arg-type]
    (StreamConfig(name="Jazz", url="file:///etc/passwd"), 1, "stream 1: url: must start with"),
    (StreamConfig(name="Jazz", url="http://a.example/x.mp3"), 7, "schedule 1: its stream 7 is not in the backup"),
])
def test_archives_holding_what_input_checks_refuse_are_refused(tmp_path: Path, stream: StreamConfig,
                                                               schedule_stream: int, words: str) -> None:
    """Checksums only prove the archive is whole: a crafted one must not restore what the API would refuse."""
    at = datetime(2026, 11, 25, tzinfo=timezone.utc)
    crafted = tmp_path / "crafted.jsonl"
    crafted.write_text(encode(Event(1, at, "api", StreamCreated(1, stream))) + "\n" + encode(Event(
        2, at, "api", ScheduleCreated(1, ScheduleConfig(schedule_stream, "0 9 * * *", 5)))) + "\n")
    backup.import_log(tmp_path / "backups", crafted, "crafted")
    archive = tmp_path / "backups" / "crafted.tar.gz"
    assert any(words in problem for problem in backup.problems(archive)), backup.problems(archive)
    with pytest.raises(backup.BackupError):
        backup.load(archive)

def test_a_hand_copied_log_restores_too(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s" / "events.jsonl")
    build(store, [({"name": "Jazz", "url": "http://a.example/x.mp3"}, [])])
    store.close()
    copy = tmp_path / "copied-events.jsonl"
    copy.write_bytes((tmp_path / "s" / "events.jsonl").read_bytes())
    backup.import_log(tmp_path / "backups", copy, "from-copy")
    assert backup.load(tmp_path / "backups" / "from-copy.tar.gz").views.stream_named("Jazz") is not None


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "", "x" * 81, "semi;colon"])
def test_backup_names_cannot_leave_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(backup.BackupError):
        backup.archive_path(tmp_path, name)


def test_backup_api_round_trip(api: requests.Session, server: Server) -> None:
    from test_api import UPLOAD, new_stream, png_bytes

    stream = new_stream(api, server, name="Backed Up FM")
    api.post(f"{server.url}/api/streams/{stream['id']}/artwork", headers=UPLOAD, timeout=5,
             files={"artwork": ("a.png", png_bytes(), "image/png")})
    made = api.post(server.url + "/api/backup/create", json={"name": "api-test", "include_artwork": True}, timeout=10)
    assert made.status_code == 201 and made.json()["include_artwork"] is True
    assert api.post(server.url + "/api/backup/create", json={"name": "api-test"}, timeout=10).status_code == 409
    assert "api-test" in [b["name"] for b in api.get(server.url + "/api/backup/list", timeout=5).json()["backups"]]
    assert api.post(server.url + "/api/backup/validate", json={"name": "api-test"}, timeout=10).json() == {
        "valid": True, "errors": []}

    downloaded = api.get(server.url + "/api/backup/download/api-test", timeout=10)
    assert downloaded.status_code == 200 and downloaded.content[:2] == b"\x1f\x8b"
    uploaded = api.post(server.url + "/api/backup/upload", headers=UPLOAD, timeout=10,
                        files={"backup": ("copy-of-it.tar.gz", downloaded.content, "application/gzip")})
    assert uploaded.status_code == 201 and uploaded.json()["name"] == "copy-of-it"
    junk = api.post(server.url + "/api/backup/upload", headers=UPLOAD, timeout=10,
                    files={"backup": ("junk.tar.gz", b"junk", "application/gzip")})
    assert junk.status_code == 400 and "not a readable backup" in junk.json()["error"]

    api.delete(f"{server.url}/api/streams/{stream['id']}?cascade=true", timeout=5)
    restored = api.post(server.url + "/api/backup/restore", json={"name": "copy-of-it", "overwrite": False},
                        timeout=10).json()
    assert restored["events"] >= 1
    again = [s for s in api.get(server.url + "/api/streams", timeout=5).json()["streams"] if s["name"] == "Backed Up FM"]
    assert len(again) == 1 and api.get(f"{server.url}/api/streams/{again[0]['id']}/artwork",
                                       timeout=5).content == png_bytes()
    assert api.post(server.url + "/api/backup/restore", json={"name": "copy-of-it"}, timeout=10).json()["events"] == 0

    for body, status in (({"name": "../../etc/passwd"}, 400), ({}, 400)):
        assert api.post(server.url + "/api/backup/validate", json=body, timeout=5).status_code == status
    assert api.post(server.url + "/api/backup/validate", json={"name": "missing"}, timeout=5).json() == {
        "valid": False, "errors": ["no backup named 'missing'"]}
    assert api.post(server.url + "/api/backup/restore", json={"name": "missing"}, timeout=5).status_code == 404
    assert api.delete(server.url + "/api/backup/delete", json={"name": "copy-of-it"}, timeout=5).status_code == 200
    assert api.delete(server.url + "/api/backup/delete", json={"name": "copy-of-it"}, timeout=5).status_code == 404


def test_the_nightly_backup_keeps_only_the_newest(tmp_path: Path) -> None:
    import time

    from recorder.bootstrap import nightly_backup
    from recorder.settings import load

    settings = load({"STATE_DIR": str(tmp_path), "BACKUP_KEEP": "2"})
    settings.backups_dir.mkdir(parents=True)
    backup.create(settings.backups_dir, settings.event_log_path, settings.artwork_dir, "manual-one", False)
    made = []
    for _ in range(4):
        nightly_backup(settings)
        made.append(max(settings.backups_dir.glob("auto-*"), key=lambda p: p.stat().st_mtime).name)
        time.sleep(1.01)  # automatic names carry the second
    left = sorted(p.name for p in settings.backups_dir.glob("*.tar.gz"))
    assert left == sorted(["manual-one.tar.gz", *made[-2:]])
