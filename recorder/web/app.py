"""The Bottle application: one explicit app, routes installed by function, nothing happens on import.

Every answer under /api is JSON, errors included (`{"error": ..., "field": ...}`); no request ever sees a
traceback. A domain error maps to 400/404/409, a log that cannot be written to 503.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import bottle
import orjson

from .. import __version__
from ..commands import CommandError, Commands, Conflict, Invalid, NotFound
from ..eventlog import LogWriteError
from ..runner import Runner
from ..settings import Settings
from ..store import Store
from .auth import Credentials
from .sessions import COOKIE, Login, LoginThrottle, Signer

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_LOOKUP = [str(ROOT / "views")]  # one list: bottle caches compiled templates by the lookup list's id
STATIC = str(ROOT / "static")

MAX_JSON_BYTES = 1024 * 1024
ERROR_STATUS = {Invalid: 400, NotFound: 404, Conflict: 409}


@dataclass
class Context:
    """What the routes need, wired once by `bootstrap`."""

    settings: Settings
    store: Store
    commands: Commands
    credentials: Credentials
    runner: Runner
    signer: Signer
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    started: float = field(default_factory=time.monotonic)


def json_response(body: Any, status: int = 200, **headers: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(orjson.dumps(body, option=orjson.OPT_UTC_Z), status,
                               {"Content-Type": "application/json; charset=utf-8", **headers})


def error_response(status: int, message: str, field: str | None = None, **headers: str) -> bottle.HTTPResponse:
    body = {"error": _utf8(message)} if field is None else {"error": _utf8(message), "field": _utf8(field)}
    return json_response(body, status, **headers)


def _utf8(text: str) -> str:
    """Text that JSON can carry: a field name from the request may hold a lone surrogate (`{"\\ud800": 1}`)."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def read_json() -> Any:
    """The request body as JSON, refusing what a browser form could send cross-site (no JSON content type)."""
    if bottle.request.content_length > MAX_JSON_BYTES:
        raise error_response(413, f"request body is larger than {MAX_JSON_BYTES // 1024} KB")
    if bottle.request.content_type.split(";")[0].strip().lower() != "application/json":
        raise error_response(415, "send the body as JSON with Content-Type: application/json")
    data = bottle.request.body.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise error_response(413, f"request body is larger than {MAX_JSON_BYTES // 1024} KB")
    try:
        return json.loads(data or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise error_response(400, f"invalid JSON: {error}") from None


def require_form_upload(max_bytes: int) -> None:
    """A multipart upload must come with an X-Requested-With header: a plain cross-site form cannot send one."""
    if not header("X-Requested-With").strip():
        raise error_response(403, "send uploads with an X-Requested-With header (any value)")
    if bottle.request.content_length > max_bytes:
        raise error_response(413, f"upload is larger than {max_bytes // 2**20} MB")
    if not bottle.request.content_type.lower().startswith("multipart/form-data"):
        raise error_response(415, "send the upload as multipart/form-data")


def header(name: str) -> str:
    """A request header as sent (latin-1 text): bottle's get_header raises on bytes that are not UTF-8."""
    return bottle.request.environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def uploaded(field: str) -> bottle.FileUpload | None:
    """The file sent in multipart field `field`; a body bottle cannot parse is the client's error, not a crash."""
    try:
        return bottle.request.files.get(field)
    except ValueError as error:  # bottle raises it for a part header with control characters
        raise error_response(400, f"the multipart body cannot be read: {error}", field) from None


def form_value(name: str) -> str:
    """A field of a form body, or "" when there is none or the body cannot be parsed (a crafted multipart part)."""
    try:
        return bottle.request.forms.getunicode(name) or ""
    except ValueError:
        return ""


def handle_errors(route: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors into JSON answers at the edge."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return route(*args, **kwargs)
        except CommandError as error:
            raise error_response(ERROR_STATUS.get(type(error), 400), error.message, error.field) from None
        except LogWriteError as error:
            log.error("change refused: %s", error)
            raise error_response(503, f"the change could not be saved: {error}") from None

    wrapper.__name__ = route.__name__
    return wrapper


PUBLIC_PATHS = ("/health", "/login", "/static/", "/favicon.ico")
SAFE_METHODS = ("GET", "HEAD")


def build_app(context: Context) -> bottle.Bottle:
    from . import api, openapi, pages

    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False  # answers are made by json_response, never from a returned dict
    app.add_hook("before_request", lambda: _require_login(context))
    app.add_hook("after_request", _security_headers)
    for status in (400, 401, 403, 404, 405, 413, 415, 429, 500):
        app.error_handler[status] = _error_page
    api.install(app, context)
    openapi.install(app, context)
    pages.install(app, context)
    return app


SOURCE_KEY = "recorder.source"


def current_login(context: Context) -> Login | None:
    return context.signer.read(bottle.request.get_cookie(COOKIE))


def _require_login(context: Context) -> None:
    """The API takes HTTP Basic or the UI's cookie; with the cookie, changes must carry the CSRF token."""
    path = bottle.request.path
    if path.startswith(PUBLIC_PATHS):
        return
    is_api = path.startswith("/api/") or path == "/api"
    if is_api and header("Authorization"):
        if context.credentials.check_basic(header("Authorization")):
            bottle.request.environ[SOURCE_KEY] = "api"
            return
        raise error_response(401, "log in as admin (HTTP Basic) to use the API",
                             **{"WWW-Authenticate": 'Basic realm="recorder"'})
    login = current_login(context)
    if login is None:
        if is_api:
            raise error_response(401, "log in as admin (HTTP Basic, or the login page) to use the API",
                                 **{"WWW-Authenticate": 'Basic realm="recorder"'})
        raise bottle.HTTPResponse(status=303, Location=f"/login?next={bottle.request.fullpath}")
    if bottle.request.method not in SAFE_METHODS:
        sent = header("X-CSRF-Token") or form_value("csrf_token")
        if not hmac.compare_digest(sent.encode(errors="replace"), login.csrf.encode()):  # str takes ASCII only
            raise error_response(403, "the page's security token is missing or stale; reload the page and retry")
    bottle.request.environ[SOURCE_KEY] = "ui"


def change_source() -> str:
    """Who asks for a change, for the event log: the web UI (login cookie) or an API client (HTTP Basic)."""
    return str(bottle.request.environ.get(SOURCE_KEY, "api"))


def _security_headers() -> None:
    """No framing, no sniffing, no outside resources: the UI works on a LAN without internet."""
    bottle.response.set_header("X-Content-Type-Options", "nosniff")
    bottle.response.set_header("X-Frame-Options", "DENY")
    bottle.response.set_header("Referrer-Policy", "same-origin")
    bottle.response.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; "
                                                          "style-src 'self'; script-src 'self'; frame-ancestors 'none'")


def _error_page(error: bottle.HTTPError) -> str:
    """Bottle's own errors (no route, wrong method, crash) as JSON, or a page for a browser outside the API;
    a crash is logged, never shown."""
    if error.status_code >= 500:
        log.error("internal error on %s %s: %s\n%s", bottle.request.method, bottle.request.path,
                  error.exception, error.traceback or "")
        message = "internal error; the details are in the server log"
    else:
        message = {404: f"no such path: {bottle.request.path}", 405: "method not allowed"}.get(
            error.status_code, str(error.body))
    wants_page = "text/html" in header("Accept") and not bottle.request.path.startswith(("/api", "/health"))
    if wants_page:
        bottle.response.content_type = "text/html; charset=utf-8"
        title = {404: "Page not found"}.get(error.status_code, f"Error {error.status_code}")
        return bottle.template("error", template_lookup=TEMPLATE_LOOKUP, title=title, message=message)
    bottle.response.content_type = "application/json; charset=utf-8"
    return json.dumps({"error": message})


def health(context: Context) -> bottle.HTTPResponse:
    """200 while the log takes writes; 503 with the reason once it cannot (so a container restarts)."""
    failure = context.store.log.failure
    body = {"status": "failing" if failure else "ok", "version": __version__,
            "uptime_seconds": round(time.monotonic() - context.started, 1),
            "last_seq": context.store.log.last_seq}
    return json_response({**body, "error": failure} if failure else body, 503 if failure else 200)
