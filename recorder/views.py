"""Read models projected from the log: streams, schedules, sessions, transfers.

`project` is a pure fold step (no I/O, no clock): it turns one event into row changes of plain dicts. Those
dicts are the memory of a TinyDB MemoryStorage, so reads use TinyDB queries while replay stays a cheap loop over
dicts (TinyDB's own writes copy the whole table each time, far too slow for replaying a long log).
"""

from __future__ import annotations

import dataclasses
from functools import singledispatch
from typing import Any, Iterable, Mapping, TypeVar

from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage
from tinydb.table import Document, Table

from .events import (
    ConfigFileApplied,
    ConfigFileFailed,
    ConfigFileRemoved,
    Event,
    HostTrusted,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleUpdated,
    SessionCompleted,
    SessionFailed,
    SessionGap,
    SessionInterrupted,
    SessionMissed,
    SessionProcessed,
    SessionQueued,
    SessionRecorded,
    SessionScheduled,
    SessionStarted,
    StreamCreated,
    StreamDeleted,
    StreamUpdated,
    TransferAttempted,
    TransferCompleted,
    TransferFailed,
    TransferRetryRequested,
)

C = TypeVar("C")
TABLES = ("streams", "schedules", "sessions", "transfers", "hosts", "config_files")
Rows = dict[str, dict[str, dict[str, Any]]]


class Views:
    """The projected state at `last_seq`, with TinyDB tables to query it."""

    def __init__(self) -> None:
        self.rows: Rows = {name: {} for name in TABLES}
        self.last_seq = 0
        self.highest_ids: dict[str, int] = {name: 0 for name in TABLES}
        self._db = TinyDB(storage=MemoryStorage)
        self._db.storage.memory = self.rows  # TinyDB reads our projected dicts directly

    def apply(self, event: Event) -> None:
        project(event.data, self, event)
        self.last_seq = event.seq

    def table(self, name: str) -> Table:
        # No query cache: the rows change underneath TinyDB on every event.
        return self._db.table(name, cache_size=0)

    def get(self, table: str, row_id: int) -> Document | None:
        return self.table(table).get(doc_id=row_id)

    def all(self, table: str) -> list[Document]:
        return self.table(table).all()

    def streams(self) -> list[Document]:
        return self.all("streams")

    def schedules(self, stream_id: int | None = None) -> list[Document]:
        if stream_id is None:
            return self.all("schedules")
        return self.table("schedules").search(Query().stream_id == stream_id)

    def sessions_of(self, schedule_id: int) -> list[Document]:
        return self.table("sessions").search(Query().schedule_id == schedule_id)

    def sessions_in(self, *statuses: str) -> list[Document]:
        return self.table("sessions").search(Query().status.one_of(statuses))

    def trusted_host(self, host: str, port: int) -> Document | None:
        return self.table("hosts").get((Query().host == host) & (Query().port == port))

    def stream_named(self, name: str) -> Document | None:
        """Names are unique regardless of case and surrounding space."""
        wanted = name.strip().casefold()
        return self.table("streams").get(Query().name.test(lambda value: value.strip().casefold() == wanted))

    def config_file(self, file: str) -> Document | None:
        return self.table("config_files").get(Query().file == file)

    def config_file_of(self, stream_id: int) -> str | None:
        """The drop-in file that owns a stream (its last applied version), if one does."""
        for row in self.rows["config_files"].values():
            if stream_id in row["stream_ids"]:
                return row["file"]
        return None

    def next_id(self, table: str) -> int:
        """Ids are never reused, even after a delete, so old events and links stay unambiguous."""
        return self.highest_ids[table] + 1

    def snapshot(self) -> dict[str, Any]:
        """Everything the views hold, as plain data (for comparing replays)."""
        return {"rows": self.rows, "last_seq": self.last_seq, "highest_ids": self.highest_ids}


def config_of(config_type: type[C], row: Mapping[str, Any]) -> C:
    """The configuration a stream or schedule row was projected from (rows add id and times)."""
    return config_type(**{field.name: row[field.name] for field in dataclasses.fields(config_type)})


def replay(events: Iterable[Event]) -> Views:
    views = Views()
    for event in events:
        views.apply(event)
    return views


@singledispatch
def project(payload: object, views: Views, event: Event) -> None:
    """Events that change no view (yet) fold to nothing."""


@project.register(StreamCreated)
@project.register(StreamUpdated)
def _stream_put(payload: StreamCreated | StreamUpdated, views: Views, event: Event) -> None:
    _put(views, "streams", payload.stream_id, vars(payload.stream), event)


@project.register
def _stream_deleted(payload: StreamDeleted, views: Views, event: Event) -> None:
    views.rows["streams"].pop(str(payload.stream_id), None)


@project.register(ScheduleCreated)
@project.register(ScheduleUpdated)
def _schedule_put(payload: ScheduleCreated | ScheduleUpdated, views: Views, event: Event) -> None:
    _put(views, "schedules", payload.schedule_id, vars(payload.schedule), event)


@project.register
def _schedule_deleted(payload: ScheduleDeleted, views: Views, event: Event) -> None:
    views.rows["schedules"].pop(str(payload.schedule_id), None)


@project.register
def _session_scheduled(payload: SessionScheduled, views: Views, event: Event) -> None:
    _put(views, "sessions", payload.session_id, {
        "stream_id": payload.stream_id, "schedule_id": payload.schedule_id,
        "trigger": "manual" if payload.schedule_id is None else "schedule",
        "fire_time": payload.fire_time, "window_start": payload.window_start, "window_end": payload.window_end,
        "status": "scheduled", "started_at": None, "recorded_at": None, "ended_at": None, "parts": 0, "error": None,
        "file": None, "size_bytes": None, "duration_seconds": None, "gaps": [], "chapters": 0,
        "remote_path": None}, event)


@project.register
def _session_queued(payload: SessionQueued, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="queued", error=payload.reason)


@project.register
def _session_started(payload: SessionStarted, views: Views, event: Event) -> None:
    row = views.rows["sessions"].get(str(payload.session_id))
    started_at = row["started_at"] if row and row["started_at"] else event.at
    _change(views, "sessions", payload.session_id, event, status="recording", started_at=started_at,
            parts=payload.part, error=None)


@project.register
def _session_recorded(payload: SessionRecorded, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="recorded", file=payload.file,
            size_bytes=payload.size_bytes, duration_seconds=payload.duration_seconds, recorded_at=event.at)


@project.register
def _session_gap(payload: SessionGap, views: Views, event: Event) -> None:
    row = views.rows["sessions"].get(str(payload.session_id))
    if row is not None:
        gap = {"started": payload.started, "seconds": payload.seconds, "reason": payload.reason}
        _change(views, "sessions", payload.session_id, event, gaps=[*row["gaps"], gap])


@project.register
def _session_interrupted(payload: SessionInterrupted, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="interrupted", error=payload.reason)


@project.register
def _session_processed(payload: SessionProcessed, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="processed", file=payload.file,
            size_bytes=payload.size_bytes, duration_seconds=payload.duration_seconds, chapters=payload.chapters)


@project.register
def _session_completed(payload: SessionCompleted, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="completed", error=None, ended_at=event.at)


@project.register
def _session_missed(payload: SessionMissed, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="missed", error=payload.reason, ended_at=event.at)


@project.register
def _session_failed(payload: SessionFailed, views: Views, event: Event) -> None:
    _change(views, "sessions", payload.session_id, event, status="failed", error=payload.reason, ended_at=event.at)


@project.register
def _transfer_attempted(payload: TransferAttempted, views: Views, event: Event) -> None:
    old = views.rows["transfers"].get(str(payload.session_id))
    _put(views, "transfers", payload.session_id, {
        "session_id": payload.session_id, "destination": payload.destination, "attempts": payload.attempt,
        "status": "running", "last_error": old["last_error"] if old else None, "permanent": False,
        "next_attempt_at": None, "remote_path": None, "size_bytes": None, "seconds": None}, event)
    _change(views, "sessions", payload.session_id, event, status="transferring")


@project.register
def _transfer_failed(payload: TransferFailed, views: Views, event: Event) -> None:
    _change(views, "transfers", payload.session_id, event, status="waiting" if payload.retry_at else "failed",
            last_error=payload.reason, permanent=payload.permanent, next_attempt_at=payload.retry_at)
    if payload.retry_at:
        _change(views, "sessions", payload.session_id, event, status="waiting_retry", error=payload.reason)


@project.register
def _transfer_completed(payload: TransferCompleted, views: Views, event: Event) -> None:
    _change(views, "transfers", payload.session_id, event, status="completed", remote_path=payload.remote_path,
            size_bytes=payload.size_bytes, seconds=payload.seconds, last_error=None, next_attempt_at=None)
    _change(views, "sessions", payload.session_id, event, status="transferred", remote_path=payload.remote_path)


@project.register
def _transfer_retry_requested(payload: TransferRetryRequested, views: Views, event: Event) -> None:
    _change(views, "transfers", payload.session_id, event, status="pending", attempts=0, permanent=False,
            next_attempt_at=None)
    _change(views, "sessions", payload.session_id, event, status="processed", error=None, ended_at=None)


@project.register
def _host_trusted(payload: HostTrusted, views: Views, event: Event) -> None:
    old = views.trusted_host(payload.host, payload.port)
    row_id = old.doc_id if old else views.next_id("hosts")
    _put(views, "hosts", row_id, {"host": payload.host, "port": payload.port, "key_type": payload.key_type,
                                  "key_base64": payload.key_base64, "fingerprint": payload.fingerprint}, event)


@project.register
def _config_applied(payload: ConfigFileApplied, views: Views, event: Event) -> None:
    _put_config_file(views, payload.file, event, status="applied", stream_ids=list(payload.stream_ids),
                     error=None, line=None, field=None, applied_at=event.at)


@project.register
def _config_failed(payload: ConfigFileFailed, views: Views, event: Event) -> None:
    """A bad version changes nothing: the streams of the last good one stay owned by the file."""
    _put_config_file(views, payload.file, event, status="failed", error=payload.error, line=payload.line,
                     field=payload.field)


@project.register
def _config_removed(payload: ConfigFileRemoved, views: Views, event: Event) -> None:
    old = views.config_file(payload.file)
    if old is not None:
        views.rows["config_files"].pop(str(old.doc_id))


def _put_config_file(views: Views, file: str, event: Event, **changes: Any) -> None:
    old = views.config_file(file)
    row = {"file": file, "status": None, "stream_ids": [], "error": None, "line": None, "field": None,
           "applied_at": None}
    if old is not None:
        row.update({key: old[key] for key in row})
    row.update(changes)
    _put(views, "config_files", old.doc_id if old else views.next_id("config_files"), row, event)


def _change(views: Views, table: str, row_id: int, event: Event, **changes: Any) -> None:
    """Update some fields of an existing row; an event about an unknown row changes nothing."""
    row = views.rows[table].get(str(row_id))
    if row is not None:
        row.update(changes, updated_at=event.at)


def _put(views: Views, table: str, row_id: int, fields: dict[str, Any], event: Event) -> None:
    """Insert or replace a row, keeping when it was created and stamping when it last changed."""
    rows = views.rows[table]
    key = str(row_id)
    old = rows.get(key)
    rows[key] = {"id": row_id, **fields, "created_at": old["created_at"] if old else event.at, "updated_at": event.at}
    if row_id > views.highest_ids[table]:
        views.highest_ids[table] = row_id
