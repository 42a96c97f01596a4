"""The audit trail: a page of the event log, newest first, picked by type, source, stream, session and time.

Pure: it walks events it is given, so the API, the CLI and tests share one definition of "matches".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from .events import Event


@dataclass(frozen=True)
class AuditFilter:
    """Empty fields match everything. A type matches itself and, as a family, every `type.*` (e.g. `session`)."""

    types: tuple[str, ...] = ()
    source: str | None = None
    stream_id: int | None = None
    session_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[Event]
    before: int | None  # pass as `before` for the next (older) page; None when there is none


def type_matches(kind: str, wanted: str) -> bool:
    return kind == wanted or kind.startswith(wanted.rstrip(".") + ".")


def page(events: Iterable[Event], wanted: AuditFilter, before: int | None, limit: int) -> AuditPage:
    """The newest `limit` matching events with seq < before; events must come in log order."""
    stream_of: dict[tuple[str, int], int] = {}  # ("session" | "schedule", id) -> stream id, learnt on the way
    newest: deque[Event] = deque(maxlen=limit + 1)
    for event in events:
        session_id = getattr(event.data, "session_id", None)
        stream_id = _stream_of(event, stream_of)
        if before is not None and event.seq >= before:
            break
        if _matches(event, wanted, stream_id, session_id):
            newest.append(event)
    chosen = list(reversed(newest))
    more = len(chosen) > limit
    return AuditPage(chosen[:limit], chosen[limit - 1].seq if more else None)


def page_newest_first(events: Iterable[Event], wanted: AuditFilter, before: int | None, limit: int) -> AuditPage:
    """The same page from events given newest first, reading only as far back as the page needs.

    Only for filters without `stream_id`: which stream a session event concerns is learnt from older events.
    """
    assert wanted.stream_id is None, "a stream filter needs the log in order (see page)"
    chosen: list[Event] = []
    for event in events:
        if before is not None and event.seq >= before:
            continue
        if _matches(event, wanted, None, getattr(event.data, "session_id", None)):
            chosen.append(event)
            if len(chosen) > limit:
                break
    more = len(chosen) > limit
    return AuditPage(chosen[:limit], chosen[limit - 1].seq if more else None)


def _stream_of(event: Event, stream_of: dict[tuple[str, int], int]) -> int | None:
    """The stream an event concerns, also for session and schedule events that name only their own id."""
    data = event.data
    config = getattr(data, "schedule", None)
    for kind in ("session", "schedule"):
        own_id = getattr(data, f"{kind}_id", None)
        if own_id is None:
            continue
        named = getattr(data, "stream_id", None) if kind == "session" else getattr(config, "stream_id", None)
        if named is not None:
            stream_of[(kind, own_id)] = named
        return stream_of.get((kind, own_id))
    return getattr(data, "stream_id", None)


def _matches(event: Event, wanted: AuditFilter, stream_id: int | None, session_id: int | None) -> bool:
    return ((not wanted.types or any(type_matches(event.type, kind) for kind in wanted.types))
            and (wanted.source is None or event.source == wanted.source)
            and (wanted.stream_id is None or stream_id == wanted.stream_id)
            and (wanted.session_id is None or session_id == wanted.session_id)
            and (wanted.since is None or event.at >= wanted.since)
            and (wanted.until is None or event.at < wanted.until))
