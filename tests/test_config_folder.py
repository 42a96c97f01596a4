"""The drop-in folder with real files, through inotify (watchdog) and through re-scanning."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from recorder.commands import Commands
from recorder.config_folder import ConfigFolder, is_config_file
from recorder.eventlog import read_events
from recorder.store import Store

from conftest import tmpfs, wait_for

JAZZ = {"name": "Morning Jazz", "url": "http://127.0.0.1:8000/jazz.mp3", "artist": "Jazz FM",
        "schedules": [{"cron": "0 9 * * 1-5", "duration_minutes": 60}]}
SETTLE = 0.4


class Rig:
    def __init__(self, state: Path, poll_seconds: int) -> None:
        self.state = state
        self.folder = state / "config"
        self.poll_seconds = poll_seconds
        self.store = Store.open(state / "events.jsonl")
        self.watcher = self._watcher()

    def _watcher(self) -> ConfigFolder:
        return ConfigFolder(self.folder, Commands(self.store, "UTC"), self.poll_seconds, settle_seconds=SETTLE)

    def restart(self) -> None:
        self.watcher.stop()
        self.watcher = self._watcher()
        self.watcher.start()

    def write(self, name: str, document: Any) -> Path:
        path = self.folder / name
        path.write_bytes(document if isinstance(document, bytes) else json.dumps(document, indent=2).encode())
        return path

    def streams(self) -> dict[str, dict[str, Any]]:
        return self.store.read(lambda views: {row["name"]: {**row, "schedules": [
            (s["cron"], s["duration_minutes"]) for s in views.schedules(row.doc_id)]} for row in views.streams()})

    def types(self) -> list[str]:
        self.store.log.wait_notified()
        return [event.type for event in read_events(self.state / "events.jsonl")]


@pytest.fixture(params=[0, 1], ids=["inotify", "polling"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, request.param)
    rig.folder.mkdir()
    yield rig
    rig.watcher.stop()
    rig.store.close()


def test_files_create_update_and_remove_their_streams(rig: Rig) -> None:
    rig.watcher.start()
    started = time.monotonic()
    path = rig.write("jazz.json", JAZZ)
    wait_for(lambda: "Morning Jazz" in rig.streams(), timeout=5)
    appeared = time.monotonic() - started
    assert rig.streams()["Morning Jazz"]["schedules"] == [("0 9 * * 1-5", 60)]
    assert appeared < 5, f"took {appeared:.1f} s"

    rig.write("jazz.json", {**JAZZ, "artist": "Jazz Radio", "schedules": []})
    wait_for(lambda: rig.streams()["Morning Jazz"]["artist"] == "Jazz Radio", timeout=5)
    assert rig.streams()["Morning Jazz"]["schedules"] == []

    path.unlink()
    wait_for(lambda: rig.streams() == {}, timeout=5)
    assert rig.types() == ["stream.created", "schedule.created", "config.applied", "stream.updated",
                           "schedule.deleted", "config.applied", "stream.deleted", "config.removed"]


def test_rename_into_place_reads_only_the_finished_file(rig: Rig) -> None:
    rig.watcher.start()
    temporary = rig.write(".jazz.json.tmp", b'{"name": "Morning')  # an editor's half-saved copy
    time.sleep(SETTLE * 3)
    os.replace(rig.write("jazz.json.part", JAZZ), temporary)
    os.replace(temporary, rig.folder / "jazz.json")
    wait_for(lambda: "Morning Jazz" in rig.streams(), timeout=5)
    time.sleep(SETTLE * 2)
    assert rig.types() == ["stream.created", "schedule.created", "config.applied"]


def test_a_half_written_file_is_read_once_complete(rig: Rig) -> None:
    rig.watcher.start()
    data = json.dumps({"streams": [JAZZ, {"name": "News", "url": "http://127.0.0.1:8000/news"}]}).encode()
    with open(rig.folder / "shows.json", "wb") as file:
        for start in range(0, len(data), 16):  # a slow copy: a chunk every tenth of a second
            file.write(data[start:start + 16])
            file.flush()
            time.sleep(SETTLE / 4)
    wait_for(lambda: set(rig.streams()) == {"Morning Jazz", "News"}, timeout=5)
    assert "config.failed" not in rig.types()


def test_a_malformed_file_changes_nothing_and_is_reported_once(rig: Rig,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    rig.write("jazz.json", JAZZ)
    rig.watcher.start()
    wait_for(lambda: "Morning Jazz" in rig.streams(), timeout=5)
    with caplog.at_level(logging.WARNING, logger="recorder.config_folder"):
        rig.write("jazz.json", b'{"name": "Morning Jazz",\n  "url": "http://127.0.0.1:8000/jazz.mp3",\n}')
        wait_for(lambda: "config.failed" in rig.types(), timeout=5)
        row = rig.store.read(lambda views: views.config_file("jazz.json"))
        assert (row["status"], row["line"]) == ("failed", 3) and "Expecting property name" in row["error"]
        assert rig.streams()["Morning Jazz"]["schedules"] == [("0 9 * * 1-5", 60)], "the good version stays"
        (rig.folder / "jazz.json").touch()  # read again, same content: no second report
        time.sleep(SETTLE * 3 + rig.poll_seconds)
    assert rig.types().count("config.failed") == 1
    assert [r.getMessage() for r in caplog.records] == [
        "Config file jazz.json not used: line 3: not valid JSON: Expecting property name enclosed in double "
        "quotes (line 3, column 1)"]


def test_unchanged_files_append_nothing_across_restarts_and_changes_while_down_are_caught(rig: Rig) -> None:
    rig.write("jazz.json", JAZZ)
    rig.write("news.json", {"name": "News", "url": "http://127.0.0.1:8000/news"})
    rig.watcher.start()
    wait_for(lambda: len(rig.streams()) == 2, timeout=5)
    before = rig.types()
    rig.restart()
    assert rig.types() == before
    rig.watcher.stop()
    (rig.folder / "news.json").unlink()
    rig.write("jazz.json", {**JAZZ, "album": "Mornings"})
    old = time.time() - 60
    os.utime(rig.folder / "jazz.json", (old, old))
    rig.restart()  # a file that has been quiet for a while is read at start, before anything else runs
    assert set(rig.streams()) == {"Morning Jazz"} and rig.streams()["Morning Jazz"]["album"] == "Mornings"



def test_a_file_that_cannot_be_applied_for_a_full_disk_is_applied_once_there_is_room(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with tmpfs(tmp_path / "tiny", "size=256k") as disk:
        rig = Rig(disk, poll_seconds=1)
        rig.folder.mkdir()
        rig.watcher.start()
        try:
            ready = rig.write(".jazz.json.tmp", JAZZ)
            filler = disk / "filler"
            with open(filler, "wb", buffering=0) as file, pytest.raises(OSError, match="No space left"):
                while True:
                    file.write(b"x" * 4096)
            os.replace(ready, rig.folder / "jazz.json")  # a rename needs no room
            wait_for(lambda: "reading the config folder" in caplog.text, timeout=5)
            assert rig.streams() == {}
            filler.unlink()
            wait_for(lambda: "Morning Jazz" in rig.streams(), timeout=5)
        finally:
            rig.watcher.stop()
            rig.store.close()

def test_only_json_files_that_are_not_temporary_count() -> None:
    assert is_config_file("jazz.json")
    for name in (".jazz.json", "jazz.json~", "jazz.json.swp", "#jazz.json#", "~jazz.json", "jazz.txt", "4913",
                 os.fsdecode(b"caf\xe9.json"), "new\nline.json"):
        assert not is_config_file(name), name
