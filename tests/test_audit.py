"""The audit trail's paging and filters (pure: lists of events in, pages out)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from recorder.audit import AuditFilter, page, page_newest_first, type_matches
from recorder.events import (
    Event,
    ScheduleConfig,
    ScheduleCreated,
    ScheduleDeleted,
    SessionScheduled,
    SessionStarted,
    StreamConfig,
    StreamCreated,
)

from strategies import payloads

T0 = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)


def logged(payload_list: list, sources: list[str]) -> list[Event]:
    return [Event(seq, T0 + timedelta(minutes=seq), sources[seq % len(sources)], data)
            for seq, data in enumerate(payload_list, start=1)]


@given(st.lists(payloads, max_size=40), st.integers(1, 7), st.sampled_from(["", "session", "stream.created"]),
       st.sampled_from([None, "api", "ui"]))
def test_paging_with_the_cursor_walks_every_match_once_newest_first(payload_list: list, limit: int, kind: str,
                                                                  source: str | None) -> None:
    events = logged(payload_list, ["api", "ui", "config"])
    wanted = AuditFilter(types=(kind,) if kind else (), source=source)
    expected = [event for event in reversed(events)
                if (not kind or event.type == kind or event.type.startswith(kind + "."))
                and (source is None or event.source == source)]
    walked, before = [], None
    for _ in range(len(events) + 2):
        found = page(events, wanted, before, limit)
        assert len(found.events) <= limit
        walked += found.events
        before = found.before
        if before is None:
            break
    assert walked == expected



@given(st.lists(payloads, max_size=40), st.integers(1, 7), st.sampled_from(["", "session", "config"]),
       st.sampled_from([None, "api"]), st.none() | st.integers(1, 5), st.none() | st.integers(1, 45))
def test_the_newest_first_page_is_the_same_page(payload_list: list, limit: int, kind: str, source: str | None,
                                                session_id: int | None, before: int | None) -> None:
    events = logged(payload_list, ["api", "ui", "config"])
    wanted = AuditFilter(types=(kind,) if kind else (), source=source, session_id=session_id)
    assert page_newest_first(reversed(events), wanted, before, limit) == page(events, wanted, before, limit)

def test_type_families_match_whole_words_only() -> None:
    assert type_matches("session.started", "session") and type_matches("session.started", "session.")
    assert type_matches("session.started", "session.started")
    assert not type_matches("session.started", "sess") and not type_matches("sessions.x", "session")


def test_stream_filter_follows_schedules_and_sessions_to_their_stream() -> None:
    events = logged([
        StreamCreated(1, StreamConfig(name="A", url="http://a/")),
        StreamCreated(2, StreamConfig(name="B", url="http://b/")),
        ScheduleCreated(7, ScheduleConfig(stream_id=2, cron="0 9 * * *", duration_minutes=5)),
        SessionScheduled(3, 2, 7, T0, T0, T0),
        SessionScheduled(4, 1, None, T0, T0, T0),
        SessionStarted(3, 1),
        ScheduleDeleted(7),
    ], ["api"])
    concerning_b = page(events, AuditFilter(stream_id=2), None, 50).events
    assert [event.seq for event in concerning_b] == [7, 6, 4, 3, 2]
    assert [event.seq for event in page(events, AuditFilter(session_id=3), None, 50).events] == [6, 4]
    since = page(events, AuditFilter(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=7)), None, 50)
    assert [event.seq for event in since.events] == [6, 5]
