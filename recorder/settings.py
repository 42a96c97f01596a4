"""Every environment setting in one declared table, loaded once into a frozen object.

The table is the documentation: the README lists each name (a test checks it), and a bad value stops
start-up with one line naming the variable instead of a traceback deep inside the app.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping


class SettingsError(ValueError):
    """An environment variable holds a value the recorder cannot use."""


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range {low}-{high}")
        return value

    return parse


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"{text!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return level


def _text(text: str) -> str:
    return text


def _template(text: str) -> str:
    from .processing import TEMPLATE_FIELDS, render_template

    render_template(text, {name: "x" for name in TEMPLATE_FIELDS})  # raises ValueError naming a bad placeholder
    return text


def _bitrate(text: str) -> str:
    from .processing import BITRATE

    if not BITRATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a bitrate such as 128k or 192k")
    return text


def _time_zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not an IANA time zone such as Europe/Berlin") from None
    return text


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], object] = _text


# A folder default of "" means "a subfolder of STATE_DIR named after the setting".
SETTINGS: tuple[Setting, ...] = (
    Setting("WEB_PORT", "8666", "Port of the web interface and API.", _integer(1, 65535)),
    Setting("WEB_HOST", "0.0.0.0", "Address the web interface listens on."),
    Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR.", _log_level),
    Setting("MAX_CONCURRENT_RECORDINGS", "3", "Recordings that may capture at the same time.", _integer(1, 100)),
    Setting("CLEANUP_AFTER_TRANSFER", "true", "Delete a local recording after a verified upload.", _boolean),
    Setting("MAX_ARTWORK_SIZE_MB", "10", "Largest artwork upload accepted, in MB.", _integer(1, 100)),
    Setting("DEFAULT_MAX_RETRIES", "3", "Transfer attempts before a session fails (per-stream override).",
            _integer(0, 100)),
    Setting("RETRY_DELAY_SECONDS", "60", "First delay between transfer attempts; grows exponentially.",
            _integer(1, 86400)),
    Setting("MIN_FREE_SPACE_MB", "200", "Recording stops (and warns) when the recordings folder has less free.",
            _integer(0, 10**7)),
    Setting("TITLE_TEMPLATE", "{stream} {date}", "ID3 title of a recording; fields {stream} {artist} {album} "
            "{album_artist} {date} {time} {session}.", _template),
    Setting("FILENAME_TEMPLATE", "{stream} {date} {time}", "File name of a recording (same fields; unsafe "
            "characters become _).", _template),
    Setting("MP3_BITRATE", "192k", "Bitrate when a stream is not MP3 and must be converted.", _bitrate),
    Setting("BACKUP_KEEP", "7", "Automatic daily backups (03:30 in TZ) to keep; manual ones are never deleted.",
            _integer(1, 3650)),
    Setting("TZ", "UTC", "Default IANA time zone of schedules, e.g. Europe/Berlin.", _time_zone),
    Setting("ADMIN_PASSWORD", "", "Password of user admin; if empty one is generated and printed once."),
    Setting("STATE_DIR", "./state", "Folder of the event log and, by default, of the folders below.", Path),
    Setting("RECORDINGS_DIR", "", "Recordings in progress and awaiting transfer (default STATE_DIR/recordings).",
            Path),
    Setting("LOGS_DIR", "", "Log files (default STATE_DIR/logs).", Path),
    Setting("ARTWORK_DIR", "", "Uploaded artwork (default STATE_DIR/artwork).", Path),
    Setting("CONFIG_DIR", "", "SSH key, known_hosts and drop-in JSON files (default STATE_DIR/config).", Path),
    Setting("BACKUPS_DIR", "", "Backup archives (default STATE_DIR/backups).", Path),
    Setting("CONFIG_POLL_SECONDS", "0", "0 watches CONFIG_DIR's JSON files with inotify; a number of seconds "
            "re-scans it that often instead (bind mounts, network filesystems).", _integer(0, 3600)),
)


@dataclass(frozen=True)
class Settings:
    web_port: int
    web_host: str
    log_level: str
    max_concurrent_recordings: int
    cleanup_after_transfer: bool
    max_artwork_size_mb: int
    default_max_retries: int
    retry_delay_seconds: int
    min_free_space_mb: int
    title_template: str
    filename_template: str
    mp3_bitrate: str
    backup_keep: int
    tz: str
    admin_password: str
    state_dir: Path
    recordings_dir: Path
    logs_dir: Path
    artwork_dir: Path
    config_dir: Path
    backups_dir: Path
    config_poll_seconds: int

    @property
    def event_log_path(self) -> Path:
        return self.state_dir / "events.jsonl"

    @property
    def folders(self) -> dict[str, Path]:
        """The state folders by name, for creating them and for disk-space reports."""
        return {
            "state": self.state_dir,
            "recordings": self.recordings_dir,
            "logs": self.logs_dir,
            "artwork": self.artwork_dir,
            "config": self.config_dir,
            "backups": self.backups_dir,
        }


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from the environment; raise SettingsError naming the first bad one."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, "").strip() or setting.default
        if not raw:
            values[setting.name] = ""
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            raise SettingsError(f"{setting.name}: {error}") from None
    state_dir = values["STATE_DIR"]
    assert isinstance(state_dir, Path)
    for name in ("RECORDINGS_DIR", "LOGS_DIR", "ARTWORK_DIR", "CONFIG_DIR", "BACKUPS_DIR"):
        if values[name] == "":
            values[name] = state_dir / name.removesuffix("_DIR").lower()
    return Settings(**{name.lower(): value for name, value in values.items()})  # type: ignore[arg-type]
