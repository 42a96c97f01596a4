"""REST routes for streams and schedules: parse the request, call a command, shape the answer. No rules here."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import bottle

from .. import cron
from ..views import Views
from .app import Context, error_response, handle_errors, health, json_response, read_json


def install(app: bottle.Bottle, context: Context) -> None:
    commands = context.commands
    store = context.store

    @app.get("/health")
    def get_health() -> Any:
        return json_response(health(context))

    @app.get("/api/streams")
    def list_streams() -> Any:
        return json_response({"streams": store.read(lambda views: [dict(row) for row in views.streams()])})

    @app.post("/api/streams")
    @handle_errors
    def create_stream() -> Any:
        event = commands.create_stream(read_json(), source="api")[-1]
        return _created(f"/api/streams/{event.data.stream_id}", _stream(event.data.stream_id))

    @app.get("/api/streams/<stream_id:int>")
    @handle_errors
    def get_stream(stream_id: int) -> Any:
        return json_response(_stream(stream_id))

    @app.put("/api/streams/<stream_id:int>")
    @handle_errors
    def update_stream(stream_id: int) -> Any:
        commands.update_stream(stream_id, read_json(), source="api")
        return json_response(_stream(stream_id))

    @app.delete("/api/streams/<stream_id:int>")
    @handle_errors
    def delete_stream(stream_id: int) -> Any:
        cascade = bottle.request.query.get("cascade", "").lower() in ("1", "true", "yes")
        events = commands.delete_stream(stream_id, cascade, source="api")
        return json_response({"deleted": {"stream_id": stream_id,
                                          "schedule_ids": [e.data.schedule_id for e in events[:-1]]}})

    @app.get("/api/schedules")
    def list_schedules() -> Any:
        now = datetime.now(timezone.utc)
        rows = store.read(lambda views: [_schedule_json(views, row, now) for row in views.schedules()])
        return json_response({"schedules": rows})

    @app.post("/api/schedules")
    @handle_errors
    def create_schedule() -> Any:
        event = commands.create_schedule(read_json(), source="api")[-1]
        return _created(f"/api/schedules/{event.data.schedule_id}", _schedule(event.data.schedule_id))

    @app.get("/api/schedules/<schedule_id:int>")
    @handle_errors
    def get_schedule(schedule_id: int) -> Any:
        return json_response(_schedule(schedule_id))

    @app.put("/api/schedules/<schedule_id:int>")
    @handle_errors
    def update_schedule(schedule_id: int) -> Any:
        commands.update_schedule(schedule_id, read_json(), source="api")
        return json_response(_schedule(schedule_id))

    @app.delete("/api/schedules/<schedule_id:int>")
    @handle_errors
    def delete_schedule(schedule_id: int) -> Any:
        commands.delete_schedule(schedule_id, source="api")
        return json_response({"deleted": {"schedule_id": schedule_id}})

    def _stream(stream_id: int) -> dict[str, Any]:
        row = store.read(lambda views: views.get("streams", stream_id))
        if row is None:
            raise error_response(404, f"stream {stream_id} does not exist")
        return dict(row)

    def _schedule(schedule_id: int) -> dict[str, Any]:
        now = datetime.now(timezone.utc)

        def query(views: Views) -> dict[str, Any] | None:
            row = views.get("schedules", schedule_id)
            return _schedule_json(views, row, now) if row else None

        row = store.read(query)
        if row is None:
            raise error_response(404, f"schedule {schedule_id} does not exist")
        return row


def _schedule_json(views: Views, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A schedule as the API shows it: with its stream's name, its next run and the cron in words."""
    spec = cron.parse(row["cron"])
    next_run = cron.next_run(spec, now, cron.zone(row["timezone"])) if row["active"] else None
    stream = views.get("streams", row["stream_id"])
    return {**row, "stream_name": stream["name"] if stream else None,
            "next_run": next_run.isoformat() if next_run else None, "description": cron.describe(spec)}


def _created(location: str, body: dict[str, Any]) -> bottle.HTTPResponse:
    return json_response(body, 201, Location=location)
