"""The event log on real files: durability, torn tails, corrupt lines, one owner, ordered notifications."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.eventlog import (
    EventLog,
    LogCorruptError,
    LogLockedError,
    LogWriteError,
    read_events,
    read_events_newest_first,
    scan,
)
from recorder.events import Event, StreamConfig, StreamCreated, StreamDeleted, encode

from conftest import tmpfs
from strategies import payloads


def created(number: int) -> StreamCreated:
    return StreamCreated(number, StreamConfig(f"Show {number}", "http://127.0.0.1/x.mp3"))


def test_appended_events_are_on_disk_and_replay_in_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log, events = EventLog.open(path)
    assert events == []
    first = log.append([created(1), created(2)], "api")
    second = log.append([StreamDeleted(1)], "ui")
    log.close()
    assert [e.seq for e in first + second] == [1, 2, 3]
    assert path.read_text().count("\n") == 3
    reopened, replayed = EventLog.open(path)
    assert replayed == first + second
    assert reopened.append([created(3)], "api")[0].seq == 4
    reopened.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(payloads, min_size=1, max_size=6), st.data())
def test_any_prefix_recovers_to_the_last_whole_event(tmp_path: Path, items: list, data: st.DataObject) -> None:
    whole = tmp_path / "whole.jsonl"
    whole.unlink(missing_ok=True)
    log, _ = EventLog.open(whole)
    written = log.append(items, "api")
    log.close()
    content = whole.read_bytes()
    cut = data.draw(st.integers(0, len(content)), label="cut")

    path = tmp_path / "cut.jsonl"
    path.write_bytes(content[:cut])
    for old in tmp_path.glob("cut.jsonl.torn-*"):
        old.unlink()
    log, recovered = EventLog.open(path)
    log.close()
    whole_lines = content[:cut].count(b"\n")
    assert recovered == written[:whole_lines]
    torn = content[:cut][content[:cut].rfind(b"\n") + 1:]
    aside = list(tmp_path.glob("cut.jsonl.torn-*"))
    assert [p.read_bytes() for p in aside] == ([torn] if torn else [])
    assert path.read_bytes() == content[:cut - len(torn)]



@settings(max_examples=100, deadline=None)
@given(st.lists(payloads, max_size=12), st.binary(max_size=40).filter(lambda tail: b"\n" not in tail),
       st.integers(1, 300))
def test_reading_backwards_gives_the_whole_events_newest_first(items: list, torn: bytes, chunk: int) -> None:
    """Any chunk size, any torn tail (no newline yet): the same events as a forward read, reversed."""
    at = datetime(2026, 11, 25, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        path.write_bytes(b"".join(encode(Event(seq, at, "api", data)).encode() + b"\n"
                                  for seq, data in enumerate(items, start=1)) + torn)
        assert list(read_events_newest_first(path, chunk)) == list(reversed(list(read_events(path))))

def test_a_torn_tail_is_cut_off_kept_aside_and_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    log, _ = EventLog.open(path)
    log.append([created(1)], "api")
    log.close()
    with open(path, "ab") as file:
        file.write(b'{"seq":2,"at":"2026-11-2')
    log, events = EventLog.open(path)
    assert [e.seq for e in events] == [1]
    assert log.append([created(2)], "api")[0].seq == 2  # the log continues cleanly after the cut
    log.close()
    assert (next(tmp_path.glob("events.jsonl.torn-*"))).read_bytes() == b'{"seq":2,"at":"2026-11-2'
    assert "torn line" in caplog.text
    assert len(scan(path.read_bytes()).events) == 2


def test_a_bad_line_in_the_middle_stops_opening_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log, _ = EventLog.open(path)
    log.append([created(1), created(2), created(3)], "api")
    log.close()
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"#garbage#" + lines[1]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(LogCorruptError, match="line 2: not JSON"):
        EventLog.open(path)
    assert path.read_bytes() == b"\n".join(lines), "a corrupt log is never modified"
    assert not list(tmp_path.glob("*.torn-*"))


def test_sequence_numbers_must_increase(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log, _ = EventLog.open(path)
    one, two = log.append([created(1), created(2)], "api")
    log.close()
    path.write_text(encode(two) + "\n" + encode(one) + "\n")
    with pytest.raises(LogCorruptError, match="line 2: seq 1 does not follow 2"):
        EventLog.open(path)


def test_a_second_owner_is_refused_even_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log, _ = EventLog.open(path)
    with pytest.raises(LogLockedError, match="in use by another recorder process"):
        EventLog.open(path)
    probe = subprocess.run(
        [sys.executable, "-c", "import pathlib, sys; from recorder.eventlog import EventLog\n"
                         f"EventLog.open(pathlib.Path({str(path)!r}))"],
        capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert probe.returncode != 0 and "LogLockedError" in probe.stderr
    log.close()
    EventLog.open(path)[0].close()  # free again once the owner closed it


def test_subscribers_see_every_durable_event_once_in_order(tmp_path: Path) -> None:
    log, _ = EventLog.open(tmp_path / "events.jsonl")
    seen: list[int] = []
    log.subscribe(lambda event: seen.append(event.seq))
    log.subscribe(lambda event: 1 / 0)  # a failing subscriber does not stop the others

    def writer(offset: int) -> None:
        for number in range(50):
            log.append([created(offset + number)], "api")

    threads = [threading.Thread(target=writer, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.wait_notified()
    assert seen == list(range(1, 201))
    assert log.last_seq == 200
    log.close()
    assert [e.seq for e in scan((tmp_path / "events.jsonl").read_bytes()).events] == list(range(1, 201))


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB disk: a real full disk, not a mock."""
    with tmpfs(tmp_path / "tiny", "size=64k") as mount:
        yield mount


def test_a_full_disk_refuses_the_change_and_keeps_the_log_whole(tiny_disk: Path) -> None:
    path = tiny_disk / "events.jsonl"
    log, _ = EventLog.open(path)
    written: list[Event] = []
    with pytest.raises(LogWriteError, match="No space left"):
        for number in range(1, 10_000):
            written += log.append([created(number)], "api")
    assert written, "some events fit before the disk filled"
    (tiny_disk / "filler").unlink(missing_ok=True)
    log.close()
    log, replayed = EventLog.open(path)
    assert replayed == written
    assert not list(tiny_disk.glob("*.torn-*")), "the partial line was removed at once, not left torn"
    log.close()
