"""Drop-in config files as commands: a file declares streams with their schedules, and it owns them.

Pure: the file's name and bytes plus the views in, payloads out. Applying the same content twice gives
nothing; a broken file gives one `config.failed` (once per distinct error) and changes nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .events import (
    ConfigFileApplied,
    ConfigFileFailed,
    ConfigFileRemoved,
    Payload,
    ScheduleConfig,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleUpdated,
    StreamConfig,
    StreamCreated,
    StreamDeleted,
    StreamUpdated,
)
from .validation import SCHEDULE_FIELDS, STREAM_FIELDS, CommandError, Conflict, Invalid, clean
from .views import Views, config_of

MAX_FILE_BYTES = 1024 * 1024
MAX_STREAMS_PER_FILE = 200
FILE_SCHEDULE_FIELDS = {name: check for name, check in SCHEDULE_FIELDS.items() if name != "stream_id"}


class FileProblem(Invalid):
    """The file is not JSON we can use; `line` points at a syntax error."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message, field)
        self.line = line


@dataclass(frozen=True)
class DeclaredStream:
    path: str  # where in the file, for errors: "" for a one-stream file, else "streams[2]."
    config: StreamConfig
    schedules: tuple[dict[str, Any], ...]  # cleaned schedule fields without stream_id


def decide_config_file(views: Views, file: str, data: bytes, default_timezone: str) -> list[Payload]:
    """Bring the streams a file owns to what it says now, or record why it cannot be used."""
    try:
        return _apply(views, file, parse(data), default_timezone)
    except CommandError as problem:
        return _failed(views, file, problem.message, getattr(problem, "line", None), problem.field)


def decide_config_file_unreadable(views: Views, file: str, reason: str) -> list[Payload]:
    return _failed(views, file, reason, None, None)


def decide_config_file_removed(views: Views, file: str) -> list[Payload]:
    """A deleted file takes the streams it owned (and their schedules) with it."""
    row = views.config_file(file)
    if row is None:
        return []
    return [*(change for stream_id in row["stream_ids"] for change in _removal(views, stream_id)),
            ConfigFileRemoved(file)]


def problem_text(error: str, line: int | None, field: str | None) -> str:
    """How a config file's fault reads in the log and the UI: where first, then what."""
    return f"line {line}: {error}" if line else f"{field}: {error}" if field else error


def parse(data: bytes) -> list[DeclaredStream]:
    """One stream object, or {"streams": [...]}, with the API's field names plus `schedules`."""
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(f"the file is larger than {MAX_FILE_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(f"not UTF-8 text (byte {error.start})") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise FileProblem(f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
                          error.lineno) from None
    except RecursionError:
        raise FileProblem("not a config file: JSON nested too deeply") from None
    if isinstance(document, dict) and "streams" in document:
        clean(document, {"streams": lambda value, field: value}, ("streams",))
        entries, prefix = document["streams"], "streams"
        if not isinstance(entries, list):
            raise Invalid("must be a list of stream objects", "streams")
        if len(entries) > MAX_STREAMS_PER_FILE:
            raise Invalid(f"at most {MAX_STREAMS_PER_FILE} streams per file", "streams")
    elif isinstance(document, dict):
        entries, prefix = [document], ""
    else:
        raise Invalid('expected a stream object {"name", "url", ...} or {"streams": [...]}')
    declared = [_stream(entry, f"{prefix}[{index}]." if prefix else "") for index, entry in enumerate(entries)]
    seen: dict[str, str] = {}
    for stream in declared:
        key = stream.config.name.casefold()
        if key in seen:
            raise Invalid(f"the name {stream.config.name!r} is used twice in this file", f"{stream.path}name")
        seen[key] = stream.path
    return declared


def _stream(entry: Any, path: str) -> DeclaredStream:
    if not isinstance(entry, dict):
        raise Invalid("must be a stream object", path.rstrip(".") or None)
    fields = {key: value for key, value in entry.items() if key != "schedules"}
    schedules = entry.get("schedules", [])
    try:
        config = StreamConfig(**clean(fields, STREAM_FIELDS, ("name", "url")))
        if not isinstance(schedules, list):
            raise Invalid("must be a list of schedule objects", "schedules")
        cleaned = tuple(_schedule(schedule, index) for index, schedule in enumerate(schedules))
    except Invalid as error:
        raise Invalid(error.message, f"{path}{error.field}" if error.field else path.rstrip(".") or None) from None
    return DeclaredStream(path, config, cleaned)


def _schedule(schedule: Any, index: int) -> dict[str, Any]:
    try:
        return clean(schedule, FILE_SCHEDULE_FIELDS, ("cron", "duration_minutes"))
    except Invalid as error:
        raise Invalid(error.message, f"schedules[{index}]" + (f".{error.field}" if error.field else "")) from None


def _apply(views: Views, file: str, declared: list[DeclaredStream], default_timezone: str) -> list[Payload]:
    payloads: list[Payload] = []
    next_stream, next_schedule = views.next_id("streams"), views.next_id("schedules")
    stream_ids: list[int] = []
    for stream in declared:
        existing = views.stream_named(stream.config.name)
        if existing is None:
            stream_id, next_stream = next_stream, next_stream + 1
            payloads.append(StreamCreated(stream_id, stream.config))
        else:
            stream_id = existing.doc_id
            owner = views.config_file_of(stream_id)
            if owner not in (None, file):
                raise Conflict(f"a stream named {existing['name']!r} is already described by {owner}",
                               f"{stream.path}name")
            current = config_of(StreamConfig, existing)
            wanted = dataclasses.replace(stream.config, artwork=current.artwork)  # art is uploaded, not declared
            if wanted != current:
                payloads.append(StreamUpdated(stream_id, wanted))
        stream_ids.append(stream_id)
        wanted_schedules = [ScheduleConfig(**{"timezone": default_timezone, **fields, "stream_id": stream_id})
                            for fields in stream.schedules]
        changes, next_schedule = _schedule_changes(views, stream_id, wanted_schedules, next_schedule)
        payloads += changes
    row = views.config_file(file)
    for gone in (row["stream_ids"] if row else []):
        if gone not in stream_ids:
            payloads += _removal(views, gone)
    if payloads or row is None or row["status"] != "applied" or row["stream_ids"] != stream_ids:
        payloads.append(ConfigFileApplied(file, tuple(stream_ids)))
    return payloads


def _removal(views: Views, stream_id: int) -> list[Payload]:
    """A file's stream and its schedules going away (nothing, if it is already gone)."""
    if views.get("streams", stream_id) is None:
        return []
    return [*(ScheduleDeleted(s.doc_id) for s in views.schedules(stream_id)), StreamDeleted(stream_id)]


def _schedule_changes(views: Views, stream_id: int, wanted: list[ScheduleConfig],
                      next_schedule: int) -> tuple[list[Payload], int]:
    """Keep identical schedules, update the rest in order, then create or delete the difference."""
    remaining = [(row.doc_id, config_of(ScheduleConfig, row)) for row in views.schedules(stream_id)]
    unmatched: list[ScheduleConfig] = []
    for config in wanted:  # one to one, so a schedule listed twice exists twice
        same = next((item for item in remaining if item[1] == config), None)
        if same is None:
            unmatched.append(config)
        else:
            remaining.remove(same)
    spare = [schedule_id for schedule_id, _ in remaining]
    payloads: list[Payload] = [ScheduleUpdated(schedule_id, config) for schedule_id, config in zip(spare, unmatched)]
    for config in unmatched[len(spare):]:
        payloads.append(ScheduleCreated(next_schedule, config))
        next_schedule += 1
    payloads += [ScheduleDeleted(schedule_id) for schedule_id in spare[len(unmatched):]]
    return payloads, next_schedule


def _failed(views: Views, file: str, error: str, line: int | None, field: str | None) -> list[Payload]:
    row = views.config_file(file)
    if row is not None and row["status"] == "failed" and (row["error"], row["line"], row["field"]) == (
            error, line, field):
        return []
    return [ConfigFileFailed(file, error, line, field)]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Linear: a 1 MB file is parsed under the store's lock."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Invalid(f"{key!r} is given twice in one object", key)
            seen.add(key)
    return found


def _no_constants(name: str) -> Any:
    raise Invalid(f"{name} is not a JSON number")
