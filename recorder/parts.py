"""A session's folder on disk: its parts, the titles seen, and joining them into one recording.

A part covers real time from the start in its name to where we stopped it (or its last write); audio beyond
that span at its head is backlog a server replayed on connect, skipped when the parts are joined. Names and
mtimes survive a crash, so this also holds for parts written before a restart.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .processing import FFMPEG_TIMEOUT_SECONDS, ProcessingError, error_tail, probe_duration, run_tool

log = logging.getLogger(__name__)

# part-<run>-<index>-<start ms>[-<stop ms>].mka: the stop is added when we end ffmpeg ourselves
PART_NAME = re.compile(r"part-(\d+)-(\d+)-(\d+)(?:-(\d+))?\.mka")


@dataclass(frozen=True)
class CaptureResult:
    """The joined recording (inside the session folder) or the reason there is none."""

    file: Path | None
    size_bytes: int = 0
    duration_seconds: float = 0.0
    error: str | None = None


def join_session(folder: Path, url: str) -> CaptureResult:
    """Everything a session captured, across parts and restarts, as one file (or why there is nothing)."""
    parts = sorted_parts(folder) if folder.exists() else []
    if not parts:
        return CaptureResult(None, error=f"Stream connection failed: nothing was recorded from {url} "
                                         f"(details in {folder / 'ffmpeg.log'})")
    return join_parts(parts, folder / "recording.mka")


def _part_order(path: Path) -> tuple[int, int]:
    match = PART_NAME.fullmatch(path.name)
    return (int(match.group(3)), int(match.group(2))) if match else (0, 0)


def last_title(folder: Path) -> str | None:
    titles = read_titles(folder)
    return titles[-1][1] if titles else None


def read_titles(folder: Path) -> list[tuple[float, str]]:
    """Title changes seen in a session, as (wall-clock time, title); a torn last line is ignored."""
    path = folder / "titles.jsonl"
    changes = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            item = json.loads(line)
            changes.append((float(item["at"]), str(item["title"])))
        except (ValueError, KeyError, TypeError):
            continue
    return changes


@dataclass(frozen=True)
class Segment:
    """A part as it lands in the joined file: the real time its kept audio covers, and where it starts there."""

    part: Path
    backlog: float  # seconds of replayed audio skipped at the part's head
    wall_start: float
    wall_end: float
    offset: float


def timeline(parts: list[Path]) -> list[Segment]:
    """Where each part's audio goes in the joined recording.

    A part covers real time from the start in its name to its last write (mtime); audio beyond that span at
    its head is a backlog the server replayed on connect, skipped so nothing is heard twice.
    """
    segments, offset = [], 0.0
    for part in parts:
        match = PART_NAME.fullmatch(part.name)
        # Where we stopped ffmpeg: a packet that was on its way then lands later and must not stretch the part.
        wall_end = int(match.group(4)) / 1000 if match and match.group(4) else part.stat().st_mtime
        span = max(0.0, wall_end - (int(match.group(3)) / 1000 if match else wall_end))
        try:
            duration = probe_duration(part)
        except ProcessingError as error:
            log.warning("skipping an unreadable part: %s", error)  # e.g. killed before its first cluster
            continue
        backlog = duration - span if duration - span > 0.1 else 0.0
        kept = duration - backlog
        segments.append(Segment(part, backlog, wall_end - kept, wall_end, offset))
        offset += kept
    return segments


def chapters_of(folder: Path) -> list[tuple[float, str]]:
    """ICY title changes as (seconds into the joined recording, title); the first starts at 0."""
    titles = read_titles(folder)
    if not titles:
        return []  # no need to probe every part again (HLS, streams without ICY titles)
    segments = timeline(sorted_parts(folder))
    chapters: list[tuple[float, str]] = []
    for at, title in titles:
        position = _position(segments, at)
        if chapters and position - chapters[-1][0] < 1.0:
            chapters[-1] = (chapters[-1][0], title)  # changes within a second: the last one wins
        elif not chapters or title != chapters[-1][1]:
            chapters.append((position, title))
    if chapters:
        chapters[0] = (0.0, chapters[0][1])
    return chapters


def _position(segments: list[Segment], at: float) -> float:
    for segment in segments:
        if at < segment.wall_end:
            return round(segment.offset + max(0.0, at - segment.wall_start), 3)
    return round(segments[-1].offset + segments[-1].wall_end - segments[-1].wall_start, 3) if segments else 0.0


def sorted_parts(folder: Path) -> list[Path]:
    """The session's non-empty parts in the order they were recorded (across restarts)."""
    return [part for part in sorted(folder.glob("part-*.mka"), key=_part_order)
            if PART_NAME.fullmatch(part.name) and part.stat().st_size > 0]


def join_parts(parts: list[Path], output: Path) -> CaptureResult:
    """Join parts losslessly (stream copy), each without the backlog its server replayed on connect."""
    try:
        return _join(parts, output)
    except ProcessingError as problem:  # ffmpeg missing, too slow, or a part unreadable
        return CaptureResult(None, error=str(problem))


def _join(parts: list[Path], output: Path) -> CaptureResult:
    pieces = []
    segments = timeline(parts)
    if not segments:
        return CaptureResult(None, error=f"FFmpeg error: none of the {len(parts)} recorded parts is readable")
    for segment in segments:
        if segment.backlog:
            # An output-side -ss drops packets before the time exactly (an input seek, or concat's inpoint,
            # would start at the cluster before it and keep up to a second of the backlog).
            piece = segment.part.with_suffix(".trimmed.mka")
            error = _ffmpeg(["-i", str(segment.part), "-ss", f"{segment.backlog:.3f}", "-map", "0:a:0", "-c", "copy",
                             "-f", "matroska", str(piece)], segment.part)
            if error:
                return CaptureResult(None, error=f"FFmpeg error trimming {segment.part.name}: {error}")
            pieces.append(piece)
        else:
            pieces.append(segment.part)
    listing = output.with_suffix(".parts.txt")
    listing.write_text("".join(f"file '{piece.name}'\n" for piece in pieces))
    error = _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:a:0", "-c", "copy", "-f", "matroska",
                     str(output)], listing)
    for piece in pieces:
        if piece.name.endswith(".trimmed.mka"):
            piece.unlink()
    if error:
        return CaptureResult(None, error=f"FFmpeg error joining {len(parts)} parts: {error}")
    return CaptureResult(output, output.stat().st_size, probe_duration(output))


def _ffmpeg(arguments: list[str], path: Path) -> str | None:
    """Run ffmpeg on local files; None on success, else its last error lines."""
    result = run_tool(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments], path,
                      FFMPEG_TIMEOUT_SECONDS)
    return None if result.returncode == 0 else error_tail(result)
