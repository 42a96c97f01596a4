"""Turns schedules into recording sessions: APScheduler jobs kept in step with the log, a slot limit, recovery.

Each active schedule has one APScheduler job (id `schedule-<id>`) with a date trigger at its next window
start; when it runs it opens the session and arms the next one. Both the fire times the API shows and the ones
armed here come from `cron.next_run`. Jobs are rebuilt from the views at start (no APScheduler job store: the
log is the truth), and runs whose windows passed while the service was down become `session.missed`.

Sessions start in one place, `_admit`: when `session.scheduled` arrives from the log (a schedule fired, or
record-now), when a slot frees, and at start for sessions a crash left open.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler

from . import cron
from .commands import CommandError, Commands, schedule_window
from .delivery import Delivery, DeliveryOptions
from .eventlog import Clock, real_time
from .events import (
    Event,
    HostTrusted,
    Payload,
    ScheduleConfig,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleUpdated,
    SessionFailed,
    SessionGap,
    SessionInterrupted,
    SessionMissed,
    SessionQueued,
    SessionRecorded,
    SessionScheduled,
    SessionStarted,
    StreamConfig,
    TransferRetryRequested,
)
from .parts import CaptureResult, join_session
from .pipeline import FinishOptions, finish, session_folder
from .processing import ProcessingError
from .recording import Capture, LiveProgress, RecordingJob, settle_orphans
from .store import Store
from .transfer import upload
from .views import config_of

log = logging.getLogger(__name__)

MAX_MISSED_PER_SCHEDULE = 100  # a schedule every minute and a week of downtime should not flood the log
SWEEP_SECONDS = 5


class Runner:
    def __init__(self, store: Store, commands: Commands, capture: Capture, finishing: FinishOptions,
                 delivering: DeliveryOptions, max_concurrent: int, clock: Clock,
                 uploader: Callable[..., Any] = upload, nightly: Callable[[], None] | None = None,
                 timezone_name: str = "UTC") -> None:
        self._store = store
        self._commands = commands
        self._capture = capture
        self._finishing = finishing
        self._max_concurrent = max_concurrent
        self._clock = clock
        self._lock = threading.RLock()
        self._active: dict[int, _Active] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._scheduler = BackgroundScheduler(timezone=timezone.utc,
                                              job_defaults={"misfire_grace_time": None, "coalesce": True})
        self._nightly = nightly
        self._timezone_name = timezone_name
        self._delivering = delivering
        self._delivery = Delivery(store, commands, self._scheduler, delivering, clock, uploader)

    def start(self) -> None:
        """Arm every schedule, settle what the last run left open, then follow the log."""
        settle_orphans(self._finishing.recordings_dir)
        self._scheduler.start()
        self._store.subscribe(self._on_event)
        self._delivery.start()
        now = self._clock()
        for schedule in self._store.read(lambda views: views.schedules()):
            self._catch_up(schedule.doc_id, now)
            self._arm(schedule.doc_id, now)
        for session in self._store.read(lambda views: views.sessions_in("recording")):
            log.warning("session %s was recording when the recorder stopped; what it recorded is kept",
                        session.doc_id)
            self._step(SessionInterrupted(session.doc_id, "the recorder stopped during the recording"))
        for session in self._store.read(lambda views: views.sessions_in("recorded")):
            self._in_background(session.doc_id, self._process)
        self._admit_waiting()
        self._scheduler.add_job(self._sweep, "interval", seconds=SWEEP_SECONDS, id="sweep")
        if self._nightly:
            self._scheduler.add_job(self._nightly, "cron", hour=3, minute=30, timezone=self._timezone_name,
                                    id="nightly")

    def stop(self) -> None:
        """Stop firing and end captures; sessions stay open so the next start continues them."""
        with self._lock:
            self._stopping = True
            running = list(self._active.values())
            workers = list(self._workers)
        if self._scheduler.running:
            # APScheduler's shutdown marks it stopped before taking its lock, so a round of due jobs running just
            # then fails to remove a finished date job and kills its thread (apscheduler#104). Pausing first, then
            # reading the jobs (which waits for that lock, so for the round), leaves nothing in flight.
            self._scheduler.pause()
            self._scheduler.get_jobs()
            self._scheduler.shutdown(wait=False)
        for active in running:
            active.stop.set()
        for thread in [active.thread for active in running] + workers:
            thread.join(timeout=30)

    def active_sessions(self) -> list[int]:
        with self._lock:
            return sorted(self._active)

    @property
    def delivery_options(self) -> DeliveryOptions:
        return self._delivering

    def progress(self, session_id: int) -> dict[str, Any] | None:
        """Live numbers of a session being captured (seconds, bytes, bitrate, title), or None."""
        with self._lock:
            active = self._active.get(session_id)
        if active is None:
            return None
        live = active.progress
        return {"seconds": round(time.monotonic() - active.started, 1), "bytes": live.bytes,
                "bitrate_kbps": live.bitrate_kbps, "title": live.title}

    # -- following the log -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        data = event.data
        if isinstance(data, (ScheduleCreated, ScheduleUpdated)):
            self._arm(data.schedule_id, self._clock())
        elif isinstance(data, ScheduleDeleted):
            self._disarm(data.schedule_id)
        elif isinstance(data, SessionScheduled):
            self._admit(data.session_id)
        elif isinstance(data, TransferRetryRequested):
            self._delivery.deliver(data.session_id)
        elif isinstance(data, HostTrusted):
            self._delivery.on_host_trusted(data)

    def _arm(self, schedule_id: int, after: datetime) -> None:
        """Set the schedule's job to its next window start after `after` (or remove it when paused)."""
        row = self._store.read(lambda views: views.get("schedules", schedule_id))
        if row is None or not row["active"]:
            self._disarm(schedule_id)
            return
        fire_time = cron.next_run(cron.parse(row["cron"]), after, cron.zone(row["timezone"]))
        if fire_time is None:
            self._disarm(schedule_id)
            return
        fire_time = fire_time.astimezone(timezone.utc)
        start, _ = schedule_window(config_of(ScheduleConfig, row), fire_time)
        self._scheduler.add_job(self._fire, "date", run_date=real_time(self._clock, start),
                                id=f"schedule-{schedule_id}", args=[schedule_id, fire_time], replace_existing=True)

    def _disarm(self, schedule_id: int) -> None:
        job = self._scheduler.get_job(f"schedule-{schedule_id}")
        if job is not None:
            job.remove()

    def _fire(self, schedule_id: int, fire_time: datetime) -> None:
        try:
            self._commands.fire(schedule_id, fire_time, self._clock(), source="runner")
        except Exception:
            log.exception("schedule %s could not fire for %s", schedule_id, fire_time)
        self._arm(schedule_id, fire_time)

    def _catch_up(self, schedule_id: int, now: datetime) -> None:
        """Open sessions for fire times that came while the service was down (missed, or still open)."""
        row = self._store.read(lambda views: views.get("schedules", schedule_id))
        if row is None or not row["active"]:
            return
        fired = [session["fire_time"] for session in self._store.read(lambda views: views.sessions_of(schedule_id))]
        since = max([row["updated_at"], *fired])
        config = config_of(ScheduleConfig, row)
        runs = cron.next_runs(cron.parse(row["cron"]), since, cron.zone(row["timezone"]), MAX_MISSED_PER_SCHEDULE)
        for fire_time in runs:
            if schedule_window(config, fire_time)[0] > now:
                break
            self._commands.fire(schedule_id, fire_time.astimezone(timezone.utc), now, source="runner")

    # -- running sessions ---------------------------------------------------------------------------------

    def _admit(self, session_id: int) -> None:
        """Start a session if its window is open and a slot is free; queue it or settle it otherwise."""
        with self._lock:
            if self._stopping or session_id in self._active:
                return
            session = self._store.read(lambda views: views.get("sessions", session_id))
            if session is None or session["status"] not in ("scheduled", "queued", "interrupted"):
                return
            now = self._clock()
            if now >= session["window_end"]:
                if session["parts"]:  # it recorded something before an interruption: keep and finish that
                    self._in_background(session_id, self._finish_interrupted)
                elif session["status"] == "queued":
                    self._step(SessionMissed(session_id, "no recording slot came free before the window closed "
                                                         f"(MAX_CONCURRENT_RECORDINGS={self._max_concurrent})"))
                else:
                    self._step(SessionMissed(session_id, "the recorder was not running when the window was open"))
                return
            if len(self._active) >= self._max_concurrent:
                if session["status"] != "queued":
                    self._step(SessionQueued(session_id, f"waiting for a free recording slot "
                                                         f"({self._max_concurrent} recordings running)"))
                return
            stream = self._store.read(lambda views: views.get("streams", session["stream_id"]))
            if stream is None:
                self._step(SessionFailed(session_id, f"stream {session['stream_id']} was deleted"))
                return
            part = session["parts"] + 1
            self._step(SessionStarted(session_id, part))
            log.info("Recording session %s started (stream %r, part %d, until %s)", session_id, stream["name"],
                     part, session["window_end"].isoformat())
            job = RecordingJob(
                session_id=session_id, stream_id=stream.doc_id, part=part,
                stream=StreamConfig(**{key: stream[key] for key in StreamConfig.__dataclass_fields__}),
                deadline=time.monotonic() + (session["window_end"] - now).total_seconds(),
                folder=session_folder(self._finishing.recordings_dir, session_id))
            active = _Active(threading.Thread(target=self._record, args=(job,), name=f"session-{session_id}",
                                              daemon=True), threading.Event(), LiveProgress(), time.monotonic())
            self._active[session_id] = active
            active.thread.start()

    def _record(self, job: RecordingJob) -> None:
        active = self._active[job.session_id]
        try:
            result = self._capture(job, active.stop, _Listener(self, job.session_id, active.progress))
            if active.stop.is_set() and self._stopping:
                return  # shutting down: the next start continues this session
            self._after_capture(job.session_id, result)
        except Exception as error:
            log.exception("session %s: recording crashed", job.session_id)
            self._step(SessionFailed(job.session_id, f"recording crashed: {error}"))
        finally:
            with self._lock:
                self._active.pop(job.session_id, None)
            self._admit_waiting()

    def _finish_interrupted(self, session_id: int) -> None:
        """A session interrupted after its window closed: join and finish what it recorded."""
        session = self._store.read(lambda views: views.get("sessions", session_id))
        stream = self._store.read(lambda views: views.get("streams", session["stream_id"]))
        url = stream["url"] if stream else f"stream {session['stream_id']}"
        self._after_capture(session_id, join_session(session_folder(self._finishing.recordings_dir, session_id),
                                                     url))

    def _after_capture(self, session_id: int, result: CaptureResult) -> None:
        if result.error:
            log.error("session %s failed: %s", session_id, result.error)
            self._step(SessionFailed(session_id, result.error))
            return
        assert result.file is not None
        self._step(SessionRecorded(session_id, str(result.file.relative_to(self._finishing.recordings_dir)),
                                   result.size_bytes, result.duration_seconds))
        self._process(session_id)

    def _process(self, session_id: int) -> None:
        """Recorded -> tagged MP3; sessions without a destination are then complete (kept locally)."""
        session = self._store.read(lambda views: views.get("sessions", session_id))
        stream = self._store.read(lambda views: views.get("streams", session["stream_id"]))
        schedule = self._store.read(lambda views: views.get("schedules", session["schedule_id"] or 0))
        if stream is None:
            self._step(SessionFailed(session_id, f"stream {session['stream_id']} was deleted before processing"))
            return
        try:
            processed = finish(self._finishing, session, stream, schedule["timezone"] if schedule else None,
                               self._finishing.recordings_dir / session["file"])
        except ProcessingError as error:
            log.error("session %s: FFmpeg error or tagging failed: %s", session_id, error)
            self._step(SessionFailed(session_id, str(error)))
            return
        self._step(processed)
        # Only now: a crash before `session.processed` is logged must find the capture to process it again.
        shutil.rmtree(session_folder(self._finishing.recordings_dir, session_id), ignore_errors=True)
        self._delivery.deliver(session_id)

    def _in_background(self, session_id: int, work: Callable[[int], None]) -> None:
        """Run post-capture work off the caller's thread (it may convert audio for minutes)."""
        def run() -> None:
            try:
                work(session_id)
            except Exception as error:
                log.exception("session %s: finishing crashed", session_id)
                self._step(SessionFailed(session_id, f"finishing crashed: {error}"))

        thread = threading.Thread(target=run, name=f"finish-{session_id}", daemon=True)
        with self._lock:
            self._workers = [worker for worker in self._workers if worker.is_alive()] + [thread]
        thread.start()

    def _admit_waiting(self) -> None:
        waiting = self._store.read(lambda views: views.sessions_in("queued", "scheduled", "interrupted"))
        for session in sorted(waiting, key=lambda row: (row["window_start"], row.doc_id)):
            self._admit(session.doc_id)

    def _sweep(self) -> None:
        """Queued sessions whose windows closed become missed; free slots take the next waiting session."""
        self._admit_waiting()

    def _step(self, payload: Payload) -> None:
        try:
            self._commands.session_step(payload)
        except CommandError as error:
            log.warning("session step %s refused: %s", payload, error.message)


@dataclass
class _Active:
    """A session being captured: its thread, the flag that stops it, and its live numbers."""

    thread: threading.Thread
    stop: threading.Event
    progress: LiveProgress
    started: float


@dataclass
class _Listener:
    """What a capture reports back: gaps become events, progress stays in memory."""

    runner: Runner
    session_id: int
    progress: LiveProgress = field(default_factory=LiveProgress)

    def gap(self, started: datetime, seconds: float, reason: str) -> None:
        self.runner._step(SessionGap(self.session_id, started, seconds, reason))
