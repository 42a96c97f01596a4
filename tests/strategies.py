"""Hypothesis strategies for the pure core: payloads, events and command inputs."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import strategies as st

from recorder.events import (
                             PAYLOAD_TYPES,
                             ConfigFileApplied,
                             ConfigFileFailed,
                             ConfigFileRemoved,
                             Event,
                             HostTrusted,
                             ScheduleConfig,
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
                             StreamConfig,
                             StreamCreated,
                             StreamDeleted,
                             StreamUpdated,
                             TransferAttempted,
                             TransferCompleted,
                             TransferFailed,
                             TransferRetryRequested,
)

ids = st.integers(min_value=1, max_value=2**31)
texts = st.text(max_size=40)
stream_configs = st.builds(StreamConfig, name=texts, url=texts, artist=texts, album=texts, album_artist=texts,
                           scp_destination=texts, user_agent=texts, artwork=texts, ssh_key=texts,
                           max_retries=st.none() | st.integers(0, 20), upload_sidecar=st.booleans())
schedule_configs = st.builds(ScheduleConfig, stream_id=ids, cron=texts, duration_minutes=st.integers(1, 10080),
                             active=st.booleans(), timezone=texts, pad_before_seconds=st.integers(0, 3600),
                             pad_after_seconds=st.integers(0, 3600))
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(timezone.utc))
PAYLOADS = {
    StreamCreated: st.builds(StreamCreated, ids, stream_configs),
    StreamUpdated: st.builds(StreamUpdated, ids, stream_configs),
    StreamDeleted: st.builds(StreamDeleted, ids),
    ScheduleCreated: st.builds(ScheduleCreated, ids, schedule_configs),
    ScheduleUpdated: st.builds(ScheduleUpdated, ids, schedule_configs),
    ScheduleDeleted: st.builds(ScheduleDeleted, ids),
    SessionScheduled: st.builds(SessionScheduled, ids, ids, st.none() | ids, times, times, times),
    SessionQueued: st.builds(SessionQueued, ids, texts),
    SessionStarted: st.builds(SessionStarted, ids, st.integers(1, 100)),
    SessionRecorded: st.builds(SessionRecorded, ids, texts, st.integers(0, 2**40),
                               st.floats(0, 1e6, allow_nan=False)),
    SessionGap: st.builds(SessionGap, ids, times, st.floats(0, 1e6, allow_nan=False), texts),
    SessionInterrupted: st.builds(SessionInterrupted, ids, texts),
    SessionProcessed: st.builds(SessionProcessed, ids, texts, st.integers(0, 2**40),
                                st.floats(0, 1e6, allow_nan=False), st.integers(0, 1000)),
    SessionCompleted: st.builds(SessionCompleted, ids),
    SessionMissed: st.builds(SessionMissed, ids, texts),
    TransferAttempted: st.builds(TransferAttempted, ids, st.integers(1, 100), texts),
    TransferFailed: st.builds(TransferFailed, ids, st.integers(1, 100), texts, st.booleans(), st.none() | times),
    TransferCompleted: st.builds(TransferCompleted, ids, texts, st.integers(0, 2**40),
                                 st.floats(0, 1e6, allow_nan=False)),
    TransferRetryRequested: st.builds(TransferRetryRequested, ids),
    HostTrusted: st.builds(HostTrusted, texts, st.integers(1, 65535), texts, texts, texts),
    SessionFailed: st.builds(SessionFailed, ids, texts),
    ConfigFileApplied: st.builds(ConfigFileApplied, texts, st.lists(ids, max_size=5).map(tuple)),
    ConfigFileFailed: st.builds(ConfigFileFailed, texts, texts, st.none() | st.integers(1, 10**6),
                                st.none() | texts),
    ConfigFileRemoved: st.builds(ConfigFileRemoved, texts),
}
assert set(PAYLOADS) == set(PAYLOAD_TYPES.values()), "every event type needs a strategy"
payloads = st.one_of(*PAYLOADS.values())
events = st.builds(Event, seq=st.integers(1, 2**53), at=times, source=st.sampled_from(["api", "ui", "config"]),
                   data=payloads)
