"""Event types and their JSON-line form: the vocabulary of the log.

Each payload is a frozen dataclass with a stable dotted TYPE and a schema VERSION. Stored lines are never
rewritten: when a payload changes shape, bump VERSION and register an upcaster that turns the old raw data into
the new one on read, so every old log still replays. A new field with a default needs no upcaster.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping, Union, get_args

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
    user_agent: str = ""  # some stations refuse ffmpeg's default
    artwork: str = ""  # file name inside the artwork folder, generated at upload
    ssh_key: str = ""  # file name inside the config folder; "" means config/ssh_key
    max_retries: int | None = None  # transfer retries; None means DEFAULT_MAX_RETRIES
    upload_sidecar: bool = True  # also upload the chapters file next to the MP3


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


@dataclass(frozen=True)
class SessionScheduled:
    """A recording was asked for, by a schedule firing or by record-now; its time window is fixed here.

    `fire_time` is the nominal cron time (or the moment record-now was pressed); the window adds the padding.
    All times are UTC.
    """

    TYPE: ClassVar[str] = "session.scheduled"
    VERSION: ClassVar[int] = 1
    session_id: int
    stream_id: int
    schedule_id: int | None
    fire_time: datetime
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class SessionQueued:
    """No recording slot was free; the session waits while its window is open."""

    TYPE: ClassVar[str] = "session.queued"
    VERSION: ClassVar[int] = 1
    session_id: int
    reason: str


@dataclass(frozen=True)
class SessionStarted:
    """Capture began (part 1) or began again after an interruption (part 2, 3, ...)."""

    TYPE: ClassVar[str] = "session.started"
    VERSION: ClassVar[int] = 1
    session_id: int
    part: int


@dataclass(frozen=True)
class SessionRecorded:
    """Capture ended at the window's end; `file` is the recording (relative to the recordings folder)."""

    TYPE: ClassVar[str] = "session.recorded"
    VERSION: ClassVar[int] = 1
    session_id: int
    file: str
    size_bytes: int
    duration_seconds: float


@dataclass(frozen=True)
class SessionGap:
    """The stream was interrupted during the capture from `started` (UTC) for `seconds`; recording went on."""

    TYPE: ClassVar[str] = "session.gap"
    VERSION: ClassVar[int] = 1
    session_id: int
    started: datetime
    seconds: float
    reason: str


@dataclass(frozen=True)
class SessionInterrupted:
    """The recorder stopped (crash, restart) while this session was recording; what was captured is kept."""

    TYPE: ClassVar[str] = "session.interrupted"
    VERSION: ClassVar[int] = 1
    session_id: int
    reason: str


@dataclass(frozen=True)
class SessionProcessed:
    """The recording became the finished, tagged MP3 `file` (relative to the recordings folder)."""

    TYPE: ClassVar[str] = "session.processed"
    VERSION: ClassVar[int] = 1
    session_id: int
    file: str
    size_bytes: int
    duration_seconds: float
    chapters: int


@dataclass(frozen=True)
class SessionCompleted:
    """Nothing is left to do for this session (delivered, or kept locally when there is no destination)."""

    TYPE: ClassVar[str] = "session.completed"
    VERSION: ClassVar[int] = 1
    session_id: int


@dataclass(frozen=True)
class TransferAttempted:
    """An upload of the session's MP3 to its destination began (attempt 1, 2, ...)."""

    TYPE: ClassVar[str] = "transfer.attempted"
    VERSION: ClassVar[int] = 1
    session_id: int
    attempt: int
    destination: str


@dataclass(frozen=True)
class TransferFailed:
    """An upload attempt failed; `retry_at` is when the next one runs, None when there will be none."""

    TYPE: ClassVar[str] = "transfer.failed"
    VERSION: ClassVar[int] = 1
    session_id: int
    attempt: int
    reason: str
    permanent: bool
    retry_at: datetime | None


@dataclass(frozen=True)
class TransferCompleted:
    """The MP3 is on the destination under its final name, its size verified."""

    TYPE: ClassVar[str] = "transfer.completed"
    VERSION: ClassVar[int] = 1
    session_id: int
    remote_path: str
    size_bytes: int
    seconds: float


@dataclass(frozen=True)
class TransferRetryRequested:
    """A user asked to try a failed upload again (attempts start over)."""

    TYPE: ClassVar[str] = "transfer.retry_requested"
    VERSION: ClassVar[int] = 1
    session_id: int


@dataclass(frozen=True)
class HostTrusted:
    """A user confirmed this server's host key; uploads to it are refused for any other key."""

    TYPE: ClassVar[str] = "host.trusted"
    VERSION: ClassVar[int] = 1
    host: str
    port: int
    key_type: str
    key_base64: str
    fingerprint: str


@dataclass(frozen=True)
class SessionMissed:
    """The window closed before capture could start (service down, no free slot)."""

    TYPE: ClassVar[str] = "session.missed"
    VERSION: ClassVar[int] = 1
    session_id: int
    reason: str


@dataclass(frozen=True)
class SessionFailed:
    """The session ended without a usable recording; `reason` says what to fix."""

    TYPE: ClassVar[str] = "session.failed"
    VERSION: ClassVar[int] = 1
    session_id: int
    reason: str



@dataclass(frozen=True)
class ConfigFileApplied:
    """A drop-in config file was read and the streams it describes (with their schedules) now match it.

    The file owns these streams: the API refuses to change them, and removing the file removes them.
    """

    TYPE: ClassVar[str] = "config.applied"
    VERSION: ClassVar[int] = 1
    file: str
    stream_ids: tuple[int, ...]


@dataclass(frozen=True)
class ConfigFileFailed:
    """A config file could not be used; nothing changed. `line` (JSON syntax) or `field` points at the fault."""

    TYPE: ClassVar[str] = "config.failed"
    VERSION: ClassVar[int] = 1
    file: str
    error: str
    line: int | None
    field: str | None


@dataclass(frozen=True)
class ConfigFileRemoved:
    """A config file was deleted (its streams were deleted in the same batch)."""

    TYPE: ClassVar[str] = "config.removed"
    VERSION: ClassVar[int] = 1
    file: str

Payload = Union[StreamCreated, StreamUpdated, StreamDeleted, ScheduleCreated, ScheduleUpdated, ScheduleDeleted,
                SessionScheduled, SessionQueued, SessionStarted, SessionGap, SessionInterrupted, SessionRecorded,
                SessionProcessed, SessionCompleted, SessionMissed, SessionFailed, TransferAttempted,
                TransferFailed, TransferCompleted, TransferRetryRequested, HostTrusted, ConfigFileApplied,
                ConfigFileFailed, ConfigFileRemoved]
PAYLOAD_TYPES: dict[str, type] = {cls.TYPE: cls for cls in get_args(Payload)}

# (type, version) -> function turning that version's raw data into the next version's.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


# Who appends events: the web UI, API clients, drop-in config files, the scheduler and recorder, uploads,
# backup restores and the command line.
SOURCES = ("ui", "api", "config", "runner", "delivery", "restore", "cli")


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


def record(event: Event) -> dict[str, Any]:
    """The stored shape of an event, for orjson; keys in a fixed order so logs diff cleanly."""
    return {"seq": event.seq, "at": format_time(event.at), "type": event.data.TYPE,
            "v": event.data.VERSION, "source": event.source, "data": event.data}


def encode(event: Event) -> str:
    """One JSON line (without the newline)."""
    return orjson.dumps(record(event), option=orjson.OPT_UTC_Z).decode()


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


def _converter(name: str, annotation: str) -> Callable[[Any], Any] | None:
    """How to turn a raw JSON value into a field of this (string) annotation, if it needs more than JSON."""
    if annotation in _CONFIG_TYPES:
        config_type = _CONFIG_TYPES[annotation]

        def build(value: Any) -> Any:
            if type(value) is not dict:
                raise TypeError(f"{name} must be an object")
            return _build(config_type, value)

        return build
    if annotation == "datetime":
        return parse_time
    if annotation == "datetime | None":
        return lambda value: None if value is None else parse_time(value)
    if annotation == "tuple[int, ...]":
        def numbers(value: Any) -> tuple[int, ...]:
            if type(value) is not list or any(type(item) is not int for item in value):
                raise TypeError(f"{name} must be a list of whole numbers")
            return tuple(value)

        return numbers
    return None


_ALL_TYPES = (*PAYLOAD_TYPES.values(), *_CONFIG_TYPES.values())
# type -> {field name: converter}, derived from the annotations so no hand-kept list goes stale.
_CONVERTERS: dict[type, dict[str, Callable[[Any], Any]]] = {
    cls: {field.name: conv for field in dataclasses.fields(cls) if (conv := _converter(field.name, str(field.type)))}
    for cls in _ALL_TYPES
}
_FIELD_NAMES = {cls: {field.name for field in dataclasses.fields(cls)} for cls in _ALL_TYPES}


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Construct a payload from raw data; nested configs and times are converted first.

    Replay builds one payload per stored line, so when the keys are exactly the fields (every line this
    version wrote) the object is filled directly instead of through the frozen __init__, about 3x faster.
    Anything else (missing defaults, unknown keys) goes through the normal constructor, which checks it.
    """
    converters = _CONVERTERS[cls]
    if converters:
        data = dict(data)
        for key, convert in converters.items():
            if key in data:
                data[key] = convert(data[key])
    if data.keys() == _FIELD_NAMES[cls]:
        built = object.__new__(cls)
        built.__dict__.update(data)
        return built
    return cls(**data)
