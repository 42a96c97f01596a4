"""REST routes for streams and schedules: parse the request, call a command, shape the answer. No rules here."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import bottle
from tinydb.table import Document

from .. import backup, cron
from ..artwork import ArtworkError, artwork_path, remove_artwork, save_artwork
from ..audit import AuditFilter, page_newest_first
from ..audit import page as audit_page
from ..eventlog import read_events, read_events_newest_first
from ..events import record
from ..logs import LEVELS, LOG_FILES, read_log
from ..monitor import system_status
from ..probe import probe
from ..transfer import TransferError, check_destination, fetch_host_key
from ..views import Views
from .app import (
    Context,
    change_source,
    error_response,
    handle_errors,
    health,
    json_response,
    read_json,
    require_form_upload,
    uploaded,
)

log = logging.getLogger(__name__)

MAX_LIMIT = 500
# Whole numbers in a query: ASCII digits only (str.isdigit also takes '²', which int() refuses) and few enough
# for int() (it refuses over 4300 digits) and for JSON answers that echo them (orjson stops at 64 bits).
WHOLE_DIGITS = 18
_WHOLE = re.compile(f"[0-9]{{1,{WHOLE_DIGITS}}}")


def install(app: bottle.Bottle, context: Context) -> None:
    commands = context.commands
    store = context.store
    settings = context.settings

    @app.get("/health")
    def get_health() -> Any:
        return health(context)

    @app.get("/api/streams")
    def list_streams() -> Any:
        return json_response({"streams": store.read(lambda views: [stream_json(views, row) for row in views.streams()])})

    @app.post("/api/streams")
    @handle_errors
    def create_stream() -> Any:
        event = commands.create_stream(read_json(), source=change_source())[-1]
        return _created(f"/api/streams/{event.data.stream_id}", _stream(event.data.stream_id))

    @app.get("/api/streams/<stream_id:int>")
    @handle_errors
    def get_stream(stream_id: int) -> Any:
        return json_response(_stream(stream_id))

    @app.put("/api/streams/<stream_id:int>")
    @handle_errors
    def update_stream(stream_id: int) -> Any:
        commands.update_stream(stream_id, read_json(), source=change_source())
        return json_response(_stream(stream_id))

    @app.delete("/api/streams/<stream_id:int>")
    @handle_errors
    def delete_stream(stream_id: int) -> Any:
        cascade = bottle.request.query.get("cascade", "").lower() in ("1", "true", "yes")
        events = commands.delete_stream(stream_id, cascade, source=change_source())
        return json_response({"deleted": {"stream_id": stream_id,
                                          "schedule_ids": [e.data.schedule_id for e in events[:-1]]}})

    @app.post("/api/streams/<stream_id:int>/artwork")
    @handle_errors
    def upload_artwork(stream_id: int) -> Any:
        limit = context.settings.max_artwork_size_mb * 2**20
        require_form_upload(limit + 64 * 1024)
        upload = uploaded("artwork")
        if upload is None:
            raise error_response(400, "send the image as the multipart form field 'artwork'", "artwork")
        old = _stream(stream_id)["artwork"]
        try:
            name = save_artwork(context.settings.artwork_dir, stream_id, upload.file.read(limit + 1), limit)
        except ArtworkError as error:
            raise error_response(400, str(error), "artwork") from None
        try:
            commands.set_artwork(stream_id, name, source=change_source())
        except BaseException:
            remove_artwork(context.settings.artwork_dir, name)
            raise
        remove_artwork(context.settings.artwork_dir, old)
        return json_response(_stream(stream_id))

    @app.get("/api/streams/<stream_id:int>/artwork")
    @handle_errors
    def get_artwork(stream_id: int) -> Any:
        path = artwork_path(context.settings.artwork_dir, _stream(stream_id)["artwork"])
        if path is None:
            raise error_response(404, f"stream {stream_id} has no artwork")
        return bottle.static_file(path.name, root=str(path.parent))

    @app.delete("/api/streams/<stream_id:int>/artwork")
    @handle_errors
    def delete_artwork(stream_id: int) -> Any:
        old = _stream(stream_id)["artwork"]
        commands.set_artwork(stream_id, "", source=change_source())
        remove_artwork(context.settings.artwork_dir, old)
        return json_response(_stream(stream_id))

    @app.post("/api/streams/<stream_id:int>/test")
    @handle_errors
    def test_stream(stream_id: int) -> Any:
        stream = _stream(stream_id)
        result = probe(stream["url"], user_agent=stream["user_agent"] or None)
        if not result.reachable:
            log.warning("Stream connection failed: stream %s (%s): %s", stream_id, stream["url"], result.reason)
        return json_response({"stream_id": stream_id, **result.as_json()})

    @app.post("/api/streams/<stream_id:int>/test-destination")
    @handle_errors
    def test_destination(stream_id: int) -> Any:
        stream = _stream(stream_id)
        if not stream["scp_destination"]:
            raise error_response(400, "this stream has no scp_destination: recordings stay local",
                                 "scp_destination")
        options = context.runner.delivery_options
        problems = check_destination(stream["scp_destination"], options.key_file(stream), options.known_hosts)
        return json_response({"stream_id": stream_id, "destination": stream["scp_destination"], "ok": not problems,
                              "problems": problems})

    @app.get("/api/hosts")
    def list_hosts() -> Any:
        return json_response({"hosts": store.read(lambda views: [dict(row) for row in views.all("hosts")])})

    @app.post("/api/hosts/trust")
    @handle_errors
    def trust() -> Any:
        body = read_json()
        if not isinstance(body, dict) or not isinstance(body.get("host"), str) or not body["host"].strip():
            raise error_response(400, 'send {"host": "...", "port": 22, "fingerprint": "SHA256:..."}', "host")
        port = body.get("port", 22)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise error_response(400, "port must be a whole number 1-65535", "port")
        if not isinstance(body.get("fingerprint"), str) or not body["fingerprint"].startswith("SHA256:"):
            raise error_response(400, "fingerprint must be the SHA256:... you confirmed", "fingerprint")
        try:
            key = fetch_host_key(body["host"].strip(), port)
        except TransferError as error:
            raise error_response(502, error.reason, "host") from None
        commands.trust_host(key.host, key.port, key.key_type, key.key_base64, key.fingerprint, body["fingerprint"],
                            source=change_source())
        return json_response({"trusted": {"host": key.host, "port": key.port, "fingerprint": key.fingerprint}})

    @app.post("/api/sessions/<session_id:int>/retry-transfer")
    @handle_errors
    def retry_transfer(session_id: int) -> Any:
        commands.retry_transfer(session_id, source=change_source())
        return json_response(_session(session_id), 202)

    @app.post("/api/streams/<stream_id:int>/record")
    @handle_errors
    def record_now(stream_id: int) -> Any:
        event = commands.record_now(stream_id, read_json(), datetime.now(timezone.utc), source=change_source())[-1]
        session_id = event.data.session_id
        return json_response({"session_id": session_id, "session": _session(session_id)}, 202,
                             Location=f"/api/sessions/{session_id}")

    @app.get("/api/sessions")
    @handle_errors
    def list_sessions() -> Any:
        query = bottle.request.query
        filters = {key: query.get(key) for key in ("stream_id", "schedule_id", "status") if query.get(key)}
        limit, offset = _paging(query.get("limit", "50"), query.get("offset", "0"))
        since, until = _day(query.get("from"), "from"), _day(query.get("to"), "to")

        def wanted(row: dict[str, Any]) -> bool:
            day = row["window_start"].date().isoformat()
            return (all(str(row.get(key)) == value for key, value in filters.items())
                    and (since is None or day >= since) and (until is None or day <= until))

        rows = store.read(lambda views: sorted((row for row in views.all("sessions") if wanted(row)),
                                               key=lambda row: row.doc_id, reverse=True))
        return json_response({"sessions": [_with_progress(row) for row in rows[offset:offset + limit]],
                              "total": len(rows), "limit": limit, "offset": offset})

    @app.get("/api/sessions/<session_id:int>")
    @handle_errors
    def get_session(session_id: int) -> Any:
        return json_response(_session(session_id))

    @app.post("/api/schedules/validate-cron")
    @handle_errors
    def validate_cron() -> Any:
        body = read_json()
        if not isinstance(body, dict) or not isinstance(body.get("cron"), str):
            raise error_response(400, 'send {"cron": "...", "timezone": "..."} (timezone optional)', "cron")
        timezone_name = body.get("timezone") or context.settings.tz
        if not isinstance(timezone_name, str):
            raise error_response(400, "timezone must be text", "timezone")
        try:
            spec, tz = cron.parse(body["cron"]), cron.zone(timezone_name)
        except cron.CronError as error:
            return json_response({"valid": False, "error": str(error)})
        runs = cron.next_runs(spec, datetime.now(timezone.utc), tz, 5)
        return json_response({"valid": True, "cron": spec.expression, "timezone": timezone_name,
                              "description": cron.describe(spec), "next_runs": [run.isoformat() for run in runs]})

    @app.get("/api/system/status")
    def status() -> Any:
        now = datetime.now(timezone.utc)
        schedules = store.read(lambda views: schedules_json(views, now))
        upcoming = soonest(schedules, 5)
        return json_response({**system_status(context.settings, store, context.runner, context.started),
                              "next_runs": [{"schedule_id": s["id"], "stream_name": s["stream_name"],
                                             "next_run": s["next_run"], "description": s["description"]}
                                            for s in upcoming]})

    @app.get("/api/logs")
    @handle_errors
    def logs() -> Any:
        query = bottle.request.query
        name = query.get("file", "audio_recorder.log")
        level = query.get("level", "DEBUG").upper()
        if name not in LOG_FILES:
            raise error_response(400, f"file must be one of {', '.join(LOG_FILES)}", "file")
        if level not in LEVELS:
            raise error_response(400, f"level must be one of {', '.join(LEVELS)}", "level")
        limit, _ = _paging(query.get("limit", "200"), "0")
        after = query.get("after")
        if after is not None and not _WHOLE.fullmatch(after):
            raise error_response(400, "after must be a byte offset from an earlier answer's next_offset", "after")
        return json_response({"file": name, "level": level,
                              **read_log(context.settings.logs_dir / name, level, limit,
                                         int(after) if after is not None else None)})

    @app.get("/api/config/files")
    def list_config_files() -> Any:
        return json_response({"folder": str(settings.config_dir), "files": store.read(config_files_json)})

    @app.get("/api/events")
    @handle_errors
    def list_events() -> Any:
        query = bottle.request.query
        limit, _ = _paging(query.get("limit", "100"), "0")
        wanted = AuditFilter(types=tuple(kind for kind in query.get("type", "").split(",") if kind),
                             source=query.get("source") or None,
                             stream_id=_whole(query.get("stream_id"), "stream_id"),
                             session_id=_whole(query.get("session_id"), "session_id"),
                             since=_moment(query.get("from"), "from"), until=_moment(query.get("to"), "to"))
        before = _whole(query.get("before"), "before")
        if wanted.stream_id is None:  # read back only as far as the page goes
            found = page_newest_first(read_events_newest_first(settings.event_log_path), wanted, before, limit)
        else:  # which stream a session event concerns is learnt from the events before it
            found = audit_page(read_events(settings.event_log_path), wanted, before, limit)
        return json_response({"events": [record(event) for event in found.events], "before": found.before,
                              "limit": limit})

    @app.post("/api/backup/create")
    @handle_errors
    def create_backup() -> Any:
        body = _object(read_json() or {})
        name, include_artwork = body.get("name") or None, body.get("include_artwork", False)
        if name is not None and not isinstance(name, str) or not isinstance(include_artwork, bool):
            raise error_response(400, 'send {"name": "optional-name", "include_artwork": true|false}', "name")
        with _backup_errors("name"):
            made = backup.create(settings.backups_dir, settings.event_log_path, settings.artwork_dir, name,
                                 include_artwork)
        log.info("backup %s created (seq %s)", made["name"], made["seq"])
        return json_response(made, 201)

    @app.get("/api/backup/list")
    def list_backups() -> Any:
        return json_response({"backups": backup.list_backups(settings.backups_dir)})

    @app.post("/api/backup/validate")
    @handle_errors
    def validate_backup() -> Any:
        with _backup_errors("name"):
            errors = backup.problems(backup.archive_path(settings.backups_dir, _name(read_json())))
        return json_response({"valid": not errors, "errors": errors})

    @app.post("/api/backup/restore")
    @handle_errors
    def restore_backup() -> Any:
        body = _object(read_json())
        overwrite = body.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise error_response(400, "overwrite must be true or false", "overwrite")
        with _backup_errors("name"):
            snapshot = backup.load(backup.archive_path(settings.backups_dir, _name(body)))
        for name, data in snapshot.artwork.items():
            if artwork_path(settings.artwork_dir, name) is None:
                (settings.artwork_dir / name).write_bytes(data)
        events = commands.restore(snapshot.views, overwrite, source="restore")
        log.info("backup %s restored (%s): %d events appended", snapshot.manifest["name"],
                 "overwrite" if overwrite else "merge", len(events))
        return json_response({"restored": snapshot.manifest["name"], "overwrite": overwrite, "events": len(events)})

    @app.delete("/api/backup/delete")
    @handle_errors
    def delete_backup() -> Any:
        with _backup_errors("name"):
            path = backup.archive_path(settings.backups_dir, _name(read_json()))
            if not path.is_file():
                raise backup.BackupError(f"no backup named {path.name.removesuffix(backup.SUFFIX)!r}")
        path.unlink()
        return json_response({"deleted": path.name.removesuffix(backup.SUFFIX)})

    @app.get("/api/backup/download/<name>")
    @handle_errors
    def download_backup(name: str) -> Any:
        with _backup_errors("name"):
            path = backup.archive_path(settings.backups_dir, name)
        if not path.is_file():
            raise error_response(404, f"no backup named {name!r}")
        return bottle.static_file(path.name, root=str(path.parent), download=path.name,
                                  mimetype="application/gzip")

    @app.post("/api/backup/upload")
    @handle_errors
    def upload_backup() -> Any:
        require_form_upload(backup.MAX_MEMBER_BYTES)
        upload = uploaded("backup")
        if upload is None:
            raise error_response(400, "send the archive as the multipart form field 'backup'", "backup")
        with _backup_errors("backup"):
            path = backup.archive_path(settings.backups_dir, Path(upload.raw_filename or "").name or "uploaded")
            if path.exists():
                raise backup.BackupError(f"a backup named {path.name.removesuffix(backup.SUFFIX)!r} already exists")
            temporary = path.with_name(f".{path.name}.upload")
            upload.save(str(temporary), overwrite=True)
            errors = backup.problems(temporary)
            if errors:
                temporary.unlink()
                raise backup.BackupError("; ".join(errors))
            temporary.rename(path)
        return json_response(backup.describe(path), 201)

    @app.get("/api/schedules")
    def list_schedules() -> Any:
        now = datetime.now(timezone.utc)
        rows = store.read(lambda views: schedules_json(views, now))
        return json_response({"schedules": rows})

    @app.post("/api/schedules")
    @handle_errors
    def create_schedule() -> Any:
        event = commands.create_schedule(read_json(), source=change_source())[-1]
        return _created(f"/api/schedules/{event.data.schedule_id}", _schedule(event.data.schedule_id))

    @app.get("/api/schedules/<schedule_id:int>")
    @handle_errors
    def get_schedule(schedule_id: int) -> Any:
        return json_response(_schedule(schedule_id))

    @app.put("/api/schedules/<schedule_id:int>")
    @handle_errors
    def update_schedule(schedule_id: int) -> Any:
        commands.update_schedule(schedule_id, read_json(), source=change_source())
        return json_response(_schedule(schedule_id))

    @app.delete("/api/schedules/<schedule_id:int>")
    @handle_errors
    def delete_schedule(schedule_id: int) -> Any:
        commands.delete_schedule(schedule_id, source=change_source())
        return json_response({"deleted": {"schedule_id": schedule_id}})

    def _stream(stream_id: int) -> dict[str, Any]:
        def query(views: Views) -> dict[str, Any] | None:
            row = views.get("streams", stream_id)
            return None if row is None else stream_json(views, row)

        found = store.read(query)
        if found is None:
            raise error_response(404, f"stream {stream_id} does not exist")
        return found

    def _session(session_id: int) -> dict[str, Any]:
        row = store.read(lambda views: views.get("sessions", session_id))
        if row is None:
            raise error_response(404, f"session {session_id} does not exist")
        return _with_progress(row)

    def _with_progress(row: Document) -> dict[str, Any]:
        """A session with its live numbers; asked of the runner outside the store's lock (the runner takes its
        own lock first and the store's second: the other order could deadlock)."""
        return {**row, "progress": context.runner.progress(row.doc_id)}

    def _schedule(schedule_id: int) -> dict[str, Any]:
        now = datetime.now(timezone.utc)

        def query(views: Views) -> dict[str, Any] | None:
            row = views.get("schedules", schedule_id)
            return schedule_json(views, row, now) if row else None

        row = store.read(query)
        if row is None:
            raise error_response(404, f"schedule {schedule_id} does not exist")
        return row


def stream_json(views: Views, row: Document) -> dict[str, Any]:
    """A stream as the API and pages show it: with the config file that owns it, if one does."""
    return {**row, "config_file": views.config_file_of(row.doc_id)}


def config_files_json(views: Views) -> list[dict[str, Any]]:
    """The drop-in files the recorder has read, by name: applied or why not, and the streams they own."""
    return sorted((dict(row) for row in views.all("config_files")), key=lambda row: row["file"])


def schedules_json(views: Views, now: datetime) -> list[dict[str, Any]]:
    return [schedule_json(views, row, now) for row in views.schedules()]


def soonest(schedules: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The `count` schedules that run next (paused ones have no next run)."""
    return sorted((s for s in schedules if s["next_run"]), key=lambda s: s["next_run"])[:count]


def schedule_json(views: Views, row: Document, now: datetime) -> dict[str, Any]:
    """A schedule as the API shows it: with its stream's name, its next run and the cron in words."""
    spec = cron.parse(row["cron"])
    next_run = cron.next_run(spec, now, cron.zone(row["timezone"])) if row["active"] else None
    stream = views.get("streams", row["stream_id"])
    return {**row, "stream_name": stream["name"] if stream else None,
            "next_run": next_run.isoformat() if next_run else None, "description": cron.describe(spec),
            "config_file": views.config_file_of(row["stream_id"])}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise error_response(400, "expected a JSON object")
    return body


def _name(body: Any) -> str:
    name = _object(body).get("name")
    if not isinstance(name, str) or not name:
        raise error_response(400, 'send {"name": "..."} naming a backup from /api/backup/list', "name")
    return name


@contextmanager
def _backup_errors(field: str) -> Iterator[None]:
    try:
        yield
    except backup.BackupError as error:
        status = 409 if "already exists" in str(error) else 404 if str(error).startswith("no backup") else 400
        raise error_response(status, str(error), field) from None


def _day(text: str | None, field: str) -> str | None:
    """A YYYY-MM-DD filter bound (UTC days of the window start)."""
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise error_response(400, "use a date like 2026-11-29", field) from None


def _whole(text: str | None, field: str) -> int | None:
    if not text:
        return None
    if not _WHOLE.fullmatch(text):
        raise error_response(400, f"{field} must be a whole number of at most {WHOLE_DIGITS} digits", field)
    return int(text)


def _moment(text: str | None, field: str) -> datetime | None:
    """An ISO time filter bound; a bare date means its midnight UTC, a time without a zone means UTC."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise error_response(400, "use an ISO time like 2026-11-29T09:00:00Z or a date like 2026-11-29",
                             field) from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _paging(limit: str, offset: str) -> tuple[int, int]:
    if not (_WHOLE.fullmatch(limit) and _WHOLE.fullmatch(offset)) or not 1 <= int(limit) <= MAX_LIMIT:
        raise error_response(400, f"limit must be 1-{MAX_LIMIT} and offset a whole number >= 0 "
                                  f"(at most {WHOLE_DIGITS} digits)", "limit")
    return int(limit), int(offset)


def _created(location: str, body: dict[str, Any]) -> bottle.HTTPResponse:
    return json_response(body, 201, Location=location)
