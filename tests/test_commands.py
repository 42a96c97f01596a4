"""The command layer decides against the views; replaying its events gives the same views."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder import commands
from recorder.commands import CommandError, Conflict, Invalid, NotFound
from recorder.events import Event
from recorder.views import Views, replay

NAMES = ["Jazz", "jazz ", "News", "Talk", "Morning Show"]
stream_inputs = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES), "url": st.sampled_from(["http://a.example/x.mp3", "file:///etc/passwd"])},
    optional={"artist": st.text(max_size=5), "album": st.sampled_from(["A", 3])})
schedule_inputs = st.fixed_dictionaries(
    {"stream_id": st.integers(1, 6), "cron": st.sampled_from(["0 9 * * 1-5", "30 14 * * 0", "61 * * * *"]),
     "duration_minutes": st.integers(0, 120)},
    optional={"active": st.booleans(), "timezone": st.sampled_from(["Europe/Berlin", "Nowhere/Land"])})
actions = st.one_of(
    st.tuples(st.just("create_stream"), stream_inputs),
    st.tuples(st.just("update_stream"), st.integers(1, 6), stream_inputs),
    st.tuples(st.just("delete_stream"), st.integers(1, 6), st.booleans()),
    st.tuples(st.just("create_schedule"), schedule_inputs),
    st.tuples(st.just("update_schedule"), st.integers(1, 6), schedule_inputs),
    st.tuples(st.just("delete_schedule"), st.integers(1, 6)),
)
AT = datetime(2026, 11, 25, tzinfo=timezone.utc)


def decide(views: Views, action: tuple[Any, ...]) -> list:
    name, *args = action
    if name == "create_schedule":
        return commands.decide_create_schedule(views, args[0], "UTC")
    return getattr(commands, f"decide_{name}")(views, *args)


@settings(max_examples=150, deadline=None)
@given(st.lists(actions, max_size=25))
def test_replay_equals_incremental_apply_and_rules_hold(script: list[tuple[Any, ...]]) -> None:
    live = Views()
    log: list[Event] = []
    for action in script:
        try:
            payloads = decide(live, action)
        except CommandError:
            continue
        for payload in payloads:
            event = Event(len(log) + 1, AT, "test", payload)
            log.append(event)
            live.apply(event)
        # The rules hold after every accepted command.
        names = [row["name"].strip().casefold() for row in live.streams()]
        assert len(names) == len(set(names)), "stream names stay unique"
        assert {row["stream_id"] for row in live.schedules()} <= {row.doc_id for row in live.streams()}
        assert all(row["url"].startswith("http") for row in live.streams())
    assert replay(log).snapshot() == live.snapshot()
    half = len(log) // 2
    resumed = replay(log[:half])
    for event in log[half:]:
        resumed.apply(event)
    assert resumed.snapshot() == live.snapshot()


def test_ids_are_never_reused_after_a_delete() -> None:
    views = Views()
    apply_all(views, commands.decide_create_stream(views, {"name": "A", "url": "http://a.example/"}))
    apply_all(views, commands.decide_delete_stream(views, 1, cascade=False))
    apply_all(views, commands.decide_create_stream(views, {"name": "A", "url": "http://a.example/"}))
    assert [row.doc_id for row in views.streams()] == [2]


def test_an_update_that_changes_nothing_emits_nothing() -> None:
    views = Views()
    apply_all(views, commands.decide_create_stream(views, {"name": "A", "url": "http://a.example/"}))
    assert commands.decide_update_stream(views, 1, {"name": "A"}) == []


@pytest.mark.parametrize("call, error, field", [
    (lambda v: commands.decide_update_stream(v, 9, {}), NotFound, None),
    (lambda v: commands.decide_delete_schedule(v, 9), NotFound, None),
    (lambda v: commands.decide_create_stream(v, []), Invalid, None),
    (lambda v: commands.decide_create_stream(v, {"name": "a", "url": "http://a.example/"}), Conflict, "name"),
    (lambda v: commands.decide_create_schedule(v, {"stream_id": 1, "cron": "0 0 31 2 *", "duration_minutes": 5},
                                               "UTC"), Invalid, "cron"),
])
def test_errors_are_typed_and_name_the_field(call: Any, error: type, field: str | None) -> None:
    views = Views()
    apply_all(views, commands.decide_create_stream(views, {"name": "A", "url": "http://a.example/"}))
    with pytest.raises(error) as caught:
        call(views)
    assert caught.value.field == field and caught.value.message


def apply_all(views: Views, payloads: list) -> None:
    for payload in payloads:
        views.apply(Event(views.last_seq + 1, AT, "test", payload))


def test_a_host_key_is_pinned_only_when_it_is_the_one_confirmed() -> None:
    views = Views()
    with pytest.raises(Conflict, match="not the fingerprint you confirmed") as refused:
        commands.decide_trust_host(views, "files.example", 22, "ssh-ed25519", "AAAA", "SHA256:new", "SHA256:old")
    assert refused.value.field == "fingerprint"
    [pinned] = commands.decide_trust_host(views, "files.example", 22, "ssh-ed25519", "AAAA", "SHA256:new",
                                          " SHA256:new ")
    assert (pinned.host, pinned.fingerprint) == ("files.example", "SHA256:new")
