"""Events survive their JSON-line form exactly; old versions are upcast; bad lines are named, not guessed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from recorder.events import UPCASTERS, Event, EventFormatError, StreamDeleted, decode, encode

from strategies import events


@given(events)
def test_every_event_type_round_trips(event: Event) -> None:
    line = encode(event)
    assert "\n" not in line
    assert decode(line) == event
    assert decode(line.encode()) == event


@given(events)
def test_the_stored_line_has_the_documented_envelope(event: Event) -> None:
    raw = json.loads(encode(event))
    assert list(raw) == ["seq", "at", "type", "v", "source", "data"]
    assert raw["at"].endswith("Z") and len(raw["at"]) == len("2026-11-25T16:04:28.123456Z")
    assert raw["type"] == event.type and raw["v"] == type(event.data).VERSION


def test_old_versions_are_upcast_step_by_step() -> None:
    # A hypothetical history: v1 called the field "id", v2 called it "stream", v3 (pretend current) "stream_id".
    upcasters = {("stream.deleted", 1): lambda data: {"stream": data["id"]},
                 ("stream.deleted", 2): lambda data: {"stream_id": data["stream"]}}
    line = '{"seq":1,"at":"2026-11-25T16:04:28.123456Z","type":"stream.deleted","v":1,"source":"api","data":{"id":7}}'
    StreamDeleted.VERSION = 3  # type: ignore[misc]
    try:
        assert decode(line, upcasters).data == StreamDeleted(7)
        with pytest.raises(EventFormatError, match="no upcaster for stream.deleted v1"):
            decode(line, {})
    finally:
        StreamDeleted.VERSION = 1  # type: ignore[misc]
    assert UPCASTERS == {}, "no real upcasters yet: every stored version is current"


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    ("[1]", "not a JSON object"),
    ('{"seq":1}', "missing key"),
    ('{"seq":"1","at":"2026-11-25T16:04:28Z","type":"stream.deleted","v":1,"source":"api","data":{}}', "integers"),
    ('{"seq":1,"at":"2026-11-25T16:04:28Z","type":"stream.exploded","v":1,"source":"api","data":{}}',
     "unknown event type 'stream.exploded'"),
    ('{"seq":1,"at":"2026-11-25T16:04:28Z","type":"stream.deleted","v":9,"source":"api","data":{"stream_id":1}}',
     "newer version"),
    ('{"seq":1,"at":"yesterday","type":"stream.deleted","v":1,"source":"api","data":{"stream_id":1}}',
     "not an ISO time"),
    ('{"seq":1,"at":"2026-11-25T16:04:28","type":"stream.deleted","v":1,"source":"api","data":{"stream_id":1}}',
     "no time zone"),
    ('{"seq":1,"at":"2026-11-25T16:04:28Z","type":"stream.deleted","v":1,"source":"api","data":{"x":1}}',
     "bad stream.deleted data"),
    ('{"seq":1,"at":"2026-11-25T16:04:28Z","type":"stream.created","v":1,"source":"api",'
     '"data":{"stream_id":1,"stream":"x"}}', "stream must be an object"),
])
def test_unreadable_lines_say_why(line: str, message: str) -> None:
    with pytest.raises(EventFormatError, match=message):
        decode(line)
