"""The one way to change anything: validate input against the views, then append events.

The web UI, the REST API and the config folder all call `Commands`; none of them writes events itself. The
`decide_*` functions are pure (views and input in, payloads out) and raise a `CommandError` that names the
field and says what is wrong in words a user can act on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from .declared import decide_config_file, decide_config_file_removed, decide_config_file_unreadable
from .events import (
    Event,
    HostTrusted,
    Payload,
    ScheduleConfig,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleUpdated,
    SessionMissed,
    SessionScheduled,
    StreamConfig,
    StreamCreated,
    StreamDeleted,
    StreamUpdated,
    TransferRetryRequested,
)
from .store import Store
from .validation import (
    MAX_DURATION_MINUTES,
    SCHEDULE_FIELDS,
    STREAM_FIELDS,
    CommandError,
    Conflict,
    Invalid,
    NotFound,
    clean,
    whole_number,
)
from .views import Views, config_of

__all__ = ["CommandError", "Commands", "Conflict", "Invalid", "NotFound"]


def decide_create_stream(views: Views, fields: Any) -> list[Payload]:
    config = StreamConfig(**clean(fields, STREAM_FIELDS, ("name", "url")))
    _check_unique_name(views, config.name, None)
    return [StreamCreated(views.next_id("streams"), config)]


def decide_update_stream(views: Views, stream_id: int, fields: Any) -> list[Payload]:
    current = _editable_stream(views, stream_id)
    config = dataclasses.replace(current, **clean(fields, STREAM_FIELDS, ()))
    _check_unique_name(views, config.name, stream_id)
    return [] if config == current else [StreamUpdated(stream_id, config)]


def decide_set_artwork(views: Views, stream_id: int, file_name: str) -> list[Payload]:
    """Point a stream at stored cover art (a generated name; "" removes it)."""
    current = _existing_stream(views, stream_id)
    return [StreamUpdated(stream_id, dataclasses.replace(current, artwork=file_name))]


def decide_delete_stream(views: Views, stream_id: int, cascade: bool) -> list[Payload]:
    _editable_stream(views, stream_id)
    schedules = views.schedules(stream_id)
    if schedules and not cascade:
        raise Conflict(f"stream {stream_id} has {len(schedules)} schedule(s); delete them first "
                       "or delete with cascade=true")
    return [*(ScheduleDeleted(row.doc_id) for row in schedules), StreamDeleted(stream_id)]


def decide_create_schedule(views: Views, fields: Any, default_timezone: str) -> list[Payload]:
    values = {"timezone": default_timezone, **clean(fields, SCHEDULE_FIELDS, ("stream_id", "cron",
                                                                              "duration_minutes"))}
    _editable_stream(views, values["stream_id"], field="stream_id")
    return [ScheduleCreated(views.next_id("schedules"), ScheduleConfig(**values))]


def decide_update_schedule(views: Views, schedule_id: int, fields: Any) -> list[Payload]:
    row = views.get("schedules", schedule_id)
    if row is None:
        raise NotFound(f"schedule {schedule_id} does not exist")
    current = config_of(ScheduleConfig, row)
    _editable_stream(views, current.stream_id)
    config = dataclasses.replace(current, **clean(fields, SCHEDULE_FIELDS, ()))
    if config.stream_id != current.stream_id:
        _editable_stream(views, config.stream_id, field="stream_id")
    return [] if config == current else [ScheduleUpdated(schedule_id, config)]


def decide_delete_schedule(views: Views, schedule_id: int) -> list[Payload]:
    row = views.get("schedules", schedule_id)
    if row is None:
        raise NotFound(f"schedule {schedule_id} does not exist")
    _editable_stream(views, row["stream_id"])
    return [ScheduleDeleted(schedule_id)]


# A session in one of these states is over: nothing more happens to it.
FINISHED_STATUSES = frozenset({"missed", "failed", "completed"})
MAX_RECORD_NOW_SECONDS = MAX_DURATION_MINUTES * 60


def schedule_window(config: ScheduleConfig, fire_time: datetime) -> tuple[datetime, datetime]:
    """The capture window of one run: padding before the cron time, duration and padding after it."""
    start = fire_time - timedelta(seconds=config.pad_before_seconds)
    return start, fire_time + timedelta(minutes=config.duration_minutes, seconds=config.pad_after_seconds)


def decide_fire(views: Views, schedule_id: int, fire_time: datetime, now: datetime) -> list[Payload]:
    """A schedule's cron time came (or passed while the service was down): open a session for it, once.

    Nothing happens for a schedule deleted or paused meanwhile, or for a fire time that already has a
    session (duplicates coalesce). A window that closed before now is recorded as missed, never dropped.
    """
    row = views.get("schedules", schedule_id)
    if row is None or not row["active"]:
        return []
    if any(session["fire_time"] == fire_time for session in views.sessions_of(schedule_id)):
        return []
    config = config_of(ScheduleConfig, row)
    start, end = schedule_window(config, fire_time)
    session_id = views.next_id("sessions")
    scheduled = SessionScheduled(session_id, config.stream_id, schedule_id, fire_time, start, end)
    if end <= now:
        return [scheduled, SessionMissed(session_id, "the recorder was not running during the whole window")]
    return [scheduled]


def decide_record_now(views: Views, stream_id: int, fields: Any, now: datetime) -> list[Payload]:
    values = clean(fields, {"duration_seconds": whole_number(1, MAX_RECORD_NOW_SECONDS)}, ("duration_seconds",))
    _existing_stream(views, stream_id)
    end = now + timedelta(seconds=values["duration_seconds"])
    return [SessionScheduled(views.next_id("sessions"), stream_id, None, now, now, end)]


def decide_session_step(views: Views, payload: Payload) -> list[Payload]:
    """The runner reports what happened to a session; a session that is over takes no more steps."""
    row = views.get("sessions", payload.session_id)  # type: ignore[union-attr]
    if row is None:
        raise NotFound(f"session {payload.session_id} does not exist")  # type: ignore[union-attr]
    if row["status"] in FINISHED_STATUSES:
        raise Conflict(f"session {row.doc_id} is already {row['status']}")
    return [payload]


def decide_retry_transfer(views: Views, session_id: int) -> list[Payload]:
    """Start a failed upload over (after the user fixed the key, the folder, or trusted the host)."""
    session = views.get("sessions", session_id)
    if session is None:
        raise NotFound(f"session {session_id} does not exist")
    transfer = views.get("transfers", session_id)
    if transfer is None or transfer["status"] != "failed":
        raise Conflict(f"session {session_id} has no failed transfer to retry (status {session['status']})")
    return [TransferRetryRequested(session_id)]


def decide_trust_host(views: Views, host: str, port: int, key_type: str, key_base64: str,
                      fingerprint: str, confirmed: str) -> list[Payload]:
    """Pin a server's host key, only if it is the one the user confirmed; trusting the same key again changes
    nothing."""
    if confirmed.strip() != fingerprint:
        raise Conflict(f"the server now shows {fingerprint}, not the fingerprint you confirmed ({confirmed.strip()}); "
                       "check with the server's administrator", "fingerprint")
    known = views.trusted_host(host, port)
    if known is not None and known["key_base64"] == key_base64:
        return []
    return [HostTrusted(host, port, key_type, key_base64, fingerprint)]


def decide_restore(views: Views, backup: Views, overwrite: bool) -> list[Payload]:
    """Events that bring streams, schedules and trusted hosts to the backup's (overwrite) or add what is missing.

    Streams are matched by name and schedules by what they do (stream, cron, zone, length, padding), so
    restoring the same backup twice appends nothing the second time. History is never rewritten. Streams a
    config file owns are left to the file, as are their schedules.
    """
    events: list[Payload] = []
    next_stream, next_schedule = views.next_id("streams"), views.next_id("schedules")
    stream_ids: dict[int, int] = {}
    from_files = {s.doc_id for s in views.streams() if views.config_file_of(s.doc_id) is not None}
    for row in backup.streams():
        config = config_of(StreamConfig, row)
        current = views.stream_named(config.name)
        if current is None:
            events.append(StreamCreated(next_stream, config))
            stream_ids[row.doc_id], next_stream = next_stream, next_stream + 1
        else:
            stream_ids[row.doc_id] = current.doc_id
            if overwrite and current.doc_id not in from_files and config_of(StreamConfig, current) != config:
                events.append(StreamUpdated(current.doc_id, config))
    kept: set[int] = set()
    for row in backup.schedules():
        config = dataclasses.replace(config_of(ScheduleConfig, row),
                                     stream_id=stream_ids[row["stream_id"]])
        if config.stream_id in from_files:
            continue
        same = [s for s in views.schedules(config.stream_id)
                if _schedule_key(s) == _schedule_key(vars(config)) and s.doc_id not in kept]  # one to one
        if not same:
            events.append(ScheduleCreated(next_schedule, config))
            next_schedule += 1
            continue
        kept.add(same[0].doc_id)
        if overwrite and same[0]["active"] != config.active:
            events.append(ScheduleUpdated(same[0].doc_id, config))
    if overwrite:
        wanted_streams = set(stream_ids.values()) | from_files
        events += [ScheduleDeleted(s.doc_id) for s in views.schedules()
                   if s.doc_id not in kept and s["stream_id"] not in from_files]
        events += [StreamDeleted(s.doc_id) for s in views.streams() if s.doc_id not in wanted_streams]
    for host in backup.all("hosts"):
        known = views.trusted_host(host["host"], host["port"])
        if known is None or (overwrite and known["key_base64"] != host["key_base64"]):
            events.append(HostTrusted(host["host"], host["port"], host["key_type"], host["key_base64"],
                                      host["fingerprint"]))
    return events


def _schedule_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[key] for key in ("stream_id", "cron", "timezone", "duration_minutes", "pad_before_seconds",
                                      "pad_after_seconds"))


def _existing_stream(views: Views, stream_id: int, field: str | None = None) -> StreamConfig:
    row = views.get("streams", stream_id)
    if row is None:
        if field:
            raise Invalid(f"stream {stream_id} does not exist", field)
        raise NotFound(f"stream {stream_id} does not exist")
    return config_of(StreamConfig, row)


def _editable_stream(views: Views, stream_id: int, field: str | None = None) -> StreamConfig:
    """A stream the API may change: it exists and no config file owns it (the file would undo the change)."""
    config = _existing_stream(views, stream_id, field)
    owner = views.config_file_of(stream_id)
    if owner is not None:
        raise Conflict(f"stream {stream_id} comes from the config file {owner}; change it there", field)
    return config


def _check_unique_name(views: Views, name: str, own_id: int | None) -> None:
    other = views.stream_named(name)
    if other is not None and other.doc_id != own_id:
        raise Conflict(f"a stream named {other['name']!r} already exists (id {other.doc_id})", "name")


@dataclass(frozen=True)
class Commands:
    """The command layer bound to a store: each method validates, appends and returns the new events."""

    store: Store
    default_timezone: str = "UTC"

    def create_stream(self, fields: Any, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_create_stream(views, fields), source)

    def update_stream(self, stream_id: int, fields: Any, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_update_stream(views, stream_id, fields), source)

    def set_artwork(self, stream_id: int, file_name: str, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_set_artwork(views, stream_id, file_name), source)

    def delete_stream(self, stream_id: int, cascade: bool, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_delete_stream(views, stream_id, cascade), source)

    def create_schedule(self, fields: Any, source: str) -> list[Event]:
        return self.store.execute(
            lambda views: decide_create_schedule(views, fields, self.default_timezone), source)

    def update_schedule(self, schedule_id: int, fields: Any, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_update_schedule(views, schedule_id, fields), source)

    def delete_schedule(self, schedule_id: int, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_delete_schedule(views, schedule_id), source)

    def fire(self, schedule_id: int, fire_time: datetime, now: datetime, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_fire(views, schedule_id, fire_time, now), source)

    def record_now(self, stream_id: int, fields: Any, now: datetime, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_record_now(views, stream_id, fields, now), source)

    def retry_transfer(self, session_id: int, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_retry_transfer(views, session_id), source)

    def trust_host(self, host: str, port: int, key_type: str, key_base64: str, fingerprint: str, confirmed: str,
                   source: str) -> list[Event]:
        events = self.store.execute(
            lambda views: decide_trust_host(views, host, port, key_type, key_base64, fingerprint, confirmed), source)
        self.store.log.wait_notified()  # known_hosts is written from the event: on disk before anyone is told
        return events

    def apply_config_file(self, file: str, data: bytes) -> list[Event]:
        return self.store.execute(lambda views: decide_config_file(views, file, data, self.default_timezone),
                                  "config")

    def config_file_unreadable(self, file: str, reason: str) -> list[Event]:
        return self.store.execute(lambda views: decide_config_file_unreadable(views, file, reason), "config")

    def remove_config_file(self, file: str) -> list[Event]:
        return self.store.execute(lambda views: decide_config_file_removed(views, file), "config")

    def restore(self, backup: Views, overwrite: bool, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_restore(views, backup, overwrite), source)

    def session_step(self, payload: Payload, source: str = "runner") -> list[Event]:
        return self.store.execute(lambda views: decide_session_step(views, payload), source)
