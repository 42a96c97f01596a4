"""What happens to a captured recording: it becomes the finished, tagged MP3 in the recordings folder.

Names and titles come from the templates in the settings, filled with the stream's metadata and the local
date and time of the recording in the schedule's time zone; the chapters come from the ICY titles seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from . import cron
from .artwork import artwork_path
from .events import SessionProcessed
from .parts import chapters_of
from .processing import Chapter, Tags, process, render_template


@dataclass(frozen=True)
class FinishOptions:
    recordings_dir: Path
    artwork_dir: Path
    default_timezone: str
    title_template: str
    filename_template: str
    bitrate: str


def session_folder(recordings_dir: Path, session_id: int) -> Path:
    return recordings_dir / f"session-{session_id}"


def finish(options: FinishOptions, session: Mapping[str, Any], stream: Mapping[str, Any],
           timezone_name: str | None, recording: Path) -> SessionProcessed:
    """Turn the joined capture into the tagged MP3 (the caller removes the working folder once that is logged)."""
    folder = session_folder(options.recordings_dir, session["id"])
    local = _local_start(session, timezone_name or options.default_timezone)
    values = {"stream": stream["name"], "artist": stream["artist"], "album": stream["album"],
              "album_artist": stream["album_artist"], "date": local.strftime("%Y-%m-%d"),
              "time": local.strftime("%H%M"), "session": str(session["id"])}
    tags = Tags(title=render_template(options.title_template, values), artist=stream["artist"],
                album=stream["album"], album_artist=stream["album_artist"], date=values["date"],
                artwork=artwork_path(options.artwork_dir, stream["artwork"]))
    chapters = [Chapter(start, title) for start, title in chapters_of(folder)]
    done = process(recording, options.recordings_dir, render_template(options.filename_template, values), tags,
                   chapters, options.bitrate)
    return SessionProcessed(session["id"], str(done.path.relative_to(options.recordings_dir)), done.size_bytes,
                            done.duration_seconds, len(chapters))


def _local_start(session: Mapping[str, Any], timezone_name: str) -> datetime:
    start: datetime = session["started_at"] or session["window_start"]
    return start.astimezone(cron.zone(timezone_name))
