"""The one way to change anything: validate input against the views, then append events.

The web UI, the REST API and the config folder all call `Commands`; none of them writes events itself. The
`decide_*` functions are pure (views and input in, payloads out) and raise a `CommandError` that names the
field and says what is wrong in words a user can act on.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from . import cron
from .destination import parse_destination
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
from .views import Views


class CommandError(Exception):
    """A change was refused; `field` is the input field at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(CommandError):
    """The input is malformed or breaks a rule."""


class NotFound(CommandError):
    """The thing to change does not exist."""


class Conflict(CommandError):
    """The change clashes with the current state (duplicate name, stream still in use)."""


STREAM_URL_SCHEMES = ("http", "https", "rtmp", "rtmps")
MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_PADDING_SECONDS = 3600
# Fields the API shows but a client cannot set; tolerated in input so a client can PUT back what it GOT.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at", "next_run", "description", "stream_name",
                              "artwork"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Validator = Callable[[Any, str], Any]


def _text(max_length: int, required: bool = False) -> Validator:
    def check(value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise Invalid("must be text", field)
        value = value.strip()
        if required and not value:
            raise Invalid("must not be empty", field)
        if len(value) > max_length:
            raise Invalid(f"must be at most {max_length} characters", field)
        if _CONTROL.search(value):
            raise Invalid("must not contain control characters", field)
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise Invalid("must be valid Unicode text (it holds a lone surrogate)", field) from None
        return value

    return check


def _whole_number(low: int, high: int) -> Validator:
    def check(value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be a whole number", field)
        if not low <= value <= high:
            raise Invalid(f"must be between {low} and {high}", field)
        return value

    return check


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false", field)
    return value


def _optional(check: Validator) -> Validator:
    return lambda value, field: None if value is None else check(value, field)


def _key_file_name(value: Any, field: str) -> str:
    name = _text(100)(value, field)
    if name and not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name):
        raise Invalid("must be a file name inside the config folder (letters, digits, . _ -)", field)
    return name


def _stream_url(value: Any, field: str) -> str:
    url = _text(2000, required=True)(value, field)
    parts = urlsplit(url)
    if parts.scheme.lower() not in STREAM_URL_SCHEMES:
        raise Invalid(f"must start with {', '.join(s + '://' for s in STREAM_URL_SCHEMES)} "
                      f"(not {parts.scheme or 'a bare path'})", field)
    if not parts.hostname or " " in url:
        raise Invalid("must name a host, e.g. http://radio.example.org:8000/live.mp3", field)
    return url


def _destination(value: Any, field: str) -> str:
    text = _text(500)(value, field)
    if not text:
        return ""
    try:
        parse_destination(text)
    except ValueError as error:
        raise Invalid(str(error), field) from None
    return text


def _cron(value: Any, field: str) -> str:
    try:
        return cron.parse(_text(200, required=True)(value, field)).expression
    except cron.CronError as error:
        raise Invalid(str(error), field) from None


def _timezone(value: Any, field: str) -> str:
    try:
        cron.zone(_text(64, required=True)(value, field))
    except cron.CronError as error:
        raise Invalid(str(error), field) from None
    return value.strip()


STREAM_FIELDS: dict[str, Validator] = {
    "name": _text(100, required=True),
    "url": _stream_url,
    "artist": _text(200),
    "album": _text(200),
    "album_artist": _text(200),
    "scp_destination": _destination,
    "user_agent": _text(200),
    "ssh_key": _key_file_name,
    "max_retries": _optional(_whole_number(0, 20)),
    "upload_sidecar": _boolean,
}
SCHEDULE_FIELDS: dict[str, Validator] = {
    "stream_id": _whole_number(1, 2**31),
    "cron": _cron,
    "duration_minutes": _whole_number(1, MAX_DURATION_MINUTES),
    "active": _boolean,
    "timezone": _timezone,
    "pad_before_seconds": _whole_number(0, MAX_PADDING_SECONDS),
    "pad_after_seconds": _whole_number(0, MAX_PADDING_SECONDS),
}


def clean(fields: Any, validators: Mapping[str, Validator], required: tuple[str, ...]) -> dict[str, Any]:
    """Check an input object field by field: no unknown fields, no missing required ones, right types."""
    if not isinstance(fields, Mapping):
        raise Invalid("expected a JSON object")
    for name in fields:
        if name not in validators and name not in READ_ONLY_FIELDS:
            raise Invalid(f"unknown field (known: {', '.join(validators)})", str(name))
    for name in required:
        if name not in fields:
            raise Invalid("is required", name)
    return {name: validators[name](value, name) for name, value in fields.items() if name in validators}


def decide_create_stream(views: Views, fields: Any) -> list[Payload]:
    config = StreamConfig(**clean(fields, STREAM_FIELDS, ("name", "url")))
    _check_unique_name(views, config.name, None)
    return [StreamCreated(views.next_id("streams"), config)]


def decide_update_stream(views: Views, stream_id: int, fields: Any) -> list[Payload]:
    current = _existing_stream(views, stream_id)
    config = dataclasses.replace(current, **clean(fields, STREAM_FIELDS, ()))
    _check_unique_name(views, config.name, stream_id)
    return [] if config == current else [StreamUpdated(stream_id, config)]


def decide_set_artwork(views: Views, stream_id: int, file_name: str) -> list[Payload]:
    """Point a stream at stored cover art (a generated name; "" removes it)."""
    current = _existing_stream(views, stream_id)
    return [StreamUpdated(stream_id, dataclasses.replace(current, artwork=file_name))]


def decide_delete_stream(views: Views, stream_id: int, cascade: bool) -> list[Payload]:
    _existing_stream(views, stream_id)
    schedules = views.schedules(stream_id)
    if schedules and not cascade:
        raise Conflict(f"stream {stream_id} has {len(schedules)} schedule(s); delete them first "
                       "or delete with cascade=true")
    return [*(ScheduleDeleted(row.doc_id) for row in schedules), StreamDeleted(stream_id)]


def decide_create_schedule(views: Views, fields: Any, default_timezone: str) -> list[Payload]:
    values = {"timezone": default_timezone, **clean(fields, SCHEDULE_FIELDS, ("stream_id", "cron",
                                                                              "duration_minutes"))}
    _existing_stream(views, values["stream_id"], field="stream_id")
    return [ScheduleCreated(views.next_id("schedules"), ScheduleConfig(**values))]


def decide_update_schedule(views: Views, schedule_id: int, fields: Any) -> list[Payload]:
    row = views.get("schedules", schedule_id)
    if row is None:
        raise NotFound(f"schedule {schedule_id} does not exist")
    current = ScheduleConfig(**_config_fields(ScheduleConfig, row))
    config = dataclasses.replace(current, **clean(fields, SCHEDULE_FIELDS, ()))
    if config.stream_id != current.stream_id:
        _existing_stream(views, config.stream_id, field="stream_id")
    return [] if config == current else [ScheduleUpdated(schedule_id, config)]


def decide_delete_schedule(views: Views, schedule_id: int) -> list[Payload]:
    if views.get("schedules", schedule_id) is None:
        raise NotFound(f"schedule {schedule_id} does not exist")
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
    if any(row["fire_time"] == fire_time for row in views.sessions_of(schedule_id)):
        return []
    config = ScheduleConfig(**_config_fields(ScheduleConfig, row))
    start, end = schedule_window(config, fire_time)
    session_id = views.next_id("sessions")
    scheduled = SessionScheduled(session_id, config.stream_id, schedule_id, fire_time, start, end)
    if end <= now:
        return [scheduled, SessionMissed(session_id, "the recorder was not running during the whole window")]
    return [scheduled]


def decide_record_now(views: Views, stream_id: int, fields: Any, now: datetime) -> list[Payload]:
    values = clean(fields, {"duration_seconds": _whole_number(1, MAX_RECORD_NOW_SECONDS)}, ("duration_seconds",))
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
                      fingerprint: str) -> list[Payload]:
    """Pin a server's host key the user confirmed; trusting the same key again changes nothing."""
    known = views.trusted_host(host, port)
    if known is not None and known["key_base64"] == key_base64:
        return []
    return [HostTrusted(host, port, key_type, key_base64, fingerprint)]


def decide_restore(views: Views, backup: Views, overwrite: bool) -> list[Payload]:
    """Events that bring streams, schedules and trusted hosts to the backup's (overwrite) or add what is missing.

    Streams are matched by name and schedules by what they do (stream, cron, zone, length, padding), so
    restoring the same backup twice appends nothing the second time. History is never rewritten.
    """
    events: list[Payload] = []
    next_stream, next_schedule = views.next_id("streams"), views.next_id("schedules")
    stream_ids: dict[int, int] = {}
    for row in backup.streams():
        config = StreamConfig(**_config_fields(StreamConfig, row))
        current = views.stream_named(config.name)
        if current is None:
            events.append(StreamCreated(next_stream, config))
            stream_ids[row.doc_id], next_stream = next_stream, next_stream + 1
        else:
            stream_ids[row.doc_id] = current.doc_id
            if overwrite and StreamConfig(**_config_fields(StreamConfig, current)) != config:
                events.append(StreamUpdated(current.doc_id, config))
    kept: set[int] = set()
    for row in backup.schedules():
        config = dataclasses.replace(ScheduleConfig(**_config_fields(ScheduleConfig, row)),
                                     stream_id=stream_ids[row["stream_id"]])
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
        wanted_streams = set(stream_ids.values())
        events += [ScheduleDeleted(s.doc_id) for s in views.schedules() if s.doc_id not in kept]
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
    return StreamConfig(**_config_fields(StreamConfig, row))


def _check_unique_name(views: Views, name: str, own_id: int | None) -> None:
    other = views.stream_named(name)
    if other is not None and other.doc_id != own_id:
        raise Conflict(f"a stream named {other['name']!r} already exists (id {other.doc_id})", "name")


def _config_fields(config_type: type, row: Mapping[str, Any]) -> dict[str, Any]:
    return {field.name: row[field.name] for field in dataclasses.fields(config_type)}


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

    def trust_host(self, host: str, port: int, key_type: str, key_base64: str, fingerprint: str,
                   source: str) -> list[Event]:
        return self.store.execute(
            lambda views: decide_trust_host(views, host, port, key_type, key_base64, fingerprint), source)

    def restore(self, backup: Views, overwrite: bool, source: str) -> list[Event]:
        return self.store.execute(lambda views: decide_restore(views, backup, overwrite), source)

    def session_step(self, payload: Payload, source: str = "runner") -> list[Event]:
        return self.store.execute(lambda views: decide_session_step(views, payload), source)
