"""HTML pages: server-rendered Bottle templates from `views/`; every change goes through the JSON API from
`static/app.js` with the session's CSRF token, so the UI and the API share one set of rules and errors."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

import bottle
import orjson

from .. import __version__
from ..declared import problem_text
from ..events import SOURCES
from .api import config_files_json, schedules_json, soonest, stream_json
from .app import STATIC, TEMPLATE_LOOKUP, Context, current_login, form_value
from .auth import USER
from .sessions import COOKIE, MAX_AGE_SECONDS

log = logging.getLogger(__name__)

NAV = (("/", "Dashboard"), ("/streams", "Streams"), ("/schedules", "Schedules"), ("/sessions", "Sessions"),
       ("/logs", "Logs"), ("/system", "System"), ("/backup", "Backup"))


def render(context: Context, name: str, **values: Any) -> str:
    login = current_login(context)
    return bottle.template(name, template_lookup=TEMPLATE_LOOKUP, nav=NAV, path=bottle.request.path,
                           csrf=login.csrf if login else "", version=__version__, json_row=_json_row,
                           problem_text=problem_text,
                           **values)


def _json_row(row: dict[str, Any]) -> str:
    """A row for a data- attribute (the template escapes it for HTML)."""
    return orjson.dumps(row).decode()


def install(app: bottle.Bottle, context: Context) -> None:
    store = context.store

    @app.get("/static/<name:path>")
    def static(name: str) -> Any:
        return bottle.static_file(name, root=STATIC)

    @app.get("/login")
    def login_page() -> Any:
        return render(context, "login", error=None, next_path=_next_path(),
                      form_token=context.signer.form_token("login"))

    @app.post("/login")
    def login() -> Any:
        client = bottle.request.remote_addr or "unknown"
        wait = context.throttle.wait_seconds(client)
        error = None
        if not context.signer.check_form_token("login", form_value("form_token")):
            error = "The login form expired; please try again."
        elif wait:
            error = f"Too many failed logins. Try again in {wait} s."
        elif not context.credentials.check(form_value("username"), form_value("password")):
            context.throttle.failed(client)
            log.warning("failed login for %r from %s", form_value("username"), client)
            error = "Wrong user name or password."
        if error:
            bottle.response.status = 429 if wait else 401
            return render(context, "login", error=error, next_path=_next_path(),
                          form_token=context.signer.form_token("login"))
        context.throttle.succeeded(client)
        cookie, _ = context.signer.issue(USER)
        bottle.response.set_cookie(COOKIE, cookie, max_age=MAX_AGE_SECONDS, httponly=True, samesite="strict",
                                   path="/", secure=bottle.request.urlparts.scheme == "https")
        bottle.redirect(_next_path(), 303)

    @app.post("/logout")
    def logout() -> Any:
        bottle.response.delete_cookie(COOKIE, path="/")
        bottle.redirect("/login", 303)

    @app.get("/")
    def dashboard() -> Any:
        now = datetime.now(timezone.utc)
        schedules = store.read(lambda views: schedules_json(views, now))
        upcoming = soonest(schedules, 6)
        sessions = store.read(lambda views: [dict(row) for row in views.all("sessions")])
        problems = sorted((s for s in sessions if s["status"] in ("failed", "missed")),
                          key=lambda s: s["id"], reverse=True)[:8]
        streams = store.read(lambda views: {row.doc_id: row["name"] for row in views.streams()})
        broken_files = [row for row in store.read(config_files_json) if row["status"] == "failed"]
        return render(context, "dashboard", upcoming=upcoming, problems=problems, streams=streams,
                      broken_files=broken_files,
                      uptime=time.monotonic() - context.started, last_seq=store.log.last_seq,
                      counts={"streams": len(streams), "schedules": len(schedules), "sessions": len(sessions)})

    @app.get("/streams")
    def streams_page() -> Any:
        streams = store.read(lambda views: [stream_json(views, row) for row in views.streams()])
        files = store.read(config_files_json)
        return render(context, "streams", streams=sorted(streams, key=lambda s: s["name"].casefold()),
                      config_files=files, config_dir=str(context.settings.config_dir),
                      max_artwork_mb=context.settings.max_artwork_size_mb)

    @app.get("/schedules")
    def schedules_page() -> Any:
        now = datetime.now(timezone.utc)
        schedules = store.read(lambda views: schedules_json(views, now))
        streams = store.read(lambda views: [stream_json(views, row) for row in views.streams()])
        from_file = {s["id"]: s["config_file"] for s in streams if s["config_file"]}
        return render(context, "schedules", schedules=schedules, default_tz=context.settings.tz, from_file=from_file,
                      streams=[s for s in streams if not s["config_file"]], any_streams=bool(streams))

    @app.get("/sessions")
    def sessions_page() -> Any:
        streams = store.read(lambda views: [dict(row) for row in views.streams()])
        return render(context, "sessions", streams=streams)

    @app.get("/logs")
    def logs_page() -> Any:
        return render(context, "logs", sources=SOURCES)

    @app.get("/system")
    def system_page() -> Any:
        return render(context, "system")

    @app.get("/backup")
    def backup_page() -> Any:
        return render(context, "backup")


def _next_path() -> str:
    """Where to go after login: only a path on this site (no open redirect)."""
    wanted = bottle.request.query.getunicode("next") or form_value("next") or "/"
    return wanted if wanted.startswith("/") and not wanted.startswith("//") else "/"
