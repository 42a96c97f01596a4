"""Input checks shared by every way in (API, UI, config files): typed errors that name the field at fault.

Pure: values in, cleaned values or an `Invalid` out, in words a user can act on.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from . import cron
from .destination import parse_destination


class CommandError(Exception):
    """A change was refused; `field` is the input field at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(CommandError):
    """The input is malformed or breaks a rule."""


class NotFound(CommandError):
    """The thing to change does not exist."""


class Conflict(CommandError):
    """The change clashes with the current state (duplicate name, stream still in use)."""


STREAM_URL_SCHEMES = ("http", "https", "rtmp", "rtmps")
MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_PADDING_SECONDS = 3600
# Fields the API shows but a client cannot set; tolerated in input so a client can PUT back what it GOT.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at", "next_run", "description", "stream_name",
                              "artwork", "config_file"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Validator = Callable[[Any, str], Any]


def _text(max_length: int, required: bool = False) -> Validator:
    def check(value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise Invalid("must be text", field)
        value = value.strip()
        if required and not value:
            raise Invalid("must not be empty", field)
        if len(value) > max_length:
            raise Invalid(f"must be at most {max_length} characters", field)
        if _CONTROL.search(value):
            raise Invalid("must not contain control characters", field)
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise Invalid("must be valid Unicode text (it holds a lone surrogate)", field) from None
        return value

    return check


def whole_number(low: int, high: int) -> Validator:
    def check(value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be a whole number", field)
        if not low <= value <= high:
            raise Invalid(f"must be between {low} and {high}", field)
        return value

    return check


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false", field)
    return value


def _optional(check: Validator) -> Validator:
    return lambda value, field: None if value is None else check(value, field)


def _key_file_name(value: Any, field: str) -> str:
    name = _text(100)(value, field)
    if name and not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name):
        raise Invalid("must be a file name inside the config folder (letters, digits, . _ -)", field)
    return name


def _stream_url(value: Any, field: str) -> str:
    url = _text(2000, required=True)(value, field)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as error:  # e.g. a bracketed host that is no IPv6 address: "http://[:]/"
        raise Invalid(f"is not a URL that can be read ({error})", field) from None
    if parts.scheme.lower() not in STREAM_URL_SCHEMES:
        raise Invalid(f"must start with {', '.join(s + '://' for s in STREAM_URL_SCHEMES)} "
                      f"(not {parts.scheme or 'a bare path'})", field)
    if not hostname or " " in url:
        raise Invalid("must name a host, e.g. http://radio.example.org:8000/live.mp3", field)
    return url


def _destination(value: Any, field: str) -> str:
    text = _text(500)(value, field)
    if not text:
        return ""
    try:
        parse_destination(text)
    except ValueError as error:
        raise Invalid(str(error), field) from None
    return text


def _cron(value: Any, field: str) -> str:
    try:
        return cron.parse(_text(200, required=True)(value, field)).expression
    except cron.CronError as error:
        raise Invalid(str(error), field) from None


def _timezone(value: Any, field: str) -> str:
    name = _text(64, required=True)(value, field)
    try:
        cron.zone(name)
    except cron.CronError as error:
        raise Invalid(str(error), field) from None
    return name


STREAM_FIELDS: dict[str, Validator] = {
    "name": _text(100, required=True),
    "url": _stream_url,
    "artist": _text(200),
    "album": _text(200),
    "album_artist": _text(200),
    "scp_destination": _destination,
    "user_agent": _text(200),
    "ssh_key": _key_file_name,
    "max_retries": _optional(whole_number(0, 20)),
    "upload_sidecar": _boolean,
}
SCHEDULE_FIELDS: dict[str, Validator] = {
    "stream_id": whole_number(1, 2**31),
    "cron": _cron,
    "duration_minutes": whole_number(1, MAX_DURATION_MINUTES),
    "active": _boolean,
    "timezone": _timezone,
    "pad_before_seconds": whole_number(0, MAX_PADDING_SECONDS),
    "pad_after_seconds": whole_number(0, MAX_PADDING_SECONDS),
}


def clean(fields: Any, validators: Mapping[str, Validator], required: tuple[str, ...]) -> dict[str, Any]:
    """Check an input object field by field: no unknown fields, no missing required ones, right types."""
    if not isinstance(fields, Mapping):
        raise Invalid("expected a JSON object")
    for name in fields:
        if name not in validators and name not in READ_ONLY_FIELDS:
            raise Invalid(f"unknown field (known: {', '.join(validators)})", str(name))
    for name in required:
        if name not in fields:
            raise Invalid("is required", name)
    return {name: validators[name](value, name) for name, value in fields.items() if name in validators}
