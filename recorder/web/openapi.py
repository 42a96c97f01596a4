"""The REST API's contract as an OpenAPI 3.1 document, served at `GET /api/openapi.json`.

Field names, ranges and URL schemes come from the command layer's own tables, so the document cannot drift from
the validators unnoticed; tests/test_openapi.py checks it against the app's routes and fuzzes a live server with it.
"""

from __future__ import annotations

from typing import Any

import bottle

from .. import __version__
from ..backup import MAX_MEMBER_BYTES
from ..commands import MAX_RECORD_NOW_SECONDS
from ..events import PAYLOAD_TYPES, SOURCES
from ..logs import LEVELS, LOG_FILES
from ..validation import MAX_DURATION_MINUTES, MAX_PADDING_SECONDS, READ_ONLY_FIELDS, STREAM_URL_SCHEMES
from .api import MAX_LIMIT, WHOLE_DIGITS
from .app import MAX_JSON_BYTES, Context, json_response

Schema = dict[str, Any]

SESSION_STATUSES = ("scheduled", "queued", "recording", "recorded", "interrupted", "processed", "transferring",
                    "waiting_retry", "transferred", "completed", "missed", "failed")
ERRORS = {400: "Bad input; `field` names the input at fault", 401: "Not logged in: use HTTP Basic as admin",
          403: "An upload without X-Requested-With, or a change by cookie login without its CSRF token",
          404: "No such id, name or path",
          409: "The change clashes with the current state", 413: "The body is too large",
          415: "The body was not sent with the content type this operation takes",
          502: "The other server could not be reached", 503: "The change could not be saved (the log is failing)"}

_CONTROL = "\\x00-\\x1f\\x7f"
_NO_CONTROL = f"^[^{_CONTROL}]*$"
_NOT_BLANK = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(max_length: int, required: bool = False, **extra: Any) -> Schema:
    """What `validation._text` accepts: no control characters, at most `max_length`, not blank if required."""
    return {"type": "string", "maxLength": max_length, **({"minLength": 1, "pattern": _NOT_BLANK} if required
                                                         else {"pattern": _NO_CONTROL}), **extra}


def _whole(low: int, high: int, **extra: Any) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, **extra}


def _any_case(word: str) -> str:
    return "".join(f"[{char.upper()}{char.lower()}]" for char in word)


_STREAM_URL = (f"^(?:{'|'.join(_any_case(scheme) for scheme in STREAM_URL_SCHEMES)})://"
               f"(?:[^\\s/?#@{_CONTROL}]*@)?(?:[A-Za-z0-9._~-]+|\\[[0-9A-Fa-f]*:[0-9A-Fa-f:]*\\])(?::[0-9]*)?"
               f"(?:[/?#][^\\s{_CONTROL}]*)?$")
_HOST = "(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_DESTINATION = (f"^(?:|[A-Za-z0-9_.][A-Za-z0-9_.-]*@{_HOST}(?::[0-9]{{1,5}})?:[^{_CONTROL}]+"
                f"|sftp://[A-Za-z0-9_.][A-Za-z0-9_.-]*@{_HOST}(?::[0-9]{{1,5}})?/[^\\s{_CONTROL}]*)$")
_BACKUP_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,79}(?:\\.tar\\.gz)?$"

# One entry per validator in validation.STREAM_FIELDS / SCHEDULE_FIELDS (a test keeps them equal).
STREAM_FIELDS: dict[str, Schema] = {
    "name": _text(100, True, description="Unique regardless of case and surrounding space."),
    "url": {"type": "string", "maxLength": 2000, "pattern": _STREAM_URL,
            "description": f"Schemes {', '.join(STREAM_URL_SCHEMES)}; file:, concat: and others are refused.",
            "examples": ["http://radio.example.org:8000/jazz.mp3"]},
    "artist": _text(200), "album": _text(200), "album_artist": _text(200),
    "scp_destination": {"type": "string", "maxLength": 500, "pattern": _DESTINATION,
                        "description": "user@host:/path/, user@host:port:/path/ or sftp://user@host:port/path/; "
                                       "empty keeps recordings local.", "examples": ["user@example.org:/srv/shows/"]},
    "user_agent": _text(200, description="Sent to the station instead of ffmpeg's default."),
    "ssh_key": {"type": "string", "maxLength": 100, "pattern": "^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*)?$",
                "description": "A file name in the config folder; empty means config/ssh_key."},
    "max_retries": {"type": ["integer", "null"], "minimum": 0, "maximum": 20,
                    "description": "Transfer retries; null means DEFAULT_MAX_RETRIES."},
    "upload_sidecar": {"type": "boolean", "description": "Also upload the chapters file next to the MP3."},
}
SCHEDULE_FIELDS: dict[str, Schema] = {
    "stream_id": _whole(1, 2**31),
    "cron": _text(200, True, description="Standard 5 fields (0 and 7 are Sunday) or a macro such as @daily.",
                  examples=["30 14 * * 0", "0 9 * * 1-5"]),
    "duration_minutes": _whole(1, MAX_DURATION_MINUTES),
    "active": {"type": "boolean", "default": True},
    "timezone": _text(64, True, description="An IANA name; default TZ.", examples=["Europe/Berlin", "UTC"]),
    "pad_before_seconds": _whole(0, MAX_PADDING_SECONDS, default=0),
    "pad_after_seconds": _whole(0, MAX_PADDING_SECONDS, default=0),
}
_TOLERATED = {name: {"readOnly": True, "description": "Shown by the API; ignored when sent back."}
              for name in sorted(READ_ONLY_FIELDS)}
_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_ROW = {"id": {"type": "integer"}, "created_at": _TIME, "updated_at": _TIME}


def _input(fields: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A request body of the command layer: known fields only; read-only ones sent back are ignored."""
    return {"type": "object", "properties": {**_TOLERATED, **fields}, "additionalProperties": False,
            **({"required": list(required)} if required else {})}


def _shown(fields: dict[str, Schema]) -> dict[str, Schema]:
    """Fields in an answer: typed only, as a restored backup may hold values older rules allowed."""
    return {name: {key: value for key, value in schema.items() if key in ("type", "description")}
            for name, schema in fields.items()}


def _object(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties,
            "required": [name for name in properties if name not in optional]}


_OWNER = {"type": ["string", "null"], "description": "The drop-in config file that owns it (then the API refuses to "
                                                     "change it), or null."}


def _schemas() -> dict[str, Schema]:
    stream = _object({**_ROW, **_shown(STREAM_FIELDS), "artwork": {"type": "string",
                                                                    "description": "Stored file name."},
                      "config_file": _OWNER})
    schedule = _object({**_ROW, **_shown(SCHEDULE_FIELDS), "stream_name": {"type": ["string", "null"]},
                        "next_run": _MAYBE_TIME, "description": {"type": "string"}, "config_file": _OWNER})
    config_file = _object({"id": {"type": "integer"}, "file": {"type": "string"},
                           "status": {"enum": ["applied", "failed"]},
                           "stream_ids": {"type": "array", "items": {"type": "integer"}},
                           "error": {"type": ["string", "null"]}, "line": {"type": ["integer", "null"]},
                           "field": {"type": ["string", "null"]}, "applied_at": _MAYBE_TIME, "created_at": _TIME,
                           "updated_at": _TIME})
    gap = _object({"started": _TIME, "seconds": {"type": "number"}, "reason": {"type": "string"}})
    progress = {**_object({"seconds": {"type": "number"}, "bytes": {"type": "integer"},
                           "bitrate_kbps": {"type": ["number", "null"]}, "title": {"type": ["string", "null"]}}),
                "type": ["object", "null"], "description": "Live numbers while recording, else null."}
    session = _object({**_ROW, "stream_id": {"type": "integer"}, "schedule_id": {"type": ["integer", "null"]},
                       "trigger": {"enum": ["manual", "schedule"]}, "fire_time": _TIME, "window_start": _TIME,
                       "window_end": _TIME, "status": {"enum": list(SESSION_STATUSES)}, "started_at": _MAYBE_TIME,
                       "recorded_at": _MAYBE_TIME, "ended_at": _MAYBE_TIME, "parts": {"type": "integer"},
                       "error": {"type": ["string", "null"]}, "file": {"type": ["string", "null"]},
                       "size_bytes": {"type": ["integer", "null"]}, "duration_seconds": {"type": ["number", "null"]},
                       "gaps": {"type": "array", "items": gap}, "chapters": {"type": "integer"},
                       "remote_path": {"type": ["string", "null"]}, "progress": progress})
    backup = _object({"name": {"type": "string"}, "size_bytes": {"type": "integer"}, "modified": _TIME,
                      "created_at": {"type": ["string", "null"]}, "seq": {"type": ["integer", "null"]},
                      "counts": {"type": ["object", "null"]}, "include_artwork": {"type": ["boolean", "null"]},
                      "damaged": {"const": True}}, optional=("created_at", "seq", "counts", "include_artwork",
                                                             "damaged"))
    return {
        "Error": {**_object({"error": {"type": "string"}, "field": {"type": "string"}}, optional=("field",)),
                  "additionalProperties": False},
        "Health": _object({"status": {"enum": ["ok", "failing"]}, "version": {"type": "string"},
                           "uptime_seconds": {"type": "number"}, "last_seq": {"type": "integer"},
                           "error": {"type": "string"}}, optional=("error",)),
        "Stream": stream, "StreamCreate": _input(STREAM_FIELDS, ("name", "url")), "StreamUpdate": _input(STREAM_FIELDS),
        "Schedule": schedule, "ScheduleCreate": _input(SCHEDULE_FIELDS, ("stream_id", "cron", "duration_minutes")),
        "ScheduleUpdate": _input(SCHEDULE_FIELDS), "Session": session, "Backup": backup, "ConfigFile": config_file,
        "Host": _object({"id": {"type": "integer"}, "host": {"type": "string"}, "port": {"type": "integer"},
                         "key_type": {"type": "string"}, "key_base64": {"type": "string"},
                         "fingerprint": {"type": "string"}, "created_at": _TIME, "updated_at": _TIME}),
        "Event": _object({"seq": {"type": "integer"}, "at": _TIME, "type": {"enum": sorted(PAYLOAD_TYPES)},
                          "v": {"type": "integer"}, "source": {"type": "string", "examples": list(SOURCES)},
                          "data": {"type": "object"}}),
    }


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answer(description: str, schema: Schema, location: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _json(schema)}
    if location:
        answer["headers"] = {"Location": {"description": "Where the new resource is.", "schema": {"type": "string"}}}
    return answer


def _list(key: str, item: str) -> Schema:
    return _object({key: {"type": "array", "items": _ref(item)}})


def _param(name: str, where: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            **({"description": description} if description else {})}


def _upload(field: str, media: str) -> dict[str, Any]:
    """A multipart upload: the file in `field`, and the header a cross-site form cannot send."""
    return {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [field], "properties": {field: {
            "type": "string", "format": "binary", "contentMediaType": media}}}}}}


_IDS = {name: _param(name, "path", {"type": "integer"}) for name in ("stream_id", "schedule_id", "session_id")}
_REQUESTED_WITH = _param("X-Requested-With", "header", {"type": "string", "pattern": "\\S"},
                         "Any value; a plain cross-site form cannot send it.")
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10**WHOLE_DIGITS - 1}
_JSON_IN, _BY_ID = (400, 413, 415), (400, 404)  # a huge id is refused by the router with 400


def _op(operation_id: str, summary: str, answers: dict[int, dict[str, Any]], errors: tuple[int, ...] = (),
        body: Schema | None = None, parameters: tuple[Schema, ...] = (), **extra: Any) -> dict[str, Any]:
    """One operation; `operation_id` is the name of its route function in api.py (a test checks that)."""
    responses = {str(code): answer for code, answer in answers.items()}
    responses.update({str(code): {"$ref": f"#/components/responses/{code}"} for code in sorted({*errors, 401})})
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": responses, **extra}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if parameters:
        operation["parameters"] = list(parameters)
    return operation


def _stream_paths() -> dict[str, Any]:
    stream = _answer("The stream", _ref("Stream"))
    return {
        "/api/streams": {
            "get": _op("list_streams", "All streams", {200: _answer("The streams", _list("streams", "Stream"))}),
            "post": _op("create_stream", "Add a stream", {201: _answer("The new stream", _ref("Stream"), True)},
                        (*_JSON_IN, 409, 503), _ref("StreamCreate")),
        },
        "/api/streams/{stream_id}": {
            "parameters": [_IDS["stream_id"]],
            "get": _op("get_stream", "One stream", {200: stream}, _BY_ID),
            "put": _op("update_stream", "Change the fields given", {200: stream}, (*_JSON_IN, 404, 409, 503),
                       _ref("StreamUpdate")),
            "delete": _op("delete_stream", "Delete a stream (409 while it has schedules, unless cascade)",
                          {200: _answer("What was deleted", _object({"deleted": _object({
                              "stream_id": {"type": "integer"},
                              "schedule_ids": {"type": "array", "items": {"type": "integer"}}})}))},
                          (*_BY_ID, 409, 503), parameters=(_param("cascade", "query", {"type": "boolean"},
                                                                  "true, 1 or yes (any case) also deletes its "
                                                                  "schedules; anything else does not"),)),
        },
        "/api/streams/{stream_id}/artwork": {
            "parameters": [_IDS["stream_id"]],
            "get": _op("get_artwork", "The stream's cover art", {200: {"description": "The image", "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in ("image/jpeg", "image/png")}}},
                _BY_ID),
            "post": _op("upload_artwork", "Upload cover art (JPEG or PNG, at most MAX_ARTWORK_SIZE_MB)",
                        {200: stream}, (*_JSON_IN, 403, 404, 503), parameters=(_REQUESTED_WITH,),
                        requestBody=_upload("artwork", "image/*")),
            "delete": _op("delete_artwork", "Remove the cover art", {200: stream}, (*_BY_ID, 503)),
        },
        "/api/streams/{stream_id}/test": {
            "parameters": [_IDS["stream_id"]],
            "post": _op("test_stream", "Connect to the stream and say what it sends", {200: _answer(
                "What the test found", _object({"stream_id": {"type": "integer"}, "reachable": {"type": "boolean"},
                                                **{key: {"type": ["string", "integer", "null"]} for key in (
                                                    "reason", "codec", "bitrate_kbps", "sample_rate", "channels",
                                                    "icy_name", "icy_genre", "current_title", "content_type",
                                                    "warning")}}))},
                _BY_ID),
        },
        "/api/streams/{stream_id}/test-destination": {
            "parameters": [_IDS["stream_id"]],
            "post": _op("test_destination", "Check login, host key and write permission at the destination",
                        {200: _answer("The problems found, in words", _object({
                            "stream_id": {"type": "integer"}, "destination": {"type": "string"},
                            "ok": {"type": "boolean"}, "problems": {"type": "array", "items": {"type": "string"}}}))},
                        _BY_ID),
        },
        "/api/streams/{stream_id}/record": {
            "parameters": [_IDS["stream_id"]],
            "post": _op("record_now", "Record now for a while", {202: _answer(
                "The session opened", _object({"session_id": {"type": "integer"}, "session": _ref("Session")}),
                True)}, (*_JSON_IN, 404, 503), _input({"duration_seconds": _whole(1, MAX_RECORD_NOW_SECONDS)},
                                                       ("duration_seconds",))),
        },
    }


def _schedule_paths() -> dict[str, Any]:
    schedule = _answer("The schedule with its next run and the cron in words", _ref("Schedule"))
    cron_answer = {"oneOf": [
        _object({"valid": {"const": True}, "cron": {"type": "string"}, "timezone": {"type": "string"},
                 "description": {"type": "string"}, "next_runs": {"type": "array", "items": _TIME}}),
        _object({"valid": {"const": False}, "error": {"type": "string"}})]}
    return {
        "/api/schedules": {
            "get": _op("list_schedules", "All schedules", {200: _answer("The schedules",
                                                                        _list("schedules", "Schedule"))}),
            "post": _op("create_schedule", "Add a schedule", {201: _answer("The new schedule", _ref("Schedule"),
                                                                           True)},
                        (*_JSON_IN, 503), _ref("ScheduleCreate")),
        },
        "/api/schedules/validate-cron": {
            "post": _op("validate_cron", "Explain a cron expression and list its next five runs",
                        {200: _answer("Valid or not (200 either way)", cron_answer)}, _JSON_IN,
                        {"type": "object", "required": ["cron"],
                         "properties": {"cron": {"type": "string"}, "timezone": {"type": ["string", "null"]}}}),
        },
        "/api/schedules/{schedule_id}": {
            "parameters": [_IDS["schedule_id"]],
            "get": _op("get_schedule", "One schedule", {200: schedule}, _BY_ID),
            "put": _op("update_schedule", "Change the fields given", {200: schedule}, (*_JSON_IN, 404, 503),
                       _ref("ScheduleUpdate")),
            "delete": _op("delete_schedule", "Delete a schedule", {200: _answer("What was deleted", _object(
                {"deleted": _object({"schedule_id": {"type": "integer"}})}))}, (*_BY_ID, 503)),
        },
    }


def _other_paths() -> dict[str, Any]:
    day = {"type": "string", "format": "date", "description": "A UTC day of the window start, e.g. 2026-11-29"}
    moment = {"type": "string", "description": "An ISO time (no zone means UTC) or a date",
              "examples": ["2026-11-29T09:00:00Z", "2026-11-29"]}
    status = _object({
        "version": {"type": "string"}, "uptime_seconds": {"type": "number"}, "time": _TIME,
        "cpu_percent": {"type": "number"}, "cpu_count": {"type": ["integer", "null"]},
        "load_average": {"type": "array", "items": {"type": "number"}},
        "memory": _object({key: {"type": "number"} for key in ("total_bytes", "available_bytes", "percent_used")}),
        "process": _object({"rss_bytes": {"type": "integer"}, "ffmpeg_processes": {"type": "integer"}}),
        "disks": {"type": "array", "items": _object({"folder": {"type": "string"}, "path": {"type": "string"}, **{
            key: {"type": "number"} for key in ("total_bytes", "used_bytes", "free_bytes", "percent_used")}})},
        **{key: {"type": "array", "items": {"type": "integer"}} for key in ("active_recordings", "queued_sessions",
                                                                            "pending_transfers")},
        "last_event_seq": {"type": "integer"}, "warnings": {"type": "array", "items": {"type": "string"}},
        "next_runs": {"type": "array", "items": _object({"schedule_id": {"type": "integer"},
                                                         "stream_name": {"type": ["string", "null"]},
                                                         "next_run": _TIME, "description": {"type": "string"}})}})
    entry = _object({key: {"type": "string"} for key in ("time", "level", "logger", "message")})
    return {
        "/health": {"get": _op("get_health", "Liveness: 503 with the reason once the log cannot be written", {
            200: _answer("Running", _ref("Health")), 503: _answer("The event log is failing", _ref("Health"))},
            security=[])},
        "/api/openapi.json": {"get": _op("openapi_document", "This document", {
            200: _answer("The OpenAPI document", {"type": "object"})})},
        "/api/hosts": {"get": _op("list_hosts", "Trusted SSH host keys", {200: _answer("The hosts",
                                                                                     _list("hosts", "Host"))})},
        "/api/hosts/trust": {"post": _op(
            "trust", "Pin a server's host key after checking its fingerprint",
            {200: _answer("The host now trusted", _object({"trusted": _object({
                "host": {"type": "string"}, "port": {"type": "integer"}, "fingerprint": {"type": "string"}})}))},
            (*_JSON_IN, 409, 502, 503),
            {"type": "object", "required": ["host", "fingerprint"], "properties": {
                "host": {"type": "string", "pattern": "\\S"}, "port": _whole(1, 65535, default=22),
                "fingerprint": {"type": "string", "pattern": "^SHA256:"}}})},
        "/api/sessions": {"get": _op(
            "list_sessions", "Sessions, newest first", {200: _answer("A page of sessions", _object({
                "sessions": {"type": "array", "items": _ref("Session")}, "total": {"type": "integer"},
                "limit": {"type": "integer"}, "offset": {"type": "integer"}}))}, (400,),
            parameters=(_param("stream_id", "query", {"type": "integer"}),
                        _param("schedule_id", "query", {"type": "integer"}),
                        _param("status", "query", {"enum": list(SESSION_STATUSES)}, "Other values match nothing"),
                        _param("limit", "query", {**_LIMIT, "default": 50}),
                        _param("offset", "query", {**_COUNT, "default": 0}),
                        _param("from", "query", day), _param("to", "query", day)))},
        "/api/sessions/{session_id}": {"parameters": [_IDS["session_id"]], "get": _op(
            "get_session", "One session: status, window, times, parts, file, error", {
                200: _answer("The session", _ref("Session"))}, _BY_ID)},
        "/api/sessions/{session_id}/retry-transfer": {"parameters": [_IDS["session_id"]], "post": _op(
            "retry_transfer", "Start a failed upload over", {202: _answer("The session", _ref("Session"))},
            (*_BY_ID, 409, 503))},
        "/api/system/status": {"get": _op("status", "Resources, state folders, work in progress", {
            200: _answer("The status", status)})},
        "/api/logs": {"get": _op(
            "logs", "Read a log file back", {200: _answer("Entries at the level or above", _object({
                "file": {"enum": list(LOG_FILES)}, "level": {"enum": list(LEVELS)},
                "entries": {"type": "array", "items": entry}, "next_offset": {"type": "integer"}}))}, (400,),
            parameters=(_param("file", "query", {"enum": list(LOG_FILES), "default": "audio_recorder.log"}),
                        _param("level", "query", {"enum": list(LEVELS), "default": "DEBUG"}, "Any case"),
                        _param("limit", "query", {**_LIMIT, "default": 200}),
                        _param("after", "query", _COUNT, "An earlier answer's next_offset, to follow")))},
        "/api/config/files": {"get": _op(
            "list_config_files", "The drop-in config files read so far, with their status",
            {200: _answer("The folder and its files", _object({
                "folder": {"type": "string"}, "files": {"type": "array", "items": _ref("ConfigFile")}}))})},
        "/api/events": {"get": _op(
            "list_events", "The audit trail, newest first", {200: _answer("A page of events", _object({
                "events": {"type": "array", "items": _ref("Event")}, "before": {"type": ["integer", "null"]},
                "limit": {"type": "integer"}}))}, (400,),
            parameters=(_param("type", "query", {"type": "string"}, "Comma-separated types or families "
                                                                    "(session, session.failed)"),
                        _param("source", "query", {"type": "string", "examples": list(SOURCES)}),
                        _param("stream_id", "query", _COUNT), _param("session_id", "query", _COUNT),
                        _param("from", "query", moment), _param("to", "query", moment),
                        _param("before", "query", _COUNT, "An earlier answer's before, for older events"),
                        _param("limit", "query", {**_LIMIT, "default": 100})))},
    }


def _backup_paths() -> dict[str, Any]:
    name = {"type": "string", "pattern": _BACKUP_NAME, "not": {"pattern": "\\.\\."}}
    named = {"type": "object", "required": ["name"], "properties": {"name": name}}
    backup = _answer("The backup", _ref("Backup"))
    return {
        "/api/backup/create": {"post": _op(
            "create_backup", "Archive the log (and the artwork, if asked)", {201: backup}, (*_JSON_IN, 409),
            requestBody={"required": True, "content": _json({"type": ["object", "null"], "properties": {
                "name": {"anyOf": [name, {"const": ""}, {"type": "null"}]},
                "include_artwork": {"type": "boolean", "default": False}}})})},
        "/api/backup/list": {"get": _op("list_backups", "Backups, newest first", {
            200: _answer("The backups", _list("backups", "Backup"))})},
        "/api/backup/validate": {"post": _op("validate_backup", "Check an archive completely", {200: _answer(
            "Whether it can be restored", _object({"valid": {"type": "boolean"},
                                                   "errors": {"type": "array", "items": {"type": "string"}}}))},
            _JSON_IN, named)},
        "/api/backup/restore": {"post": _op("restore_backup", "Bring streams, schedules and hosts to the backup's", {
            200: _answer("What was restored", _object({"restored": {"type": "string"}, "overwrite": {"type": "boolean"},
                                                       "events": {"type": "integer"}}))},
            (*_JSON_IN, 404, 503), {**named, "properties": {"name": name, "overwrite": {"type": "boolean",
                                                                                        "default": False}}})},
        "/api/backup/delete": {"delete": _op("delete_backup", "Delete an archive", {200: _answer(
            "The name deleted", _object({"deleted": {"type": "string"}}))}, (*_JSON_IN, 404), named)},
        "/api/backup/download/{name}": {"get": _op(
            "download_backup", "The archive", {200: {"description": "The archive", "content": {
                "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}}, _BY_ID,
            parameters=(_param("name", "path", name),))},
        "/api/backup/upload": {"post": _op(
            "upload_backup", "Add an archive made elsewhere (checked completely first)", {201: backup},
            (*_JSON_IN, 403, 409), parameters=(_REQUESTED_WITH,),
            requestBody=_upload("backup", "application/gzip"))},
    }


def document(max_artwork_size_mb: int = 10) -> dict[str, Any]:
    """The whole OpenAPI document (plain data); the artwork limit is the server's setting."""
    responses = {str(code): {"description": text, "content": _json(_ref("Error"))} for code, text in ERRORS.items()}
    responses["405"] = {"description": "The path exists but not with this method (see the Allow header)",
                        "content": _json(_ref("Error"))}
    responses["413"]["description"] = (f"The body is too large: JSON over {MAX_JSON_BYTES // 1024} KB, artwork "
                                       f"over {max_artwork_size_mb} MB, a backup over {MAX_MEMBER_BYTES // 2**20} MB")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Audio stream recorder", "version": __version__,
                 "description": "Streams, schedules, sessions, backups and monitoring. Every answer is JSON (but "
                                "artwork and backup downloads); errors are {\"error\", \"field\"?}."},
        "security": [{"basicAuth": []}],
        "paths": {**_other_paths(), **_stream_paths(), **_schedule_paths(), **_backup_paths()},
        "components": {"schemas": _schemas(), "responses": responses,
                       "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}}},
    }


def install(app: bottle.Bottle, context: Context) -> None:
    body = document(context.settings.max_artwork_size_mb)

    @app.get("/api/openapi.json")
    def openapi_document() -> bottle.HTTPResponse:
        return json_response(body)
