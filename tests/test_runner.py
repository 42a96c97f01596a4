"""The runner with a real APScheduler and a real event log; only the capture is a test double here."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from recorder import cron
from recorder.commands import Commands
from recorder.delivery import DeliveryOptions
from recorder.parts import CaptureResult
from recorder.pipeline import FinishOptions
from recorder.recording import RecordingJob
from recorder.runner import Runner
from recorder.store import Store

from conftest import wait_for

TONE = Path(__file__).parent / ".tone.mka"


@pytest.fixture(scope="module", autouse=True)
def tone(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One second of real audio that the stand-in capture hands over, so processing runs for real."""
    global TONE
    TONE = tmp_path_factory.mktemp("tone") / "tone.mka"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a",
                    "libmp3lame", "-f", "matroska", str(TONE)], check=True)


class FakeCapture:
    """Stands in for ffmpeg only: waits until the deadline or stop, then hands over a second of real audio."""

    def __init__(self) -> None:
        self.jobs: list[RecordingJob] = []
        self.lock = threading.Lock()

    def __call__(self, job: RecordingJob, stop: threading.Event, listener: object) -> CaptureResult:
        with self.lock:
            self.jobs.append(job)
        stop.wait(max(0.0, job.deadline - time.monotonic()))
        job.folder.mkdir(parents=True, exist_ok=True)
        path = job.folder / "recording.mka"
        shutil.copy(TONE, path)
        return CaptureResult(path, path.stat().st_size, 1.0)


class OffsetClock:
    """The runner's clock, `offset` ahead of the real one, so a test can stand just before a cron time."""

    def __init__(self, at: datetime) -> None:
        self.offset = at - datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


class Rig:
    def __init__(self, folder: Path, clock: Callable[[], datetime], max_concurrent: int = 3) -> None:
        self.folder = folder
        self.clock = clock
        self.capture = FakeCapture()
        self.store = Store.open(folder / "events.jsonl", clock)
        self.commands = Commands(self.store)
        finishing = FinishOptions(folder / "recordings", folder / "artwork", "UTC", "{stream} {date}",
                                  "{stream} {date} {time}", "128k")
        delivering = DeliveryOptions(folder / "recordings", folder / "config", 3, 60, True)
        self.runner = Runner(self.store, self.commands, self.capture, finishing, delivering, max_concurrent, clock)

    def start(self) -> Rig:
        self.runner.start()
        return self

    def close(self) -> None:
        self.runner.stop()
        self.store.close()

    def types(self, session_id: int) -> list[str]:
        events = [e for e in _events(self.folder) if getattr(e.data, "session_id", None) == session_id]
        return [e.type for e in events]

    def session(self, session_id: int) -> dict:
        return dict(self.store.read(lambda views: views.get("sessions", session_id)))

    def stream(self, name: str = "Jazz") -> int:
        return self.commands.create_stream({"name": name, "url": "http://127.0.0.1:1/x.mp3"}, "test")[0].data.stream_id


def _events(folder: Path) -> list:
    from recorder.eventlog import read_events

    return list(read_events(folder / "events.jsonl"))


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


def test_record_now_runs_a_session_through_its_events_in_order(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, lambda: datetime.now(timezone.utc)).start()
    rigs.append(rig)
    stream_id = rig.stream()
    event = rig.commands.record_now(stream_id, {"duration_seconds": 1}, rig.clock(), "api")[0]
    session_id = event.data.session_id
    wait_for(lambda: rig.session(session_id)["status"] == "completed")
    assert rig.types(session_id) == ["session.scheduled", "session.started", "session.recorded",
                                     "session.processed", "session.completed"]
    job = rig.capture.jobs[0]
    assert (job.session_id, job.stream_id, job.part, job.stream.name) == (session_id, stream_id, 1, "Jazz")
    session = rig.session(session_id)
    assert session["file"].startswith("Jazz ") and session["file"].endswith(".mp3")
    assert (tmp_path / "recordings" / session["file"]).is_file()
    assert not (tmp_path / "recordings" / f"session-{session_id}").exists(), "the working folder is cleaned"


def test_a_schedule_fires_at_its_cron_time_with_padding(tmp_path: Path, rigs: list[Rig]) -> None:
    minute = (datetime.now(timezone.utc) + timedelta(minutes=5)).replace(second=0, microsecond=0)
    clock = OffsetClock(minute - timedelta(seconds=3))  # 3 s before a minute boundary
    rig = Rig(tmp_path, clock).start()
    rigs.append(rig)
    schedule = rig.commands.create_schedule({"stream_id": rig.stream(), "cron": "* * * * *", "duration_minutes": 1,
                                             "pad_before_seconds": 1}, "test")[0].data
    rig.store.log.wait_notified()
    job = rig.runner._scheduler.get_job(f"schedule-{schedule.schedule_id}")
    assert job is not None, "the schedule is armed with a stable job id"
    wait_for(lambda: rig.store.read(lambda views: views.all("sessions")), timeout=8)
    fired_at = clock()
    session = rig.store.read(lambda views: views.all("sessions"))[0]
    assert session["fire_time"] == minute
    assert session["window_start"] == minute - timedelta(seconds=1)
    assert session["window_end"] == minute + timedelta(minutes=1)
    assert abs((fired_at - session["window_start"]).total_seconds()) < 1.0
    wait_for(lambda: rig.session(session.doc_id)["status"] == "recording")
    # The next run is armed at once, from the same code path the API uses.
    next_job = rig.runner._scheduler.get_job(f"schedule-{schedule.schedule_id}")
    assert next_job.args[1] == minute + timedelta(minutes=1)


def test_pausing_and_deleting_a_schedule_disarms_it(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, lambda: datetime.now(timezone.utc)).start()
    rigs.append(rig)
    schedule_id = rig.commands.create_schedule({"stream_id": rig.stream(), "cron": "30 14 * * 0",
                                                "duration_minutes": 60, "timezone": "Europe/Berlin"},
                                               "test")[0].data.schedule_id
    rig.store.log.wait_notified()
    job = rig.runner._scheduler.get_job(f"schedule-{schedule_id}")
    expected = cron.next_run(cron.parse("30 14 * * 0"), datetime.now(timezone.utc), cron.zone("Europe/Berlin"))
    assert job.args[1] == expected and expected.weekday() == 6, "Sunday, not Monday"
    rig.commands.update_schedule(schedule_id, {"active": False}, "test")
    rig.store.log.wait_notified()
    assert rig.runner._scheduler.get_job(f"schedule-{schedule_id}") is None
    rig.commands.update_schedule(schedule_id, {"active": True}, "test")
    rig.store.log.wait_notified()
    assert rig.runner._scheduler.get_job(f"schedule-{schedule_id}") is not None
    rig.commands.delete_schedule(schedule_id, "test")
    rig.store.log.wait_notified()
    assert rig.runner._scheduler.get_job(f"schedule-{schedule_id}") is None


def test_restart_after_downtime_marks_closed_windows_missed_and_starts_the_open_one(tmp_path: Path,
                                                                                     rigs: list[Rig]) -> None:
    hour = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    before = Rig(tmp_path, OffsetClock(hour - timedelta(minutes=10))).start()
    schedule_id = before.commands.create_schedule({"stream_id": before.stream(), "cron": "0 * * * *",
                                                   "duration_minutes": 10}, "test")[0].data.schedule_id
    before.close()  # the service goes down ...

    after = Rig(tmp_path, OffsetClock(hour + timedelta(hours=2, minutes=5))).start()  # ... and is back 2 h later
    rigs.append(after)
    sessions = sorted(after.store.read(lambda views: views.sessions_of(schedule_id)), key=lambda s: s["fire_time"])
    assert [s["fire_time"] for s in sessions] == [hour, hour + timedelta(hours=1), hour + timedelta(hours=2)]
    assert [s["status"] for s in sessions[:2]] == ["missed", "missed"]
    assert "not running" in sessions[0]["error"]
    wait_for(lambda: after.session(sessions[2].doc_id)["status"] == "recording")
    remaining = after.capture.jobs[0].deadline - time.monotonic()
    assert 4 * 60 < remaining <= 5 * 60, "records only what is left of the window"

    # A second restart adds nothing: each fire time has exactly one session.
    after.close()
    rigs.remove(after)
    again = Rig(tmp_path, OffsetClock(hour + timedelta(hours=2, minutes=6))).start()
    rigs.append(again)
    assert len(again.store.read(lambda views: views.sessions_of(schedule_id))) == 3


def test_a_crash_mid_recording_continues_in_a_new_part(tmp_path: Path, rigs: list[Rig]) -> None:
    first = Rig(tmp_path, lambda: datetime.now(timezone.utc)).start()
    session_id = first.commands.record_now(first.stream(), {"duration_seconds": 60}, first.clock(),
                                           "api")[0].data.session_id
    wait_for(lambda: first.capture.jobs)
    first.close()  # like a crash: the session stays "recording" in the log
    assert first.session(session_id)["status"] == "recording"

    second = Rig(tmp_path, lambda: datetime.now(timezone.utc)).start()
    rigs.append(second)
    wait_for(lambda: second.capture.jobs)
    assert second.capture.jobs[0].part == 2
    assert second.types(session_id) == ["session.scheduled", "session.started", "session.interrupted",
                                        "session.started"]


def test_a_crash_after_the_window_closed_settles_what_was_recorded(tmp_path: Path, rigs: list[Rig]) -> None:
    first = Rig(tmp_path, lambda: datetime.now(timezone.utc)).start()
    session_id = first.commands.record_now(first.stream(), {"duration_seconds": 60}, first.clock(),
                                           "api")[0].data.session_id
    wait_for(lambda: first.capture.jobs)
    first.close()
    later = Rig(tmp_path, OffsetClock(datetime.now(timezone.utc) + timedelta(minutes=5))).start()
    rigs.append(later)
    wait_for(lambda: later.session(session_id)["status"] == "failed")
    assert "nothing was recorded" in later.session(session_id)["error"], "the stand-in wrote no parts"
    assert later.types(session_id)[-2:] == ["session.interrupted", "session.failed"]


def test_the_slot_limit_queues_and_the_queue_starts_when_a_slot_frees(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, lambda: datetime.now(timezone.utc), max_concurrent=1).start()
    rigs.append(rig)
    stream_id = rig.stream()
    first = rig.commands.record_now(stream_id, {"duration_seconds": 1}, rig.clock(), "api")[0].data.session_id
    wait_for(lambda: rig.session(first)["status"] == "recording")
    second = rig.commands.record_now(stream_id, {"duration_seconds": 3}, rig.clock(), "api")[0].data.session_id
    wait_for(lambda: rig.session(second)["status"] == "queued")
    assert "free recording slot" in rig.session(second)["error"]
    wait_for(lambda: rig.session(second)["status"] == "recording")
    assert rig.session(first)["status"] in ("recorded", "processed", "completed")
    wait_for(lambda: rig.session(second)["status"] == "completed")
    assert rig.types(second)[:4] == ["session.scheduled", "session.queued", "session.started", "session.recorded"]


def test_a_queued_session_whose_window_closes_is_missed(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, lambda: datetime.now(timezone.utc), max_concurrent=1).start()
    rigs.append(rig)
    stream_id = rig.stream()
    rig.commands.record_now(stream_id, {"duration_seconds": 3}, rig.clock(), "api")
    wait_for(lambda: rig.capture.jobs)
    short = rig.commands.record_now(stream_id, {"duration_seconds": 1}, rig.clock(), "api")[0].data.session_id
    wait_for(lambda: rig.session(short)["status"] == "missed", timeout=10)
    assert "MAX_CONCURRENT_RECORDINGS=1" in rig.session(short)["error"]
    assert len(rig.capture.jobs) == 1
