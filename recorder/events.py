"""Event types and their JSON-line form: the vocabulary of the log.

Each payload is a frozen dataclass with a stable dotted TYPE and a schema VERSION. Stored lines are never
rewritten: when a payload changes shape, bump VERSION and register an upcaster that turns the old raw data into
the new one on read, so every old log still replays. A new field with a default needs no upcaster.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping, Union

import orjson


class EventFormatError(ValueError):
    """A stored line is not an event this version can read."""


@dataclass(frozen=True)
class StreamConfig:
    """What a user configures for a stream; events carry it whole so replay needs no merging."""

    name: str
    url: str
    artist: str = ""
    album: str = ""
    album_artist: str = ""
    scp_destination: str = ""


@dataclass(frozen=True)
class ScheduleConfig:
    """When and how long to record a stream; times are wall-clock times in `timezone`."""

    stream_id: int
    cron: str
    duration_minutes: int
    active: bool = True
    timezone: str = "UTC"
    pad_before_seconds: int = 0
    pad_after_seconds: int = 0


@dataclass(frozen=True)
class StreamCreated:
    """A stream was added."""

    TYPE: ClassVar[str] = "stream.created"
    VERSION: ClassVar[int] = 1
    stream_id: int
    stream: StreamConfig


@dataclass(frozen=True)
class StreamUpdated:
    """A stream's configuration was replaced by this one."""

    TYPE: ClassVar[str] = "stream.updated"
    VERSION: ClassVar[int] = 1
    stream_id: int
    stream: StreamConfig


@dataclass(frozen=True)
class StreamDeleted:
    """A stream was removed (its schedules were deleted by earlier events of the same command)."""

    TYPE: ClassVar[str] = "stream.deleted"
    VERSION: ClassVar[int] = 1
    stream_id: int


@dataclass(frozen=True)
class ScheduleCreated:
    """A schedule was added."""

    TYPE: ClassVar[str] = "schedule.created"
    VERSION: ClassVar[int] = 1
    schedule_id: int
    schedule: ScheduleConfig


@dataclass(frozen=True)
class ScheduleUpdated:
    """A schedule's configuration was replaced by this one (pausing is `active: false`)."""

    TYPE: ClassVar[str] = "schedule.updated"
    VERSION: ClassVar[int] = 1
    schedule_id: int
    schedule: ScheduleConfig


@dataclass(frozen=True)
class ScheduleDeleted:
    """A schedule was removed."""

    TYPE: ClassVar[str] = "schedule.deleted"
    VERSION: ClassVar[int] = 1
    schedule_id: int


Payload = Union[StreamCreated, StreamUpdated, StreamDeleted, ScheduleCreated, ScheduleUpdated, ScheduleDeleted]
PAYLOAD_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (StreamCreated, StreamUpdated, StreamDeleted, ScheduleCreated, ScheduleUpdated, ScheduleDeleted)
}

# (type, version) -> function turning that version's raw data into the next version's.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


@dataclass(frozen=True)
class Event:
    """One line of the log: a payload with its place (seq), time (UTC) and origin (api, ui, config, runner...)."""

    seq: int
    at: datetime
    source: str
    data: Payload

    @property
    def type(self) -> str:
        return self.data.TYPE


def encode(event: Event) -> str:
    """One JSON line (without the newline); keys in a fixed order so logs diff cleanly."""
    return orjson.dumps({"seq": event.seq, "at": format_time(event.at), "type": event.data.TYPE,
                         "v": event.data.VERSION, "source": event.source, "data": event.data}).decode()


def decode(line: str | bytes, upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS) -> Event:
    """Parse one stored line, upcasting old schema versions; raise EventFormatError saying what is wrong.

    This runs once per line at every start, so the common path is kept short (orjson, no copies).
    """
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise EventFormatError(f"not JSON ({error})") from None
    if type(raw) is not dict:
        raise EventFormatError("not a JSON object")
    try:
        seq, at, kind, version, source, data = raw["seq"], raw["at"], raw["type"], raw["v"], raw["source"], raw["data"]
    except KeyError as error:
        raise EventFormatError(f"missing key {error}") from None
    if type(seq) is not int or type(version) is not int or type(data) is not dict:
        raise EventFormatError("seq and v must be integers and data an object")
    cls = PAYLOAD_TYPES.get(kind)
    if cls is None:
        raise EventFormatError(f"unknown event type {kind!r}")
    if version != cls.VERSION:
        data = upcast(kind, version, data, cls.VERSION, upcasters)
    at = parse_time(at)
    try:
        return Event(seq, at, str(source), _build(cls, data))
    except (TypeError, ValueError) as error:
        raise EventFormatError(f"bad {kind} data ({error})") from None


def upcast(kind: str, version: int, data: dict[str, Any], current: int,
           upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS) -> dict[str, Any]:
    """Bring raw data of an old schema version up to `current`, one step at a time."""
    if version > current:
        raise EventFormatError(f"{kind} v{version} was written by a newer version (this one reads up to v{current})")
    while version < current:
        step = upcasters.get((kind, version))
        if step is None:
            raise EventFormatError(f"no upcaster for {kind} v{version}")
        data = step(data)
        version += 1
    return data


def format_time(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: object) -> datetime:
    if not isinstance(text, str):
        raise EventFormatError("at must be a string")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise EventFormatError(f"at {text!r} is not an ISO time") from None
    if at.tzinfo is None:
        raise EventFormatError(f"at {text!r} has no time zone")
    return at


_CONFIG_TYPES = {cls.__name__: cls for cls in (StreamConfig, ScheduleConfig)}
# payload type -> {field name: config dataclass}, so decoding builds nested configs without a hand-kept list.
_NESTED: dict[type, dict[str, type]] = {
    cls: {field.name: _CONFIG_TYPES[field.type] for field in dataclasses.fields(cls) if field.type in _CONFIG_TYPES}
    for cls in (*PAYLOAD_TYPES.values(), *_CONFIG_TYPES.values())
}
_FIELD_NAMES = {cls: {field.name for field in dataclasses.fields(cls)}
                for cls in (*PAYLOAD_TYPES.values(), *_CONFIG_TYPES.values())}


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Construct a payload from raw data; nested configs are dataclasses too.

    Replay builds one payload per stored line, so when the keys are exactly the fields (every line this
    version wrote) the object is filled directly instead of through the frozen __init__, about 3x faster.
    Anything else (missing defaults, unknown keys) goes through the normal constructor, which checks it.
    """
    nested = _NESTED[cls]
    if nested:
        data = dict(data)
        for key, inner in nested.items():
            if type(data.get(key)) is not dict:
                raise TypeError(f"{key} must be an object")
            data[key] = _build(inner, data[key])
    if data.keys() == _FIELD_NAMES[cls]:
        built = object.__new__(cls)
        built.__dict__.update(data)
        return built
    return cls(**data)
